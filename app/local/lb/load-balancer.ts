/**
 * The local region's load balancer as the region sees it: one interface, implemented by the
 * built-in TCP balancer (builtin.ts, nothing to install) and by HAProxy (haproxy.ts, when it is on
 * PATH or asked for). start.ts picks and starts one. Both read their health check from here.
 */
import type { Timeouts } from '../../contract/timeouts';

/** Which local balancer runs the region (not the GCP load balancer kind, `lb.kind` of the contract). */
export type LocalBalancerKind = 'builtin' | 'haproxy';

export interface BackendInfo {
  id: string;
  port: number;
  /** up: receives new connections; down: failed its checks; draining: removed, waiting for its connections. */
  state: 'up' | 'down' | 'draining';
  connections: number;
  /** Connections cut by the balancer: idle timeout or end of draining. */
  idleCuts: number;
  drainingCuts: number;
}

/**
 * Health check of the local LB. GCP's defaults are 5 s / 2 / 2; locally the interval is the
 * client heartbeat interval (1 s in `--quick`), so an unready server leaves rotation within two
 * checks (2 s locally with the defaults... 10 s on GCP) and the drill stays short.
 */
export interface HealthCheck {
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
}

export function healthCheckFor(t: Timeouts): HealthCheck {
  const intervalMs = Math.min(1_000, t.client.heartbeatIntervalMs);
  return { intervalMs, timeoutMs: intervalMs, rise: 2, fall: 2 };
}

/**
 * What the region asks of its balancer. The built-in one answers in-process (its `add`, `remove`
 * and `info` return at once); HAProxy answers over its runtime socket (promises). Callers await both.
 */
export interface LoadBalancer {
  readonly kind: LocalBalancerKind;
  readonly port: number;
  /** Start listening; resolves with the port. */
  start(): Promise<number>;
  /** Add a backend; it gets traffic once it has passed `rise` checks in a row. */
  add(id: string, port: number): void | Promise<void>;
  /** Connection draining: no new connections, the rest cut after lb.connectionDrainingSec. */
  remove(id: string): void | Promise<void>;
  /** Resolves once `id` is up (health checks passed); rejects after `timeoutMs`. */
  whenUp(id: string, timeoutMs: number): Promise<void>;
  info(): BackendInfo[] | Promise<BackendInfo[]>;
  close(): Promise<void>;
  /** Synchronous last resort for a process 'exit' handler. */
  killNow(): void;
}
