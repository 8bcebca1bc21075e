/**
 * `npm start -- --regions 2`: several regions on this machine (app/local/region/regions.ts,
 * docs/regions.md), each with its own status page (the first on --status-port, the next ones on the
 * following ports), one fleet whose client/gateway pairs are split across the regions.
 */
import type { FleetSummary } from '../peer/fleet';
import type { LocalBalancerKind } from './lb/load-balancer';
import { checkPorts } from './ports';
import { regionName, Regions, startRegions } from './region/regions';
import { regionTimeouts } from './region/timeouts';
import { startStatusServer } from './status/server';

export interface StartRegionsOptions {
  regions: number;
  regionDelayMs: number;
  /** Each region's backplane: one Redis, or a local Redis Cluster (3 primaries + 3 replicas). */
  backplane: 'redis' | 'redis-cluster';
  lb: LocalBalancerKind | 'auto';
  servers: number;
  peers: number;
  statusPort: number;
  interval: number;
  quick: boolean;
  logLevel: string;
  jsonLogs: boolean;
}

export async function runStartRegions(
  o: StartRegionsOptions,
  out: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<{ regions: Regions; stop(reason: string): Promise<FleetSummary | undefined> }> {
  const statusPorts = Array.from({ length: o.regions }, (_, i) => (o.statusPort === 0 ? 0 : o.statusPort + i));
  await checkPorts(
    statusPorts.filter((p) => p !== 0).map((port, i) => ({ port, what: `status page of ${regionName(i)}`, flag: '--status-port' })),
  );
  const regions = await startRegions({
    regions: o.regions,
    regionDelayMs: o.regionDelayMs,
    backplane: o.backplane,
    servers: o.servers,
    peers: o.peers,
    timeouts: regionTimeouts(o.quick),
    lb: o.lb,
    intervalMs: o.interval,
    logLevel: o.logLevel,
    jsonLogs: o.jsonLogs,
  });
  process.once('exit', () => regions.killNow());
  const pages: Array<Awaited<ReturnType<typeof startStatusServer>>> = [];
  try {
    for (const [i, r] of regions.regions.entries()) pages.push(await startStatusServer(r, statusPorts[i], () => regions.view()));
  } catch (err) {
    await Promise.all(pages.map((p) => p.close()));
    await regions.stop();
    throw err;
  }
  if (o.peers > 0) await regions.startFleet();
  out(
    [
      '',
      `sluice is running in ${o.regions} regions, ${o.regionDelayMs} ms round trip between them; ${o.backplane === 'redis-cluster' ? 'a Redis Cluster (3 primaries + 3 replicas)' : 'Redis'} backplane per region, ` +
        `each server reaching every region's (docs/regions.md); ${o.peers} peers, every client/gateway pair split across regions.`,
      ...regions.regions.map(
        (r, i) =>
          `  ${regionName(i)}: status page ${pages[i].url}  global front ${regions.frontUrl(i)}  servers ${r
            .live()
            .map((s) => s.id)
            .join(', ')}`,
      ),
      '  Ctrl-C stops the fleet, drains every server, and stops the rest.',
      '',
    ].join('\n'),
  );
  let stopping: Promise<FleetSummary | undefined> | undefined;
  const stop = (reason: string) => {
    stopping ??= (async () => {
      out(`stopping (${reason}): fleet, then a drain of every server in every region, then the balancers, links and Redis...`);
      await Promise.all(pages.map((p) => p.close()));
      const view = regions.view();
      const summary = await regions.stop();
      if (summary) {
        out(`${fleetLine(summary)}; cross-region signals ${view.map((v) => `${v.name} ${v.crossRegion}`).join(', ')}`);
      }
      out('stopped.');
      return summary;
    })();
    return stopping;
  };
  return { regions, stop };
}

/** The fleet's summary line, printed when `npm start` stops (one region or several). */
export function fleetLine(s: FleetSummary): string {
  return (
    `fleet: ${s.peers} peers, ${s.sent} signals sent, ${s.delivered} delivered, ` +
    `${s.lost} lost, ${s.duplicated} duplicated, ${s.reconnects} reconnects`
  );
}
