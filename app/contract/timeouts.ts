/**
 * The timeouts contract: every timer in sluice (server, client SDK, load balancer, GCE lifecycle,
 * shutdown script, container stop) is derived from ONE value of this type, and `validate()` checks
 * that the layers fit together. The postmortem's three defenses only work if they nest:
 *
 *   heartbeats (seconds)  <  LB idle timeout (tens of seconds)
 *   drain window          <  RST deadline  <  LB connection draining  <=  the VM's shutdown path
 *
 * This module is plain data and functions: no Pulumi, no I/O, so the server, the client and the
 * Pulumi program all import it without cycles. Units are in the field names (Ms / Sec).
 */

/** Which GCP load balancer fronts the servers; it changes what the backend `timeoutSec` means. */
export type LbKind = 'external-application' | 'external-proxy-network';
export const LB_KINDS: readonly LbKind[] = ['external-application', 'external-proxy-network'];

export interface Timeouts {
  client: {
    /** Phoenix `heartbeat` every this often, whether or not other traffic flows. */
    heartbeatIntervalMs: number;
    /** No heartbeat reply for this long after sending one: terminate the socket and reconnect. */
    heartbeatTimeoutMs: number;
    /** Upper bound on noticing a silent (black-holed) server: interval + timeout must fit in it. */
    deadPeerDetectionMs: number;
    /** TCP + TLS + upgrade must finish within this. */
    connectTimeoutMs: number;
    /** `phx_join` must be answered within this. */
    joinTimeoutMs: number;
    /** Full-jitter exponential backoff: delay = random(0, min(cap, base * 2^attempt)). */
    reconnectBaseMs: number;
    reconnectCapMs: number;
    /** After a polite close 1012/1001 (server restart) reconnect within random(0, this). */
    restartJitterMs: number;
  };
  server: {
    /** WebSocket ping to every connection this often. */
    pingIntervalMs: number;
    /** A connection with no frame at all (data, heartbeat or pong) for this long is terminated. */
    idleTimeoutMs: number;
    /** Each connection is rotated (close 1012) after this lifetime, shortened by up to `lifetimeJitter`. */
    maxConnectionLifetimeMs: number;
    /** Fraction (0..1) of the lifetime taken off at random so rotations of one server never line up. */
    lifetimeJitter: number;
  };
  lb: {
    kind: LbKind;
    /** Idle timeout of the LB (the backend `timeoutSec` of a proxy Network LB). */
    idleTimeoutSec: number;
    /**
     * Maximum WebSocket lifetime at the LB: the backend `timeoutSec` of a global external
     * Application LB, which is NOT an idle timeout there (see infra/load-balancer).
     */
    maxConnectionLifetimeSec: number;
    /** Backend service `connectionDraining.drainingTimeoutSec`: how long a leaving VM keeps its connections. */
    connectionDrainingSec: number;
  };
  drain: {
    /** Closes (1012) are spread evenly, with jitter, over this window from drain start. */
    windowMs: number;
    /** At this time after drain start every connection still open is reset (TCP RST). */
    deadlineMs: number;
    /** Slack kept between layers (process exit, a late poll, clock skew). */
    marginMs: number;
  };
  gce: {
    /** The lifecycle watcher starts a `listManagedInstances` poll this often (fixed rate, not interval + request time). */
    watcherPollIntervalMs: number;
    /** One poll (token fetch + every listManagedInstances page) is aborted after this; below the poll interval. */
    watcherRequestTimeoutMs: number;
    /**
     * MIG `updatePolicy.minReadySec`: the updater removes an old VM only after its replacement has been
     * available (autohealing check HEALTHY) this long; it covers the LB's readiness probes (READINESS_PROBE).
     */
    minReadySec: number;
    /** Whether the VMs are preemptible/Spot: shutdown scripts then get 30 s, not 90 s. */
    preemptible: boolean;
    /** `docker stop -t`: SIGTERM, then SIGKILL after this many seconds. */
    dockerStopTimeoutSec: number;
  };
  resume: {
    /** Per-recipient replay history: at most this many signals ... */
    historyMaxMessages: number;
    /** ... and none older than this. */
    historyMaxAgeMs: number;
    /** `(sender, id)` pairs are remembered this long to drop re-sent signals. */
    dedupeWindowMs: number;
    /** A peer that disconnected stays addressable (signals are stored for it) this long. */
    awayGraceMs: number;
  };
  presence: {
    /** A server's presence records expire after this unless renewed (a SIGKILLed server's peers vanish). */
    ttlMs: number;
    /** Renew presence this often. */
    renewIntervalMs: number;
  };
}

