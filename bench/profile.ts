/**
 * Not part of `npm run bench`: CPU profiles of sluice (`node --cpu-prof`) under the relay load
 * (100 pairs at --rate msg/s) and under the idle-connection load (--idle joined connections and a
 * 2k msg/s relay), with the top functions by self time. Profiles go to $TMPDIR/sluice-profiles/.
 *
 * Run: npx tsx bench/profile.ts [--rate 5000] [--idle 10000] [--seconds 12] [--kinds relay,idle] [--root DIR]
 * (--root: profile another checkout's sluice, as bench/relay.ts --baseline runs it)
 */
import './lib/help'; // first: --help prints the comment above and exits
import { benchArgs, opt } from './lib/args';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { summarize, newestProfile } from './lib/cpuprofile';
import { LoadGen, measureRelay, pairNames, sourceAddresses } from './lib/loadgen-handle';
import { ms, run, table } from './lib/report';
import { startSystem } from './lib/systems';

const {
  rate: RATE,
  idle: IDLE,
  seconds: SECONDS,
  root: ROOT,
  kinds: KINDS,
} = benchArgs({
  rate: opt.int(5_000),
  idle: opt.int(10_000, { min: 2 }),
  seconds: opt.int(12),
  root: opt.path(),
  kinds: opt.choices<'relay' | 'idle'>(['relay', 'idle'], ['relay', 'idle']),
});

async function profile(kind: 'relay' | 'idle'): Promise<string> {
  const dir = path.join(os.tmpdir(), 'sluice-profiles', kind);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const sys = await startSystem('sluice', { cpuProfDir: dir, maxConnections: IDLE + 400, root: ROOT });
  const gens = await Promise.all([LoadGen.start(), LoadGen.start()]);
  try {
    const pairs = pairNames('prof', 100, 2);
    for (const [i, g] of gens.entries()) await g.open('sluice', sys.port, pairs[i].flat());
    if (kind === 'idle') {
      await Promise.all(
        gens.map((g, gi) =>
          g.open(
            'sluice',
            sys.port,
            Array.from({ length: IDLE / 2 }, (_, k) => `idle-${gi}-${k}`),
            sourceAddresses(8),
            48,
          ),
        ),
      );
    }
    const r = await measureRelay(sys, gens, pairs, { rate: kind === 'relay' ? RATE : 2_000, warmupMs: 2_000, durationMs: SECONDS * 1000 });
    process.stderr.write(
      `${kind}: p50 ${ms(r.p50Ms)} p99 ${ms(r.p99Ms)} cpu/signal ${r.cpuUsPerSignal.toFixed(1)} us server CPU ${(r.serverCpu * 100).toFixed(0)} %\n`,
    );
  } finally {
    await Promise.all(gens.map((g) => g.stop()));
    await sys.stop();
  }
  return newestProfile(dir);
}

async function main(): Promise<void> {
  for (const kind of KINDS) {
    const file = await profile(kind);
    const s = summarize(file, 30);
    process.stdout.write(
      `\n## ${kind} (${file})\n\nsampled ${s.totalMs.toFixed(0)} ms, idle ${s.idlePct.toFixed(1)} %, GC ${s.gcPct.toFixed(1)} %\n\n`,
    );
    process.stdout.write(
      `${table(
        ['function', 'self %', 'total %'],
        s.byFunction.map((f) => [f.fn, f.selfPct.toFixed(1), f.totalPct.toFixed(1)]),
      )}\n`,
    );
  }
}

run(main);
