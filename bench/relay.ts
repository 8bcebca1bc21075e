/**
 * Benchmark: relay latency, server CPU per signal, server RSS and the ceiling, side by side.
 * 100 pairs (200 connections, every one authenticated and joined) on one server; each peer sends
 * ~120 B signals to its partner, open loop at a fixed total rate; latency is from when a signal was
 * due to when its recipient got it (both in the load-generator process, a separate process from the
 * server). Server RSS is read from /proc/<pid>/statm every 250 ms while each rate runs (no forced
 * GC: what the process holds under that load). Systems run interleaved (A B C D, B C D A, ...), in
 * rounds; the figures are medians. Then the ceiling: the highest rate of the rounds with p99 < 500 ms,
 * continued with higher steps (one round).
 *
 * `--baseline DIR[,DIR2]` runs another checkout's sluice (`git archive <commit> app package.json tsconfig.json`
 * unpacked in DIR beside a node_modules link) as one more system in the same interleaved rounds:
 * before/after of a change under the same load, with the ratio per figure. sluice runs with the
 * production heap flags (app/contract/memory.ts); `--semi-space 32,64` adds this checkout's sluice
 * with V8's semi-space at each size (MiB, --max-semi-space-size; the old space as derived) to the
 * same rounds, and `--v8-heap` this checkout's sluice without heap flags (V8 sizes its heap from the
 * machine, as before 2026-12-07).
 *
 * Run: npx tsx bench/relay.ts [--rounds 3] [--quick] [--systems sluice,socketio,ws,ws-ack]
 *      [--rates 5000,10000,20000] [--baseline DIR] [--no-ceiling]
 *      [--semi-space 32,64] [--v8-heap] [--v8-flags '--no-parallel-scavenge']
 * (--v8-flags: this checkout's sluice with the production heap flags and these V8 flags, one more system.)
 */
import './lib/help'; // first: --help prints the comment above and exits
import { benchArgs, opt } from './lib/args';
import fs from 'node:fs';
import { LoadGen, measureRelay, pairNames, RelayFigures } from './lib/loadgen-handle';
import { goalsAndFigures, machine, median, ms, ratio, run, table, writeResults } from './lib/report';
import { GcKind, RunningSystem, startSystem, SYSTEM_LABEL, SystemName } from './lib/systems';
import { heapFlags, heapPlan, SEMI_SPACE_MIB } from '../app/contract/memory';

const ARGS = benchArgs({
  rounds: opt.maybeInt(),
  quick: opt.flag(),
  systems: opt.choices(['sluice', 'socketio', 'ws', 'ws-ack'] as const, ['sluice', 'socketio', 'ws', 'ws-ack']),
  rates: opt.ints([5_000, 10_000, 20_000]),
  baseline: opt.string(),
  'no-ceiling': opt.flag(),
  'semi-space': opt.ints([]),
  'v8-heap': opt.flag(),
  'v8-flags': opt.string(),
});
const QUICK = ARGS.quick;
const ROUNDS = ARGS.rounds ?? (QUICK ? 1 : 3);
const PAIRS = 100;
/** Load-generator processes (pairs split between them; each pair lives in one). */
const GENERATORS = 2;
/** Issue 27's rates: CPU per signal at each, p99 at 10k, RSS at 20k. */
const RATES = ARGS.rates;
/** Ceiling steps beyond the rounds' rates (the rounds' own rates count as steps too). */
const CEILING_STEPS = [30_000, 40_000];
const CEILING_P99_MS = 500;
const WARMUP_MS = 1_000;
const DURATION_MS = QUICK ? 2_000 : 3_000;
const BASELINE = ARGS.baseline;
const CEILING = !ARGS['no-ceiling'];
/** V8 semi-space sizes (MiB) to run this checkout's sluice with besides the production one. */
const SEMI_SPACES = ARGS['semi-space'];

