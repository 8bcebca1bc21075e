/**
 * DedupeWindow: the signals a MemoryBackplane has numbered in the last dedupe window, so a resent
 * signal (same sender, same id) gets its first seq back instead of a second delivery.
 *
 * Held for minutes at thousands of signals a second, so each record is as small as V8 allows: a
 * Map slot from the key `${from}\n${id}` to its seq (a small integer, stored inline), and the same
 * key and its time in two arrays in insertion order (which is age order: a key is in the window at
 * most once), so trimming and eviction pop from the front. An object per record ({ seq, at, bytes })
 * cost about 56 B more each, and as many more objects for every full GC to mark.
 *
 * The oldest key is read from the array, never as `map.keys().next()`: a Map keeps the slots of
 * deleted entries until it rehashes, and an iterator from the start walks over all of them, so at
 * a million records popping one that way cost a walk over up to a million holes (a soak at 5k
 * msg/s stalled the server for minutes once the window began to trim).
 */
import { dedupeRecordBytes, MemoryBudget } from './budget';

export const dedupeKey = (from: string, id: string) => `${from}\n${id}`;

export class DedupeWindow {
  private readonly seqs = new Map<string, number>();
  /** keys[head + i] and times[head + i]: the i-th oldest record. */
  private keys: string[] = [];
  private times: number[] = [];
  private head = 0;
  /** Bytes charged to the budget for the records held. */
  bytes = 0;

  constructor(private readonly memory: MemoryBudget) {}

  get size(): number {
    return this.seqs.size;
  }

  /** The seq first given to this key, if it is still in the window. */
  get(key: string): number | undefined {
    return this.seqs.get(key);
  }

  add(key: string, seq: number, at: number): void {
    this.seqs.set(key, seq);
    this.keys.push(key);
    this.times.push(at);
    const b = dedupeRecordBytes(key);
    this.bytes += b;
    this.memory.charge('dedupe', b);
  }

  /** Drops the oldest record (the budget's reclaimer); false when there is none. */
  dropOldest(): boolean {
    if (this.head >= this.keys.length) return false;
    const key = this.keys[this.head];
    this.seqs.delete(key);
    this.head++;
    const b = dedupeRecordBytes(key);
    this.bytes -= b;
    this.memory.release('dedupe', b);
    if (this.head >= 1024 && this.head * 2 >= this.keys.length) {
      this.keys = this.keys.slice(this.head);
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
    return true;
  }

  /** Drops every record older than `minAt`. */
  trim(minAt: number): void {
    while (this.head < this.times.length && this.times[this.head] < minAt) this.dropOldest();
  }

  clear(): void {
    this.seqs.clear();
    this.keys = [];
    this.times = [];
    this.head = 0;
    this.memory.release('dedupe', this.bytes);
    this.bytes = 0;
  }
}