/** Shutdown-script budgets from cloud.google.com/compute/docs/shutdownscript (best effort). */
export const SHUTDOWN_BUDGET_SEC = { onDemand: 90, preemptible: 30 } as const;
/** Backend service `timeoutSec` range accepted by the Compute API. */
export const LB_TIMEOUT_RANGE_SEC = { min: 1, max: 2_147_483_647 } as const;
/** Google advises against a longer WebSocket lifetime on the global ALB: front ends restart for maintenance. */
export const ALB_MAX_ADVISED_LIFETIME_SEC = 86_400;
/** Presence must let a dead server's peers go within this, whatever the config (issue: "no more than 60 s"). */
export const PRESENCE_MAX_BOUND_MS = 60_000;

export const defaultTimeouts: Timeouts = {
  client: {
    heartbeatIntervalMs: 5_000,
    heartbeatTimeoutMs: 10_000,
    deadPeerDetectionMs: 15_000,
    connectTimeoutMs: 5_000,
    joinTimeoutMs: 5_000,
    reconnectBaseMs: 250,
    reconnectCapMs: 10_000,
    restartJitterMs: 1_000,
  },
  server: {
    pingIntervalMs: 5_000,
    idleTimeoutMs: 15_000,
    maxConnectionLifetimeMs: 30 * 60_000,
    lifetimeJitter: 0.1,
  },
  lb: {
    kind: 'external-application',
    idleTimeoutSec: 30,
    maxConnectionLifetimeSec: 3_600,
    connectionDrainingSec: 35,
  },
  drain: { windowMs: 10_000, deadlineMs: 20_000, marginMs: 5_000 },
  gce: { watcherPollIntervalMs: 5_000, watcherRequestTimeoutMs: 2_000, minReadySec: 30, preemptible: false, dockerStopTimeoutSec: 30 },
  resume: { historyMaxMessages: 1_000, historyMaxAgeMs: 5 * 60_000, dedupeWindowMs: 5 * 60_000, awayGraceMs: 60_000 },
  presence: { ttlMs: 30_000, renewIntervalMs: 10_000 },
};

/** One broken rule: its name, what it demands, and the numbers that broke it. */
export interface Violation {
  rule: string;
  message: string;
  values: Record<string, number | string | boolean>;
}

interface Rule {
  name: string;
  /** Why the rule exists, in one sentence (also rendered into the README table). */
  why: string;
  check(t: Timeouts): Violation | undefined;
}

function rule(
  name: string,
  why: string,
  holds: (t: Timeouts) => boolean,
  explain: (t: Timeouts) => { message: string; values: Violation['values'] },
): Rule {
  return { name, why, check: (t) => (holds(t) ? undefined : { rule: name, ...explain(t) }) };
}

/**
 * The LB's readiness probe of /readyz (infra/components/load-balancer.ts renders it from here). A VM
 * that turns ready is seen healthy after at most `healthyThreshold` probes `intervalSec` apart, each
 * answered within `timeoutSec`.
 */
export const READINESS_PROBE = { intervalSec: 5, timeoutSec: 5, healthyThreshold: 2, unhealthyThreshold: 2 } as const;

/** Longest a ready VM waits until the LB counts it healthy: one interval to the next probe, then threshold probes. */
export function lbHealthyAfterSec(): number {
  return READINESS_PROBE.intervalSec * READINESS_PROBE.healthyThreshold + READINESS_PROBE.timeoutSec;
}

/**
 * Worst case from the moment the MIG sets this VM's currentAction to the moment the watcher knows:
 * polls start every watcherPollIntervalMs (fixed rate), so the first poll that can see the action
 * starts at most one interval later, and it answers (or is aborted) within watcherRequestTimeoutMs.
 * The one formula behind the rule drain-inside-lb-draining, the plan summary and the README timeline.
 */
export function watcherDetectionBoundMs(t: Timeouts): number {
  return t.gce.watcherPollIntervalMs + t.gce.watcherRequestTimeoutMs;
}

/** From removal scheduled to the drain's RST deadline plus margin: what must fit in connection draining. */
export function drainCompleteBoundMs(t: Timeouts): number {
  return watcherDetectionBoundMs(t) + t.drain.deadlineMs + t.drain.marginMs;
}

