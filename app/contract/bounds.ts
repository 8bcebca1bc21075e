/**
 * Every bound derived from the contract, one function each: the rules, the server, the local region,
 * the Pulumi program, the plan and the docs call these and never restate the sums.
 */
import { READINESS_PROBE, SHUTDOWN_BUDGET_SEC } from './defaults';
import type { Timeouts } from './types';

/** Longest a ready VM waits until the LB counts it healthy: one interval to the next probe, then threshold probes. */
export function lbHealthyAfterSec(): number {
  return READINESS_PROBE.intervalSec * READINESS_PROBE.healthyThreshold + READINESS_PROBE.timeoutSec;
}

/**
 * Worst case from the moment the MIG sets this VM's currentAction to the moment the watcher knows:
 * polls start every watcherPollIntervalMs (fixed rate), so the first poll that can see the action
 * starts at most one interval later, and it answers (or is aborted) within watcherRequestTimeoutMs.
 * The one formula behind the rule drain-inside-lb-draining, the plan summary and the docs/deploy-gce.md timeline.
 */
export function watcherDetectionBoundMs(t: Timeouts): number {
  return t.gce.watcherPollIntervalMs + t.gce.watcherRequestTimeoutMs;
}

/** From removal scheduled to the drain's RST deadline plus margin: what must fit in connection draining. */
export function drainCompleteBoundMs(t: Timeouts): number {
  return watcherDetectionBoundMs(t) + drainEndBoundMs(t);
}

/**
 * Longest a drain may take: its RST deadline plus the margin for process exit and a late poll. The
 * shutdown script and the GKE preStop wait this long, docker stop and connection draining cover it,
 * and a drain that takes longer is an overrun (infra/components/operations.ts alerts on it).
 */
export function drainEndBoundMs(t: Timeouts): number {
  return t.drain.deadlineMs + t.drain.marginMs;
}

/** Shutdown script: wait for the drain deadline plus margin after POST /drain (whole seconds). */
export function shutdownScriptWaitSec(t: Timeouts): number {
  return Math.ceil(drainEndBoundMs(t) / 1000);
}
export function shutdownBudgetSec(t: Timeouts): number {
  return t.gce.preemptible ? SHUTDOWN_BUDGET_SEC.preemptible : SHUTDOWN_BUDGET_SEC.onDemand;
}
/** The backend service `timeoutSec` the LB kind needs: idle timeout, or maximum lifetime. */
export function backendTimeoutSec(t: Timeouts): number {
  return t.lb.kind === 'external-application' ? t.lb.maxConnectionLifetimeSec : t.lb.idleTimeoutSec;
}
/** Longest a server lets a connection live (rotation never ends later than this). */
export function longestLifetimeMs(t: Timeouts): number {
  return t.server.maxConnectionLifetimeMs;
}
/** Shortest lifetime after jitter. */
export function shortestLifetimeMs(t: Timeouts): number {
  return t.server.maxConnectionLifetimeMs * (1 - t.server.lifetimeJitter);
}

/**
 * Longest a peer can be gone before it is joined again: it is detached at the latest at the drain
 * deadline (RST) or notices a silent server within dead-peer detection, then backs off, connects, joins.
 */
export function reconnectBoundMs(t: Timeouts): number {
  return (
    Math.max(t.drain.deadlineMs, t.client.deadPeerDetectionMs) +
    t.client.reconnectCapMs +
    t.client.connectTimeoutMs +
    t.client.joinTimeoutMs
  );
}

/**
 * How long a server stays ready (LB-healthy) while its backplane is unavailable. Every server of a
 * region shares one backplane, so an outage (a Redis failover, a maintenance event) hits them all
 * at once: turning them all unready would leave the LB no healthy backend, for nothing. Through a
 * short outage they stay ready and answer sends with `backplane_unavailable` (clients retry).
 * After one presence TTL the outage is not short: this server's presence has expired for the
 * others and only a server with a working backplane can route, so it turns unready.
 */
