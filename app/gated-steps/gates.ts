/**
 * The gates between rollout steps, judged on what the servers' drains report (GateSource, sources.ts).
 * Pure: evidence in, verdicts out, so the same function judges the local region, Cloud Monitoring and
 * the test doubles, mid-step (hard gates: halt after the first bad server) and at the end of a step.
 *
 *   drain-resets        connections reset (RST) at the drain deadline, or cut by a server that left
 *                       serving them without any drain (its VM deleted, a release that skips its drain)  > 0 fails
 *   drain-duration      a drain that ran to its deadline                    >= drain.deadlineMs fails
 *   drains-observed     each region of the step showed a drain; no server left while serving connections
 *   survivor-reconnects connections the survivors gained / the drained servers' load at step start   < 0.9 fails
 *   heartbeat-timeouts  survivors' sluice_heartbeat_timeouts_total increase  > 1% of their connections fails
 *   presence-flaps      peers online when the step began and not online again within
 *                       presenceWindowMs (away, then offline in an admin portal)           > 0 fails;
 *                       a peer that left before the step (away, its grace running out) is not one
 *   lifecycle-watcher   a server whose watcher's last poll failed (403, timeout): layer 1 is off   any fails
 */
import { reconnectBoundMs, rolloutSettleMs, Timeouts } from '../contract/timeouts';

/** One server as a GateSource last saw it. */
export interface ServerObservation {
  id: string;
  region: string;
  /** The server's state (serving, draining, drained...), or gone: no longer answers / listed. */
  state: string;
  connections: number;
  /** GET /status `drain` (the DrainReport): null before any drain. */
  drain: { startedAt: number; finishedAt: number; total: number; closeSent: number; reset: number } | null;
  /** sluice_heartbeat_timeouts_total. */
  heartbeatTimeouts: number;
  /** GET /status `lifecycleWatcher`; null where no watcher runs (the local region). */
  watcher: { up: boolean; lastResult: string; lastStatus?: number } | null;
}

/** What a GateSource saw during one step. */
export interface Evidence {
  /** When the step began (ms epoch): drains that started earlier belong to an earlier step. */
  startedAt: number;
  /** Every server of the step's regions when it began. */
  before: ServerObservation[];
  /** The latest observation of every server seen since (vanished ones with state `gone`). */
  latest: ServerObservation[];
  /** Peers known to have left presence (sources that judge no window of their own: a flap each). */
  presenceFlaps: string[];
  /**
   * Sources that read presence (admin GET /presence): the peers online when the step began, and each
   * of them seen not online (away or missing) since, with its longest absence so far. The gate
   * applies the window: an absence of presenceWindowMs or more is a flap; a shorter one still open
   * is undecided (the step keeps settling), one that ended is a reconnect.
   */
  presence?: { onlineAtStart: number; absences: PresenceAbsence[] };
}

export interface PresenceAbsence {
  peer: string;
  /** Longest continuous time not online, ms (up to the last presence read while still absent). */
  longestMs: number;
  /** Still not online at the last presence read. */
  absentNow: boolean;
}

export interface GateThresholds {
  maxResets: number;
  /** A drain lasting this long ran into its deadline: clients did not leave within the window. */
  maxDrainMs: number;
  minReconnectRatio: number;
  /** Heartbeat timeouts on survivors, as a fraction of their connections. */
  maxHeartbeatTimeoutRatio: number;
  maxPresenceFlaps: number;
  /** A peer online at the step's start and not online again within this long is a presence flap. */
  presenceWindowMs: number;
}

/**
 * Thresholds from the timeouts contract: one home for the drain deadline. The presence window is
 * the contract's reconnect bound (reconnectBoundMs: the longest a drained or cut-off peer can be
 * gone before it has joined again); a peer away longer did not just reconnect.
 */
export function defaultThresholds(t: Timeouts): GateThresholds {
  return {
    maxResets: 0,
    maxDrainMs: t.drain.deadlineMs,
    minReconnectRatio: 0.9,
    maxHeartbeatTimeoutRatio: 0.01,
    maxPresenceFlaps: 0,
    presenceWindowMs: reconnectBoundMs(t),
  };
}

/**
 * After a step's deploy, how long the soft gates may take to pass: the contract's rolloutSettleMs,
 * and at least until a peer that went away during the deploy has had its whole presence window
 * (and one presence renewal) to come back.
 */
export function settleMs(t: Timeouts, th: GateThresholds): number {
  return Math.max(rolloutSettleMs(t), th.presenceWindowMs + t.presence.renewIntervalMs);
}

