/**
 * The memory budget charges what a record really costs: the heap a dedupe record and a history
 * entry take in steady state (a full window, records leaving as fast as they come), measured here
 * after full GCs at the worst point of the cycle, must not exceed what budget.ts charges for them.
 * If a change makes records bigger (or the charge smaller), this fails: re-measure with
 * bench/record-cost.ts and set the overheads in budget.ts from the figures.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { MemoryBudget } from '../../app/backplane/budget';
import { dedupeKey, DedupeWindow } from '../../app/backplane/dedupe';
import { MemoryBackplane } from '../../app/backplane/memory';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const heapUsed = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};
/** Fresh strings, as a parsed frame gives them (not the literal's one interned copy). */
const fresh = (s: string) => JSON.parse(JSON.stringify(s)) as string;
const SENDERS = Array.from({ length: 200 }, (_, i) => `soak-a${i}`);

test('a dedupe record in a full window costs the heap no more than the budget charges', () => {
  const n = 100_000;
  const budget = new MemoryBudget(1 << 30);
  const before = heapUsed();
  const w = new DedupeWindow(budget);
  let k = 0;
  const add = () => {
    w.add(dedupeKey(SENDERS[(k + 1) % 200], SENDERS[k % 200], fresh(`r1x2xabcdefg0-${k}`)), k, k);
    k++;
  };
  for (let i = 0; i < n; i++) add();
  let worst = 0;
  for (let i = 0; i < 2 * n; i++) {
    add();
    w.trim(k - n);
    if (i % (n / 5) === 0) worst = Math.max(worst, heapUsed() - before);
  }
  expect(w.size).toBe(n);
  const measured = worst / n;
  const charged = w.bytes / w.size;
  console.log(`dedupe record: ${measured.toFixed(1)} B on the heap, ${charged.toFixed(1)} B charged`);
  expect(charged).toBeGreaterThanOrEqual(measured);
}, 60_000);

test('a history entry in a full history costs the heap no more than the budget charges', async () => {
  let now = 1e12;
  const entriesPerPeer = 250;
  // Dedupe window 0: its records leave at once, so the heap measured is the history's.
  const bp = new MemoryBackplane(
    { historyMaxMessages: entriesPerPeer, historyMaxAgeMs: 3_600_000, dedupeWindowMs: 0, awayGraceMs: 60_000 },
    { now: () => now, sweepIntervalMs: 3_600_000 },
  );
  try {
    for (const p of SENDERS) await bp.attach({ id: p, kind: 'client' }, 's1', { deliver: () => true, onEvicted: () => undefined });
    const before = heapUsed();
    const pad = 'x'.repeat(80);
    const n = SENDERS.length * entriesPerPeer;
    let worst = 0;
    for (let k = 0; k < 2 * n; k++) {
      now += 1;
      await bp.publish({
        from: SENDERS[k % 200],
        to: SENDERS[(k + 1) % 200],
        id: fresh(`r1x2xabcdefg0-${k}`),
        data: fresh(`{"t":${(k * 0.2).toFixed(3)},"p":"${pad}"}`),
      });
      if (k >= n && k % (n / 4) === 0) worst = Math.max(worst, heapUsed() - before);
    }
    const s = bp.stats();
    expect(s.historyEntries).toBe(n);
    const measured = worst / n;
    const charged = bp.memory.used.history / n;
    console.log(`history entry: ${measured.toFixed(1)} B on the heap, ${charged.toFixed(1)} B charged`);
    expect(charged).toBeGreaterThanOrEqual(measured);
  } finally {
    await bp.close();
  }
}, 60_000);