/** One server under test: a system, or sluice from another checkout (`--baseline`). */
interface Variant {
  key: string;
  system: SystemName;
  label: string;
  root?: string;
  /** sluice's V8 heap flags when not the production ones. */
  heapFlags?: string[];
}
const VARIANTS: Variant[] = ARGS.systems.map((s) => ({ key: s, system: s as SystemName, label: SYSTEM_LABEL[s as SystemName] }));
// --baseline DIR[,DIR2...]: each one more sluice, interleaved with this checkout's.
for (const [i, dir] of (BASELINE?.split(',') ?? []).entries()) {
  const key = i === 0 ? 'baseline' : `baseline${i + 1}`;
  VARIANTS.splice(1 + i, 0, { key, system: 'sluice', label: `sluice (${dir})`, root: dir });
}
for (const semi of SEMI_SPACES) {
  // A smaller young generation gives its MiB to the old space: the heap limit stays the plan's, which
  // the server refuses to start below (app/server/heap.ts).
  const plan = heapPlan(undefined, semi);
  const flags = heapFlags({ ...plan, maxOldSpaceMiB: plan.maxOldSpaceMiB + 3 * Math.max(0, SEMI_SPACE_MIB - semi) });
  VARIANTS.splice(1, 0, { key: `semi${semi}`, system: 'sluice', label: `sluice (${flags.join(' ')})`, heapFlags: flags });
}
if (ARGS['v8-heap']) VARIANTS.splice(1, 0, { key: 'semiv8', system: 'sluice', label: "sluice (V8's own heap sizing)", heapFlags: [] });
// --v8-flags '--no-parallel-scavenge ...': this checkout's sluice with the production heap flags and these.
if (ARGS['v8-flags']) {
  const flags = [...heapFlags(heapPlan()), ...ARGS['v8-flags'].split(' ').filter(Boolean)];
  VARIANTS.splice(1, 0, { key: 'semiflags', system: 'sluice', label: `sluice (${ARGS['v8-flags']})`, heapFlags: flags });
}
const has = (key: string) => VARIANTS.some((v) => v.key === key);

interface Figures extends RelayFigures {
  /** Server RSS while the rate ran: peak and median of the samples (bytes). */
  rssPeak: number;
  rssMedian: number;
  /** The server's event-loop delay while the rate ran (probe.cjs 'pauses', 10 ms resolution), ms. */
  serverLoopP99Ms: number;
  serverLoopMaxMs: number;
  /** V8's pauses while the rate ran: scavenges (minor) and mark-compacts (major): count, total and longest ms. */
  scavenges: GcKind;
  markCompacts: GcKind;
}

interface Ceiling {
  key: string;
  ceiling: number;
  steps: Figures[];
}