/** Shutdown script: wait for the drain deadline plus margin after POST /drain. */
export function shutdownScriptWaitSec(t: Timeouts): number {
  return Math.ceil((t.drain.deadlineMs + t.drain.marginMs) / 1000);
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
  return Math.max(t.drain.deadlineMs, t.client.deadPeerDetectionMs) + t.client.reconnectCapMs + t.client.connectTimeoutMs + t.client.joinTimeoutMs;
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

/** Values that are counts or whole seconds for the systems that consume them (Redis MAXLEN, docker, the Compute API). */
const INTEGER_FIELDS: Array<[string, (t: Timeouts) => number]> = [
  ['resume.historyMaxMessages', (t) => t.resume.historyMaxMessages],
  ['gce.dockerStopTimeoutSec', (t) => t.gce.dockerStopTimeoutSec],
  ['gce.minReadySec', (t) => t.gce.minReadySec],
  ['lb.connectionDrainingSec', (t) => t.lb.connectionDrainingSec],
  ['lb.idleTimeoutSec', (t) => t.lb.idleTimeoutSec],
  ['lb.maxConnectionLifetimeSec', (t) => t.lb.maxConnectionLifetimeSec],
];

const sec = (ms: number) => ms / 1000;

export const RULES: readonly Rule[] = [
  rule('positive-values', 'Every duration is a positive finite number.',
    (t) => allDurations(t).every(([, v]) => Number.isFinite(v) && v > 0),
    (t) => {
      const bad = allDurations(t).filter(([, v]) => !(Number.isFinite(v) && v > 0));
      return { message: `durations must be positive numbers: ${bad.map(([k]) => k).join(', ')}`, values: Object.fromEntries(bad) };
    }),
  rule('integer-values', 'Counts and whole-second values are integers (Redis MAXLEN, docker stop --time and the Compute API refuse fractions).',
    (t) => INTEGER_FIELDS.every(([, get]) => Number.isInteger(get(t))),
    (t) => {
      const bad = INTEGER_FIELDS.filter(([, get]) => !Number.isInteger(get(t)));
      return { message: `must be integers: ${bad.map(([k]) => k).join(', ')}`, values: Object.fromEntries(bad.map(([k, get]) => [k, get(t)])) };
    }),
  rule('client-detects-dead-peer-in-bound',
    'A silent server is noticed within the bound: the next heartbeat goes out after one interval and is given up on after the timeout.',
    (t) => t.client.heartbeatIntervalMs + t.client.heartbeatTimeoutMs <= t.client.deadPeerDetectionMs,
    (t) => ({
      message: `client.heartbeatIntervalMs + client.heartbeatTimeoutMs (${t.client.heartbeatIntervalMs + t.client.heartbeatTimeoutMs}) must be <= client.deadPeerDetectionMs (${t.client.deadPeerDetectionMs})`,
      values: { heartbeatIntervalMs: t.client.heartbeatIntervalMs, heartbeatTimeoutMs: t.client.heartbeatTimeoutMs, deadPeerDetectionMs: t.client.deadPeerDetectionMs },
    })),
  rule('client-timeout-covers-interval',
    'One late reply on a busy link must not kill a healthy connection: the reply timeout is at least one interval.',
    (t) => t.client.heartbeatTimeoutMs >= t.client.heartbeatIntervalMs,
    (t) => ({
      message: `client.heartbeatTimeoutMs (${t.client.heartbeatTimeoutMs}) must be >= client.heartbeatIntervalMs (${t.client.heartbeatIntervalMs})`,
      values: { heartbeatTimeoutMs: t.client.heartbeatTimeoutMs, heartbeatIntervalMs: t.client.heartbeatIntervalMs },
    })),
  rule('client-backoff-ordered', 'Backoff base is below its cap.',
    (t) => t.client.reconnectBaseMs <= t.client.reconnectCapMs,
    (t) => ({
      message: `client.reconnectBaseMs (${t.client.reconnectBaseMs}) must be <= client.reconnectCapMs (${t.client.reconnectCapMs})`,
      values: { reconnectBaseMs: t.client.reconnectBaseMs, reconnectCapMs: t.client.reconnectCapMs },
    })),
  rule('server-idle-covers-two-client-heartbeats',
    'The server must not drop a healthy client whose one heartbeat was delayed: idle limit >= 2 client intervals.',
    (t) => t.server.idleTimeoutMs >= 2 * t.client.heartbeatIntervalMs,
    (t) => ({
      message: `server.idleTimeoutMs (${t.server.idleTimeoutMs}) must be >= 2 * client.heartbeatIntervalMs (${2 * t.client.heartbeatIntervalMs})`,
      values: { idleTimeoutMs: t.server.idleTimeoutMs, clientHeartbeatIntervalMs: t.client.heartbeatIntervalMs },
    })),
  rule('server-idle-covers-two-pings',
    'A pong to one of two consecutive pings must be able to arrive before the idle limit.',
    (t) => t.server.idleTimeoutMs >= 2 * t.server.pingIntervalMs,
    (t) => ({
      message: `server.idleTimeoutMs (${t.server.idleTimeoutMs}) must be >= 2 * server.pingIntervalMs (${2 * t.server.pingIntervalMs})`,
      values: { idleTimeoutMs: t.server.idleTimeoutMs, pingIntervalMs: t.server.pingIntervalMs },
    })),
  rule('lb-idle-exceeds-heartbeats',
    'Heartbeats keep a healthy connection busy at the LB: the LB idle timeout is at least twice the longer heartbeat interval.',
    (t) => t.lb.idleTimeoutSec * 1000 >= 2 * Math.max(t.client.heartbeatIntervalMs, t.server.pingIntervalMs),
    (t) => ({
      message: `lb.idleTimeoutSec (${t.lb.idleTimeoutSec}) must be >= 2 * max(client.heartbeatIntervalMs, server.pingIntervalMs) = ${sec(2 * Math.max(t.client.heartbeatIntervalMs, t.server.pingIntervalMs))} s`,
      values: { idleTimeoutSec: t.lb.idleTimeoutSec, clientHeartbeatIntervalMs: t.client.heartbeatIntervalMs, serverPingIntervalMs: t.server.pingIntervalMs },
    })),
  rule('lb-idle-exceeds-server-idle',
    'The server notices a dead peer before the LB does, so the LB idle timeout only catches what the application missed.',
    (t) => t.lb.idleTimeoutSec * 1000 > t.server.idleTimeoutMs,
    (t) => ({
      message: `lb.idleTimeoutSec (${t.lb.idleTimeoutSec}) must be > server.idleTimeoutMs (${sec(t.server.idleTimeoutMs)} s)`,
      values: { idleTimeoutSec: t.lb.idleTimeoutSec, serverIdleTimeoutMs: t.server.idleTimeoutMs },
    })),
  rule('rotation-under-lb-max-lifetime',
    'On the global ALB, timeoutSec cuts every WebSocket at that age: the server rotates each connection (and finishes its close) before then.',
    (t) => t.lb.kind !== 'external-application'
      || longestLifetimeMs(t) + t.drain.marginMs <= t.lb.maxConnectionLifetimeSec * 1000,
    (t) => ({
      message: `server.maxConnectionLifetimeMs + drain.marginMs (${sec(longestLifetimeMs(t) + t.drain.marginMs)} s) must be <= lb.maxConnectionLifetimeSec (${t.lb.maxConnectionLifetimeSec}) for lb.kind external-application`,
      values: { maxConnectionLifetimeMs: t.server.maxConnectionLifetimeMs, marginMs: t.drain.marginMs, maxConnectionLifetimeSec: t.lb.maxConnectionLifetimeSec },
    })),
  rule('lb-lifetime-advised-maximum',
    'Google advises a WebSocket lifetime of at most 86,400 s on the global ALB (front ends restart for maintenance).',
    (t) => t.lb.maxConnectionLifetimeSec <= ALB_MAX_ADVISED_LIFETIME_SEC,
    (t) => ({
      message: `lb.maxConnectionLifetimeSec (${t.lb.maxConnectionLifetimeSec}) must be <= ${ALB_MAX_ADVISED_LIFETIME_SEC}`,
      values: { maxConnectionLifetimeSec: t.lb.maxConnectionLifetimeSec },
    })),
  rule('lifetime-jitter-fraction', 'Lifetime jitter is a fraction in [0, 0.5].',
    (t) => t.server.lifetimeJitter >= 0 && t.server.lifetimeJitter <= 0.5,
    (t) => ({ message: `server.lifetimeJitter (${t.server.lifetimeJitter}) must be within [0, 0.5]`, values: { lifetimeJitter: t.server.lifetimeJitter } })),
  rule('rotation-longer-than-drain',
    'Rotating connections faster than a drain would churn the fleet: the shortest lifetime exceeds the drain deadline.',
    (t) => shortestLifetimeMs(t) > t.drain.deadlineMs,
    (t) => ({
      message: `shortest connection lifetime (${sec(shortestLifetimeMs(t))} s) must be > drain.deadlineMs (${sec(t.drain.deadlineMs)} s)`,
      values: { maxConnectionLifetimeMs: t.server.maxConnectionLifetimeMs, lifetimeJitter: t.server.lifetimeJitter, deadlineMs: t.drain.deadlineMs },
    })),
  rule('drain-window-before-deadline',
    'Peers get a polite 1012 and time to answer it before the RST: window + margin <= deadline.',
    (t) => t.drain.windowMs + t.drain.marginMs <= t.drain.deadlineMs,
    (t) => ({
      message: `drain.windowMs + drain.marginMs (${t.drain.windowMs + t.drain.marginMs}) must be <= drain.deadlineMs (${t.drain.deadlineMs})`,
      values: { windowMs: t.drain.windowMs, marginMs: t.drain.marginMs, deadlineMs: t.drain.deadlineMs },
    })),
  rule('drain-inside-lb-draining',
    'GCP drains the VM at the LB before deletion: the watcher notices within one poll interval plus its request timeout, and the drain (to its RST deadline) finishes inside connection draining, with margin.',
    (t) => drainCompleteBoundMs(t) <= t.lb.connectionDrainingSec * 1000,
    (t) => ({
      message: `gce.watcherPollIntervalMs + gce.watcherRequestTimeoutMs + drain.deadlineMs + drain.marginMs (${sec(drainCompleteBoundMs(t))} s) must be <= lb.connectionDrainingSec (${t.lb.connectionDrainingSec})`,
      values: { watcherPollIntervalMs: t.gce.watcherPollIntervalMs, watcherRequestTimeoutMs: t.gce.watcherRequestTimeoutMs, deadlineMs: t.drain.deadlineMs, marginMs: t.drain.marginMs, connectionDrainingSec: t.lb.connectionDrainingSec },
    })),
  rule('watcher-request-within-interval',
    'A poll never overlaps the next one: the watcher request timeout is below the poll interval, so polls start at a fixed rate.',
    (t) => t.gce.watcherRequestTimeoutMs < t.gce.watcherPollIntervalMs,
    (t) => ({
      message: `gce.watcherRequestTimeoutMs (${t.gce.watcherRequestTimeoutMs}) must be < gce.watcherPollIntervalMs (${t.gce.watcherPollIntervalMs})`,
      values: { watcherRequestTimeoutMs: t.gce.watcherRequestTimeoutMs, watcherPollIntervalMs: t.gce.watcherPollIntervalMs },
    })),
  rule('min-ready-covers-lb-health',
    'The MIG updater counts a VM available by its autohealing check (/healthz), not the LB: minReadySec keeps the old VM until the LB has had time to see the new one healthy on /readyz.',
    (t) => t.gce.minReadySec >= lbHealthyAfterSec(),
    (t) => ({
      message: `gce.minReadySec (${t.gce.minReadySec}) must be >= the LB's readiness detection (${READINESS_PROBE.healthyThreshold} probes x ${READINESS_PROBE.intervalSec} s + ${READINESS_PROBE.timeoutSec} s timeout = ${lbHealthyAfterSec()} s)`,
      values: { minReadySec: t.gce.minReadySec, lbHealthyAfterSec: lbHealthyAfterSec() },
    })),
  rule('lb-draining-in-range', 'Connection draining is 1..3600 s (0 would turn it off).',
    (t) => t.lb.connectionDrainingSec >= 1 && t.lb.connectionDrainingSec <= 3600,
    (t) => ({ message: `lb.connectionDrainingSec (${t.lb.connectionDrainingSec}) must be within [1, 3600]`, values: { connectionDrainingSec: t.lb.connectionDrainingSec } })),
  rule('drain-fits-shutdown-budget',
    'Where only the shutdown script sees the VM go, its wait (drain deadline + margin) fits the best-effort budget: 90 s on-demand, 30 s preemptible.',
    (t) => shutdownScriptWaitSec(t) <= shutdownBudgetSec(t),
    (t) => ({
      message: `shutdown script wait = drain.deadlineMs + drain.marginMs (${shutdownScriptWaitSec(t)} s) must be <= the ${t.gce.preemptible ? 'preemptible' : 'on-demand'} shutdown budget (${shutdownBudgetSec(t)} s)`,
      values: { deadlineMs: t.drain.deadlineMs, marginMs: t.drain.marginMs, preemptible: t.gce.preemptible, budgetSec: shutdownBudgetSec(t) },
    })),
  rule('docker-stop-covers-drain',
    'SIGTERM starts a drain; docker must not SIGKILL the server before the drain deadline has passed.',
    (t) => t.gce.dockerStopTimeoutSec * 1000 >= t.drain.deadlineMs + t.drain.marginMs,
    (t) => ({
      message: `gce.dockerStopTimeoutSec (${t.gce.dockerStopTimeoutSec}) must be >= drain.deadlineMs + drain.marginMs (${sec(t.drain.deadlineMs + t.drain.marginMs)} s)`,
      values: { dockerStopTimeoutSec: t.gce.dockerStopTimeoutSec, deadlineMs: t.drain.deadlineMs, marginMs: t.drain.marginMs },
    })),
  rule('docker-stop-fits-shutdown-budget',
    'The VM shutdown does not wait forever on the container: docker stop timeout fits the shutdown budget.',
    (t) => t.gce.dockerStopTimeoutSec <= shutdownBudgetSec(t),
    (t) => ({
      message: `gce.dockerStopTimeoutSec (${t.gce.dockerStopTimeoutSec}) must be <= the shutdown budget (${shutdownBudgetSec(t)} s)`,
      values: { dockerStopTimeoutSec: t.gce.dockerStopTimeoutSec, budgetSec: shutdownBudgetSec(t) },
    })),
  rule('lb-timeout-in-range', 'The backend service timeoutSec the LB kind needs is within the Compute API range.',
    (t) => backendTimeoutSec(t) >= LB_TIMEOUT_RANGE_SEC.min && backendTimeoutSec(t) <= LB_TIMEOUT_RANGE_SEC.max && Number.isInteger(backendTimeoutSec(t)),
    (t) => ({ message: `backend timeoutSec (${backendTimeoutSec(t)}) must be an integer within [1, ${LB_TIMEOUT_RANGE_SEC.max}]`, values: { timeoutSec: backendTimeoutSec(t), kind: t.lb.kind } })),
  rule('resume-grace-covers-reconnect',
    'A peer stays addressable until it is back: the away grace outlasts the slower of drain deadline and dead-peer detection, plus the longest backoff, connect and join.',
    (t) => t.resume.awayGraceMs >= reconnectBoundMs(t),
    (t) => ({
      message: `resume.awayGraceMs (${t.resume.awayGraceMs}) must be >= max(drain.deadlineMs, client.deadPeerDetectionMs) + client.reconnectCapMs + client.connectTimeoutMs + client.joinTimeoutMs (${reconnectBoundMs(t)})`,
      values: { awayGraceMs: t.resume.awayGraceMs, deadlineMs: t.drain.deadlineMs, deadPeerDetectionMs: t.client.deadPeerDetectionMs, reconnectCapMs: t.client.reconnectCapMs, connectTimeoutMs: t.client.connectTimeoutMs, joinTimeoutMs: t.client.joinTimeoutMs },
    })),
  rule('resume-history-covers-grace',
    'Signals stored for an away peer are still in history when it comes back: history age >= away grace.',
    (t) => t.resume.historyMaxAgeMs >= t.resume.awayGraceMs,
    (t) => ({
      message: `resume.historyMaxAgeMs (${t.resume.historyMaxAgeMs}) must be >= resume.awayGraceMs (${t.resume.awayGraceMs})`,
      values: { historyMaxAgeMs: t.resume.historyMaxAgeMs, awayGraceMs: t.resume.awayGraceMs },
    })),
  rule('dedupe-covers-history',
    'A re-sent signal is recognised as long as the original can still be replayed: dedupe window >= history age.',
    (t) => t.resume.dedupeWindowMs >= t.resume.historyMaxAgeMs,
    (t) => ({
      message: `resume.dedupeWindowMs (${t.resume.dedupeWindowMs}) must be >= resume.historyMaxAgeMs (${t.resume.historyMaxAgeMs})`,
      values: { dedupeWindowMs: t.resume.dedupeWindowMs, historyMaxAgeMs: t.resume.historyMaxAgeMs },
    })),
  rule('presence-renewed-before-expiry',
    'A live server renews presence at least twice per TTL, so one slow renewal does not drop its peers.',
    (t) => 2 * t.presence.renewIntervalMs <= t.presence.ttlMs,
    (t) => ({
      message: `2 * presence.renewIntervalMs (${2 * t.presence.renewIntervalMs}) must be <= presence.ttlMs (${t.presence.ttlMs})`,
      values: { renewIntervalMs: t.presence.renewIntervalMs, ttlMs: t.presence.ttlMs },
    })),
  rule('presence-bound',
    'The peers of a dead (SIGKILLed) server leave presence within 60 s.',
    (t) => t.presence.ttlMs <= PRESENCE_MAX_BOUND_MS,
    (t) => ({ message: `presence.ttlMs (${t.presence.ttlMs}) must be <= ${PRESENCE_MAX_BOUND_MS}`, values: { ttlMs: t.presence.ttlMs } })),
];

function allDurations(t: Timeouts): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (const [group, fields] of Object.entries(t) as Array<[string, Record<string, unknown>]>) {
    for (const [k, v] of Object.entries(fields)) {
      if (/(Ms|Sec)$/.test(k) || k === 'historyMaxMessages') out.push([`${group}.${k}`, v as number]);
    }
  }
  return out;
}

