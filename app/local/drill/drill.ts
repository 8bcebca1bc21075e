/**
 * The drill: the incident replayed on the local region, one scenario per defense, each on a fresh
 * region (real HAProxy and Redis when installed) with a fleet exchanging numbered signals.
 *
 *   1 healthy rollout     every server replaced with a drain           defense 1 (drain) acts
 *   2 drain skipped       an old server goes silent, peers without     defense 2 (LB idle timeout) acts
 *                         heartbeats (the release before fix 3)
 *   3 drain skipped, LB   the same with heartbeats, LB idle timeout    defense 3 (heartbeats), both ends
 *     timeout too long    longer than the scenario
 *   4 no defense          no drain, no useful LB timeout, no           only the VM deletion's RST (scaled)
 *                         heartbeats: the incident
 *   5 region evacuated    a region's capacity 0, its servers drain     drain + global LB; each peer's state
 *                         (two regions, evacuation.ts)                 stays in its home region
 *
 * "Silent": the server keeps running but its network is black-holed (no byte, no FIN, no RST in
 * either direction), until its VM is "deleted" (a final RST on every connection) later.
 */
import { regionEvacuationBoundMs, Timeouts } from '../../contract/timeouts';
import { percentiles } from '../../peer/fleet';
import type { Percentiles } from '../../peer/fleet';
import { regionChart } from '../status/charts';
import { machineNote, ScenarioProbe } from './probe';
import { evacuation } from './evacuation';
import { lossChecks, settleSamples, until } from './result';
import type { Check, ScenarioResult } from './result';
import type { LocalBalancerKind } from '../lb/load-balancer';
import { BackplaneKind, Region, startRegion } from '../region/region';
import { bounds, noHeartbeatClient, reconnectMs, regionTimeouts, withLbIdle } from '../region/timeouts';

export interface DrillOptions {
  quick: boolean;
  peers: number;
  scenarios: number[];
  lb?: LocalBalancerKind | 'auto';
  backplane?: BackplaneKind | 'auto';
  log?: (line: string) => void;
  /** Aborted (Ctrl-C): no further scenario starts. */
  signal?: AbortSignal;
}

export type { Check, ScenarioResult } from './result';

/** The incident's half-open window (postmortem: 5 to 10 minutes) and the drill's scaled VM deletion. */
export const INCIDENT_MS = { min: 5 * 60_000, max: 10 * 60_000 };
/** Upper bound on the drill's own waits (not a checked bound: those are the checks' values). */
const WAIT_MS = 30_000;
/**
 * One numbered signal per peer per second. Signaling is sparse, and the drill measures reconnects,
 * not throughput: at 4 per second the fleet and the servers took most of a core on their own, and
 * on a shared 2-core machine the reconnect times measured the scheduler (upgrades answered in ~1 s
 * under load 15, so `connect_timeout`s and retries).
 */
export const SIGNAL_EVERY_MS = 1_000;

/** A quiet peer (scenarios 2 and 4, no heartbeats) sends once every 1.5 LB idle timeouts. */
export function quietEveryMs(t: Timeouts): number {
  return Math.round(t.lb.idleTimeoutSec * 1500);
}

/**
 * The bound the contract's defaults (production's values, not `--quick`'s) put on a scenario's
 * worst outage: what a like-for-like comparison with the incident uses. Scenario 4 has none.
 */
export function defaultsBoundMs(n: number): number | undefined {
  const t = regionTimeouts(false);
  if (n === 1) return bounds.drainGapMs(t);
  if (n === 2) return bounds.lbRecoveryMs(t, quietEveryMs(t));
  if (n === 3) return bounds.heartbeatRecoveryMs(t);
  if (n === 5) return regionEvacuationBoundMs(t);
  return undefined;
}

export function deletionMs(quick: boolean): number {
  return quick ? 30_000 : 120_000;
}

export async function runDrill(o: DrillOptions): Promise<ScenarioResult[]> {
  const log = o.log ?? (() => undefined);
  const results: ScenarioResult[] = [];
  for (const n of o.scenarios) {
    o.signal?.throwIfAborted();
    log(`scenario ${n}: starting`);
    const r = await SCENARIOS[n - 1](o);
    log(
      `scenario ${n} (${r.name}): worst peer outage ${(r.outageMs.max / 1000).toFixed(2)} s, lost ${r.summary.lost}, ` +
        `duplicated ${r.summary.duplicated}, ever offline ${r.everOffline}; ${r.checks.every((c) => c.ok) ? 'all bounds met' : 'BOUND MISSED'}`,
    );
    results.push(r);
  }
  return results;
}

