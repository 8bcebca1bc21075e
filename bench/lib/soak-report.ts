/**
 * The soak's per-run record and the report parts built from it (bench/soak.ts): the per-window
 * table, the p99 of the windows no forced GC touched, the last half's RSS range and what sits
 * outside the V8 heap.
 */
import type { RelayFigures } from './loadgen-handle';
import { median, ms, table } from './report';
import type { LoopStats, SystemName } from './systems';

/** sluice's heap flags per soak: `derived` (the production ones) or `v8` (none: V8 sizes the heap from the machine). */
export type HeapMode = 'derived' | 'v8';

/** Latency windows of the per-window table. */
export const WINDOW_MS = 10_000;

export interface Soak {
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

export const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

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
export function quietP99(s: Soak): string {
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
export function windowTable(s: Soak): string {
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
export const FLAT_WITHIN = 0.1;

/**
 * The samples of the last half of the run by time (t >= half the last sample's t, not half the
 * count: a sampler that fell behind would shift the middle), their RSS range and spread; undefined
 * with fewer than 3 samples in that half.
 */
export function lastHalf(samples: Soak['samples']) {
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
