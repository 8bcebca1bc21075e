/**
 * `npm run bench`: every benchmark in turn, each in its own process (a failure is reported and
 * the others still run), bounded in time. Results: bench/results/<name>.{md,json}.
 * The 10-minute soak is separate (`npm run bench:soak`): it alone would take the whole budget.
 */
import './lib/help'; // first: --help prints the comment above and exits
import { benchArgs } from './lib/args';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

// Each is killed at its budget; the budgets add up to 1,625 s, so `npm run bench` ends within 28 min.
const BENCHES: Array<{ script: string; args: string[]; budgetSec: number }> = [
  { script: 'relay.ts', args: ['--rounds', '2'], budgetSec: 280 },
  { script: 'idle.ts', args: [], budgetSec: 220 },
  // Server CPU of 10k idle connections: pong-only, SDK heartbeats, phoenix.js heartbeats, Socket.IO, ws,
  // and the same-bounds peers (Socket.IO and plain ws at sluice's 15 s bounds): 7 servers of 50-75 s each (507 s at load 6-10).
  { script: 'idle-cpu.ts', args: [], budgetSec: 540 },
  // 1 primary, a cluster of one, a 3+3 cluster, Socket.IO and a one-server reference, each stepping
  // its rate in one warm session (bench/redis.ts): ~150 s on a quiet machine.
  { script: 'redis.ts', args: ['--rounds', '1', '--rates', '2000,5000,10000,20000'], budgetSec: 240 },
  // 10k light peers (raw ws speaking Phoenix V2, bench/lib/light-fleet-worker.ts), the contract's jitter only:
  // 10k SDK peers could not even join within such a budget on 2 cores (docs/benchmarks.md, 2026-12-07 issue 27).
  { script: 'drain.ts', args: ['--peers', '10000', '--jitters', '100'], budgetSec: 150 },
  { script: 'dead-peer.ts', args: [], budgetSec: 95 },
  { script: 'defenses.ts', args: ['--peers', '200'], budgetSec: 100 },
];

// Bare arguments pick benchmarks by the start of their names (`npm run bench -- relay idle`).
const only = benchArgs({}, { name: 'benchmark', allowed: BENCHES.map((b) => b.script) }).positionals;
const failed: string[] = [];
const t0 = Date.now();
for (const b of BENCHES) {
  if (only.length > 0 && !only.some((o) => b.script.startsWith(o))) continue;
  const started = Date.now();
  process.stderr.write(`\n=== bench/${b.script} ${b.args.join(' ')} (budget ${b.budgetSec} s)\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, b.script), ...b.args], {
    cwd: path.join(__dirname, '..'),
    stdio: 'inherit',
    timeout: b.budgetSec * 1000,
    killSignal: 'SIGKILL',
  });
  const sec = ((Date.now() - started) / 1000).toFixed(0);
  if (r.status !== 0) failed.push(`${b.script} (${r.signal ? `killed after ${sec} s` : `exit ${r.status}`})`);
  process.stderr.write(`=== bench/${b.script}: ${r.status === 0 ? 'ok' : 'FAILED'} in ${sec} s\n`);
}
process.stderr.write(
  `\nall benchmarks: ${((Date.now() - t0) / 1000).toFixed(0)} s${failed.length ? `, failed: ${failed.join(', ')}` : ', all ok'}\n`,
);
process.exit(failed.length ? 1 : 0);