const SCENARIOS: Array<(o: DrillOptions) => Promise<ScenarioResult>> = [
  healthyRollout,
  (o) => silent(o, 2),
  (o) => silent(o, 3),
  (o) => silent(o, 4),
  (o) => evacuation(o),
];

async function region(
  o: DrillOptions,
  timeouts: Timeouts,
  clientTimeouts: Timeouts,
  intervalMs: number,
  quiet = false,
): Promise<{ r: Region; probe: ScenarioProbe }> {
  const probe = new ScenarioProbe();
  const r = await startRegion({
    servers: 3,
    peers: o.peers,
    timeouts,
    clientTimeouts,
    lb: o.lb,
    backplane: o.backplane,
    port: 0,
    intervalMs,
    logLevel: 'error',
    sampleEveryMs: 250,
    idPrefix: 'drill',
  });
  try {
    const fleet = await r.startFleet();
    probe.watch(fleet);
    // Warm up: every pair has exchanged signals before anything happens.
    // Quiet peers (one signal per 1.5 LB idle timeouts) warm up with one signal each.
    const perPeer = quiet ? 1 : 2;
    await until(() => fleet.snapshot().delivered >= o.peers * perPeer, 30_000 + 2 * perPeer * intervalMs, 'warm-up signals');
    o.log?.(
      `region up: ${r
        .live()
        .map((s) => s.id)
        .join(', ')} behind ${r.lb.kind}, backplane ${r.backplaneKind}; ${o.peers} peers joined and warmed up`,
    );
    return { r, probe };
  } catch (err) {
    await r.stop();
    throw err;
  }
}

async function healthyRollout(o: DrillOptions): Promise<ScenarioResult> {
  const t = regionTimeouts(o.quick);
  const { r, probe } = await region(o, t, t, SIGNAL_EVERY_MS);
  const startedAt = r.monitor.latest()?.t ?? 0;
  await r.rollout();
  const fleet = r.fleet!;
  await until(
    () => fleet.peers.every((p) => p.client.state === 'joined'),
    WAIT_MS + reconnectMs(t),
    'every peer joined after the rollout',
  ).catch((err: Error) => {
    const stuck = fleet.peers
      .filter((p) => p.client.state !== 'joined')
      .slice(0, 5)
      .map((p) => `${p.spec.id}: ${p.client.state}${p.stats.fatal ? ` (${p.stats.fatal})` : ''}`);
    throw new Error(`${err.message}; not joined: ${stuck.join(', ')}`);
  });
  await settleSamples(r, 2);
  // The chart ends with the measurement: the teardown after it closes every connection on purpose.
  const measuredUntil = r.monitor.latest()?.t;
  const summary = await r.stop();
  const machine = probe.finish();
  const everOffline = r.monitor.everOffline.size;
  const gap = summary!.gapMs;
  const maxReset = Math.max(0, ...r.monitor.samples.flatMap((s) => s.servers.map((v) => v.drainReset)));
  return {
    n: 1,
    name: 'healthy rollout',
    fails: 'nothing',
    acts: 'drain (defense 1)',
    lb: r.lb.kind,
    backplane: r.backplaneKind,
    peers: o.peers,
    affected: o.peers,
    outageMs: gap,
    everOffline,
    summary: summary!,
    checks: [
      { what: 'reconnect gap max (ms)', value: gap.max, bound: bounds.drainGapMs(t), ok: gap.max <= bounds.drainGapMs(t) },
      ...lossChecks(summary!, everOffline),
    ],
    machine,
    chart: regionChart(r.monitor.samples, {
      title: `1. healthy rollout: ${o.peers} peers, 3 servers replaced with a drain each (${r.lb.kind}, ${r.backplaneKind})`,
      since: Math.max(0, startedAt - 2_000),
      until: measuredUntil,
      markers: [{ t: startedAt, label: 'rollout starts' }],
    }),
    notes: [
      ...offlineNotes(r),
      `RSTs at a drain deadline: ${maxReset}`,
      `every peer reconnected ${(summary!.reconnects / o.peers).toFixed(1)} times on average (a peer may land on a server replaced later)`,
      machineNote(machine),
    ],
  };
}

