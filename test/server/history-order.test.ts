/**
 * The process-wide eviction order of the MemoryBackplane's histories (memory-history.ts
 * GlobalOrder): entries that leave their history another way (count trim, a deleted recipient)
 * leave the order at once, and the budget always evicts the oldest entry still held, whatever was
 * removed around it.
 */
import { historyEntryBytes, historyEntryHeapBytes, MemoryBudget } from '../../app/backplane/budget';
import { Histories } from '../../app/backplane/memory-history';
import { DEFAULT_RECIPIENT_QUOTA } from '../../app/contract/recipient-quota';
import type { Delivery } from '../../app/backplane/types';

const resume = { historyMaxMessages: 2, historyMaxAgeMs: 3_600_000, dedupeWindowMs: 60_000, awayGraceMs: 60_000 };
const BYTES = historyEntryBytes('c', 'x0', '"p"');
const HEAP = historyEntryHeapBytes(BYTES);

function setup(limitEntries: number) {
  const memory = new MemoryBudget(limitEntries * HEAP);
  const hs = new Histories(resume, { ...DEFAULT_RECIPIENT_QUOTA }, 1 << 20, memory);
  memory.addReclaimer('history', () => hs.evictOldest());
  const put = (peer: string, seq: number, id: string) => {
    const d = { seq, from: 'c', id, data: '"p"', ts: 1_000 } as unknown as Delivery;
    hs.append(hs.of(peer), peer, d, BYTES, 1_000);
  };
  const ids = (peer: string) =>
    hs
      .get(peer)
      ?.entries.toArray()
      .map((s) => s.d!.id) ?? [];
  return { memory, hs, put, ids };
}

test('the budget evicts the oldest entry still held, after entries around it left by count', () => {
  const { memory, hs, put, ids } = setup(4);
  // Order: b1 a1 a2 a3; a3 trims a1 by count (2 per recipient): a1 leaves the middle of the order.
  put('b', 1, 'b1');
  put('a', 1, 'a1');
  put('a', 2, 'a2');
  put('a', 3, 'a3');
  expect(ids('a')).toEqual(['a2', 'a3']);
  expect(memory.evicted.history).toBe(0);
  // Two more entries past a 4-entry budget: the oldest held go, b1 then a2 (a1 is not in the order any more).
  put('c', 1, 'c1');
  put('c', 2, 'c2');
  expect(memory.evicted.history).toBe(1);
  expect(ids('b')).toEqual([]);
  put('d', 1, 'd1');
  expect(memory.evicted.history).toBe(2);
  expect(ids('a')).toEqual(['a3']);
  expect(ids('c')).toEqual(['c1', 'c2']);
  expect(memory.used.history).toBe(4 * HEAP);
  expect(hs.totals().entries).toBe(4);
});

test('a deleted recipient leaves the order: eviction goes on with the next oldest, down to empty', () => {
  const { memory, hs, put, ids } = setup(1_000);
  for (let i = 1; i <= 2; i++) for (const p of ['a', 'b', 'c']) put(p, i, `${p}${i}`);
  hs.delete('b');
  expect(memory.used.history).toBe(4 * HEAP);
  const evicted: string[] = [];
  for (;;) {
    const before = ['a', 'c'].flatMap(ids);
    if (!hs.evictOldest()) break;
    const after = new Set(['a', 'c'].flatMap(ids));
    evicted.push(...before.filter((x) => !after.has(x)));
  }
  expect(evicted).toEqual(['a1', 'c1', 'a2', 'c2']);
  expect(memory.used.history).toBe(0);
});
