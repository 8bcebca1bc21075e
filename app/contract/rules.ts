/**
 * The rules of the timeouts contract (GCE; the GKE ones are in ./gke): each with a name, a reason
 * and an explanation that names the fields and their numbers. `validate()` runs them all.
 */
import {
  ALB_MAX_ADVISED_LIFETIME_SEC,
  GCP_BACKEND_KEEPALIVE_SEC,
  LB_TIMEOUT_RANGE_SEC,
  PRESENCE_MAX_BOUND_MS,
  READINESS_PROBE,
  REVOCATION_MAX_BOUND_MS,
} from './defaults';
import {
  backendTimeoutSec,
  drainCompleteBoundMs,
  lbHealthyAfterSec,
  livenessSchedule,
  longestLifetimeMs,
  PING_AFTER_HEARTBEAT_INTERVALS,
  reconnectBoundMs,
  revocationBoundMs,
  shortestLifetimeMs,
  shutdownBudgetSec,
  shutdownScriptWaitSec,
} from './bounds';
import { ContractRule, defineRule, fieldsOrdered, sec, secondsCoverDrain } from './rule';
import { LB_KINDS, Timeouts, Violation } from './types';
import { failingFields, INTEGER_UNITS, POSITIVE_UNITS, valuesWithUnit } from './units';

type Rule = ContractRule<[Timeouts]>;
const rule = defineRule<[Timeouts]>;

const positive = (v: number) => Number.isFinite(v) && v > 0;

