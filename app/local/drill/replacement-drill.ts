/**
 * `npm run drill -- --rollout [--release good|skip-drain] [--quick]`: a local region (3 servers
 * behind the balancer, a fleet of peers), one release rolled out through the rollout controller
 * (region/replace-servers.ts: the gates and gated step loop of `npm run rollout -- --apply`), then the region stops.
 * Exit 0 when the rollout passed every gate, 3 when it halted (as `npm run rollout`), 2 on failure.
 */
import type { LocalBalancerKind } from '../lb/load-balancer';
import { BackplaneKind, startRegion } from '../region/region';
import { LocalRelease, rolloutLocal } from '../region/replace-servers';
import { regionTimeouts } from '../region/timeouts';

export interface ReplacementDrillOptions {
  release: LocalRelease;
  quick: boolean;
  peers: number;
  lb: LocalBalancerKind | 'auto';
  backplane: BackplaneKind | 'auto';
  /** The controller's output (stdout in the CLI). */
  out(line: string): void;
  /** Progress notes (stderr in the CLI). */
  log(line: string): void;
}

export async function runReplacementDrill(o: ReplacementDrillOptions): Promise<number> {
  const region = await startRegion({
    servers: 3,
    peers: o.peers,
    timeouts: regionTimeouts(o.quick),
    lb: o.lb,
    backplane: o.backplane,
    port: 0,
    logLevel: 'error',
    sampleEveryMs: 250,
  });
  try {
    o.log(
      `region up: ${region
        .live()
        .map((s) => s.id)
        .join(', ')} behind ${region.lb.kind}, backplane ${region.backplaneKind}; ${o.peers} peers joining`,
    );
    await region.startFleet();
    const result = await rolloutLocal(region, {
      release: o.release,
      out: o.out,
      // This region stops after the run; a long-running one (npm start) rolls back from its page.
      rollbackCommands: (release) => [
        `npm start, then on its status page: release "${release}", roll out (the same controller, the previous release)`,
      ],
    });
    const summary = await region.stop();
    if (summary)
      o.log(
        `fleet: ${summary.delivered} delivered, ${summary.lost} lost, ${summary.duplicated} duplicated; peers ever offline ${region.monitor.everOffline.size}`,
      );
    return result.status === 'done' ? 0 : 3;
  } finally {
    await region.stop();
  }
}
