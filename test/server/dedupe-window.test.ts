import { DEDUPE_HEAP_OVERHEAD_BYTES, MemoryBudget } from '../../app/backplane/budget';
import { dedupeKey, DedupeWindow } from '../../app/backplane/dedupe';

test('records keep their first seq, leave oldest first by age, and give their bytes back to the budget', () => {
  const budget = new MemoryBudget(1 << 30);
  const w = new DedupeWindow(budget);
  const n = 5_000; // past the compaction point of the time array
  for (let i = 0; i < n; i++) w.add(dedupeKey('bob', 'alice', `s${i}`), i + 1, 1_000 + i);
  expect(w.size).toBe(n);
  expect(w.get(dedupeKey('bob', 'alice', 's42'))).toBe(43);
  expect(w.bytes).toBe(budget.snapshot().used.dedupe);
  w.trim(1_000 + 3_000); // drops s0..s2999 (times 1000..3999), keeps the rest
  expect(w.size).toBe(2_000);
  expect(w.get(dedupeKey('bob', 'alice', 's2999'))).toBeUndefined();
  expect(w.get(dedupeKey('bob', 'alice', 's3000'))).toBe(3_001);
  // After the compaction, times still line up with the keys: the next trim stops at the right one.
  w.trim(1_000 + 4_500);
  expect(w.get(dedupeKey('bob', 'alice', 's4499'))).toBeUndefined();
  expect(w.get(dedupeKey('bob', 'alice', 's4500'))).toBe(4_501);
  expect(w.dropOldest()).toBe(true);
  expect(w.get(dedupeKey('bob', 'alice', 's4500'))).toBeUndefined();
  // A key that left the window may come again: it is a new record at the end.
  w.add(dedupeKey('bob', 'alice', 's0'), 9_999, 10_000);
  expect(w.get(dedupeKey('bob', 'alice', 's0'))).toBe(9_999);
  // s4501..s4999 and s0 are left: the key `bob:alice:<id>` (recipient, sender, id) + overhead each.
  expect(w.size).toBe(500);
  expect(w.bytes).toBe(
    499 * ('bob:alice:'.length + 5 + DEDUPE_HEAP_OVERHEAD_BYTES) + ('bob:alice:'.length + 2 + DEDUPE_HEAP_OVERHEAD_BYTES),
  );
  expect(budget.snapshot().used.dedupe).toBe(w.bytes);
  w.clear();
  expect(w.size).toBe(0);
  expect(w.dropOldest()).toBe(false);
  expect(budget.snapshot().used.dedupe).toBe(0);
});

test('a full window trims in constant time per record (no walk over the deleted slots of the Map)', () => {
  const w = new DedupeWindow(new MemoryBudget(1 << 30));
  const n = 200_000;
  for (let i = 0; i < n; i++) w.add(dedupeKey('bob', 'a', `k${i}`), i + 1, i);
  // Steady state, as at thousands of signals a second: every new record pushes the oldest out.
  // Reading the oldest key by iterating the Map from its start made each step walk every slot
  // deleted so far: ~n^2 / 2 = 2e10 steps here (minutes), against ~n for the whole loop now.
  const t0 = performance.now();
  for (let i = n; i < 2 * n; i++) {
    w.add(dedupeKey('bob', 'a', `k${i}`), i + 1, i);
    w.trim(i - n + 1);
  }
  const ms = performance.now() - t0;
  expect(w.size).toBe(n);
  expect(w.get(dedupeKey('bob', 'a', `k${n}`))).toBe(n + 1);
  expect(w.get(dedupeKey('bob', 'a', `k${n - 1}`))).toBeUndefined();
  expect(ms).toBeLessThan(5_000); // ~0.2 s here; the quadratic walk takes minutes
});

test('the budget evicts records in the order they were added, even at one timestamp', () => {
  const w = new DedupeWindow(new MemoryBudget(1 << 30));
  const n = 3_000;
  // One millisecond for all: the order of insertion alone says which is oldest.
  for (let i = 0; i < n; i++) w.add(dedupeKey('bob', 'alice', `t${i}`), i + 1, 5_000);
  for (let i = 0; i < n / 2; i++) expect(w.dropOldest()).toBe(true);
  for (let i = 0; i < n; i++) expect(w.get(dedupeKey('bob', 'alice', `t${i}`))).toBe(i < n / 2 ? undefined : i + 1);
  // Age trims the rest: nothing is younger than 5,001.
  w.trim(5_001);
  expect(w.size).toBe(0);
  expect(w.dropOldest()).toBe(false);
});
