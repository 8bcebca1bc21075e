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
 * When the server pings a connection that has sent nothing (no frame, heartbeat or pong) for a
 * while: the silence after which ping number `sent + 1` goes out, `sent` being the pings already
 * sent in this silence. A connection that spoke within the interval needs no ping: whatever it
 * sent already proved it alive (a client heartbeating every client.heartbeatIntervalMs is never
 * pinged while its heartbeats arrive). The first ping waits one interval plus a tenth (a heartbeat
 * sent every interval may arrive that late without drawing a ping); every further one follows at
 * the next whole interval, so the second goes out at twice the interval of silence: no later than
 * the fixed-phase pinger it replaces sent its second ping in the worst case, which is what rule
 * server-idle-covers-two-pings bounds (idle limit >= 2 intervals: the second ping leaves the
 * remaining third of the limit for its pong, with the default contract).
 */
export function serverPingDueMs(t: Timeouts, sent: number): number {
  const p = t.server.pingIntervalMs;
  return sent === 0 ? p + p / 10 : (sent + 1) * p;
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
