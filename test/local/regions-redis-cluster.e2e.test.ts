/**
 * `npm start -- --backplane redis-cluster` (docs/regions.md): a local Redis Cluster per region (3
 * primaries + 3 replicas from Debian's redis-server, app/local/region/redis-cluster.ts).
 *
 *   1. Two regions: every client/gateway pair split across them, each region's servers reach the
 *      other region's cluster through one delay relay per node (ioredis natMap rewrites the
 *      addresses the nodes announce). Every signal pays the delay (so no server went to a remote
 *      node directly), both status pages list both regions, 0 lost, 0 duplicated, and the stop
 *      (what Ctrl-C runs) leaves no cluster node running.
 *   2. One region on a cluster: signals between servers through it, 0 lost, 0 duplicated.
 */
import { fleetLine, runStartRegions } from '../../app/local/start-regions';
import { startRegion } from '../../app/local/region/region';
import { peerRegionIndex } from '../../app/local/region/regions';
import type { Sample } from '../../app/local/region/monitor';
import { regionTimeouts } from '../../app/local/region/timeouts';
import type { RegionState } from '../../app/local/status/server';
import { clusterMissing, type RedisCluster } from '../../app/local/region/redis-cluster';

jest.setTimeout(180_000);
const DELAY_MS = 60;

const maybe = clusterMissing() === undefined ? test : test.skip;

const nodesRunning = (clusters: RedisCluster[]) =>
  clusters.flatMap((c) => c.nodes).filter((n) => n.proc.exitCode === null && n.proc.signalCode === null);

maybe(
  'two regions, a Redis Cluster each: signals cross through the delayed links, 0 lost, 0 duplicated, nothing left running',
  async () => {
    const lines: string[] = [];
    const started = await runStartRegions(
      {
        regions: 2,
        regionDelayMs: DELAY_MS,
        backplane: 'redis-cluster',
        lb: 'builtin',
        servers: 1,
        peers: 8,
        statusPort: 0,
        interval: 250,
        quick: true,
        logLevel: 'warn',
        jsonLogs: false,
      },
      (l) => lines.push(l),
    );
    const { regions } = started;
    const clusters = [...regions.clusters];
    try {
      expect(clusters).toHaveLength(2);
      expect(nodesRunning(clusters)).toHaveLength(12);
      const fleet = regions.fleet!;
      for (const p of fleet.peers) {
        const partner = fleet.peers.find((q) => q.spec.id === p.spec.to)!;
        expect(peerRegionIndex(p.spec, 2)).not.toBe(peerRegionIndex(partner.spec, 2));
      }
      const samples: Sample[] = [];
      await new Promise<void>((resolve) => {
        const check = (s: Sample) => {
          samples.push(s);
          if (regions.view().every((x) => x.crossRegion >= 40) && fleet.snapshot().delivered >= 150) {
            regions.regions[0].monitor.off('sample', check);
            resolve();
          }
        };
        regions.regions[0].monitor.on('sample', check);
      });
      // Both status pages (the URLs npm start prints) list both regions with cross-region traffic.
      const urls = lines
        .join('\n')
        .match(/status page (http:\/\/\S+)/g)!
        .map((m) => m.replace('status page ', ''));
      expect(urls).toHaveLength(2);
      for (const [i, url] of urls.entries()) {
        const state = (await (await fetch(`${url}api/state`)).json()) as RegionState;
        expect(state.region).toBe(`r${i + 1}`);
        expect(state.regions?.map((x) => [x.name, x.crossRegion > 0])).toEqual([
          ['r1', true],
          ['r2', true],
        ]);
      }
      // Every delivery crossed a link (one way: DELAY_MS / 2). Had a server followed the slot map to a
      // remote node directly, its signals would not pay it.
      const p50 = samples.filter((s) => s.latencyP50Ms > 0).map((s) => s.latencyP50Ms);
      expect(p50.length).toBeGreaterThan(0);
      expect(Math.min(...p50)).toBeGreaterThanOrEqual(DELAY_MS / 2);
      const summary = await started.stop('test');
      console.log(`regions on clusters: delivery p50 per sample ${p50.join(',')} ms; ${fleetLine(summary!)}`);
      expect(summary!.sent).toBeGreaterThan(0);
      expect(summary!.lost).toBe(0);
      expect(summary!.duplicated).toBe(0);
      expect(summary!.settled).toBe(true);
      expect(nodesRunning(clusters)).toEqual([]);
    } finally {
      await started.stop('test').catch(() => undefined);
    }
  },
);

maybe('one region on a local Redis Cluster: signals between its servers, 0 lost, 0 duplicated', async () => {
  const region = await startRegion({
    servers: 2,
    peers: 8,
    timeouts: regionTimeouts(true),
    lb: 'builtin',
    backplane: 'redis-cluster',
    intervalMs: 200,
  });
  try {
    expect(region.backplaneKind).toBe('redis-cluster');
    const fleet = await region.startFleet();
    const t0 = Date.now();
    while (fleet.snapshot().delivered < 100 && Date.now() - t0 < 60_000) await new Promise((r) => region.monitor.once('sample', r));
    const summary = await region.stop();
    expect(summary!.delivered).toBeGreaterThanOrEqual(100);
    expect(summary!.lost).toBe(0);
    expect(summary!.duplicated).toBe(0);
    expect(nodesRunning([region.cluster!])).toEqual([]);
  } finally {
    await region.stop().catch(() => undefined);
  }
});