/** Every rule the config breaks, by name, with the numbers; empty when the config is sound. */
export function validate(t: Timeouts): Violation[] {
  const out: Violation[] = [];
  if (!LB_KINDS.includes(t.lb.kind)) {
    out.push({ rule: 'lb-kind', message: `lb.kind must be one of ${LB_KINDS.join(', ')}, got ${String(t.lb.kind)}`, values: { kind: String(t.lb.kind) } });
    return out;
  }
  for (const r of RULES) {
    const v = r.check(t);
    if (v) out.push(v);
  }
  return out;
}

export class TimeoutsContractError extends Error {
  constructor(readonly violations: Violation[]) {
    super(`timeouts contract broken:\n${violations.map((v) => `  - [${v.rule}] ${v.message}`).join('\n')}`);
    this.name = 'TimeoutsContractError';
  }
}

export type TimeoutsOverrides = { [G in keyof Timeouts]?: Partial<Timeouts[G]> };

/** Defaults merged with overrides, validated; throws TimeoutsContractError naming every broken rule. */
export function resolveTimeouts(overrides: TimeoutsOverrides = {}, base: Timeouts = defaultTimeouts): Timeouts {
  const merged = mergeTimeouts(base, overrides);
  const violations = validate(merged);
  if (violations.length > 0) throw new TimeoutsContractError(violations);
  return merged;
}

