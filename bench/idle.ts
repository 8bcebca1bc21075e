/**
 * Benchmark: idle joined connections, side by side. What each one costs the server (RSS and heap
 * after a full GC, per connection), and whether they slow the relay: p99 of a 2k msg/s relay
 * (100 pairs) measured with 1k, 10k and the most idle connections one process can hold here.
 *
 * 50k is out of reach on this machine: the hard open-file limit is 20,000 per process
 * (`ulimit -Hn`, not raisable without CAP_SYS_RESOURCE), so one server holds at most ~19.8k
 * sockets. Idle connections come from two load-generator processes (under 20k each) and from
 * source addresses 127.0.0.2... (each with its own ephemeral port range).
 *
 * `--baseline DIR` adds another sluice, run from DIR (e.g. `git archive` of main with node_modules),
 * in turn with the others: a before/after of a change in one run, under the same load.
 *
 * Run: npx tsx bench/idle.ts [--levels 1000,10000,19000] [--rounds 1] [--baseline DIR]
 */
import './lib/help'; // first: --help prints the comment above and exits
import { benchArgs, opt } from './lib/args';
import fs from 'node:fs';
import { LoadGen, measureRelay, pairNames, RelayFigures, sourceAddresses } from './lib/loadgen-handle';
import { goalsAndFigures, kb, machine, median, ms, ratio, run, sleep, writeResults } from './lib/report';
import { Mem, startSystem, SYSTEM_LABEL, SystemName } from './lib/systems';

const {
  levels: LEVELS,
  rounds: ROUNDS,
  baseline: BASELINE,
} = benchArgs({ levels: opt.ints([1_000, 10_000, 19_000]), rounds: opt.int(1), baseline: opt.path() });
/** One server in the comparison: a system, and for the baseline the checkout it runs from. */
interface Entrant {
  key: string;
  name: SystemName;
  label: string;
  root?: string;
}
const ENTRANTS: Entrant[] = [
  { key: 'sluice', name: 'sluice', label: SYSTEM_LABEL.sluice },
  ...(BASELINE ? [{ key: 'sluice-baseline', name: 'sluice' as const, label: 'sluice (baseline)', root: BASELINE }] : []),
  { key: 'socketio', name: 'socketio', label: SYSTEM_LABEL.socketio },
  { key: 'ws', name: 'ws', label: SYSTEM_LABEL.ws },
];
const SYSTEMS = ENTRANTS.map((e) => e.key);
const PAIRS = 100;
const GENERATORS = 2;
const RATE = 2_000;
/** A whole 5 s ping round of sluice inside every window: a stall from pinging shows up. */
const WINDOW_MS = 6_000;
const WARMUP_MS = 2_000;
const ADDRESSES = sourceAddresses(8);

interface Level {
  idle: number;
  mem: Mem;
  rssPerConn: number;
  heapPerConn: number;
  relay: RelayFigures;
}
interface SystemRun {
  /** The entrant's key: the system's name, or sluice-baseline. */
  system: string;
  base: Mem;
  levels: Level[];
  openMs: number[];
}