const PAGE = 4096;
/** Samples the server's RSS (/proc/<pid>/statm, resident pages) every 250 ms until stopped. */
function rssSampler(pid: number): () => { peak: number; median: number } {
  const samples: number[] = [];
  const read = () => {
    try {
      samples.push(Number(fs.readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * PAGE);
    } catch {
      /* the process is gone: the relay figures will say so */
    }
  };
  read();
  const timer = setInterval(read, 250);
  return () => {
    clearInterval(timer);
    read();
    return { peak: Math.max(...samples), median: median(samples) };
  };
}

type Measure = (rate: number, warmupMs?: number, durationMs?: number) => Promise<Figures>;

async function session(v: Variant, fn: (m: Measure) => Promise<void>): Promise<void> {
  const sys: RunningSystem = await startSystem(v.system, {
    ...(v.root ? { root: v.root } : {}),
    ...(v.heapFlags ? { heapFlags: v.heapFlags } : {}),
  });
  const gens = await Promise.all(Array.from({ length: GENERATORS }, () => LoadGen.start()));
  try {
    const pairs = pairNames(`${v.key}-p`, PAIRS, GENERATORS);
    for (const [i, g] of gens.entries()) {
      const o = await g.open(v.system, sys.port, pairs[i].flat());
      if (o.failed > 0) throw new Error(`${v.key}: ${o.failed} connections failed: ${o.firstError}`);
    }
    await fn(async (rate, warmupMs = WARMUP_MS, durationMs = DURATION_MS) => {
      await sys.pauses(); // starts (or restarts) the loop and GC counts
      const stop = rssSampler(sys.pid);
      const r = await measureRelay(sys, gens, pairs, { rate, warmupMs, durationMs });
      const rss = stop();
      const p = await sys.pauses();
      const none: GcKind = { n: 0, ms: 0, maxMs: 0 };
      return {
        ...r,
        rssPeak: rss.peak,
        rssMedian: rss.median,
        serverLoopP99Ms: p.loopP99Ms,
        serverLoopMaxMs: p.loopMaxMs,
        scavenges: p.gc.minor ?? none,
        markCompacts: p.gc.major ?? none,
      };
    });
  } finally {
    await Promise.all(gens.map((g) => g.stop()));
    await sys.stop();
  }
}

const passes = (r: Figures) => r.p99Ms < CEILING_P99_MS && r.missing <= r.sent * 0.01;

async function main(): Promise<void> {
  const m = machine();
  const runs: Record<string, Figures[]> = {};
  for (let round = 0; round < ROUNDS; round++) {
    const order = VARIANTS.map((_, i) => VARIANTS[(i + round) % VARIANTS.length]);
    for (const v of order) {
      await session(v, async (measure) => {
        for (const rate of RATES) {
          const r = await measure(rate);
          (runs[`${v.key}@${rate}`] ??= []).push(r);
          process.stderr.write(
            `relay round ${round + 1} ${v.key} ${rate}/s: p50 ${ms(r.p50Ms)} p99 ${ms(r.p99Ms)} cpu/signal ${r.cpuUsPerSignal.toFixed(0)} us, ` +
              `RSS ${(r.rssPeak / 2 ** 20).toFixed(0)} MiB, missing ${r.missing}; server loop p99/max ${ms(r.serverLoopP99Ms)}/${ms(r.serverLoopMaxMs)}, ` +
              `scavenges ${r.scavenges.n} (longest ${ms(r.scavenges.maxMs)}), mark-compacts ${r.markCompacts.n} (longest ${ms(r.markCompacts.maxMs)}), ` +
              `generators' loop p99/max ${ms(r.loadgenLoopP99Ms)}/${ms(r.loadgenLoopMaxMs)}\n`,
          );
        }
      });
    }
  }
  const med = (key: string, rate: number, f: (r: Figures) => number) => median((runs[`${key}@${rate}`] ?? []).map(f));
  const ceilings: Ceiling[] = [];
  for (const v of VARIANTS) {
    // The rounds' rates are the first steps (their medians); the ceiling goes on past them only if all passed.
    const c: Ceiling = { key: v.key, ceiling: 0, steps: [] };
    for (const rate of [...RATES].sort((a, b) => a - b)) {
      if (!(med(v.key, rate, (r) => r.p99Ms) < CEILING_P99_MS && med(v.key, rate, (r) => (r.missing <= r.sent * 0.01 ? 1 : 0)) >= 0.5))
        break;
      c.ceiling = rate;
    }
    if (CEILING && c.ceiling === Math.max(...RATES)) {
      await session(v, async (measure) => {
        for (const rate of CEILING_STEPS.filter((x) => x > c.ceiling)) {
          const r = await measure(rate, 1_000, 2_000);
          c.steps.push(r);
          process.stderr.write(
            `ceiling ${v.key} ${rate}/s: p99 ${ms(r.p99Ms)}, delivered ${r.delivered}/${r.sent}, loadgen lag ${ms(r.loadgenLagMaxMs)}\n`,
          );
          if (!passes(r)) break;
          c.ceiling = rate;
        }
      });
    }
    ceilings.push(c);
  }

  const summary: Record<string, Record<string, number>> = Object.fromEntries(
    VARIANTS.map((v) => [
      v.key,
      {
        ...Object.fromEntries(
          RATES.flatMap((rate) => [
            [`p50Ms@${rate}`, med(v.key, rate, (r) => r.p50Ms)],
            [`p99Ms@${rate}`, med(v.key, rate, (r) => r.p99Ms)],
            [`p99MinMs@${rate}`, Math.min(...(runs[`${v.key}@${rate}`] ?? []).map((r) => r.p99Ms))],
            [`p99MaxMs@${rate}`, Math.max(...(runs[`${v.key}@${rate}`] ?? []).map((r) => r.p99Ms))],
            [`ackP99Ms@${rate}`, med(v.key, rate, (r) => r.ackP99Ms)],
            [`cpuUsPerSignal@${rate}`, med(v.key, rate, (r) => r.cpuUsPerSignal)],
            [`rssPeak@${rate}`, med(v.key, rate, (r) => r.rssPeak)],
            [`missing@${rate}`, Math.max(...(runs[`${v.key}@${rate}`] ?? []).map((r) => r.missing))],
            [`loopP99Ms@${rate}`, med(v.key, rate, (r) => r.serverLoopP99Ms)],
            [`scavenges@${rate}`, med(v.key, rate, (r) => r.scavenges.n)],
            [`scavengeMaxMs@${rate}`, med(v.key, rate, (r) => r.scavenges.maxMs)],
            [`markCompacts@${rate}`, med(v.key, rate, (r) => r.markCompacts.n)],
            [`markCompactMaxMs@${rate}`, med(v.key, rate, (r) => r.markCompacts.maxMs)],
            [`genLoopP99Ms@${rate}`, med(v.key, rate, (r) => r.loadgenLoopP99Ms)],
          ]),
        ),
        ceiling: ceilings.find((c) => c.key === v.key)!.ceiling,
      },
    ]),
  );
  const us = (x: number) => (Number.isFinite(x) ? `${x.toFixed(0)} us` : 'n/a');
  const mib = (x: number) => (Number.isFinite(x) ? `${(x / 2 ** 20).toFixed(0)} MiB` : 'n/a');
  const rateOf = (x: number) => (x > 0 ? `${x / 1000}k/s` : `< ${Math.min(...RATES) / 1000}k/s`);
  // Ratio columns: sluice against each peer present (and against its baseline).
  const against = [...VARIANTS.filter((v) => /^(baseline|semi)/.test(v.key)).map((v) => v.key), 'socketio', 'ws'].filter(
    (k) => has('sluice') && has(k),
  );
  const cols = VARIANTS.map((v) => v.label);
  const row = (label: string, key: string, f: (x: number) => string) => [
    label,
    ...VARIANTS.map((v) => f(summary[v.key][key])),
    ...against.map((k) => ratio(summary.sluice[key], summary[k][key])),
  ];
  const s = summary.sluice;
  const goals: Array<Array<string | number>> = [];
  if (s && summary.socketio) {
    for (const rate of RATES) {
      const a = s[`cpuUsPerSignal@${rate}`];
      const b = summary.socketio[`cpuUsPerSignal@${rate}`];
      goals.push([
        `server CPU per signal at ${rate / 1000}k msg/s <= Socket.IO's (acks)`,
        `${us(a)} vs ${us(b)} (${ratio(a, b)})`,
        a <= b ? 'met' : 'not met',
      ]);
    }
  }
  if (s && summary.ws && RATES.includes(10_000)) {
    const a = s['p99Ms@10000'];
    const b = summary.ws['p99Ms@10000'];
    goals.push([
      "relay p99 at 10k msg/s within 2x of the plain ws relay's",
      `${ms(a, 2)} vs ${ms(b, 2)} (${ratio(a, b)})`,
      a <= 2 * b ? 'met' : 'not met',
    ]);
  }
  if (s && summary.socketio && RATES.includes(20_000)) {
    const a = s['rssPeak@20000'];
    const b = summary.socketio['rssPeak@20000'];
    goals.push([
      "server RSS at 20k msg/s within 2x of Socket.IO's",
      `${mib(a)} vs ${mib(b)} (${ratio(a, b)})`,
      a <= 2 * b ? 'met' : 'not met',
    ]);
  }
  const md = [
    '# Relay benchmark',
    '',
    `${PAIRS} pairs (${2 * PAIRS} connections, each authenticated and joined) on one server, driven by ${GENERATORS} load-generator processes; ~120 B signals both ways, open loop;`,
    `latency from due time to delivery (hdr histogram), ${ROUNDS} interleaved round(s) of ${WARMUP_MS / 1000} s warm-up + ${DURATION_MS / 1000} s measured per rate; medians.`,
    'Server RSS: the peak of /proc/<pid>/statm samples every 250 ms while the rate ran (rates run in order on one server process, so',
    "it includes what the lower rates left: sluice's history and 2-minute dedupe window fill up as they would in production).",
    "Server and load generator in separate processes on loopback; the same raw-`ws` load generator speaks each system's protocol.",
    'sluice acks every signal after its backplane numbered and stored it (exactly-once); Socket.IO acks with a callback; the ws relay',
    'is measured without and with a per-signal ack. sluice: production defaults but the per-connection rate limit (5000/s, burst 500).',
    "Event-loop delay and GC pauses: the server's (perf_hooks in probe.cjs, from each rate's warm-up to the end of its settle time) and the",
    "load generators' own loop delay over the measured window (a late generator adds its delay to every latency it records).",
    `Reproduce: \`npx tsx bench/relay.ts\`.`,
    '',
    goalsAndFigures(
      goals,
      'Side by side',
      ['figure', ...cols, ...against.map((k) => `sluice / ${VARIANTS.find((v) => v.key === k)!.label}`)],
      [
        ...RATES.flatMap((r) => [
          row(`delivery p50 at ${r / 1000}k msg/s`, `p50Ms@${r}`, (x) => ms(x, 2)),
          row(`delivery p99 at ${r / 1000}k msg/s`, `p99Ms@${r}`, (x) => ms(x, 2)),
          row(`delivery p99 at ${r / 1000}k msg/s, lowest of the rounds`, `p99MinMs@${r}`, (x) => ms(x, 2)),
          row(`delivery p99 at ${r / 1000}k msg/s, highest of the rounds`, `p99MaxMs@${r}`, (x) => ms(x, 2)),
          row(`ack p99 at ${r / 1000}k msg/s`, `ackP99Ms@${r}`, (x) => ms(x, 2)),
          row(`server CPU per signal at ${r / 1000}k msg/s`, `cpuUsPerSignal@${r}`, us),
          row(`server RSS (peak) during ${r / 1000}k msg/s`, `rssPeak@${r}`, mib),
          row(`signals not delivered at ${r / 1000}k msg/s (worst run)`, `missing@${r}`, String),
          row(`server event-loop delay p99 at ${r / 1000}k msg/s`, `loopP99Ms@${r}`, (x) => ms(x, 1)),
          row(`server scavenges while ${r / 1000}k msg/s ran (count)`, `scavenges@${r}`, String),
          row(`server's longest scavenge at ${r / 1000}k msg/s`, `scavengeMaxMs@${r}`, (x) => ms(x, 1)),
          row(`server mark-compacts while ${r / 1000}k msg/s ran (count)`, `markCompacts@${r}`, String),
          row(`server's longest mark-compact at ${r / 1000}k msg/s`, `markCompactMaxMs@${r}`, (x) => ms(x, 1)),
          row(`load generators' own event-loop delay p99 at ${r / 1000}k msg/s (worst generator)`, `genLoopP99Ms@${r}`, (x) => ms(x, 1)),
        ]),
        row(
          `highest offered rate with p99 < ${CEILING_P99_MS} ms (steps ${[...RATES, ...(CEILING ? CEILING_STEPS : [])].map((x) => x / 1000).join(', ')}k)`,
          'ceiling',
          rateOf,
        ),
      ],
    ),
    '',
    '## Ceiling steps beyond the rounds',
    '',
    table(
      ['system', ...CEILING_STEPS.map((r) => `${r / 1000}k/s p99 (server CPU, load-generator lag)`)],
      ceilings.map((c) => [
        VARIANTS.find((v) => v.key === c.key)!.label,
        ...CEILING_STEPS.map((r) => {
          const st = c.steps.find((x) => x.rate === r);
          return st ? `${ms(st.p99Ms)} (${(st.serverCpu * 100).toFixed(0)} %, ${ms(st.loadgenLagMaxMs, 0)})` : '-';
        }),
      ]),
    ),
    '',
    'Load-generator lag is how late the generator itself ran behind its schedule: past a few ms the generator (one process, on the',
    'same 2 cores) is saturated too, and the step measures both.',
  ].join('\n');
  writeResults(BASELINE || has('semiv8') || has('semiflags') || SEMI_SPACES.length > 0 ? 'relay-baseline' : 'relay', m, md, {
    settings: {
      pairs: PAIRS,
      rates: RATES,
      ceilingSteps: CEILING_STEPS,
      rounds: ROUNDS,
      warmupMs: WARMUP_MS,
      durationMs: DURATION_MS,
      baseline: BASELINE,
      semiSpaces: SEMI_SPACES,
    },
    summary,
    runs,
    ceilings,
  });
}

run(main);
