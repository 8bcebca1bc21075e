/**
 * Benchmark (opt-in, `npm run bench:soak`; too long for `npm run bench`): RSS under a sustained
 * relay, side by side. Each system in turn relays 5k msg/s (100 pairs, ~120 B) for --minutes
 * (default 10); server RSS is sampled every 5 s. Reported: RSS at the start, the peak, the end,
 * the growth per relayed signal over the first and the last half, and per 10 s window the relay
 * p50/p99/max next to the server's GC pauses and event-loop delay (probe.cjs 'pauses').
 *
 * sluice keeps, by design, every signal's history entry (per recipient: 1000 entries, 5 min,
 * 4 MiB) and a dedupe record per signal for the dedupe window (5 min), all charged to the process
 * memory budget (256 MiB by default): its RSS may grow until those bounds, then must stay flat.
 *
 * Two full GCs before a sample (what every sample did until 2026-12-07) stop a server holding
 * ~1M records for hundreds of ms, and that pause every 5 s, not the relay, made the soak's p99
 * (docs/benchmarks.md, "the soak's tail"). So a sample is taken after full GCs only every
 * --gc-every seconds (default 60: the live heap and RSS the flatness goal is judged on, 5 of them
 * in the last half of 10 min) and as the process runs (`process.memoryUsage()`, no GC) between;
 * the per-window table marks the windows a forced GC fell in. `--gc-every 5,60` runs the old
 * sampling and the new one after each other in one run; `--gc-every 0` never forces one.
 *
 * sluice runs with the production V8 heap flags derived from its memory budget
 * (app/contract/memory.ts: --max-old-space-size); `--heap derived,v8` runs it with them and then
 * with V8's own sizing (no flag), one soak after the other in one run (before/after).
 *
 * Goal (issue 27): sluice's RSS flat within 10 % over the last half (lastHalf below).
 *
 * Memory outside the V8 heap: every sample records `external` and `arrayBuffers` beside RSS and
 * heap (process.memoryUsage()), and the report shows, per window and over the last half, RSS -
 * heapTotal (what the process holds outside the heap's pages) next to them, so growth there can be
 * told apart: Buffers (arrayBuffers) and other embedder memory (external) vs malloc'd native state.
 *
 * `--baseline DIR` runs another checkout's sluice (unpacked beside a node_modules link, as for
 * --root) after each soak of this one, alternating in one run (before/after; the server's pid is
 * printed, so `--cpu-prof` profiles can be told apart).
 *
 * Run: npx tsx bench/soak.ts [--minutes 10] [--systems sluice,socketio,ws] [--gc-every 60|5,60|0]
 *      [--heap derived|v8|derived,v8] [--cpu-prof DIR] [--root DIR] [--baseline DIR]
 * (a short smoke of the script: --minutes 0.5 --systems sluice)
 */
import './lib/help'; // first: --help prints the comment above and exits
import { readFile } from 'node:fs/promises';
import { benchArgs, opt } from './lib/args';
import { LoadGen, measureRelay, pairNames, RelayFigures } from './lib/loadgen-handle';
import { machine, median, ms, run, sleep, table, writeResults } from './lib/report';
import { LoopStats, startSystem, SYSTEM_LABEL, SystemName } from './lib/systems';

const ARGS = benchArgs({
  minutes: opt.string('10'),
  systems: opt.choices(['sluice', 'socketio', 'ws'] as const, ['sluice', 'socketio', 'ws']),
  'gc-every': opt.ints([60], { min: 0 }),
  heap: opt.choices(['derived', 'v8'] as const, ['derived']),
  'cpu-prof': opt.path(),
  root: opt.path(),
  baseline: opt.path(),
});
/** Minutes per soak; a fraction for a smoke run (0.5). */
const MINUTES = Number(ARGS.minutes);
if (!(MINUTES > 0)) throw new Error(`--minutes: a positive number of minutes, e.g. 10 or 0.5, got '${ARGS.minutes}'`);
const SYSTEMS: SystemName[] = ARGS.systems;
/** Seconds between samples after full GCs (0: none), one soak per value. */
const GC_EVERY = ARGS['gc-every'];
const CPU_PROF = ARGS['cpu-prof'];
/** sluice's heap flags per soak: `derived` (the production ones) or `v8` (none: V8 sizes the heap from the machine). */
const HEAPS: HeapMode[] = ARGS.heap;
/** Another checkout's sluice (an A/B of two commits, see bench/lib/systems.ts `root`). */
const ROOT_DIR = ARGS.root;
/** Another checkout's sluice, soaked after each of this one's (before/after in one run). */
const BASELINE_DIR = ARGS.baseline;
const RATE = 5_000;
const SAMPLE_MS = 5_000;
const WINDOW_MS = 10_000;
type HeapMode = 'derived' | 'v8';

