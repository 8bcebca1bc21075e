/**
 * Not part of `npm run bench`: where an idle joined connection's heap goes. Starts a system, takes a
 * heap snapshot with only a few connections open and another with --idle more, and prints per
 * constructor the objects and bytes added per connection (self sizes, so nothing is counted twice).
 *
 * Run: npx tsx bench/heap.ts [--system sluice|socketio|ws] [--idle 2000]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LoadGen } from './lib/loadgen-handle';
import { run, table } from './lib/report';
import { startSystem, SystemName } from './lib/systems';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const SYSTEM = opt('system', 'sluice') as SystemName;
const IDLE = Number(opt('idle', '2000'));

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

/** Self bytes and object count per "type:name" (constructor name for objects, type for the rest). */
function byConstructor(file: string): Map<string, { count: number; bytes: number }> {
  const s = JSON.parse(fs.readFileSync(file, 'utf8')) as Snapshot;
  const f = s.snapshot.meta.node_fields;
  const [T, N, S] = [f.indexOf('type'), f.indexOf('name'), f.indexOf('self_size')];
  const types = s.snapshot.meta.node_types[0];
  const out = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < s.nodes.length; i += f.length) {
    const type = types[s.nodes[i + T]];
    const name = type === 'object' || type === 'closure' || type === 'native' ? `${type}:${s.strings[s.nodes[i + N]]}` : type;
    const e = out.get(name) ?? { count: 0, bytes: 0 };
    e.count++;
    e.bytes += s.nodes[i + S];
    out.set(name, e);
  }
  return out;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-heap-'));
  const sys = await startSystem(SYSTEM, { maxConnections: IDLE + 400 });
  const gen = await LoadGen.start();
  try {
    await gen.open(SYSTEM, sys.port, ['warm-a', 'warm-b']);
    const before = byConstructor(await sys.heapSnapshot(path.join(dir, 'before.heapsnapshot')));
    const opened = await gen.open(
      SYSTEM,
      sys.port,
      Array.from({ length: IDLE }, (_, k) => `idle-${k}`),
    );
    const after = byConstructor(await sys.heapSnapshot(path.join(dir, 'after.heapsnapshot')));
    const n = opened.opened;
    const rows = [...after]
      .map(([k, a]) => {
        const b = before.get(k) ?? { count: 0, bytes: 0 };
        return { k, count: (a.count - b.count) / n, bytes: (a.bytes - b.bytes) / n };
      })
      .filter((r) => r.bytes > 8)
      .sort((x, y) => y.bytes - x.bytes);
    const total = rows.reduce((s, r) => s + r.bytes, 0);
    process.stdout.write(`${SYSTEM}: ${n} idle joined connections, heap added per connection ${total.toFixed(0)} B (self sizes)\n\n`);
    process.stdout.write(
      `${table(
        ['constructor', 'objects / conn', 'bytes / conn'],
        rows.slice(0, 40).map((r) => [r.k, r.count.toFixed(2), r.bytes.toFixed(0)]),
      )}\n`,
    );
  } finally {
    await gen.stop();
    await sys.stop();
    if (process.env.KEEP_SNAPSHOTS) process.stdout.write(`snapshots kept in ${dir}\n`);
    else fs.rmSync(dir, { recursive: true, force: true });
  }
}

run(main);