/** Defaults merged with overrides, NOT validated (for tests and tools that report violations themselves). */
export function mergeTimeouts(base: Timeouts, overrides: TimeoutsOverrides): Timeouts {
  const out = structuredClone(base) as unknown as Record<string, Record<string, unknown>>;
  for (const [group, fields] of Object.entries(overrides)) {
    if (!(group in out)) throw new TimeoutsContractError([{ rule: 'known-keys', message: `unknown timeouts group "${group}"`, values: { group } }]);
    for (const [k, v] of Object.entries(fields ?? {})) {
      if (!(k in out[group])) throw new TimeoutsContractError([{ rule: 'known-keys', message: `unknown timeouts key "${group}.${k}"`, values: { key: `${group}.${k}` } }]);
      if (v !== undefined) out[group][k] = v;
    }
  }
  return out as unknown as Timeouts;
}

/** The rules with their reasons, for docs and `plan` output. */
export function describeRules(): Array<{ name: string; why: string }> {
  return RULES.map((r) => ({ name: r.name, why: r.why }));
}

/* ------------------------------------------------------------------------------------------------
 * GKE (stack config `sluice:platform: gke`, infra/gke). The same server and the same drain, on
 * Kubernetes: what changes is who removes a pod from the load balancer and when. Kubernetes starts
 * the pod's preStop hook and the endpoint removal at the same time ("At the same time as the kubelet
 * is starting graceful shutdown of the Pod, the control plane evaluates whether to remove that
 * shutting-down Pod from EndpointSlice objects", kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle),
 * so the timers below must nest whichever of the two is faster. These rules run only for GKE stacks
 * (validateGke), after validate(); the GKE values are not part of Timeouts, so the server and the
 * GCE stacks never see them.
 * ---------------------------------------------------------------------------------------------- */

