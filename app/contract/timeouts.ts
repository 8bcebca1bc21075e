/**
 * The timeouts contract: every timer in sluice (server, client SDK, load balancer, GCE lifecycle,
 * shutdown script, container stop) is derived from ONE value of this type, and `validate()` checks
 * that the layers fit together. The postmortem's three defenses only work if they nest:
 *
 *   heartbeats (seconds)  <  LB idle timeout (tens of seconds)
 *   drain window          <  RST deadline  <  LB connection draining  <=  the VM's shutdown path
 *
 * This module is plain data and functions: no Pulumi, no I/O, so the server, the client and the
 * Pulumi program all import it without cycles. Every field declares its unit in UNITS (the field
 * names say it too, but the rules read UNITS in ./units, never a name). The GKE rules live in ./gke,
 * the rule shapes in ./rule.
 */
import { ContractRule, defineRule, fieldsOrdered, sec, secondsCoverDrain } from './rule';
import { failingFields, INTEGER_UNITS, POSITIVE_UNITS, valuesWithUnit } from './units';

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
    restartJitterMs: 100,
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

type Rule = ContractRule<[Timeouts]>;
const rule = defineRule<[Timeouts]>;

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
 * The one formula behind the rule drain-inside-lb-draining, the plan summary and the docs/deploy-gce.md timeline.
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

const positive = (v: number) => Number.isFinite(v) && v > 0;

export const RULES: readonly Rule[] = [
  rule('positive-values', 'Every duration is a positive finite number.',
    (t) => failingFields(valuesWithUnit(t, POSITIVE_UNITS), positive) === undefined,
    (t) => {
      const bad = failingFields(valuesWithUnit(t, POSITIVE_UNITS), positive)!;
      return { message: `durations must be positive numbers: ${bad.keys}`, values: bad.values };
    }),
  rule('integer-values', 'Counts and whole-second values are integers (Redis MAXLEN, docker stop --time and the Compute API refuse fractions).',
    (t) => failingFields(valuesWithUnit(t, INTEGER_UNITS), Number.isInteger) === undefined,
    (t) => {
      const bad = failingFields(valuesWithUnit(t, INTEGER_UNITS), Number.isInteger)!;
      return { message: `must be integers: ${bad.keys}`, values: bad.values };
    }),
  rule('client-detects-dead-peer-in-bound',
    'A silent server is noticed within the bound: the next heartbeat goes out after one interval and is given up on after the timeout.',
    ...fieldsOrdered(['client.heartbeatIntervalMs', 'client.heartbeatTimeoutMs'], '<=', 'client.deadPeerDetectionMs')),
  rule('client-timeout-covers-interval',
    'One late reply on a busy link must not kill a healthy connection: the reply timeout is at least one interval.',
    ...fieldsOrdered('client.heartbeatTimeoutMs', '>=', 'client.heartbeatIntervalMs')),
  rule('client-backoff-ordered', 'Backoff base is below its cap.',
    ...fieldsOrdered('client.reconnectBaseMs', '<=', 'client.reconnectCapMs')),
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
    ...fieldsOrdered(['drain.windowMs', 'drain.marginMs'], '<=', 'drain.deadlineMs')),
  rule('drain-inside-lb-draining',
    'GCP drains the VM at the LB before deletion: the watcher notices within one poll interval plus its request timeout, and the drain (to its RST deadline) finishes inside connection draining, with margin.',
    (t) => drainCompleteBoundMs(t) <= t.lb.connectionDrainingSec * 1000,
    (t) => ({
      message: `gce.watcherPollIntervalMs + gce.watcherRequestTimeoutMs + drain.deadlineMs + drain.marginMs (${sec(drainCompleteBoundMs(t))} s) must be <= lb.connectionDrainingSec (${t.lb.connectionDrainingSec})`,
      values: { watcherPollIntervalMs: t.gce.watcherPollIntervalMs, watcherRequestTimeoutMs: t.gce.watcherRequestTimeoutMs, deadlineMs: t.drain.deadlineMs, marginMs: t.drain.marginMs, connectionDrainingSec: t.lb.connectionDrainingSec },
    })),
  rule('watcher-request-within-interval',
    'A poll never overlaps the next one: the watcher request timeout is below the poll interval, so polls start at a fixed rate.',
    ...fieldsOrdered('gce.watcherRequestTimeoutMs', '<', 'gce.watcherPollIntervalMs')),
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
    ...secondsCoverDrain('gce.dockerStopTimeoutSec')),
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
    ...fieldsOrdered('resume.historyMaxAgeMs', '>=', 'resume.awayGraceMs')),
  rule('dedupe-covers-history',
    'A re-sent signal is recognised as long as the original can still be replayed: dedupe window >= history age.',
    ...fieldsOrdered('resume.dedupeWindowMs', '>=', 'resume.historyMaxAgeMs')),
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
