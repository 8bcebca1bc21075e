/**
 * A drill fleet (app/peer/fleet.ts: SluiceClient peers exchanging numbered signals) in its own
 * process, for benchmarks: {cmd:'start', ...FleetOptions minus functions} -> {ready}; {cmd:'stop'} -> FleetSummary.
 */
import { resolveTimeouts, TimeoutsOverrides } from '../../app/contract/timeouts';
import { FleetController, runFleet } from '../../app/peer/fleet';

let fleet: FleetController | undefined;

process.on('message', (m: { cmd: string; urls?: string[]; count?: number; prefix?: string; intervalMs?: number; seed?: number; secret?: string; timeouts?: TimeoutsOverrides }) => {
  if (m.cmd === 'start') {
    fleet = runFleet({
      urls: m.urls!, count: m.count!, prefix: m.prefix, intervalMs: m.intervalMs, seed: m.seed, tokenSecret: m.secret,
      timeouts: resolveTimeouts(m.timeouts ?? {}), spread: false,
    });
    fleet.ready().then(() => process.send!({ ready: true }), (err: Error) => process.send!({ error: err.message }));
  } else if (m.cmd === 'stop' && fleet) {
    fleet.stop().then((summary) => process.send!({ summary }), (err: Error) => process.send!({ error: err.message }));
  }
});
process.on('disconnect', () => process.exit(0));
process.send?.({ up: true });