export interface GkeTimeouts {
  /** Pod `terminationGracePeriodSeconds`: SIGKILL this long after the pod's deletion started (preStop included). */
  terminationGracePeriodSec: number;
  /** HPA `behavior.scaleDown.stabilizationWindowSeconds`: scale-in looks at the highest recommendation over this window. */
  hpaScaleDownStabilizationSec: number;
}

export const defaultGkeTimeouts: GkeTimeouts = { terminationGracePeriodSec: 35, hpaScaleDownStabilizationSec: 300 };

/** The preStop hook's wait for POST /drain?wait=1: the drain deadline plus margin (same bound as the GCE shutdown script). */
export function preStopWaitSec(t: Timeouts): number {
  return shutdownScriptWaitSec(t);
}

/** What terminationGracePeriodSeconds must cover: the preStop wait, then SIGTERM and exit within one margin. */
export function gkeGraceNeededSec(t: Timeouts): number {
  return preStopWaitSec(t) + Math.ceil(t.drain.marginMs / 1000);
}

/**
 * Longest the LB keeps sending NEW connections to a pod after its deletion started: the endpoint
 * removal lag. Two paths remove it, whichever is first: the NEG controller detaches the terminating
 * endpoint (it does so at once by design: "This is the intended behavior of NEG controller. It
 * optimized to lower the programming latency", github.com/kubernetes/ingress-gce/issues/1574; Google
 * documents no bound), and the LB health check on /readyz, which the drain turns 503 the moment
 * preStop starts it: a probe starts within one interval and `unhealthyThreshold` consecutive failures
 * mark the endpoint unhealthy. The documented, controlled figure is therefore the health-check bound:
 * unhealthyThreshold x intervalSec + timeoutSec (2 x 5 s + 5 s = 15 s with READINESS_PROBE).
 */
