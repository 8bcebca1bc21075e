/**
 * Two regions on this machine (docs/regions.md): each its own Redis, server and balancer, the
 * inter-region link a delay relay, every client/gateway pair split across the regions. Signals
 * cross regions with nothing lost and nothing duplicated, every one pays the injected delay, and
 * each region's servers published into the other region's backplane.
 */
import { regionTimeouts } from '../../app/local/region/timeouts';
import { peerRegionIndex, Regions, startRegions } from '../../app/local/region/regions';
import type { Sample } from '../../app/local/region/monitor';
import { redisAvailable } from '../../app/local/region/redis';
import { RegionState, startStatusServer } from '../../app/local/status/server';

jest.setTimeout(120_000);
const DELAY_MS = 60;

const maybe = redisAvailable() ? test : test.skip;

maybe('signals cross regions through the delayed link: 0 lost, 0 duplicated, each pays the delay', async () => {
  let regions: Regions | undefined;
  try {
    regions = await startRegions({
      regions: 2,
      regionDelayMs: DELAY_MS,
      servers: 1,
      peers: 8,
      timeouts: regionTimeouts(true),
      lb: 'builtin',
      intervalMs: 250,
      sampleEveryMs: 500,
    });
    const fleet = await regions.startFleet();
    // Every pair is split: client k in region k % 2, gateway k in the other one.
    for (const p of fleet.peers) {
      const partner = fleet.peers.find((q) => q.spec.id === p.spec.to)!;
      expect(peerRegionIndex(p.spec, 2)).not.toBe(peerRegionIndex(partner.spec, 2));
    }
    // Wait (on the monitor's samples) until both regions have relayed into the other's backplane.
    const r = regions;
    const latencies: Sample[] = [];
    await new Promise<void>((resolve) => {
      const check = (s: Sample) => {
        latencies.push(s);
        const v = r.view();
        if (v.every((x) => x.crossRegion >= 50) && fleet.snapshot().delivered >= 200) {
          r.regions[0].monitor.off('sample', check);
          resolve();
        }
      };
      r.regions[0].monitor.on('sample', check);
    });
    const view = regions.view();
    expect(view.map((x) => x.name)).toEqual(['r1', 'r2']);
    // The status page of region 2: its server rows carry their region, and it lists both regions.
    const page = await startStatusServer(regions.regions[1], 0, () => r.view());
    try {
      const state = (await (await fetch(`${page.url}api/state`)).json()) as RegionState;
      expect(state.region).toBe('r2');
      expect(state.servers.map((x) => x.region)).toEqual(['r2']);
      expect(state.regions?.map((x) => [x.name, x.crossRegion > 0])).toEqual([
        ['r1', true],
        ['r2', true],
      ]);
    } finally {
      await page.close();
    }
    // Each delivered signal crossed the link once at least (a one-way delay of DELAY_MS / 2).
    const p50 = latencies.filter((s) => s.latencyP50Ms > 0).map((s) => s.latencyP50Ms);
    expect(Math.min(...p50)).toBeGreaterThanOrEqual(DELAY_MS / 2);
    const summary = await regions.stop();
    console.log(
      `regions: delay ${DELAY_MS} ms RTT; cross-region publishes ${view.map((x) => `${x.name} ${x.crossRegion}`).join(', ')}; ` +
        `delivery p50 per sample ${p50.join(',')} ms; sent ${summary?.sent} delivered ${summary?.delivered}`,
    );
    expect(summary).toBeDefined();
    expect(summary!.sent).toBeGreaterThan(0);
    expect(summary!.lost).toBe(0);
    expect(summary!.duplicated).toBe(0);
    expect(summary!.settled).toBe(true);
  } finally {
    await regions?.stop().catch(() => undefined);
  }
});