interface Soak {
  system: SystemName;
  /** Seconds between full-GC samples (0: none). */
  gcEvery: number;
  heap: HeapMode;
  /** The checkout the server ran from when not this one's (--root, --baseline). */
  root?: string;
  pid: number;
  /** Server CPU (user + system) over the measured relay, microseconds per signal. */
  cpuUsPerSignal: number;
  /** `gc`: taken after two full GCs; otherwise as the process ran. */
  samples: Array<{
    t: number;
    rss: number;
    heap: number;
    heapTotal: number;
    /** process.memoryUsage(): C++ objects bound to JS objects (includes arrayBuffers). */
    external: number;
    /** process.memoryUsage(): ArrayBuffers and SharedArrayBuffers, all Node Buffers included. */
    arrayBuffers: number;
    /** /proc/<pid>/status RssAnon / RssFile (Linux): anonymous memory (V8's pages, malloc, Buffers) / mapped files (node's binary, libraries). */
    rssAnon?: number;
    rssFile?: number;
    gc: boolean;
    loop?: LoopStats;
  }>;
  relay: RelayFigures;
  signals: number;
}

const label = (s: Soak) =>
  `${SYSTEM_LABEL[s.system]}${GC_EVERY.length > 1 ? `, full GCs ${s.gcEvery > 0 ? `every ${s.gcEvery} s` : 'never'}` : ''}` +
  `${HEAPS.length > 1 && s.system === 'sluice' ? (s.heap === 'derived' ? ', heap limit from the budget' : ", V8's own heap limit") : ''}` +
  `${BASELINE_DIR && s.system === 'sluice' ? (s.root === BASELINE_DIR ? ' (baseline)' : ' (this checkout)') : ''}`;

async function one(name: SystemName, gcEvery: number, heap: HeapMode, root: string | undefined): Promise<Soak> {
  const sys = await startSystem(name, {
    ...(CPU_PROF ? { cpuProfDir: CPU_PROF } : {}),
    ...(root ? { root } : {}),
    ...(heap === 'v8' ? { heapFlags: [] } : {}),
  });
  process.stderr.write(`soak ${name}${root ? ` from ${root}` : ''}: server pid ${sys.pid}\n`);
  sys.proc.once('exit', (code, signal) => process.stderr.write(`soak ${name}: server exited (${code ?? signal})\n`));
  const gens = [await LoadGen.start(), await LoadGen.start()];
  try {
    const pairs = pairNames(`${name}-soak`, 100, 2);
    for (const [i, g] of gens.entries()) await g.open(name, sys.port, pairs[i].flat());
    const samples: Soak['samples'] = [];
    const t0 = Date.now();
    let on = true;
    let lastGc = -Infinity;
    await sys.pauses(); // starts the GC and event-loop counters
    const cpu0 = await sys.cpuUs();
    const sampler = (async () => {
      while (on) {
        const gc = gcEvery > 0 && Date.now() - lastGc >= gcEvery * 1000 - SAMPLE_MS / 2;
        if (gc) lastGc = Date.now();
        const m = await sys.mem(gc ? {} : { gc: false }).catch(() => undefined);
        const loop = await sys.pauses().catch(() => undefined);
        if (m) {
          const { rss, heapUsed: heap, heapTotal, external, arrayBuffers } = m;
          const st = await procRss(sys.pid);
          samples.push({ t: Date.now() - t0, rss, heap, heapTotal, external, arrayBuffers, ...st, gc, loop });
          process.stderr.write(
            `soak ${name} ${((Date.now() - t0) / 1000).toFixed(0)} s: RSS ${mib(rss)}, heap ${mib(heap)} of ${mib(heapTotal)}, ` +
              `outside ${mib(rss - heapTotal)} (external ${mib(external)}, arrayBuffers ${mib(arrayBuffers)}` +
              `${st.rssAnon !== undefined ? `; anonymous - heapTotal ${mib(st.rssAnon - heapTotal)}, files ${mib(st.rssFile!)}` : ''})${gc ? ', after full GCs' : ''}\n`,
          );
        }
        await sleep(SAMPLE_MS);
      }
    })();
    const relay = await measureRelay(sys, gens, pairs, {
      rate: RATE,
      warmupMs: 1_000,
      durationMs: MINUTES * 60_000 - 1_000,
      windowMs: WINDOW_MS,
    });
    const cpuUsPerSignal = (await sys.cpuUs()) - cpu0;
    on = false;
    await sampler;
    return {
      system: name,
      gcEvery,
      heap,
      ...(root ? { root } : {}),
      pid: sys.pid,
      cpuUsPerSignal: cpuUsPerSignal / Math.max(1, relay.sent),
      samples,
      relay,
      signals: relay.sent,
    };
  } finally {
    await Promise.all(gens.map((g) => g.stop()));
    await sys.stop();
  }
}