async function one(entrant: Entrant): Promise<SystemRun> {
  const { name, key } = entrant;
  const max = Math.max(...LEVELS);
  const sys = await startSystem(name, { maxConnections: max + 2 * PAIRS + 100, root: entrant.root });
  const gens = await Promise.all(Array.from({ length: GENERATORS }, () => LoadGen.start()));
  const out: SystemRun = { system: key, base: await sys.mem(), levels: [], openMs: [] };
  try {
    const pairs = pairNames(`${key}-r`, PAIRS, GENERATORS);
    for (const [i, g] of gens.entries()) await g.open(name, sys.port, pairs[i].flat());
    await sleep(1_000);
    out.base = await sys.mem();
    let open = 0;
    for (const level of LEVELS) {
      const add = level - open;
      const t0 = Date.now();
      const results = await Promise.all(
        gens.map((g, gi) => {
          const ids = Array.from({ length: Math.ceil(add / GENERATORS) }, (_, k) => `${key}-i${gi}-${open + k}`);
          return g.open(name, sys.port, ids, ADDRESSES, 48);
        }),
      );
      out.openMs.push(Date.now() - t0);
      const failed = results.reduce((s, r) => s + r.failed, 0);
      if (failed > 0)
        throw new Error(`${key}: ${failed} idle connections failed at level ${level}: ${results.find((r) => r.firstError)?.firstError}`);
      open += GENERATORS * Math.ceil(add / GENERATORS);
      await sleep(2_000);
      const mem = await sys.mem();
      const relay = await measureRelay(sys, gens, pairs, { rate: RATE, warmupMs: WARMUP_MS, durationMs: WINDOW_MS });
      out.levels.push({
        idle: open,
        mem,
        rssPerConn: (mem.rss - out.base.rss) / open,
        heapPerConn: (mem.heapUsed - out.base.heapUsed) / open,
        relay,
      });
      process.stderr.write(
        `idle ${key} ${open}: rss/conn ${kb((mem.rss - out.base.rss) / open)}, heap/conn ${kb((mem.heapUsed - out.base.heapUsed) / open)}, relay p99 ${ms(relay.p99Ms)} (${relay.delivered}/${relay.sent})\n`,
      );
    }
  } finally {
    await Promise.all(gens.map((g) => g.stop()));
    await sys.stop();
  }
  return out;
}