export function backplaneReadinessGraceMs(t: Timeouts): number {
  return t.presence.ttlMs;
}

/**
 * How long a rollout step waits after its servers were replaced before it reads the gates: the old
 * servers have reset what was left at the drain deadline, and every server has renewed its presence
 * once since (so the gate sees the peers where they are now). `npm run rollout` and the local
 * region's rollout both settle this long.
 */
export function rolloutSettleMs(t: Timeouts): number {
  return t.drain.deadlineMs + t.presence.renewIntervalMs;
}

/**
 * `keepAliveTimeout` of both HTTP listeners: an idle keep-alive connection (between two requests) stays
 * open longer than the LB's pool keeps it, by one margin, so the LB always closes it first and never
 * sends a request into a connection the server is closing. Node measures from the end of the last
 * response, the LB from its last use: the server's idle time is never the longer of the two. It does
 * not weaken the slowloris bound: headersTimeout/requestTimeout (app/server/config.ts httpTimeouts)
 * time a request from its first byte, and a new connection from its accept, not an idle pooled one.
 */
export function serverKeepAliveTimeoutMs(t: Timeouts): number {
  return t.lb.backendKeepAliveSec * 1000 + t.drain.marginMs;
}

/**
 * How much later than a client's heartbeat interval the server's first ping waits: a heartbeat sent
 * every client.heartbeatIntervalMs may arrive a tenth of an interval late (timer drift, a busy event
 * loop, the network) and still spare its connection the ping. Written as the divisor of that tenth
 * so the schedule stays in whole milliseconds (1.1 * 12_000 is not 13_200 in floating point).
 */
const LATE_HEARTBEAT_FRACTION = 10;
/** The first ping's silence in client heartbeat intervals (1.1), for messages and docs. */
export const PING_AFTER_HEARTBEAT_INTERVALS = 1 + 1 / LATE_HEARTBEAT_FRACTION;

/** Both ends' liveness timing, derived from the contract in one place (livenessSchedule). */
export interface LivenessSchedule {
  /** The SDK sends a Phoenix heartbeat this often, whatever other traffic flows. */
  heartbeatIntervalMs: number;
  /** ... and gives one up after this; interval + timeout is the client's dead-peer detection. */
  heartbeatTimeoutMs: number;
  /** Longest the SDK takes to notice a silent server: interval + timeout (<= client.deadPeerDetectionMs). */
  clientDetectionMs: number;
  /** The SDK's promise, and its silence clock: no reply for this long since the last one ends the socket. */
  deadPeerDetectionMs: number;
  /** Silence (no frame, heartbeat or pong) after which the server sends its first ping. */
  firstPingMs: number;
  /** Silence after which the second ping goes out (every further one follows server.pingIntervalMs later). */
  secondPingMs: number;
  /** What the second ping leaves for its pong before the idle limit. */
  pongRoomMs: number;
  /** A connection silent this long is terminated (server.idleTimeoutMs). */
  idleLimitMs: number;
  /**
   * Longest a healthy connection stays silent on the wire, in both directions: a heartbeating client
   * speaks every interval, a pong-only one is pinged at firstPingMs. What an LB idle timeout must outlast.
   */
  longestHealthySilenceMs: number;
}

/**
 * The liveness schedule, the one derivation the rules (server-idle-covers-two-pings,
 * lb-idle-exceeds-heartbeats), the server's pings (serverPingDueMs), the SDK's heartbeat, the plan
 * summary and docs/timeouts.md read.
 *
 * A connection that spoke within the client's heartbeat interval needs no ping: whatever it sent
 * already proved it alive. So the server's first ping waits for a silence of 1.1 client intervals
 * (an SDK heartbeating every client.heartbeatIntervalMs is never pinged while its heartbeats
 * arrive), and the second follows one server.pingIntervalMs later, still one ping interval before
 * the idle limit (rule server-idle-covers-two-pings): one late or lost pong does not end a healthy
 * connection. With the defaults: SDK heartbeat every 7.5 s, reply timeout 7.5 s (detection 15 s);
 * pings at 8.25 s and 11.25 s of silence, idle limit 15 s (the second pong has 3.75 s).
 */
