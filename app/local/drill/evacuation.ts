/**
 * Drill scenario 5: evacuate a region during traffic (docs/regions.md). Two regions, each its own
 * Redis, servers and balancer, the inter-region link a delay relay, every client/gateway pair split
 * across them. Region 1's capacity goes to 0 (`sluice:capacity` in production: its global front sends
 * new connections to region 2) and every server of region 1 drains; every peer of region 1 moves to
 * region 2 and keeps its home (its history, dedupe records and ack semantics stay where they were).
 *
 * Checked: every peer ends up on a region-2 server; each moved peer's gap, from losing its session
 * to its next join, within regionEvacuationBoundMs (the contract); 0 lost, 0 duplicated, no peer ever
 * shown offline.
 */
import { regionEvacuationBoundMs } from '../../contract/timeouts';
import { percentiles } from '../../peer/fleet';
import type { LocalBalancerKind } from '../lb/load-balancer';
import { maxRegionRttMs, startRegions } from '../region/regions';
import { regionTimeouts } from '../region/timeouts';
import { regionChart } from '../status/charts';
import { machineNote, ScenarioProbe } from './probe';
import { lossChecks, settleSamples, until } from './result';
import type { ScenarioResult } from './result';

/** The inter-region round trip of the scenario: 60 ms, or less if the contract's Redis timing needs it. */
export function evacuationRttMs(quick: boolean): number {
  return Math.min(60, maxRegionRttMs(regionTimeouts(quick)));
}

export interface EvacuationOptions {
  quick: boolean;
  peers: number;
  lb?: LocalBalancerKind | 'auto';
  log?: (line: string) => void;
}

export async function evacuation(o: EvacuationOptions): Promise<ScenarioResult> {
  const t = regionTimeouts(o.quick);
  const rtt = evacuationRttMs(o.quick);
  const bound = regionEvacuationBoundMs(t);
  const regions = await startRegions({
    regions: 2,
    regionDelayMs: rtt,
    servers: 2,
    peers: o.peers,
    timeouts: t,
    lb: o.lb,
    intervalMs: 1_000,
    logLevel: 'error',
    sampleEveryMs: 250,
  });
  try {
    const [r1, r2] = regions.regions;
    const probe = new ScenarioProbe();
    const fleet = await regions.startFleet();
    probe.watch(fleet);
    await until(() => fleet.snapshot().delivered >= o.peers * 2, 60_000, 'warm-up signals');
    const serverOf = async () =>
      new Map((await r2.live()[0].presence()).filter((e) => e.state === 'online').map((e) => [e.peerId, e.serverId]));
    const before = await serverOf();
    const onR1 = new Set(r1.live().map((s) => s.id));
    const affected = fleet.peers.filter((p) => onR1.has(before.get(p.spec.id) ?? ''));
    o.log?.(
      `regions up: r1 ${r1.live().map((s) => s.id)} and r2 ${r2.live().map((s) => s.id)}, ${rtt} ms apart; ` +
        `${o.peers} peers, ${affected.length} on r1`,
    );
    const lostAt = new Map<string, number>();
    const gaps = new Map<string, number>();
    for (const p of affected) {
      p.client.on('disconnected', (d) => {
        if (d.wasJoined && !lostAt.has(p.spec.id)) lostAt.set(p.spec.id, Date.now());
      });
      p.client.on('connected', () => {
        const at = lostAt.get(p.spec.id);
        if (at !== undefined && !gaps.has(p.spec.id)) gaps.set(p.spec.id, Date.now() - at);
      });
    }
    const startedAt = r2.monitor.latest()?.t ?? 0;
    await regions.evacuate(0);
    await until(() => gaps.size >= affected.length && fleet.peers.every((p) => p.client.state === 'joined'), 60_000, 'every peer in r2');
    const after = await serverOf();
    const onR2 = new Set(r2.live().map((s) => s.id));
    const moved = fleet.peers.filter((p) => onR2.has(after.get(p.spec.id) ?? '')).length;
    await settleSamples(r2, 2);
    const measuredUntil = r2.monitor.latest()?.t;
    const view = regions.view();
    const summary = (await regions.stop())!;
    const machine = probe.finish();
    const everOffline = new Set([...r1.monitor.everOffline, ...r2.monitor.everOffline]).size;
    const outage = percentiles([...gaps.values()]);
    return {
      n: 5,
      name: 'region evacuated',
      fails: 'region 1 (capacity 0, every server drains)',
      acts: 'drain + global LB to region 2; state stays at each peer home',
      lb: r2.lb.kind,
      backplane: `redis per region, ${rtt} ms apart`,
      peers: o.peers,
      affected: affected.length,
      outageMs: outage,
      everOffline,
      summary,
      checks: [
        { what: 'peers on region 2 afterwards', value: moved, bound: o.peers, ok: moved === o.peers },
        { what: 'evacuated peer gap max (ms)', value: outage.max, bound, ok: affected.length > 0 && outage.max <= bound },
        ...lossChecks(summary, everOffline),
      ],
      machine,
      chart: regionChart(r2.monitor.samples, {
        title: `5. region evacuated: ${o.peers} peers, r1's ${onR1.size} servers drained, their peers move to r2 (${rtt} ms away)`,
        since: Math.max(0, startedAt - 2_000),
        until: measuredUntil,
        markers: [{ t: startedAt, label: 'r1 capacity 0' }],
      }),
      notes: [
        `cross-region signals published: ${view.map((v) => `${v.name} ${v.crossRegion}`).join(', ')}`,
        `bound: restart jitter + connect + join timeouts (regionEvacuationBoundMs) = ${bound} ms`,
        machineNote(machine),
      ],
    };
  } finally {
    await regions.stop().catch(() => undefined);
  }
}
