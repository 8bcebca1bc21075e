/**
 * The timeouts the local region and the drill run with, and the bounds the drill checks. Every
 * value comes from the contract (`app/contract/timeouts.ts`) and goes through its validation; the
 * only additions here are a scaled-down contract for `--quick` and the client contract of a peer
 * release without application heartbeats (the postmortem's fix 3 not yet shipped).
 */
import { livenessSchedule, mergeTimeouts, reconnectBoundMs, resolveTimeouts, Timeouts, TimeoutsOverrides } from '../../contract/timeouts';

/**
 * `--quick` (CI): the contract's shape with every timer scaled down about 5x, validated like the
 * defaults. Drain window 2 s, RST deadline 4 s, client detection 3 s (heartbeat 1.5 s + reply
 * timeout 1.5 s), server pings at 1.65 s and 2.25 s of silence, idle limit 3 s, LB idle 6 s.
 */
export const QUICK_OVERRIDES: TimeoutsOverrides = {
  client: {
    heartbeatIntervalMs: 1_500,
    heartbeatTimeoutMs: 1_500,
    deadPeerDetectionMs: 3_000,
    connectTimeoutMs: 1_000,
    joinTimeoutMs: 1_000,
    reconnectBaseMs: 100,
    reconnectCapMs: 2_000,
    restartJitterMs: 500,
    outboxMaxAgeMs: 60_000,
  },
  server: { pingIntervalMs: 600, idleTimeoutMs: 3_000 },
  // GCE values stay at their defaults (no lifecycle watcher runs locally); connection draining
  // keeps room for them so the drain-inside-lb-draining rule holds.
  lb: { kind: 'external-proxy-network', idleTimeoutSec: 6, connectionDrainingSec: 15 },
  drain: { windowMs: 2_000, deadlineMs: 4_000, marginMs: 1_000 },
  resume: { awayGraceMs: 10_000, historyMaxAgeMs: 60_000, dedupeWindowMs: 60_000 },
  presence: { ttlMs: 3_000, renewIntervalMs: 1_000 },
};

/** The local region runs behind a proxy-style LB with an idle timeout (as the proxy Network LB has). */
export const LOCAL_OVERRIDES: TimeoutsOverrides = { lb: { kind: 'external-proxy-network' } };

export function regionTimeouts(quick: boolean, extra: TimeoutsOverrides = {}): Timeouts {
  const base = resolveTimeouts(quick ? QUICK_OVERRIDES : LOCAL_OVERRIDES);
  return resolveTimeouts(extra, base);
}

/**
 * The client contract of a peer release without application heartbeats: its heartbeat interval is
 * longer than `horizonMs` (the drill scenario), so it never fires in time. The other fields are
 * raised only as far as the contract's rules demand, so the value still validates (the SDK refuses
 * a broken contract); a client reads only its `client` group.
 */
export function noHeartbeatClient(t: Timeouts, horizonMs: number): Timeouts {
  const h = Math.ceil(horizonMs / 1000) * 1000;
  const client = { heartbeatIntervalMs: h, heartbeatTimeoutMs: h, deadPeerDetectionMs: 2 * h };
  // The server and LB fields only have to let this client contract validate (the rules read the
  // liveness schedule of both ends); the server itself keeps running with `t`.
  const pings = livenessSchedule(mergeTimeouts(t, { client }));
  const idleTimeoutMs = Math.max(2 * h, pings.secondPingMs + t.server.pingIntervalMs);
  const longer = mergeTimeouts(t, {
    client,
    server: { idleTimeoutMs },
    lb: { idleTimeoutSec: Math.ceil(Math.max(2 * pings.longestHealthySilenceMs, idleTimeoutMs) / 1000) + 1 },
  });
  const grace = reconnectBoundMs(longer);
  return resolveTimeouts(
    {
      resume: {
        awayGraceMs: grace,
        historyMaxAgeMs: Math.max(grace, t.resume.historyMaxAgeMs),
        dedupeWindowMs: Math.max(grace, t.resume.dedupeWindowMs),
      },
      client: { outboxMaxAgeMs: Math.max(grace, t.client.outboxMaxAgeMs) },
    },
    longer,
  );
}

/** The LB idle timeout set "longer than the scenario" (defense 2 ineffective), still a valid contract. */
export function withLbIdle(t: Timeouts, idleSec: number): Timeouts {
  return resolveTimeouts({ lb: { idleTimeoutSec: idleSec } }, t);
}

/** Time a peer needs after its connection is cut: the longest backoff, a connect and a join. */
export function reconnectMs(t: Timeouts): number {
  return t.client.reconnectCapMs + t.client.connectTimeoutMs + t.client.joinTimeoutMs;
}

/**
 * Timers fire at their due time or later, never earlier: a detection check allows this much
 * lateness of the detecting timer (the server's idle timer, the client's heartbeat deadline) and of
 * the drill's event loop noticing it.
 */
export const TIMER_TOLERANCE_MS = 250;

/**
 * The drill's bounds, each derived from the contract (one function each, used by the drill's
 * verdict and its report).
 */
export const bounds = {
  /** Defense 1: a peer told to restart (1012) is back within the restart jitter plus a connect and join. */
  drainGapMs: (t: Timeouts) => t.client.restartJitterMs + t.client.connectTimeoutMs + t.client.joinTimeoutMs,
  /**
   * Defense 2: the LB cuts a connection silent in both directions after its idle timeout. A peer
   * without heartbeats that sends every `sendEveryMs` keeps it busy until its next send at most.
   */
  lbRecoveryMs: (t: Timeouts, sendEveryMs: number) => sendEveryMs + t.lb.idleTimeoutSec * 1000 + reconnectMs(t),
  /** Defense 3, client end: the heartbeat notices a silent server within deadPeerDetectionMs. */
  heartbeatRecoveryMs: (t: Timeouts) => t.client.deadPeerDetectionMs + reconnectMs(t),
  /** Defense 3, client end: no heartbeat reply for deadPeerDetectionMs and the socket is given up. */
  clientDetectionMs: (t: Timeouts) => t.client.deadPeerDetectionMs + TIMER_TOLERANCE_MS,
  /** Defense 3, server end: a connection with no frame and no pong for idleTimeoutMs is terminated. */
  serverDetectionMs: (t: Timeouts) => t.server.idleTimeoutMs + TIMER_TOLERANCE_MS,
};