/** Each threshold: what it may be, and why (the issue a bad value gets names the key and this). */
const THRESHOLD_RULES: Record<
  keyof GateThresholds,
  { integer: boolean; min: number; max: (t: Timeouts) => number; expected: (t: Timeouts) => string }
> = {
  maxResets: {
    integer: true,
    min: 0,
    max: () => Number.MAX_SAFE_INTEGER,
    expected: () => 'an integer >= 0 (connections reset in one step)',
  },
  maxDrainMs: {
    integer: true,
    min: 1,
    max: (t) => t.drain.deadlineMs,
    expected: (t) =>
      `an integer in [1, ${t.drain.deadlineMs}] ms: a drain at drain.deadlineMs has reset its clients, a higher bound could never fail`,
  },
  minReconnectRatio: {
    integer: false,
    min: 0,
    max: () => 1,
    expected: () => 'a number in [0, 1] (share of the drained load the survivors must gain)',
  },
  maxHeartbeatTimeoutRatio: {
    integer: false,
    min: 0,
    max: () => 1,
    expected: () => "a number in [0, 1] (share of the survivors' connections)",
  },
  maxPresenceFlaps: {
    integer: true,
    min: 0,
    max: () => Number.MAX_SAFE_INTEGER,
    expected: () => 'an integer >= 0 (peers that may leave presence in one step)',
  },
  presenceWindowMs: {
    integer: true,
    min: 0,
    max: (t) => t.resume.awayGraceMs,
    expected: (t) => `an integer in [0, ${t.resume.awayGraceMs}] ms (resume.awayGraceMs: a peer away longer is offline anyway)`,
  },
};
export const THRESHOLD_KEYS = Object.keys(THRESHOLD_RULES) as Array<keyof GateThresholds>;

/**
 * The thresholds: defaultThresholds(t) with `overrides` on top (stack config values may be numeric
 * strings, as `pulumi config set --path` writes them). Every bad key or value is an issue naming
 * `${keyPrefix}.<key>` and what was expected; the thresholds are only usable when there is none.
 */
export function resolveThresholds(
  t: Timeouts,
  overrides: unknown,
  keyPrefix: string,
): { thresholds: GateThresholds; issues: Array<{ key: string; message: string }> } {
  const thresholds = defaultThresholds(t);
  const issues: Array<{ key: string; message: string }> = [];
  if (overrides === undefined || overrides === null) return { thresholds, issues };
  if (typeof overrides !== 'object' || Array.isArray(overrides))
    return { thresholds, issues: [{ key: keyPrefix, message: `must be an object of thresholds (${THRESHOLD_KEYS.join(', ')})` }] };
  for (const [k, raw] of Object.entries(overrides as Record<string, unknown>)) {
    const rule = THRESHOLD_RULES[k as keyof GateThresholds];
    if (!rule) {
      issues.push({ key: `${keyPrefix}.${k}`, message: `unknown threshold (known: ${THRESHOLD_KEYS.join(', ')})` });
      continue;
    }
    const v = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
    if (!Number.isFinite(v) || (rule.integer && !Number.isInteger(v)) || v < rule.min || v > rule.max(t)) {
      issues.push({ key: `${keyPrefix}.${k}`, message: `${JSON.stringify(raw)}: expected ${rule.expected(t)}` });
      continue;
    }
    thresholds[k as keyof GateThresholds] = v;
  }
  return { thresholds, issues };
}

export type GateName =
  | 'drain-resets'
  | 'drain-duration'
  | 'drains-observed'
  | 'survivor-reconnects'
  | 'heartbeat-timeouts'
  | 'presence-flaps'
  | 'lifecycle-watcher';
/** Gates that can fail before the step ends: the rollout halts after the first bad server. */
export const HARD_GATES: readonly GateName[] = ['drain-resets', 'drain-duration', 'lifecycle-watcher'];

export interface GateResult {
  gate: GateName;
  /** n/a: nothing to judge (e.g. no watcher runs in the local region). */
  verdict: 'pass' | 'fail' | 'n/a';
  observed: string;
  threshold: string;
}

const isDrainedState = (s: string) => s === 'draining' || s === 'drained' || s === 'gone' || s === 'stopped';

/** The drains that started in this step. */
export function stepDrains(e: Evidence): Array<ServerObservation & { drain: NonNullable<ServerObservation['drain']> }> {
  return e.latest.filter(
    (s): s is ServerObservation & { drain: NonNullable<ServerObservation['drain']> } =>
      s.drain !== null && s.drain.startedAt >= e.startedAt,
  );
}