/** RssAnon and RssFile of a process from /proc/<pid>/status (Linux; {} elsewhere or when it is gone). */
async function procRss(pid: number): Promise<{ rssAnon?: number; rssFile?: number }> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kib = (field: string) => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : undefined;
  };
  const rssAnon = kib('RssAnon');
  const rssFile = kib('RssFile');
  return rssAnon !== undefined && rssFile !== undefined ? { rssAnon, rssFile } : {};
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

const pause = (k: { n: number; ms: number; maxMs: number } | undefined) =>
  k && k.n > 0 ? `${k.n} / ${k.ms.toFixed(0)} / ${k.maxMs.toFixed(1)} ms` : '0';

/**
 * The samples that fall in each latency window. Window w of the measured run spans [1 s + w,
 * 1 s + w + WINDOW_MS) of the soak's clock (the relay's 1 s warm-up comes first); a sample reports
 * what happened before it.
 */
function sampled(s: Soak) {
  return (s.relay.windows ?? []).map((w) => {
    const from = 1_000 + w.fromMs;
    return { w, inIt: s.samples.filter((x) => x.t > from && x.t <= from + WINDOW_MS) };
  });
}

/**
 * Median and highest p99 of the windows no forced GC touched: the relay's own tail. A forced sample
 * is stamped when its GCs are over, so a GC stamped early in a window may have begun in the one
 * before: that one is left out too.
 */
function quietP99(s: Soak): string {
  const ws = sampled(s);
  const forced = ws.map(({ inIt }) => inIt.some((x) => x.gc));
  const p99s = ws
    .filter(({ inIt }, i) => inIt.length > 0 && !forced[i] && !forced[i + 1])
    .map(({ w }) => w.p99Ms)
    .sort((a, b) => a - b);
  return p99s.length > 0 ? `${ms(median(p99s))} / ${ms(p99s.at(-1)!)} (${p99s.length} windows)` : 'n/a';
}

/** What a sample holds outside the V8 heap: RSS - heapTotal, external, arrayBuffers (MiB). */
const outside = (x: Soak['samples'][number]) =>
  `${((x.rss - x.heapTotal) / 2 ** 20).toFixed(0)} / ${(x.external / 2 ** 20).toFixed(1)} / ${(x.arrayBuffers / 2 ** 20).toFixed(1)} MiB`;

/** One row per window: the load generators' latencies beside the server's GC and loop figures. */
function windowTable(s: Soak): string {
  const rows = sampled(s).map(({ w, inIt }) => {
    const sum = (pick: (l: LoopStats) => { n: number; ms: number; maxMs: number } | undefined) =>
      inIt.reduce(
        (a, x) => {
          const k = x.loop && pick(x.loop);
          return k ? { n: a.n + k.n, ms: a.ms + k.ms, maxMs: Math.max(a.maxMs, k.maxMs) } : a;
        },
        { n: 0, ms: 0, maxMs: 0 },
      );
    const loops = inIt.flatMap((x) => (x.loop ? [x.loop] : []));
    const last = inIt.at(-1);
    return [
      `${(w.fromMs / 1000).toFixed(0)} s`,
      w.delivered,
      ms(w.p50Ms),
      ms(w.p99Ms),
      ms(w.maxMs),
      pause(sum((l) => l.gc.major)),
      pause(sum((l) => l.gc.minor)),
      pause(sum((l) => l.forced)),
      loops.length > 0
        ? `${Math.max(...loops.map((l) => l.loopP99Ms)).toFixed(0)} / ${Math.max(...loops.map((l) => l.loopMaxMs)).toFixed(0)} ms`
        : 'n/a',
      last ? `${(last.rss / 2 ** 20).toFixed(0)} / ${(last.heap / 2 ** 20).toFixed(0)} MiB` : 'n/a',
      last ? outside(last) : 'n/a',
    ];
  });
  return table(
    [
      'window',
      'delivered',
      'p50',
      'p99',
      'max',
      'major GC',
      'minor GC',
      'forced GC',
      'loop delay p99 / max',
      'RSS / heap',
      'outside the heap: RSS - heapTotal / external / arrayBuffers',
    ],
    rows,
  );
}

