/**
 * Not part of `npm run bench`: where an idle joined connection's heap goes. Starts a system, takes a
 * heap snapshot with only a few connections open, another with --idle more (N) and a third with N
 * more again (2N), and prints per constructor the objects and bytes each increment added per
 * connection (self sizes, so nothing is counted twice). The second increment is the steadier figure:
 * the first also holds what warming up compiled (code); either may hold a hash table of the server
 * doubling. Then the second increment's bytes per retainer path, up to the nearest per-connection
 * object of Node, ws or sluice (bench/lib/heap-snapshot.ts): who holds each byte. RSS is
 * bench/idle.ts's figure: taking a snapshot leaves the process's RSS high, so it is not read here.
 * With --baseline DIR the same is run for a sluice from DIR (a checkout with node_modules), for a
 * before/after in one run.
 *
 * Run: npx tsx bench/heap.ts [--system sluice|socketio|ws] [--idle 2000] [--top 40] [--baseline DIR]
 */
import './lib/help'; // first: --help prints the comment above and exits
import { benchArgs, opt } from './lib/args';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Added, HeapSnapshot } from './lib/heap-snapshot';
import { LoadGen } from './lib/loadgen-handle';
import { run, table } from './lib/report';
import { startSystem, SYSTEM_LABEL, SystemName } from './lib/systems';

const {
  system: SYSTEM,
  idle: IDLE,
  top: TOP,
  baseline: BASELINE,
} = benchArgs({
  system: opt.choice(Object.keys(SYSTEM_LABEL) as SystemName[], 'sluice'),
  idle: opt.int(2_000),
  top: opt.int(40),
  baseline: opt.path(),
});

interface Measured {
  label: string;
  /** Added from 0 to N connections, and from N to 2N. */
  first: Added;
  second: Added;
  n: number;
}

async function measure(label: string, root: string | undefined, dir: string): Promise<Measured> {
  const sys = await startSystem(SYSTEM, { maxConnections: 2 * IDLE + 400, root });
  const gen = await LoadGen.start();
  try {
    await gen.open(SYSTEM, sys.port, ['warm-a', 'warm-b']);
    const file = (step: number) => path.join(dir, `${root ? 'baseline' : 'this'}-${step}.heapsnapshot`);
    const snap = async (step: number) => new HeapSnapshot(await sys.heapSnapshot(file(step)));
    let n = 0;
    const open = async (from: number) => {
      const r = await gen.open(
        SYSTEM,
        sys.port,
        Array.from({ length: IDLE }, (_, k) => `idle-${from + k}`),
      );
      if (r.failed > 0) throw new Error(`${label}: ${r.failed} connections failed: ${r.firstError}`);
      n = r.opened;
    };
    const s0 = (await snap(0)).ids();
    await open(0);
    const h1 = await snap(1);
    const first = h1.addedSince(s0);
    const s1 = h1.ids();
    await open(IDLE);
    const second = (await snap(2)).addedSince(s1);
    return { label, first, second, n };
  } finally {
    await gen.stop();
    await sys.stop();
  }
}

const per = (bytes: number, n: number) => (bytes / n).toFixed(0);

function report(m: Measured): string {
  const { first, second, n } = m;
  const keys = [...new Set([...first.byConstructor.keys(), ...second.byConstructor.keys()])];
  const rows = keys
    .map((k) => ({ k, a: first.byConstructor.get(k), b: second.byConstructor.get(k) }))
    .filter((r) => (r.a?.bytes ?? 0) / n > 8 || (r.b?.bytes ?? 0) / n > 8)
    .sort((x, y) => (y.b?.bytes ?? 0) - (x.b?.bytes ?? 0));
  const paths = [...second.byPath].filter(([, e]) => e.bytes / n >= 4).sort((x, y) => y[1].bytes - x[1].bytes);
  return [
    `### ${m.label}: ${SYSTEM}, ${n} idle joined connections per step`,
    '',
    `Heap added per connection (self sizes): ${per(first.totalBytes, n)} B from 0 to ${n}, ${per(second.totalBytes, n)} B from ${n} to ${2 * n}; ` +
      `besides, native objects the snapshot shows (not in the JS heap): ${per(first.nativeBytes, n)} B from 0 to ${n}.`,
    '',
    table(
      [
        'constructor',
        `objects / conn, 0 -> ${n}`,
        `bytes / conn, 0 -> ${n}`,
        `objects / conn, ${n} -> ${2 * n}`,
        `bytes / conn, ${n} -> ${2 * n}`,
      ],
      rows
        .slice(0, TOP)
        .map((r) => [
          r.k,
          ((r.a?.count ?? 0) / n).toFixed(2),
          per(r.a?.bytes ?? 0, n),
          ((r.b?.count ?? 0) / n).toFixed(2),
          per(r.b?.bytes ?? 0, n),
        ]),
    ),
    '',
    `Who holds the bytes of the second step (retainer path from the nearest per-connection object; ${per(
      paths.reduce((s, [, e]) => s + e.bytes, 0),
      n,
    )} of ${per(second.totalBytes, n)} B in paths of >= 4 B per connection):`,
    '',
    table(
      ['bytes / conn', 'objects / conn', 'path'],
      paths.slice(0, TOP).map(([k, e]) => [per(e.bytes, n), (e.count / n).toFixed(2), `\`${k}\``]),
    ),
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-heap-'));
  try {
    const runs = [await measure('this checkout', undefined, dir)];
    if (BASELINE) runs.push(await measure(`baseline ${BASELINE}`, BASELINE, dir));
    for (const m of runs) process.stdout.write(`${report(m)}\n`);
    if (runs.length === 2) {
      const [a, b] = runs;
      process.stdout.write(
        `This checkout vs baseline, heap added per connection (self sizes): ${per(a.first.totalBytes, a.n)} vs ${per(b.first.totalBytes, b.n)} B ` +
          `from 0 to N, ${per(a.second.totalBytes, a.n)} vs ${per(b.second.totalBytes, b.n)} B from N to 2N.\n`,
      );
    }
  } finally {
    if (process.env.KEEP_SNAPSHOTS) process.stdout.write(`snapshots kept in ${dir}\n`);
    else fs.rmSync(dir, { recursive: true, force: true });
  }
}

run(main);