/** Servers gone without a drain report that served connections when the step began (with that count). */
export function leftUndrained(e: Evidence): Array<{ id: string; connections: number }> {
  const before = new Map(e.before.map((s) => [s.id, s.connections]));
  return e.latest
    .filter((s) => s.state === 'gone' && s.drain === null && (before.get(s.id) ?? 0) > 0)
    .map((s) => ({ id: s.id, connections: before.get(s.id)! }));
}

/**
 * Judge the evidence. `final` false: mid-step, only the hard gates (a later server may still drain
 * well, but a reset already happened). `regions`: the step's regions, each of which must show a drain.
 */
export function evaluateGates(e: Evidence, th: GateThresholds, opts: { regions: string[]; final: boolean }): GateResult[] {
  const drains = stepDrains(e);
  const out: GateResult[] = [];

  const resets = drains.filter((s) => s.drain.reset > 0);
  // A server that left while serving connections and never reported a drain cut every one of them:
  // known as soon as it is gone, so the step halts after that server, not at its end.
  const undrained = leftUndrained(e);
  const resetCount = resets.reduce((n, s) => n + s.drain.reset, 0) + undrained.reduce((n, u) => n + u.connections, 0);
  out.push({
    gate: 'drain-resets',
    verdict: resetCount > th.maxResets ? 'fail' : 'pass',
    observed:
      resets.length || undrained.length
        ? `${resetCount} reset (RST) on ${[
            ...resets.map((s) => `${s.id} (${s.drain.reset} of ${s.drain.total})`),
            ...undrained.map((u) => `${u.id} (${u.connections} of ${u.connections}: left without a drain)`),
          ].join(', ')}`
        : `0 reset in ${drains.length} drain(s)`,
    threshold: `<= ${th.maxResets}`,
  });

  const finished = drains.filter((s) => s.drain.finishedAt > 0);
  const slow = finished.filter((s) => s.drain.finishedAt - s.drain.startedAt >= th.maxDrainMs);
  const longest = Math.max(0, ...finished.map((s) => s.drain.finishedAt - s.drain.startedAt));
  out.push({
    gate: 'drain-duration',
    verdict: slow.length ? 'fail' : finished.length ? 'pass' : opts.final ? 'fail' : 'n/a',
    observed: slow.length
      ? `${slow.map((s) => `${s.id} ${s.drain.finishedAt - s.drain.startedAt} ms`).join(', ')}`
      : finished.length
        ? `longest ${longest} ms over ${finished.length} drain(s)`
        : 'no finished drain',
    threshold: `< ${th.maxDrainMs} ms (drain.deadlineMs)`,
  });

  const watcherErrors = e.latest.filter((s) => s.watcher && !s.watcher.up && s.watcher.lastResult === 'error');
  const watchers = e.latest.filter((s) => s.watcher !== null);
  out.push({
    gate: 'lifecycle-watcher',
    verdict: watcherErrors.length ? 'fail' : watchers.length ? 'pass' : 'n/a',
    observed: watcherErrors.length
      ? watcherErrors
          .map((s) => `${s.id} lastResult error${s.watcher!.lastStatus !== undefined ? ` (HTTP ${s.watcher!.lastStatus})` : ''}`)
          .join(', ')
      : watchers.length
        ? `${watchers.length} watcher(s) without errors`
        : 'no server runs a lifecycle watcher',
    threshold: 'no poll errors',
  });
  if (!opts.final) return out;

  const before = new Map(e.before.map((s) => [s.id, s]));
  const lost = leftUndrained(e).map((u) => e.latest.find((s) => s.id === u.id)!);
  const silentRegions = opts.regions.filter((r) => !drains.some((s) => s.region === r));
  out.push({
    gate: 'drains-observed',
    verdict: lost.length || silentRegions.length ? 'fail' : 'pass',
    observed: [
      `${drains.length} drain(s) in ${opts.regions.join(', ')}`,
      ...silentRegions.map((r) => `no drain seen in ${r}`),
      ...lost.map((s) => `${s.id} left with ${before.get(s.id)!.connections} connection(s) and no drain`),
    ].join('; '),
    threshold: 'a drain in every region of the step; no server gone undrained',
  });

  const survivors = e.latest.filter((s) => !isDrainedState(s.state) && s.drain === null);
  // The load the drained servers carried when the step began: a client drained twice in one step
  // (moved to a server that is replaced later) counts once. A server drained before it was seen: its report.
  const drained = drains.reduce(
    (n, s) => n + (before.has(s.id) ? before.get(s.id)!.connections : e.before.length === 0 ? s.drain.total : 0),
    0,
  );
  const gained = survivors.reduce((n, s) => n + s.connections - (before.get(s.id)?.connections ?? 0), 0);
  const ratio = drained === 0 ? 1 : gained / drained;
  out.push({
    gate: 'survivor-reconnects',
    verdict: drained === 0 ? 'n/a' : ratio < th.minReconnectRatio ? 'fail' : 'pass',
    observed:
      drained === 0 ? 'no connection was drained' : `survivors gained ${gained} of ${drained} drained connections (${ratio.toFixed(2)})`,
    threshold: `>= ${th.minReconnectRatio}`,
  });

  const timeouts = survivors.reduce((n, s) => n + Math.max(0, s.heartbeatTimeouts - (before.get(s.id)?.heartbeatTimeouts ?? 0)), 0);
  const conns = survivors.reduce((n, s) => n + s.connections, 0);
  const allowed = Math.floor(conns * th.maxHeartbeatTimeoutRatio);
  out.push({
    gate: 'heartbeat-timeouts',
    verdict: timeouts > allowed ? 'fail' : 'pass',
    observed: `${timeouts} heartbeat timeout(s) on survivors (${conns} connections)`,
    threshold: `<= ${allowed} (${th.maxHeartbeatTimeoutRatio * 100}% of connections)`,
  });

  out.push(presenceGate(e, th));
  return out;
}