const range = (xs: number[]) => `${mib(Math.min(...xs))} - ${mib(Math.max(...xs))}`;

/** "Flat within 10 %": (highest - lowest) / lowest of the samples over the last half of the run. */
const FLAT_WITHIN = 0.1;

/**
 * The samples of the last half of the run by time (t >= half the last sample's t, not half the
 * count: a sampler that fell behind would shift the middle), their RSS range and spread; undefined
 * with fewer than 3 samples in that half.
 */
function lastHalf(samples: Soak['samples']) {
  const end = samples.at(-1)?.t ?? 0;
  const all = samples.filter((x) => x.t >= end / 2);
  // The full-GC samples (live memory) when there are enough; every sample otherwise.
  const gcd = all.filter((x) => x.gc);
  const half = gcd.length >= 3 ? gcd : all;
  if (half.length < 3) return undefined;
  const rss = half.map((x) => x.rss);
  // What the process held between the forced GCs too: V8 collects the old generation only when it
  // reaches a limit set from the last live size, so RSS as it runs can be well above the live one.
  const ran = all.map((x) => x.rss);
  const heap = half.map((x) => x.heap);
  const min = Math.min(...rss);
  const max = Math.max(...rss);
  return {
    afterGc: half === gcd,
    ranMin: Math.min(...ran),
    ranMax: Math.max(...ran),
    from: half[0].t,
    n: half.length,
    min,
    max,
    spread: (max - min) / min,
    heapSpread: (Math.max(...heap) - Math.min(...heap)) / Math.min(...heap),
    /** Outside the heap over every sample of the last half (as the process ran). */
    outside: range(all.map((x) => x.rss - x.heapTotal)),
    external: range(all.map((x) => x.external)),
    arrayBuffers: range(all.map((x) => x.arrayBuffers)),
    anonOutside: all.every((x) => x.rssAnon !== undefined) ? range(all.map((x) => x.rssAnon! - x.heapTotal)) : 'n/a',
    files: all.every((x) => x.rssFile !== undefined) ? range(all.map((x) => x.rssFile!)) : 'n/a',
  };
}