export function livenessSchedule(t: Timeouts): LivenessSchedule {
  const { heartbeatIntervalMs, heartbeatTimeoutMs } = t.client;
  const firstPingMs = firstPingSilenceMs(t);
  const secondPingMs = firstPingMs + t.server.pingIntervalMs;
  return {
    heartbeatIntervalMs,
    heartbeatTimeoutMs,
    clientDetectionMs: heartbeatIntervalMs + heartbeatTimeoutMs,
    deadPeerDetectionMs: t.client.deadPeerDetectionMs,
    firstPingMs,
    secondPingMs,
    pongRoomMs: t.server.idleTimeoutMs - secondPingMs,
    idleLimitMs: t.server.idleTimeoutMs,
    longestHealthySilenceMs: Math.max(heartbeatIntervalMs, firstPingMs),
  };
}

/**
 * When the server pings a connection that has sent nothing for a while: the silence after which
 * ping number `sent + 1` goes out, `sent` being the pings already sent in this silence
 * (livenessSchedule: the first at 1.1 client heartbeat intervals, then every server.pingIntervalMs).
 */
export function serverPingDueMs(t: Timeouts, sent: number): number {
  // Not through livenessSchedule(): the server calls this on every deadline of every connection,
  // and an object built per call was garbage at ~2,400 calls a second for 10k idle connections.
  return firstPingSilenceMs(t) + sent * t.server.pingIntervalMs;
}

/** The silence before the first ping: 1.1 client heartbeat intervals (livenessSchedule's firstPingMs). */
function firstPingSilenceMs(t: Timeouts): number {
  return t.client.heartbeatIntervalMs + t.client.heartbeatIntervalMs / LATE_HEARTBEAT_FRACTION;
}

/**
 * How long a backplane command (a Redis script, the revocation resync) may take before it fails with
 * backplane_unavailable: a quarter of the client's wait for a reply (client.joinTimeoutMs), at least
 * 200 ms. app/backplane/redis/clients.ts sets ioredis' commandTimeout from it.
 */
export function backplaneCommandTimeoutMs(t: Timeouts): number {
  return Math.max(200, Math.floor(t.client.joinTimeoutMs / 4));
}

/**
 * Longest from a revocation accepted by the admin API (persisted in the backplane) to the revoked
 * peer's connection being gone from every server whose backplane is reachable. The broadcast
 * (Redis pub/sub) usually does it in milliseconds; a server that missed it (its subscriber was
 * reconnecting) re-reads the list within one resync interval, answered within the command timeout;
 * the close it then sends is completed, or the socket cut, within drain.marginMs (closeWith).
 * The rule revocation-bound keeps it <= REVOCATION_MAX_BOUND_MS; docs/security.md and
 * test/backplane/revocation.test.ts use this function.
 */
export function revocationBoundMs(t: Timeouts): number {
  return t.revocation.resyncIntervalMs + backplaneCommandTimeoutMs(t) + t.drain.marginMs;
}

/**
 * Longest a peer is gone when its whole region is evacuated (capacity 0, every server drained;
 * docs/regions.md): its server's 1012 tells it to reconnect, it waits at most restartJitterMs, then
 * connects and joins through the global LB to another region within its connect and join timeouts
 * (the inter-region round trips of the upgrade, the attach and the replay at its home region are
 * inside them: an attempt that took longer would be abandoned). The drill's scenario 5 checks
 * every evacuated peer's gap, from losing its session to its next join, against it.
 */
export function regionEvacuationBoundMs(t: Timeouts): number {
  return t.client.restartJitterMs + t.client.connectTimeoutMs + t.client.joinTimeoutMs;
}
