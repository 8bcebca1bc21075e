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
 * The window is split into DEDUPE_SHARDS shards by a seeded hash of the key, each with its own
 * generations, so a lookup (nearly always a miss: a new signal) asks the 2-3 generations of one
 * shard, not every generation of the window. Expiry stays exact and per record (oldest first, by
 * time): a lookup never sees a record older than the window, trim drops every shard's expired
 * front, and the budget's reclaimer frees one record at a time, the oldest of all shards.
 *
 * The oldest key is read from its generation's array, never as `map.keys().next()`: an iterator
 * from the start walks over every deleted slot, quadratic at a million records.
 */
import { randomInt } from 'node:crypto';
import { dedupeRecordBytes, MemoryBudget } from './budget';

/**
 * What makes two signals the same signal, for every backplane: recipient, sender and id. The
 * MemoryBackplane keys its window by this string and the Redis backplane's dedupe key is it behind
 * the prefix and the recipient's bucket tag (redis/keys.ts), so a sender that reuses an id for
 * another recipient gets two deliveries on both (test/backplane/dedupe-key.test.ts). Addresses are
 * `<account>/<sub>` of [A-Za-z0-9_./-] (no ':'), so the id, last, may hold anything.
 */
export const dedupeKey = (to: string, from: string, id: string) => `${to}:${from}:${id}`;

/**
 * Shards of a window, by a seeded hash of the key: a lookup asks only its key's shard, whose
 * generations hold 1/DEDUPE_SHARDS of the records (2-3 generations at a million records instead of
 * a dozen: the soak's profile had `get` at 9.6 % of the server's busy CPU, nearly all of it missed
 * lookups walking every generation). A power of two.
 */
export const DEDUPE_SHARDS = 64;

/**
 * Records per generation: a power of two, so a full generation's Map has no spare slots. Small, so
 * the Map's last doubling (a rehash of GENERATION_RECORDS / 2 entries in one call) stays short:
 * at 2^17 it stood in 40-80 ms event-loop turns of the soak (`add`).
 */
export const GENERATION_RECORDS = 1 << 14;

/** The smallest generation: below it a Map's table is small beside the records' strings anyway. */
const MIN_GENERATION_RECORDS = 256;

class Generation {
  constructor(
    /** Records this generation takes (a power of two): full after that many adds. */
    readonly limit: number,
  ) {}
  readonly seqs = new Map<string, number>();
  keys: Array<string | undefined> = [];
  times: number[] = [];
  /** Each record's insertion number in the whole window (the budget evicts across shards in that order). */
  ords: number[] = [];
  /** keys[head..] are still in the window. */
  head = 0;
  /** Records ever added (a compacted generation still fills up at GENERATION_RECORDS). */
  added = 0;

  get full(): boolean {
    return this.added >= this.limit;
  }
  get live(): number {
    return this.keys.length - this.head;
  }

  /** A lone generation under churn (a small window): its arrays let go of the expired front. */
  compact(): void {
    this.keys = this.keys.slice(this.head);
    this.times = this.times.slice(this.head);
    this.ords = this.ords.slice(this.head);
    this.head = 0;
  }
}

/** One shard: its records in generations, oldest first; the last one takes new records. */
class Shard {
  gens: Generation[] = [];
  /** Records held. */
  live = 0;

  get(key: string): number | undefined {
    for (let i = this.gens.length - 1; i >= 0; i--) {
      const seq = this.gens[i].seqs.get(key);
      if (seq !== undefined) return seq;
    }
    return undefined;
  }

  /** `ord`: the record's insertion number in the whole window. */
  add(key: string, seq: number, at: number, ord: number): void {
    let g = this.gens[this.gens.length - 1];
    if (!g || g.full) this.gens.push((g = new Generation(generationLimit(this.live))));
    g.seqs.set(key, seq);
    g.times.push(at);
    g.ords.push(ord);
    g.keys.push(key);
    g.added++;
    this.live++;
  }