async function main(): Promise<void> {
  const m = machine();
  const soaks: Soak[] = [];
  for (const s of SYSTEMS) {
    const roots = s === 'sluice' && BASELINE_DIR ? [ROOT_DIR, BASELINE_DIR] : [ROOT_DIR];
    for (const every of GC_EVERY) {
      for (const heap of s === 'sluice' ? HEAPS : (['derived'] as HeapMode[])) {
        for (const root of roots) {
          const k = await one(s, every, heap, root);
          soaks.push(k);
          process.stderr.write(
            `soak ${label(k)} (full GCs every ${every} s, heap ${heap}): ${k.samples.length} samples, relay p99 ${ms(k.relay.p99Ms)}\n`,
          );
        }
      }
    }
  }
  const mb = mib;
  const goals = soaks
    .filter((s) => s.system === 'sluice')
    .map((s) => {
      const f = lastHalf(s.samples);
      return [
        `${label(s)}: RSS flat within ${FLAT_WITHIN * 100} % over the last half of ${MINUTES} min at ${RATE / 1000}k msg/s`,
        f
          ? `${mb(f.min)} - ${mb(f.max)} from ${(f.from / 1000).toFixed(0)} s: ${(f.spread * 100).toFixed(1)} % of its lowest (heap ${(f.heapSpread * 100).toFixed(1)} %), ${f.n} samples ${f.afterGc ? `after full GCs (every sample, as the process ran: ${mb(f.ranMin)} - ${mb(f.ranMax)})` : 'as the process ran'}`
          : 'too few samples',
        f && f.spread <= FLAT_WITHIN ? 'met' : 'not met',
      ];
    });
  const rows = soaks.map((s) => {
    const first = s.samples[0];
    const last = s.samples.at(-1)!;
    const mid = s.samples[Math.floor(s.samples.length / 2)];
    const peak = Math.max(...s.samples.map((x) => x.rss));
    const perSignal = (a: typeof first, b: typeof first) => (b.rss - a.rss) / Math.max(1, ((b.t - a.t) / 1000) * RATE);
    return [
      label(s),
      mb(first.rss),
      mb(peak),
      mb(last.rss),
      `${perSignal(first, mid).toFixed(1)} B`,
      `${perSignal(mid, last).toFixed(1)} B`,
      ms(s.relay.p99Ms),
      quietP99(s),
      `${s.cpuUsPerSignal.toFixed(1)} us`,
      s.relay.missing,
    ];
  });
  // What the process held outside the V8 heap over the last half, every sample as it ran.
  const outsideRows = soaks.flatMap((s) => {
    const f = lastHalf(s.samples);
    return f ? [[label(s), f.outside, f.external, f.arrayBuffers, f.anonOutside, f.files]] : [];
  });
  const sampled = GC_EVERY.map((x) =>
    x > 0
      ? `as the process runs, after two full GCs every ${x} s (the flatness goal is judged on those)`
      : 'as the process runs (no GC forced)',
  ).join('; then ');
  const md = [
    '# Soak benchmark',
    '',
    `Each system alone relays ${RATE / 1000}k msg/s (100 pairs, ~120 B, 2 load-generator processes) for ${MINUTES} min; server RSS and heap sampled every ${SAMPLE_MS / 1000} s ${sampled}.`,
    'Growth per relayed signal = RSS change / signals relayed over that half of the run. Reproduce: `npm run bench:soak`.',
    '',
    ...(goals.length > 0 ? ['## Goals', '', table(['goal', 'measured', 'status'], goals), '', '## Side by side', ''] : []),
    table(
      [
        'system',
        'RSS at start',
        'RSS peak',
        'RSS at end',
        'growth per signal, first half',
        'growth per signal, second half',
        'relay p99',
        'p99 per window no forced GC touched: median / max',
        'server CPU per signal',
        'not delivered',
      ],
      rows,
    ),
    '',
    '### Outside the V8 heap, last half',
    '',
    'Every sample of the last half as the process ran: RSS - heapTotal (native memory: malloc, Buffers, code, stacks), and of it',
    'what Node can name: `external` (memory of C++ objects bound to JS objects, arrayBuffers included) and `arrayBuffers` (Buffers);',
    'from /proc/<pid>/status, anonymous memory beyond the V8 heap (malloc arenas, Buffers, thread stacks) and mapped files (the node',
    'binary and libraries: paged in once, not growth).',
    '',
    table(['system', 'RSS - heapTotal', 'external', 'arrayBuffers', 'RssAnon - heapTotal', 'RssFile'], outsideRows),
    '',
    'sluice holds per signal a history entry (bounded per recipient by count, age and bytes) and a dedupe record for the dedupe',
    'window, both charged to the process memory budget; growth in the first half is those filling up, the second half must be flat.',
    '',
    `## Per ${WINDOW_MS / 1000} s window`,
    '',
    'Relay latency of the signals due in the window (open loop, from when each was due); the server over the samples that fall in',
    'it: GC pauses V8 chose (minor = scavenge, major = mark-compact: count, total, longest), full GCs the sampler forced, the',
    "event loop's delay (p99 / max, `monitorEventLoopDelay`), RSS and heap at the window's last sample.",
    '',
    ...soaks.flatMap((s) => [`### ${label(s)}`, '', windowTable(s), '']),
  ].join('\n');
  // A shorter smoke run never overwrites the 10-minute result the docs link.
  writeResults(MINUTES === 10 ? 'soak' : 'soak-smoke', m, md, {
    settings: { minutes: MINUTES, rate: RATE, sampleMs: SAMPLE_MS, windowMs: WINDOW_MS, gcEvery: GC_EVERY, heap: HEAPS, root: ROOT_DIR },
    soaks,
  });
}

run(main);