const list = (ids: string[]) => `${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', ...' : ''}`;

/** presence-flaps: known departures, plus absences of peers online at the step's start past the window. */
function presenceGate(e: Evidence, th: GateThresholds): GateResult {
  const absences = e.presence?.absences ?? [];
  const flapped = [
    ...new Set([...e.presenceFlaps, ...absences.filter((a) => a.longestMs >= th.presenceWindowMs).map((a) => a.peer)]),
  ].sort();
  const open = absences
    .filter((a) => a.absentNow && a.longestMs < th.presenceWindowMs)
    .map((a) => a.peer)
    .sort();
  const back = absences.filter((a) => !a.absentNow && a.longestMs < th.presenceWindowMs).length;
  const threshold = `<= ${th.maxPresenceFlaps} (online at the step's start, not back within ${th.presenceWindowMs} ms)`;
  const of = e.presence ? ` of ${e.presence.onlineAtStart} online at the step's start` : '';
  if (flapped.length > th.maxPresenceFlaps) {
    return {
      gate: 'presence-flaps',
      verdict: 'fail',
      threshold,
      observed: `${flapped.length} peer(s)${of} not back within ${th.presenceWindowMs} ms: ${list(flapped)}`,
    };
  }
  // Not decided yet: a fail that keeps the step settling (settleMs covers the window).
  if (open.length > 0) {
    return {
      gate: 'presence-flaps',
      verdict: 'fail',
      threshold,
      observed: `${open.length} peer(s)${of} away, not back yet (window ${th.presenceWindowMs} ms): ${list(open)}`,
    };
  }
  return {
    gate: 'presence-flaps',
    verdict: 'pass',
    threshold,
    observed: flapped.length
      ? `${flapped.length} peer(s) not back within the window: ${list(flapped)}`
      : `no peer${of} left presence${back ? ` (${back} reconnected within the window)` : ''}`,
  };
}

export const failed = (results: GateResult[]) => results.filter((r) => r.verdict === 'fail');

/** The gates and their thresholds, one line each (the printed plan, the local rollout). */
export function gateLines(th: GateThresholds): string[] {
  return [
    `drain-resets <= ${th.maxResets}`,
    `drain-duration < ${th.maxDrainMs} ms`,
    'lifecycle-watcher: no poll errors',
    'drains-observed: a drain in every region of the step, no server gone undrained',
    `survivor-reconnects >= ${th.minReconnectRatio}`,
    `heartbeat-timeouts <= ${th.maxHeartbeatTimeoutRatio * 100}% of survivor connections`,
    `presence-flaps <= ${th.maxPresenceFlaps} (peers online at the step's start, not back within ${th.presenceWindowMs} ms)`,
  ];
}

export function formatGates(results: GateResult[]): string[] {
  return results.map((r) => `  [${r.verdict.toUpperCase()}] ${r.gate}: ${r.observed} (threshold ${r.threshold})`);
}
