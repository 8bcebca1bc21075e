/**
 * Not part of `npm run bench`: what a MemoryBackplane's records really cost on the heap, against
 * what the memory budget charges for them. Publishes signals shaped like the relay benchmark's
 * (100 pairs, ~120 B of data, ids `<run>-<k>`) into one in-process MemoryBackplane on a simulated
 * clock at --rate msg/s for --minutes, and prints heap used (after full GCs) and the budget's
 * account every simulated minute: the trend of the soak in seconds instead of minutes.
 *
 * Also the pauses those records cost: how long the two full GCs of each reading take (what the
 * soak's sampler used to force every 5 s, bench/soak.ts) and the GC pauses V8 chose on its own
 * while the minute's signals were published (PerformanceObserver 'gc': mark-compact, scavenges).
 * Wall-clock, on a shared machine: quote `uptime` with them. And the process CPU time per publish
 * over each minute (user + system, GC threads included): less sensitive to other work than wall time.
 *
 * Run: node --expose-gc --import tsx bench/record-cost.ts [--rate 5000] [--minutes 10]
 */
import './lib/help'; // first: --help prints the comment above and exits
import { benchArgs, opt } from './lib/args';
import { constants, performance, PerformanceObserver } from 'node:perf_hooks';
import { defaultTimeouts } from '../app/contract/timeouts';
import { MemoryBackplane } from '../app/backplane/memory';

const { rate: RATE, minutes: MINUTES } = benchArgs({ rate: opt.int(5_000), minutes: opt.int(10) });
const PAIRS = 100;

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
/**
 * Heap used after two full GCs, how long those took (wall ms: the pause a server would see) and
 * the CPU time they used (all threads, ms: less inflated than the wall time when other processes
 * take the cores).
 */
const heapAfterGc = () => {
  const t = performance.now();
  const c = process.cpuUsage();
  gc();
  gc();
  const cpu = process.cpuUsage(c);
  return { used: process.memoryUsage().heapUsed, ms: performance.now() - t, cpuMs: (cpu.user + cpu.system) / 1000 };
};

const settle = () => new Promise((r) => setTimeout(r, 50));

/** GC pauses V8 decided on (not the forced ones), by kind, since the last `take()`. */
const pauses = (() => {
  type K = { n: number; ms: number; max: number };
  const zero = () => ({ major: { n: 0, ms: 0, max: 0 }, minor: { n: 0, ms: 0, max: 0 } });
  let acc = zero();
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const d = (e as unknown as { detail: { kind: number; flags: number } }).detail;
      if (d.flags & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) continue;
      const k: K | undefined =
        d.kind === constants.NODE_PERFORMANCE_GC_MAJOR ? acc.major : d.kind === constants.NODE_PERFORMANCE_GC_MINOR ? acc.minor : undefined;
      if (!k) continue;
      k.n++;
      k.ms += e.duration;
      k.max = Math.max(k.max, e.duration);
    }
  }).observe({ entryTypes: ['gc'] });
  const fmt = (k: K) => `${k.n} (${k.ms.toFixed(0)} ms, longest ${k.max.toFixed(1)} ms)`;
  return {
    take: () => {
      const a = acc;
      acc = zero();
      return `mark-compact ${fmt(a.major)}, scavenge ${fmt(a.minor)}`;
    },
  };
})();

async function main(): Promise<void> {
  let now = 1_700_000_000_000;
  const bp = new MemoryBackplane(defaultTimeouts.resume, { now: () => now, sweepIntervalMs: 3_600_000 });
  const peers: string[] = [];
  for (let k = 0; k < PAIRS; k++) peers.push(`soak-a${k}`, `soak-b${k}`);
  for (const p of peers) await bp.attach({ id: p, kind: 'client' }, 's1', { deliver: () => true, onEvicted: () => undefined });
  const base = heapAfterGc().used;
  const pad = 'x'.repeat(80);
  let k = 0;
  const step = 1000 / RATE;
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  for (let minute = 1; minute <= MINUTES; minute++) {
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < RATE * 60; i++, k++) {
      now += step;
      const from = peers[k % peers.length];
      const to = peers[(k % peers.length) ^ 1];
      // Fresh strings, as a parsed frame gives them.
      const id = `r1x2xabcdefg0-${k}`.slice(0);
      await bp.publish({ from, to, id, data: `{"t":${(now % 1e6).toFixed(3)},"p":"${pad}"}` });
      if (i % 100_000 === 0) bp.sweep();
      // A server reads a batch of frames per event-loop turn: turns let timers and GC tasks run.
      if (i % 500 === 0) await new Promise((r) => setImmediate(r));
    }
    bp.sweep();
    const cpu = process.cpuUsage(cpu0);
    const usPerSignal = (cpu.user + cpu.system) / (RATE * 60);
    // The observer's entries arrive asynchronously: let them in before reading the minute's.
    await settle();
    const own = pauses.take();
    const full = heapAfterGc();
    await settle();
    pauses.take(); // the forced ones are skipped; nothing else ran
    const h = full.used - base;
    const s = bp.stats();
    const m = bp.memory.snapshot();
    process.stdout.write(
      `minute ${minute}: heap +${mb(h)}, budget charged ${mb(m.total)} (history ${mb(m.used.history)} for ${s.historyEntries} entries, dedupe ${mb(m.used.dedupe)} for ${s.dedupeRecords} records), heap/charged ${(h / m.total).toFixed(2)}, evicted ${JSON.stringify(m.evicted)}; two full GCs ${full.ms.toFixed(0)} ms (CPU ${full.cpuMs.toFixed(0)} ms); V8's own: ${own}; CPU ${usPerSignal.toFixed(2)} us per publish\n`,
    );
  }
  await bp.close();
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    process.stderr.write(`${e.stack}\n`);
    process.exit(1);
  },
);