async function main(): Promise<void> {
  const m = machine();
  const runs: SystemRun[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i] of ENTRANTS.entries()) runs.push(await one(ENTRANTS[(i + round) % ENTRANTS.length]));
  }
  const med = (s: string, level: number, f: (l: Level) => number) =>
    median(
      runs
        .filter((r) => r.system === s)
        .map((r) => r.levels.find((l) => l.idle >= level))
        .filter((l): l is Level => !!l)
        .map(f),
    );
  const top = Math.max(...LEVELS);
  const mid = LEVELS.includes(10_000) ? 10_000 : top;
  const low = Math.min(...LEVELS);
  const s = (sys: string, lv: number, f: (l: Level) => number) => med(sys, lv, f);
  const rss = (l: Level) => l.rssPerConn;
  const heap = (l: Level) => l.heapPerConn;
  const p99 = (l: Level) => l.relay.p99Ms;
  const sluiceRss = [mid, top].map((lv) => s('sluice', lv, rss));
  const flat = s('sluice', top, p99) / s('sluice', low, p99);
  const goals = [
    [
      `idle RSS <= 6 KiB per joined connection at ${mid / 1000}k and ${top / 1000}k (50k: see note)`,
      sluiceRss.map(kb).join(' / '),
      sluiceRss.every((x) => x <= 6 * 1024) ? 'met' : 'not met',
    ],
    [
      "idle RSS <= 0.5x Socket.IO's",
      ratio(s('sluice', mid, rss), s('socketio', mid, rss)),
      s('sluice', mid, rss) <= 0.5 * s('socketio', mid, rss) ? 'met' : 'not met',
    ],
    [
      "idle RSS <= plain ws's",
      ratio(s('sluice', mid, rss), s('ws', mid, rss)),
      s('sluice', mid, rss) <= s('ws', mid, rss) ? 'met' : 'not met',
    ],
    [
      `relay p99 at 2k msg/s within 1.5x between ${low / 1000}k and ${top / 1000}k idle (50k: see note)`,
      `${ms(s('sluice', low, p99), 2)} -> ${ms(s('sluice', top, p99), 2)} (${flat.toFixed(2)}x)`,
      flat <= 1.5 ? 'met' : 'not met',
    ],
  ];
  const rows: Array<Array<string | number>> = [];
  for (const lv of LEVELS) {
    rows.push([
      `RSS per idle joined connection, ${lv / 1000}k`,
      ...SYSTEMS.map((x) => kb(s(x, lv, rss))),
      ratio(s('sluice', lv, rss), s('socketio', lv, rss)),
      ratio(s('sluice', lv, rss), s('ws', lv, rss)),
    ]);
    rows.push([
      `heap per idle joined connection, ${lv / 1000}k`,
      ...SYSTEMS.map((x) => kb(s(x, lv, heap))),
      ratio(s('sluice', lv, heap), s('socketio', lv, heap)),
      ratio(s('sluice', lv, heap), s('ws', lv, heap)),
    ]);
  }
  for (const lv of LEVELS) {
    rows.push([
      `relay p99 at 2k msg/s with ${lv / 1000}k idle`,
      ...SYSTEMS.map((x) => ms(s(x, lv, p99), 2)),
      ratio(s('sluice', lv, p99), s('socketio', lv, p99)),
      ratio(s('sluice', lv, p99), s('ws', lv, p99)),
    ]);
  }
  rows.push([
    `relay p99 ratio ${top / 1000}k / ${low / 1000}k idle`,
    ...SYSTEMS.map((x) => `${(s(x, top, p99) / s(x, low, p99)).toFixed(2)}x`),
    '',
    '',
  ]);
  const md = [
    '# Idle connections benchmark',
    '',
    `Idle connections, each authenticated and joined (sluice: \`phx_join\` of its own channel; Socket.IO: connected with its token,`,
    'in its room; ws relay: registered), opened from two load-generator processes on source addresses 127.0.0.2-127.0.0.9. Memory: server',
    'RSS and heap after two full GCs, minus the same with only the 200 relay connections open, divided by the idle count.',
    `Relay: ${PAIRS} pairs at ${RATE / 1000}k msg/s, ${WARMUP_MS / 1000} s warm-up and ${WINDOW_MS / 1000} s measured (a whole 5 s ping round of sluice) per level.`,
    'Idle clients send nothing of their own: they answer the servers\' pings (WebSocket pongs; Engine.IO "3").',
    `${ROUNDS} round(s), systems in turn. Reproduce: \`npx tsx bench/idle.ts\`.`,
    '',
    `**50k connections:** not measured on one server. The hard open-file limit here is 20,000 per process (\`ulimit -Hn\`;`,
    'raising it needs CAP_SYS_RESOURCE, which this machine does not grant), so one server process holds at most ~19.8k sockets;',
    `the top level is ${top.toLocaleString('en')} idle + ${2 * PAIRS} relay connections.`,
    '',
    goalsAndFigures(goals, 'Side by side', ['figure', ...ENTRANTS.map((e) => e.label), 'sluice / Socket.IO', 'sluice / ws'], rows),
    '',
    ...(BASELINE ? ['', `sluice (baseline): the same server run from \`${BASELINE}\`, in turn with the others.`, ''] : []),
    `Time to open the idle connections (all levels): ${ENTRANTS.map((e) => `${e.label} ${(median(runs.filter((r) => r.system === e.key).map((r) => r.openMs.reduce((a, b) => a + b, 0))) / 1000).toFixed(1)} s`).join(', ')}.`,
  ].join('\n');
  writeResults('idle', m, md, {
    settings: {
      levels: LEVELS,
      pairs: PAIRS,
      rate: RATE,
      windowMs: WINDOW_MS,
      rounds: ROUNDS,
      baseline: BASELINE ?? null,
      hardOpenFileLimit: hardLimit(),
    },
    runs,
  });
}

function hardLimit(): string {
  try {
    return (
      fs
        .readFileSync('/proc/self/limits', 'utf8')
        .split('\n')
        .find((l) => l.startsWith('Max open files'))
        ?.split(/\s{2,}/)[2] ?? 'unknown'
    );
  } catch {
    return 'unknown';
  }
}

run(main);