export function endpointRemovalBoundSec(): number {
  return READINESS_PROBE.unhealthyThreshold * READINESS_PROBE.intervalSec + READINESS_PROBE.timeoutSec;
}

interface GkeRule {
  name: string;
  why: string;
  check(t: Timeouts, g: GkeTimeouts): Violation | undefined;
}

function gkeRule(
  name: string,
  why: string,
  holds: (t: Timeouts, g: GkeTimeouts) => boolean,
  explain: (t: Timeouts, g: GkeTimeouts) => { message: string; values: Violation['values'] },
): GkeRule {
  return { name, why, check: (t, g) => (holds(t, g) ? undefined : { rule: name, ...explain(t, g) }) };
}

const GKE_INTEGER_FIELDS: Array<[string, (g: GkeTimeouts) => number]> = [
  ['gke.terminationGracePeriodSec', (g) => g.terminationGracePeriodSec],
  ['gke.hpaScaleDownStabilizationSec', (g) => g.hpaScaleDownStabilizationSec],
];

export const GKE_RULES: readonly GkeRule[] = [
  gkeRule('gke-integer-values', 'The Kubernetes API takes whole, positive seconds for the grace period and the HPA window (at most 3600 s).',
    (_t, g) => GKE_INTEGER_FIELDS.every(([, get]) => Number.isInteger(get(g)) && get(g) >= 1 && get(g) <= 3600),
    (_t, g) => {
      const bad = GKE_INTEGER_FIELDS.filter(([, get]) => !(Number.isInteger(get(g)) && get(g) >= 1 && get(g) <= 3600));
      return { message: `must be integers in [1, 3600]: ${bad.map(([k]) => k).join(', ')}`, values: Object.fromEntries(bad.map(([k, get]) => [k, get(g)])) };
    }),
  gkeRule('gke-grace-covers-prestop-drain',
    'The grace period counts from the start of preStop: it covers the preStop wait for the drain (deadline + margin), then SIGTERM and exit within one more margin, so the kubelet never SIGKILLs a draining server.',
    (t, g) => g.terminationGracePeriodSec >= gkeGraceNeededSec(t),
    (t, g) => ({
      message: `gke.terminationGracePeriodSec (${g.terminationGracePeriodSec}) must be >= preStop wait (drain.deadlineMs + drain.marginMs = ${preStopWaitSec(t)} s) + drain.marginMs (${sec(t.drain.marginMs)} s) = ${gkeGraceNeededSec(t)} s`,
      values: { terminationGracePeriodSec: g.terminationGracePeriodSec, deadlineMs: t.drain.deadlineMs, marginMs: t.drain.marginMs },
    })),
  gkeRule('gke-lb-draining-covers-drain',
    'The NEG endpoint can be detached the moment the pod starts terminating; the LB keeps its connections only for connection draining, so that covers the whole drain to its RST deadline, with margin.',
    (t) => t.lb.connectionDrainingSec * 1000 >= t.drain.deadlineMs + t.drain.marginMs,
    (t) => ({
      message: `lb.connectionDrainingSec (${t.lb.connectionDrainingSec}) must be >= drain.deadlineMs + drain.marginMs (${sec(t.drain.deadlineMs + t.drain.marginMs)} s)`,
      values: { connectionDrainingSec: t.lb.connectionDrainingSec, deadlineMs: t.drain.deadlineMs, marginMs: t.drain.marginMs },
    })),
  gkeRule('gke-drain-outlasts-endpoint-removal',
    'The LB may send new connections until the endpoint removal lag has passed (15 s: the /readyz health-check bound); the server answers them (503, Retry-After) until its RST deadline, so it must not exit while still in rotation.',
    (t) => endpointRemovalBoundSec() * 1000 + t.drain.marginMs <= t.drain.deadlineMs,
    (t) => ({
      message: `endpoint removal bound (${READINESS_PROBE.unhealthyThreshold} probes x ${READINESS_PROBE.intervalSec} s + ${READINESS_PROBE.timeoutSec} s = ${endpointRemovalBoundSec()} s) + drain.marginMs (${sec(t.drain.marginMs)} s) must be <= drain.deadlineMs (${sec(t.drain.deadlineMs)} s)`,
      values: { endpointRemovalBoundSec: endpointRemovalBoundSec(), marginMs: t.drain.marginMs, deadlineMs: t.drain.deadlineMs },
    })),
  gkeRule('gke-hpa-scale-down-exceeds-drain',
    'A scale-in moves a drained pod\'s peers onto the others: the HPA scale-down window outlasts a whole pod termination plus margin, so it never scales in again on numbers taken mid-drain.',
    (t, g) => g.hpaScaleDownStabilizationSec * 1000 >= g.terminationGracePeriodSec * 1000 + t.drain.marginMs,
    (t, g) => ({
      message: `gke.hpaScaleDownStabilizationSec (${g.hpaScaleDownStabilizationSec}) must be >= gke.terminationGracePeriodSec (${g.terminationGracePeriodSec}) + drain.marginMs (${sec(t.drain.marginMs)} s)`,
      values: { hpaScaleDownStabilizationSec: g.hpaScaleDownStabilizationSec, terminationGracePeriodSec: g.terminationGracePeriodSec, marginMs: t.drain.marginMs },
    })),
];

/** Every GKE rule the pair breaks (run after validate(t) holds); empty when sound. */
export function validateGke(t: Timeouts, g: GkeTimeouts): Violation[] {
  return GKE_RULES.map((r) => r.check(t, g)).filter((v): v is Violation => v !== undefined);
}

/** GKE defaults merged with overrides; unknown keys throw TimeoutsContractError (rule known-keys). */
export function mergeGkeTimeouts(overrides: Partial<Record<string, unknown>> = {}, base: GkeTimeouts = defaultGkeTimeouts): GkeTimeouts {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(overrides)) {
    if (!(k in base)) throw new TimeoutsContractError([{ rule: 'known-keys', message: `unknown GKE timeouts key "gke.${k}" (known: ${Object.keys(base).join(', ')})`, values: { key: `gke.${k}` } }]);
    if (v !== undefined) out[k] = v;
  }
  return out as unknown as GkeTimeouts;
}

export function describeGkeRules(): Array<{ name: string; why: string }> {
  return GKE_RULES.map((r) => ({ name: r.name, why: r.why }));
}
