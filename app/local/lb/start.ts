/**
 * The region's load balancer, either kind behind one interface: the built-in TCP balancer
 * (balancer.ts, nothing to install) or HAProxy (haproxy.ts) when it is on PATH or asked for.
 */
import type { Timeouts } from '../contract/timeouts';
import { Balancer, BackendInfo } from './balancer';
import { HaproxyBalancer, haproxyAvailable } from './haproxy';

export type LbKind = 'builtin' | 'haproxy';

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

export interface LoadBalancer {
  readonly kind: LbKind;
  readonly port: number;
  add(id: string, port: number): Promise<void>;
  /** Connection draining: no new connections, the rest cut after lb.connectionDrainingSec. */
  remove(id: string): Promise<void>;
  whenUp(id: string, timeoutMs: number): Promise<void>;
  info(): Promise<BackendInfo[]>;
  close(): Promise<void>;
  /** Synchronous last resort for a process 'exit' handler. */
  killNow(): void;
}

export function resolveLbKind(asked: LbKind | 'auto'): LbKind {
  if (asked === 'haproxy' && !haproxyAvailable()) throw new Error('--lb haproxy: haproxy is not on PATH (apt-get install haproxy)');
  if (asked !== 'auto') return asked;
  return haproxyAvailable() ? 'haproxy' : 'builtin';
}

export async function startLoadBalancer(kind: LbKind, opts: { port: number; dir: string; timeouts: Timeouts }): Promise<LoadBalancer> {
  const health = healthCheckFor(opts.timeouts);
  if (kind === 'haproxy') {
    const h = new HaproxyBalancer({ port: opts.port, dir: opts.dir, timeouts: opts.timeouts, health });
    await h.start();
    return {
      kind, port: h.port,
      add: (id, port) => h.add(id, port),
      remove: (id) => h.remove(id),
      whenUp: (id, ms) => h.whenUp(id, ms),
      info: () => h.info(),
      close: () => h.close(),
      killNow: () => h.killNow(),
    };
  }
  const b = new Balancer({
    port: opts.port,
    idleTimeoutMs: opts.timeouts.lb.idleTimeoutSec * 1000,
    drainingMs: opts.timeouts.lb.connectionDrainingSec * 1000,
    checkIntervalMs: health.intervalMs,
    checkTimeoutMs: health.timeoutMs,
    rise: health.rise,
    fall: health.fall,
  });
  await b.start();
  return {
    kind, port: b.port,
    add: async (id, port) => b.add(id, port),
    remove: async (id) => b.remove(id),
    whenUp: (id, ms) => b.whenUp(id, ms),
    info: async () => b.info(),
    close: () => b.close(),
    killNow: () => undefined,
  };
}