  /** When the shard's oldest record was added, or undefined when it holds none. */
  oldestAt(): number | undefined {
    const g = this.gens[0];
    return g && g.live > 0 ? g.times[g.head] : undefined;
  }

  /** The insertion number of the shard's oldest record (Infinity when it holds none). */
  oldestOrd(): number {
    const g = this.gens[0];
    return g && g.live > 0 ? g.ords[g.head] : Infinity;
  }

  /** Drops the shard's oldest record (there is one: oldestAt() was defined); returns its key. */
  dropOldest(): string {
    const g = this.gens[0];
    const key = g.keys[g.head]!;
    g.seqs.delete(key);
    g.keys[g.head] = undefined; // the slot lets go of the string
    g.head++;
    this.live--;
    if (g.live === 0 && (g.full || this.gens.length > 1)) this.gens.shift();
    else if (g.head >= 1024 && g.head >= g.live) g.compact();
    return key;
  }
}

/**
 * A new generation's size: the power of two at or above what its shard holds (at least
 * MIN_GENERATION_RECORDS, at most GENERATION_RECORDS). In a steady window the older generation has
 * drained by the time the new one is full, so records are deleted only from generations that take
 * no more adds (no deleted slots for a growing Map to carry: one Map per record held, not 2-4x).
 */
function generationLimit(held: number): number {
  return Math.min(GENERATION_RECORDS, Math.max(MIN_GENERATION_RECORDS, 2 ** Math.ceil(Math.log2(Math.max(1, held)))));
}

/** FNV-1a over the key's UTF-16 units from a per-window random seed, folded to a shard index. */
function shardIndex(key: string, seed: number): number {
  let h = seed;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h ^ (h >>> 15)) & (DEDUPE_SHARDS - 1);
}

export class DedupeWindow {
  private readonly shards: Shard[] = Array.from({ length: DEDUPE_SHARDS }, () => new Shard());
  /**
   * Seeds the shard hash, so ids cannot be chosen ahead to pile into one shard (which would bring
   * back a dozen generations per lookup for that shard, nothing worse).
   */
  private readonly seed = randomInt(2 ** 31) ^ 0x811c9dc5;
  private count = 0;
  /** Records ever added: the next one's insertion number (the budget evicts the lowest first). */
  private added = 0;
  /** Bytes charged to the budget for the records held. */
  bytes = 0;

  constructor(private readonly memory: MemoryBudget) {}

  get size(): number {
    return this.count;
  }

  /** The seq first given to this key, if it is still in the window. */
  get(key: string): number | undefined {
    return this.shards[shardIndex(key, this.seed)].get(key);
  }

  add(key: string, seq: number, at: number): void {
    this.shards[shardIndex(key, this.seed)].add(key, seq, at, this.added++);
    this.count++;
    const b = dedupeRecordBytes(key);
    this.bytes += b;
    this.memory.charge('dedupe', b);
  }

  /**
   * Drops the oldest record of the window, in the order records were added (the budget's
   * reclaimer): the shard whose oldest record came first (DEDUPE_SHARDS reads); false when there is none.
   */
  dropOldest(): boolean {
    let oldest: Shard | undefined;
    let first = Infinity;
    for (const sh of this.shards) {
      const o = sh.oldestOrd();
      if (o < first) {
        first = o;
        oldest = sh;
      }
    }
    if (!oldest) return false;
    this.release(oldest.dropOldest());
    return true;
  }

  /** Drops every record older than `minAt`. */
  trim(minAt: number): void {
    for (const sh of this.shards) {
      for (let t = sh.oldestAt(); t !== undefined && t < minAt; t = sh.oldestAt()) this.release(sh.dropOldest());
    }
  }

  clear(): void {
    for (const sh of this.shards) {
      sh.gens = [];
      sh.live = 0;
    }
    this.count = 0;
    this.memory.release('dedupe', this.bytes);
    this.bytes = 0;
  }

  private release(key: string): void {
    this.count--;
    const b = dedupeRecordBytes(key);
    this.bytes -= b;
    this.memory.release('dedupe', b);
  }
}
