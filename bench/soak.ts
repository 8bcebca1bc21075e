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
import { LoadGen, measureRelay, pairNames } from './lib/loadgen-handle';
import { machine, ms, run, sleep, table, writeResults } from './lib/report';
import { FLAT_WITHIN, HeapMode, lastHalf, mib, quietP99, Soak, WINDOW_MS, windowTable } from './lib/soak-report';
import { startSystem, SYSTEM_LABEL, SystemName } from './lib/systems';

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
