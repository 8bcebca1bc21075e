/** A quick in-process local region for a test: the defaults every region suite starts from. */
import { Region, RegionOptions, startRegion } from '../../app/local/region/region';
import { regionTimeouts } from '../../app/local/region/timeouts';

/**
 * Start a region of 3 servers on the --quick contract (LB on a free port, error logs, a monitor
 * sample every 250 ms), `opts` over that, and its fleet of `peers`. The caller stops it.
 */
export async function startQuickRegion(opts: Partial<RegionOptions> & { peers: number }): Promise<Region> {
  const region = await startRegion({
    servers: 3,
    timeouts: regionTimeouts(true),
    port: 0,
    logLevel: 'error',
    sampleEveryMs: 250,
    ...opts,
  });
  await region.startFleet();
  return region;
}
