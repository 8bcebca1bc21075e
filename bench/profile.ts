/**
 * Not part of `npm run bench`: CPU profiles of sluice (`node --cpu-prof`) under the relay load
 * (100 pairs at --rate msg/s) and under the idle-connection load (--idle joined connections and a
 * 2k msg/s relay), with the top functions by self time. Profiles go to $TMPDIR/sluice-profiles/.
 *
 * Run: npx tsx bench/profile.ts [--rate 5000] [--idle 10000] [--seconds 12] [--kinds relay,idle] [--root DIR]
 *      [--system sluice|ws] [--long-ms 5]
 * (--root: profile another checkout's sluice, as bench/relay.ts --baseline runs it; --system ws: the plain
 * ws relay under the same load, for comparison.) After the table: the server's event-loop delay and GC
 * pauses over the measured run, the load generators' own loop delay, and the main thread's busy
 * stretches longer than --long-ms in the measured run (no idle sample: turns that ran long), each
 * split into GC, writes, frame handling and the rest.
 */
import './lib/help'; // first: --help prints the comment above and exits
import { benchArgs, opt } from './lib/args';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { longStretches, newestProfile, summarize } from './lib/cpuprofile';
import { LoadGen, measureRelay, pairNames, sourceAddresses } from './lib/loadgen-handle';
import { ms, run, table } from './lib/report';
import { startSystem } from './lib/systems';

const {
  rate: RATE,
  idle: IDLE,
  seconds: SECONDS,
  root: ROOT,
  kinds: KINDS,
  system: SYSTEM,
  'long-ms': LONG_MS,
} = benchArgs({
  rate: opt.int(5_000),
  idle: opt.int(10_000, { min: 2 }),
  seconds: opt.int(12),
  root: opt.path(),
  kinds: opt.choices<'relay' | 'idle'>(['relay', 'idle'], ['relay', 'idle']),
  system: opt.choice<'sluice' | 'ws'>(['sluice', 'ws'], 'sluice'),
  'long-ms': opt.int(5),
});
const WARMUP_MS = 2_000;

/** What a profiled run measured besides the profile. */
interface Run {
  file: string;
  /** When the measured run began, ms after the server started (the profile's start, roughly). */
  measuredFromMs: number;
  lines: string[];
}

async function profile(kind: 'relay' | 'idle'): Promise<Run> {
  const dir = path.join(os.tmpdir(), 'sluice-profiles', SYSTEM === 'sluice' ? kind : `${kind}-${SYSTEM}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const started = Date.now();
  const sys = await startSystem(SYSTEM, { cpuProfDir: dir, maxConnections: IDLE + 400, root: ROOT });
  const lines: string[] = [];
  let measuredFromMs = 0;
  const gens = await Promise.all([LoadGen.start(), LoadGen.start()]);
  try {
    const pairs = pairNames('prof', 100, 2);
    for (const [i, g] of gens.entries()) await g.open(SYSTEM, sys.port, pairs[i].flat());
    if (kind === 'idle') {
      await Promise.all(
        gens.map((g, gi) =>
          g.open(
            SYSTEM,
            sys.port,
            Array.from({ length: IDLE / 2 }, (_, k) => `idle-${gi}-${k}`),
            sourceAddresses(8),
            48,
          ),
        ),
      );
    }
    await sys.pauses();
    measuredFromMs = Date.now() - started + WARMUP_MS;
    const r = await measureRelay(sys, gens, pairs, {
      rate: kind === 'relay' ? RATE : 2_000,
      warmupMs: WARMUP_MS,
      durationMs: SECONDS * 1000,
    });
    const p = await sys.pauses();
    const gc = Object.entries(p.gc)
      .map(([k, g]) => `${k} ${g.n} (${g.ms.toFixed(0)} ms, longest ${g.maxMs.toFixed(1)} ms)`)
      .join(', ');
    lines.push(
      `${kind}: p50 ${ms(r.p50Ms)} p99 ${ms(r.p99Ms)} cpu/signal ${r.cpuUsPerSignal.toFixed(1)} us server CPU ${(r.serverCpu * 100).toFixed(0)} %`,
      `server event-loop delay p99 ${ms(p.loopP99Ms)}, max ${ms(p.loopMaxMs)}; GC pauses ${gc || 'none'}`,
      `load generators' own event-loop delay (worst) p99 ${ms(r.loadgenLoopP99Ms)}, max ${ms(r.loadgenLoopMaxMs)}`,
    );
    process.stderr.write(`${lines.join('\n')}\n`);
  } finally {
    await Promise.all(gens.map((g) => g.stop()));
    await sys.stop();
  }
  return { file: newestProfile(dir), measuredFromMs, lines };
}

async function main(): Promise<void> {
  for (const kind of KINDS) {
    const { file, measuredFromMs, lines } = await profile(kind);
    const s = summarize(file, 30);
    process.stdout.write(
      `\n## ${kind} (${file})\n\n${lines.join('\n')}\n\nsampled ${s.totalMs.toFixed(0)} ms, idle ${s.idlePct.toFixed(1)} %, GC ${s.gcPct.toFixed(1)} %\n\n`,
    );
    process.stdout.write(
      `${table(
        ['function', 'self %', 'total %'],
        s.byFunction.map((f) => [f.fn, f.selfPct.toFixed(1), f.totalPct.toFixed(1)]),
      )}\n`,
    );
    const long = longStretches(file, LONG_MS, measuredFromMs);
    const sum = (f: (x: (typeof long)[number]) => number) => long.reduce((a, x) => a + f(x), 0);
    const all = sum((x) => x.ms);
    const pct = (x: number) => `${((100 * x) / Math.max(all, 1e-9)).toFixed(0)} %`;
    process.stdout.write(
      `\nbusy stretches > ${LONG_MS} ms in the measured run: ${long.length}, ${all.toFixed(0)} ms in all: GC ${pct(sum((x) => x.gcMs))}, ` +
        `writes ${pct(sum((x) => x.writeMs))}, frame handling ${pct(sum((x) => x.framesMs))}, other ${pct(sum((x) => x.otherMs))}\n\n`,
    );
    const longest = [...long].sort((a, b) => b.ms - a.ms).slice(0, 12);
    process.stdout.write(
      `${table(
        ['at (s)', 'ms', 'GC ms', 'writes ms', 'frames ms', 'other ms', 'top self frames (ms)'],
        longest.map((x) => [
          (x.atMs / 1000).toFixed(2),
          x.ms.toFixed(1),
          x.gcMs.toFixed(1),
          x.writeMs.toFixed(1),
          x.framesMs.toFixed(1),
          x.otherMs.toFixed(1),
          x.top.map(([fn, t]) => `${fn} ${t.toFixed(1)}`).join(', '),
        ]),
      )}\n`,
    );
  }
}

run(main);