async function silent(o: DrillOptions, n: 2 | 3 | 4): Promise<ScenarioResult> {
  const base = regionTimeouts(o.quick);
  const del = deletionMs(o.quick);
  const horizon = del * 2;
  // Scenario 2 and 4 peers have no useful heartbeat; they send every 1.5 LB idle timeouts (a quiet
  // control-plane peer), so their connection does fall silent in both directions at the LB.
  const legacy = n !== 3;
  const quietMs = quietEveryMs(base);
  const t = n === 2 ? base : withLbIdle(base, Math.ceil(horizon / 1000));
  const clientT = legacy ? noHeartbeatClient(t, horizon) : t;
  const { r, probe } = await region(o, t, clientT, legacy ? quietMs : SIGNAL_EVERY_MS, legacy);
  const fleet = r.fleet!;
  const target = r.live()[0];
  // The client's detection is its heartbeat's silence clock (app/client/heartbeat.ts): from the last
  // heartbeat reply it got (or its socket's open) to giving the socket up. Timed from t0 instead, it
  // also counted how long the silence took to take effect (a mode switch answered by the network
  // host's process, replies still arriving meanwhile): ~340 ms at load 15. Heard from here on.
  // The peers share this process's event loop, stalled up to ~2 s at load 15 (probe.ts): a reference
  // timer armed with the same delay at the same moment as the client's silence clock fires in the
  // same timers phase, just after it; how late it fired is this loop's lateness, not the client's,
  // and is taken off the client's figure.
  const deadPeerMs = clientT.client.deadPeerDetectionMs;
  const watchFrom = Date.now();
  const heard = new Map<string, { at: number; lateMs: number; ref: NodeJS.Timeout }>();
  for (const p of fleet.peers) {
    const hear = () => {
      clearTimeout(heard.get(p.spec.id)?.ref);
      const h = { at: Date.now(), lateMs: 0, ref: setTimeout(() => (h.lateMs = Date.now() - h.at - deadPeerMs), deadPeerMs).unref() };
      heard.set(p.spec.id, h);
    };
    p.client.on('heartbeat', hear);
    p.client.on('connected', hear);
  }
  // The rollout's surge server comes up; the old one is scheduled for deletion but never drains.
  await r.addServer();
  const placement = await r.live()[1].presence();
  const onTarget = new Set(placement.filter((e) => e.state === 'online' && e.serverId === target.id).map((e) => e.peerId));
  const peers = fleet.peers.filter((p) => onTarget.has(p.spec.id));
  const t0 = Date.now();
  const rel = (ms: number) => ms - r.monitor.startedAt;
  const recovered = new Map<string, number>();
  const detected = new Map<string, number>();
  for (const p of peers) {
    p.client.on('disconnected', (d) => {
      if (!detected.has(p.spec.id) && d.reason === 'heartbeat_timeout')
        detected.set(p.spec.id, Date.now() - (heard.get(p.spec.id)?.at ?? watchFrom) - (heard.get(p.spec.id)?.lateMs ?? 0));
    });
    p.client.on('connected', () => {
      if (!recovered.has(p.spec.id)) recovered.set(p.spec.id, Date.now() - t0);
    });
  }
  await r.breakServer('silence', target.id);
  // The WebSockets open on the silent server: the server's idle limit must close each of them.
  const upgradedAtSilence = target.network.upgraded;
  const bound = n === 2 ? bounds.lbRecoveryMs(t, quietMs) : n === 3 ? bounds.heartbeatRecoveryMs(t) : Infinity;
  // The VM deletion comes at the scaled incident time, or once every affected peer is back (2, 3).
  // Scenario 3 also waits for the server end: each of its connections closed by its idle limit.
  const serverDone = () => n !== 3 || target.network.serverClosed.length >= upgradedAtSilence;
  await until(() => n !== 4 && recovered.size === peers.length && serverDone(), del, 'recovery', false);
  const deletedAt = Date.now() - t0;
  await r.breakServer('delete', target.id);
  await until(() => recovered.size === peers.length, WAIT_MS + reconnectMs(clientT), 'every affected peer back after the deletion');
  await until(() => fleet.peers.every((p) => p.client.state === 'joined'), WAIT_MS + reconnectMs(clientT), 'every peer joined');
  const serverClosed = target.network.serverClosed.map((c) => c.closedAt - c.lastToServerAt);
  // Each affected peer gets signals again (the quiet ones send rarely: wait one send interval).
  await new Promise((res) => setTimeout(res, legacy ? quietMs + 1_000 : 2_000));
  await settleSamples(r, 2);
  const measuredUntil = r.monitor.latest()?.t;
  const summary = (await r.stop())!;
  const machine = probe.finish();
  const everOffline = r.monitor.everOffline.size;
  const outage = percentiles([...recovered.values()]);
  const checks: Check[] = [...lossChecks(summary, n === 4 ? null : everOffline)];
  const notes: string[] = [];
  if (n === 2)
    checks.unshift({
      what: 'recovery max (ms), LB idle timeout',
      value: outage.max,
      bound,
      ok: outage.max <= bound && recovered.size === peers.length && deletedAt < del,
    });
  let clientDetect: Percentiles | undefined;
  let serverDetect: Percentiles | undefined;
  if (n === 3) {
    clientDetect = percentiles([...detected.values()]);
    serverDetect = percentiles(serverClosed);
    const sBound = bounds.serverDetectionMs(t);
    const cBound = bounds.clientDetectionMs(t);
    checks.unshift(
      {
        what: 'recovery max (ms), client heartbeat',
        value: outage.max,
        bound,
        ok: outage.max <= bound && recovered.size === peers.length && deletedAt < del,
      },
      {
        what: 'client detection max (ms)',
        value: clientDetect.max,
        bound: cBound,
        ok: clientDetect.count === peers.length && clientDetect.max <= cBound,
      },
      {
        what: `server detection max (ms), last byte in -> server's close, ${serverDetect.count} of ${upgradedAtSilence} connections`,
        value: serverDetect.max,
        bound: sBound,
        ok: upgradedAtSilence > 0 && serverDetect.count === upgradedAtSilence && serverDetect.max <= sBound,
      },
    );
  }
  if (n === 4) {
    checks.unshift({ what: 'peers stuck until the VM deletion (ms)', value: outage.p50, bound: deletedAt, ok: outage.p50 >= deletedAt });
    notes.push(
      `VM deletion at ${(deletedAt / 1000).toFixed(0)} s: the incident's ${INCIDENT_MS.min / 60_000}-${INCIDENT_MS.max / 60_000} min scaled down to ${del / 1000} s (x${(del / INCIDENT_MS.min).toFixed(2)} of 5 min).`,
    );
  }
  notes.push(...offlineNotes(r));
  if (legacy)
    notes.push(
      `peers without application heartbeats (interval ${clientT.client.heartbeatIntervalMs / 1000} s), one signal every ${quietMs / 1000} s`,
    );
  notes.push(`LB idle timeout ${t.lb.idleTimeoutSec} s; ${peers.length} peers were on ${target.id}`, machineNote(machine));
  const names = {
    2: ['drain skipped', 'drain', 'LB idle timeout (defense 2)'],
    3: ['drain skipped, LB timeout ineffective', 'drain, LB idle timeout', 'heartbeats (defense 3)'],
    4: ['no defense (the incident, scaled)', 'drain, LB idle timeout, heartbeats', 'only the VM deletion (RST)'],
  } as const;
  return {
    n,
    name: names[n][0],
    fails: names[n][1],
    acts: names[n][2],
    lb: r.lb.kind,
    backplane: r.backplaneKind,
    peers: o.peers,
    affected: peers.length,
    outageMs: outage,
    clientDetectMs: clientDetect,
    serverDetectMs: serverDetect,
    deletedAtMs: deletedAt,
    everOffline,
    summary,
    checks,
    machine,
    chart: regionChart(r.monitor.samples, {
      title: `${n}. ${names[n][0]}: ${target.id} goes silent (${r.lb.kind}, ${r.backplaneKind})`,
      since: Math.max(0, rel(t0) - 3_000),
      until: measuredUntil,
      markers: [
        { t: rel(t0), label: `${target.id} silent` },
        { t: rel(t0) + deletedAt, label: 'VM deleted' },
      ],
    }),
    notes,
  };
}

function offlineNotes(r: Region): string[] {
  const seen = r.monitor.offlineSeen;
  if (seen.length === 0) return [];
  const first = seen
    .slice(0, 5)
    .map((o) => `${o.peer} at ${(o.t / 1000).toFixed(1)} s (presence of ${o.reader})`)
    .join(', ');
  return [`peers first seen offline: ${first}${seen.length > 5 ? `, and ${seen.length - 5} more` : ''}`];
}
