/**
 * DedupeWindow: the signals a MemoryBackplane has numbered in the last dedupe window, so a resent
 * signal (same recipient, sender and id) gets its first seq back instead of a second delivery.
 *
 * Held for minutes at thousands of signals a second, so what a record costs is measured
 * (test/server/record-cost.test.ts, bench/record-cost.ts) and charged (budget.ts). One Map from
 * `${from}\n${id}` to seq for the whole window cost 2.3x its filled size in steady state (286 B a
 * record against 122 B, heap snapshots of bench/record-cost.ts): every expiry leaves a deleted
 * slot that stays until the table rehashes, so the table doubled and doubled again under
 * continuous churn, and the key and time arrays beside it grew to twice the window before each
 * compaction. Here records live in generations of GENERATION_RECORDS, oldest first: a full
 * generation's Map is exactly its size (a power of two: V8 grows a Map when it is full), deleted
 * slots exist only in the oldest generation, and a generation whose records have all expired is
 * dropped whole (a lone generation, in a window of fewer records, compacts its arrays instead).
 *
 * Expiry stays exact and per record (oldest first, by time): a lookup never sees a record older
 * than the window, and the budget's reclaimer frees one record at a time. A lookup asks each
 * generation (a dozen at a million records), cheap beside the signal it guards.
 *
 * The oldest key is read from its generation's array, never as `map.keys().next()`: an iterator
 * from the start walks over every deleted slot, quadratic at a million records.
 */
import { dedupeRecordBytes, MemoryBudget } from './budget';

/**
 * What makes two signals the same signal, for every backplane: recipient, sender and id. The
 * MemoryBackplane keys its window by this string and the Redis backplane's dedupe key is it behind
 * the prefix and the recipient's bucket tag (redis/keys.ts), so a sender that reuses an id for
 * another recipient gets two deliveries on both (test/backplane/dedupe-key.test.ts). Addresses are
 * `<account>/<sub>` of [A-Za-z0-9_./-] (no ':'), so the id, last, may hold anything.
 */
export const dedupeKey = (to: string, from: string, id: string) => `${to}:${from}:${id}`;

/** Records per generation: a power of two, so a full generation's Map has no spare slots. */
export const GENERATION_RECORDS = 1 << 17;

class Generation {
  readonly seqs = new Map<string, number>();
  keys: Array<string | undefined> = [];
  times: number[] = [];
  /** keys[head..] are still in the window. */
  head = 0;
  /** Records ever added (a compacted generation still fills up at GENERATION_RECORDS). */
  added = 0;

  get full(): boolean {
    return this.added >= GENERATION_RECORDS;
  }
  get live(): number {
    return this.keys.length - this.head;
  }

  /** A lone generation under churn (a small window): its arrays let go of the expired front. */
  compact(): void {
    this.keys = this.keys.slice(this.head);
    this.times = this.times.slice(this.head);
    this.head = 0;
  }
}

export class DedupeWindow {
  /** Oldest first; the last one takes new records. */
  private gens: Generation[] = [];
  private count = 0;
  /** Bytes charged to the budget for the records held. */
  bytes = 0;

  constructor(private readonly memory: MemoryBudget) {}

  get size(): number {
    return this.count;
  }

  /** The seq first given to this key, if it is still in the window. */
  get(key: string): number | undefined {
    for (let i = this.gens.length - 1; i >= 0; i--) {
      const seq = this.gens[i].seqs.get(key);
      if (seq !== undefined) return seq;
    }
    return undefined;
  }

  add(key: string, seq: number, at: number): void {
    let g = this.gens[this.gens.length - 1];
    if (!g || g.full) this.gens.push((g = new Generation()));
    g.seqs.set(key, seq);
    g.times.push(at);
    g.keys.push(key);
    g.added++;
    this.count++;
    const b = dedupeRecordBytes(key);
    this.bytes += b;
    this.memory.charge('dedupe', b);
  }

  /** Drops the oldest record (the budget's reclaimer); false when there is none. */
  dropOldest(): boolean {
    const g = this.gens[0];
    if (!g || g.live === 0) return false;
    const key = g.keys[g.head]!;
    g.seqs.delete(key);
    g.keys[g.head] = undefined; // the slot lets go of the string
    g.head++;
    this.count--;
    const b = dedupeRecordBytes(key);
    this.bytes -= b;
    this.memory.release('dedupe', b);
    if (g.live === 0 && (g.full || this.gens.length > 1)) this.gens.shift();
    else if (g.head >= 1024 && g.head >= g.live) g.compact();
    return true;
  }

  /** Drops every record older than `minAt`. */
  trim(minAt: number): void {
    for (;;) {
      const g = this.gens[0];
      if (!g || g.live === 0 || g.times[g.head] >= minAt) return;
      this.dropOldest();
    }
  }

  clear(): void {
    this.gens = [];
    this.count = 0;
    this.memory.release('dedupe', this.bytes);
    this.bytes = 0;
  }
}