export const RULES: readonly Rule[] = [
  rule(
    'positive-values',
    'Every duration is a positive finite number.',
    (t) => failingFields(valuesWithUnit(t, POSITIVE_UNITS), positive) === undefined,
    (t) => {
      const bad = failingFields(valuesWithUnit(t, POSITIVE_UNITS), positive)!;
      return { message: `durations must be positive numbers: ${bad.keys}`, values: bad.values };
    },
  ),
  rule(
    'integer-values',
    'Counts and whole-second values are integers (Redis MAXLEN, docker stop --time and the Compute API refuse fractions).',
    (t) => failingFields(valuesWithUnit(t, INTEGER_UNITS), Number.isInteger) === undefined,
    (t) => {
      const bad = failingFields(valuesWithUnit(t, INTEGER_UNITS), Number.isInteger)!;
      return { message: `must be integers: ${bad.keys}`, values: bad.values };
    },
  ),
  rule(
    'client-detects-dead-peer-in-bound',
    'A silent server is noticed within the bound: the next heartbeat goes out after one interval and is given up on after the timeout.',
    ...fieldsOrdered(['client.heartbeatIntervalMs', 'client.heartbeatTimeoutMs'], '<=', 'client.deadPeerDetectionMs'),
  ),
  rule(
    'client-timeout-covers-interval',
    'One late reply on a busy link must not kill a healthy connection: the reply timeout is at least one interval.',
    ...fieldsOrdered('client.heartbeatTimeoutMs', '>=', 'client.heartbeatIntervalMs'),
  ),
  rule(
    'client-backoff-ordered',
    'Backoff base is below its cap.',
    ...fieldsOrdered('client.reconnectBaseMs', '<=', 'client.reconnectCapMs'),
  ),
  rule(
    'server-idle-covers-two-client-heartbeats',
    'The server must not drop a healthy client whose one heartbeat was delayed: idle limit >= 2 client intervals.',
    (t) => t.server.idleTimeoutMs >= 2 * t.client.heartbeatIntervalMs,
    (t) => ({
      message: `server.idleTimeoutMs (${t.server.idleTimeoutMs}) must be >= 2 * client.heartbeatIntervalMs (${2 * t.client.heartbeatIntervalMs})`,
      values: { idleTimeoutMs: t.server.idleTimeoutMs, clientHeartbeatIntervalMs: t.client.heartbeatIntervalMs },
    }),
  ),
  rule(
    'server-idle-covers-two-pings',
    'A silent connection is pinged at 1.1 client heartbeat intervals of silence (a heartbeating client never is) and again one ping interval later; the second ping still leaves one ping interval for its pong before the idle limit, so one late pong does not end a healthy connection.',
    (t) => livenessSchedule(t).pongRoomMs >= t.server.pingIntervalMs,
    (t) => ({
      message: `${PING_AFTER_HEARTBEAT_INTERVALS} * client.heartbeatIntervalMs + 2 * server.pingIntervalMs (${livenessSchedule(t).secondPingMs + t.server.pingIntervalMs}) must be <= server.idleTimeoutMs (${t.server.idleTimeoutMs})`,
      values: {
        idleTimeoutMs: t.server.idleTimeoutMs,
        pingIntervalMs: t.server.pingIntervalMs,
        clientHeartbeatIntervalMs: t.client.heartbeatIntervalMs,
      },
    }),
  ),
  // On the external proxy Network LB the backend timeoutSec is an idle timeout (lb.idleTimeoutSec;
  // sources in infra/components/load-balancer.ts: field reports, Google's own sentence not found in
  // the stored docs). On the global external ALB it is not: "Note: this timeout is not an idle
  // timeout - it's a timeout on the connection lifetime" (github.com/kubernetes/ingress-gce,
  // examples/websocket/README.md), which rotation-under-lb-max-lifetime covers.
  rule(
    'lb-idle-exceeds-heartbeats',
    'Heartbeats and pings keep a healthy connection busy at the LB: the LB idle timeout is at least twice the longest silence of a healthy connection (the first ping, at 1.1 client heartbeat intervals).',
    (t) => t.lb.idleTimeoutSec * 1000 >= 2 * livenessSchedule(t).longestHealthySilenceMs,
    (t) => ({
      message: `lb.idleTimeoutSec (${t.lb.idleTimeoutSec}) must be >= 2 * the longest healthy silence (first ping at ${PING_AFTER_HEARTBEAT_INTERVALS} * client.heartbeatIntervalMs) = ${sec(2 * livenessSchedule(t).longestHealthySilenceMs)} s`,
      values: {
        idleTimeoutSec: t.lb.idleTimeoutSec,
        clientHeartbeatIntervalMs: t.client.heartbeatIntervalMs,
      },
    }),
  ),
  rule(
    'lb-idle-exceeds-server-idle',
    'The server notices a dead peer before the LB does, so the LB idle timeout only catches what the application missed.',
    (t) => t.lb.idleTimeoutSec * 1000 > t.server.idleTimeoutMs,
    (t) => ({
      message: `lb.idleTimeoutSec (${t.lb.idleTimeoutSec}) must be > server.idleTimeoutMs (${sec(t.server.idleTimeoutMs)} s)`,
      values: { idleTimeoutSec: t.lb.idleTimeoutSec, serverIdleTimeoutMs: t.server.idleTimeoutMs },
    }),
  ),
  rule(
    'rotation-under-lb-max-lifetime',
    'On the global ALB, timeoutSec cuts every WebSocket at that age: the server rotates each connection (and finishes its close) before then.',
    (t) => t.lb.kind !== 'external-application' || longestLifetimeMs(t) + t.drain.marginMs <= t.lb.maxConnectionLifetimeSec * 1000,
    (t) => ({
      message: `server.maxConnectionLifetimeMs + drain.marginMs (${sec(longestLifetimeMs(t) + t.drain.marginMs)} s) must be <= lb.maxConnectionLifetimeSec (${t.lb.maxConnectionLifetimeSec}) for lb.kind external-application`,
      values: {
        maxConnectionLifetimeMs: t.server.maxConnectionLifetimeMs,
        marginMs: t.drain.marginMs,
        maxConnectionLifetimeSec: t.lb.maxConnectionLifetimeSec,
      },
    }),
  ),
  rule(
    'lb-lifetime-advised-maximum',
    'Google advises a WebSocket lifetime of at most 86,400 s on the global ALB (front ends restart for maintenance).',
    (t) => t.lb.maxConnectionLifetimeSec <= ALB_MAX_ADVISED_LIFETIME_SEC,
    (t) => ({
      message: `lb.maxConnectionLifetimeSec (${t.lb.maxConnectionLifetimeSec}) must be <= ${ALB_MAX_ADVISED_LIFETIME_SEC}`,
      values: { maxConnectionLifetimeSec: t.lb.maxConnectionLifetimeSec },
    }),
  ),
  rule(
    'lifetime-jitter-fraction',
    'Lifetime jitter is a fraction in [0, 0.5].',
    (t) => t.server.lifetimeJitter >= 0 && t.server.lifetimeJitter <= 0.5,
    (t) => ({
      message: `server.lifetimeJitter (${t.server.lifetimeJitter}) must be within [0, 0.5]`,
      values: { lifetimeJitter: t.server.lifetimeJitter },
    }),
  ),
  rule(
    'rotation-longer-than-drain',
    'Rotating connections faster than a drain would churn the fleet: the shortest lifetime exceeds the drain deadline.',
    (t) => shortestLifetimeMs(t) > t.drain.deadlineMs,
    (t) => ({
      message: `shortest connection lifetime (${sec(shortestLifetimeMs(t))} s) must be > drain.deadlineMs (${sec(t.drain.deadlineMs)} s)`,
      values: {
        maxConnectionLifetimeMs: t.server.maxConnectionLifetimeMs,
        lifetimeJitter: t.server.lifetimeJitter,
        deadlineMs: t.drain.deadlineMs,
      },
    }),
  ),
  rule(
    'drain-window-before-deadline',
    'Peers get a polite 1012 and time to answer it before the RST: window + margin <= deadline.',
    ...fieldsOrdered(['drain.windowMs', 'drain.marginMs'], '<=', 'drain.deadlineMs'),
  ),
  rule(
    'drain-inside-lb-draining',
    'GCP drains the VM at the LB before deletion: the watcher notices within one poll interval plus its request timeout, and the drain (to its RST deadline) finishes inside connection draining, with margin.',
    (t) => drainCompleteBoundMs(t) <= t.lb.connectionDrainingSec * 1000,
    (t) => ({
      message: `gce.watcherPollIntervalMs + gce.watcherRequestTimeoutMs + drain.deadlineMs + drain.marginMs (${sec(drainCompleteBoundMs(t))} s) must be <= lb.connectionDrainingSec (${t.lb.connectionDrainingSec})`,
      values: {
        watcherPollIntervalMs: t.gce.watcherPollIntervalMs,
        watcherRequestTimeoutMs: t.gce.watcherRequestTimeoutMs,
        deadlineMs: t.drain.deadlineMs,
        marginMs: t.drain.marginMs,
        connectionDrainingSec: t.lb.connectionDrainingSec,
      },
    }),
  ),
  rule(
    'watcher-request-within-interval',
    'A poll never overlaps the next one: the watcher request timeout is below the poll interval, so polls start at a fixed rate.',
    ...fieldsOrdered('gce.watcherRequestTimeoutMs', '<', 'gce.watcherPollIntervalMs'),
  ),
  rule(
    'min-ready-covers-lb-health',
    'The MIG updater counts a VM available by its autohealing check (/healthz), not the LB: minReadySec keeps the old VM until the LB has had time to see the new one healthy on /readyz.',
    (t) => t.gce.minReadySec >= lbHealthyAfterSec(),
    (t) => ({
      message: `gce.minReadySec (${t.gce.minReadySec}) must be >= the LB's readiness detection (${READINESS_PROBE.healthyThreshold} probes x ${READINESS_PROBE.intervalSec} s + ${READINESS_PROBE.timeoutSec} s timeout = ${lbHealthyAfterSec()} s)`,
      values: { minReadySec: t.gce.minReadySec, lbHealthyAfterSec: lbHealthyAfterSec() },
    }),
  ),
  rule(
    "lb-backend-keepalive-is-gcp's",
    "Google's Application LBs keep idle pooled backend connections 600 s and this cannot be changed; the server's keep-alive (serverKeepAliveTimeoutMs) is derived from lb.backendKeepAliveSec, so that value must not be below 600 s.",
    (t) => t.lb.backendKeepAliveSec >= GCP_BACKEND_KEEPALIVE_SEC,
    (t) => ({
      message: `lb.backendKeepAliveSec (${t.lb.backendKeepAliveSec}) must be >= ${GCP_BACKEND_KEEPALIVE_SEC}: the LB's backend keepalive is fixed at 600 s, and the server's keep-alive (lb.backendKeepAliveSec + drain.marginMs) must outlast it`,
      values: { backendKeepAliveSec: t.lb.backendKeepAliveSec },
    }),
  ),
  rule(
    'lb-draining-in-range',
    'Connection draining is 1..3600 s (0 would turn it off).',
    (t) => t.lb.connectionDrainingSec >= 1 && t.lb.connectionDrainingSec <= 3600,
    (t) => ({
      message: `lb.connectionDrainingSec (${t.lb.connectionDrainingSec}) must be within [1, 3600]`,
      values: { connectionDrainingSec: t.lb.connectionDrainingSec },
    }),
  ),
  rule(
    'drain-fits-shutdown-budget',
    'Where only the shutdown script sees the VM go, its wait (drain deadline + margin) fits the best-effort budget: 90 s on-demand, 30 s preemptible.',
    (t) => shutdownScriptWaitSec(t) <= shutdownBudgetSec(t),
    (t) => ({
      message: `shutdown script wait = drain.deadlineMs + drain.marginMs (${shutdownScriptWaitSec(t)} s) must be <= the ${t.gce.preemptible ? 'preemptible' : 'on-demand'} shutdown budget (${shutdownBudgetSec(t)} s)`,
      values: {
        deadlineMs: t.drain.deadlineMs,
        marginMs: t.drain.marginMs,
        preemptible: t.gce.preemptible,
        budgetSec: shutdownBudgetSec(t),
      },
    }),
  ),
  rule(
    'docker-stop-covers-drain',
    'SIGTERM starts a drain; docker must not SIGKILL the server before the drain deadline has passed.',
    ...secondsCoverDrain('gce.dockerStopTimeoutSec'),
  ),
  rule(
    'docker-stop-fits-shutdown-budget',
    'The VM shutdown does not wait forever on the container: docker stop timeout fits the shutdown budget.',
    (t) => t.gce.dockerStopTimeoutSec <= shutdownBudgetSec(t),
    (t) => ({
      message: `gce.dockerStopTimeoutSec (${t.gce.dockerStopTimeoutSec}) must be <= the shutdown budget (${shutdownBudgetSec(t)} s)`,
      values: { dockerStopTimeoutSec: t.gce.dockerStopTimeoutSec, budgetSec: shutdownBudgetSec(t) },
    }),
  ),
  rule(
    'lb-timeout-in-range',
    'The backend service timeoutSec the LB kind needs is within the Compute API range.',
    (t) =>
      backendTimeoutSec(t) >= LB_TIMEOUT_RANGE_SEC.min &&
      backendTimeoutSec(t) <= LB_TIMEOUT_RANGE_SEC.max &&
      Number.isInteger(backendTimeoutSec(t)),
    (t) => ({
      message: `backend timeoutSec (${backendTimeoutSec(t)}) must be an integer within [1, ${LB_TIMEOUT_RANGE_SEC.max}]`,
      values: { timeoutSec: backendTimeoutSec(t), kind: t.lb.kind },
    }),
  ),
  rule(
    'resume-grace-covers-reconnect',
    'A peer stays addressable until it is back: the away grace outlasts the slower of drain deadline and dead-peer detection, plus the longest backoff, connect and join.',
    (t) => t.resume.awayGraceMs >= reconnectBoundMs(t),
    (t) => ({
      message: `resume.awayGraceMs (${t.resume.awayGraceMs}) must be >= max(drain.deadlineMs, client.deadPeerDetectionMs) + client.reconnectCapMs + client.connectTimeoutMs + client.joinTimeoutMs (${reconnectBoundMs(t)})`,
      values: {
        awayGraceMs: t.resume.awayGraceMs,
        deadlineMs: t.drain.deadlineMs,
        deadPeerDetectionMs: t.client.deadPeerDetectionMs,
        reconnectCapMs: t.client.reconnectCapMs,
        connectTimeoutMs: t.client.connectTimeoutMs,
        joinTimeoutMs: t.client.joinTimeoutMs,
      },
    }),
  ),
  rule(
    'resume-history-covers-grace',
    'Signals stored for an away peer are still in history when it comes back: history age >= away grace.',
    ...fieldsOrdered('resume.historyMaxAgeMs', '>=', 'resume.awayGraceMs'),
  ),
  rule(
    'outbox-outlives-reconnect',
    'An unanswered signal survives the slowest reconnect (drain or dead-peer detection, backoff, connect, join) before the outbox gives it up.',
    (t) => t.client.outboxMaxAgeMs >= reconnectBoundMs(t),
    (t) => ({
      message: `client.outboxMaxAgeMs (${t.client.outboxMaxAgeMs}) must be >= max(drain.deadlineMs, client.deadPeerDetectionMs) + client.reconnectCapMs + client.connectTimeoutMs + client.joinTimeoutMs (${reconnectBoundMs(t)})`,
      values: { outboxMaxAgeMs: t.client.outboxMaxAgeMs, reconnectBoundMs: reconnectBoundMs(t) },
    }),
  ),
  rule(
    'dedupe-covers-outbox',
    'Only the outbox re-sends a signal, and never later than its max age after send(): a dedupe window at least that long recognises every re-send of an accepted signal (the record is written at acceptance, after send()).',
    ...fieldsOrdered('resume.dedupeWindowMs', '>=', 'client.outboxMaxAgeMs'),
  ),
  rule(
    'presence-renewed-before-expiry',
    'A live server renews presence at least twice per TTL, so one slow renewal does not drop its peers.',
    (t) => 2 * t.presence.renewIntervalMs <= t.presence.ttlMs,
    (t) => ({
      message: `2 * presence.renewIntervalMs (${2 * t.presence.renewIntervalMs}) must be <= presence.ttlMs (${t.presence.ttlMs})`,
      values: { renewIntervalMs: t.presence.renewIntervalMs, ttlMs: t.presence.ttlMs },
    }),
  ),
  rule(
    'presence-bound',
    'The peers of a dead (SIGKILLed) server leave presence within 60 s.',
    (t) => t.presence.ttlMs <= PRESENCE_MAX_BOUND_MS,
    (t) => ({ message: `presence.ttlMs (${t.presence.ttlMs}) must be <= ${PRESENCE_MAX_BOUND_MS}`, values: { ttlMs: t.presence.ttlMs } }),
  ),
  rule(
    'revocation-bound',
    'A revoked peer is off every server within 30 s: one resync interval, one backplane command and the close handshake (revocationBoundMs).',
    (t) => revocationBoundMs(t) <= REVOCATION_MAX_BOUND_MS,
    (t) => ({
      message: `revocation.resyncIntervalMs + backplane command timeout + drain.marginMs (${revocationBoundMs(t)}) must be <= ${REVOCATION_MAX_BOUND_MS}`,
      values: { resyncIntervalMs: t.revocation.resyncIntervalMs, marginMs: t.drain.marginMs, boundMs: revocationBoundMs(t) },
    }),
  ),
];

/** Every rule the config breaks, by name, with the numbers; empty when the config is sound. */
export function validate(t: Timeouts): Violation[] {
  const out: Violation[] = [];
  if (!LB_KINDS.includes(t.lb.kind)) {
    out.push({
      rule: 'lb-kind',
      message: `lb.kind must be one of ${LB_KINDS.join(', ')}, got ${String(t.lb.kind)}`,
      values: { kind: String(t.lb.kind) },
    });
    return out;
  }
  for (const r of RULES) {
    const v = r.check(t);
    if (v) out.push(v);
  }
  return out;
}

/** The rules with their reasons, for docs and `plan` output. */
export function describeRules(): Array<{ name: string; why: string }> {
  return RULES.map((r) => ({ name: r.name, why: r.why }));
}
