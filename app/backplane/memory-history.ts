/**
 * The MemoryBackplane's history store (memory.ts keeps routing, presence and the publish path):
 * per recipient its numbering and the entries it can replay, each the signal's Delivery, capped by
 * count, age and bytes; every entry charged to the process MemoryBudget, which evicts the oldest
 * entry of all recipients first (GlobalOrder); while a recipient is away, the fair share of its
 * history (quota.ts).
 */
import Denque from 'denque';
import type { Timeouts } from '../contract/timeouts';
import { BUSY_RETRY_MS, historyEntryHeapBytes, MemoryBudget, RecipientQuota } from './budget';
import { AwayShares, InboundBucket, RecipientBusyError } from './quota';
import type { Delivery } from './types';

/**
 * One history entry and what it costs; `d` is dropped (null) once it left the history. `older` /
 * `newer` link it into the process-wide eviction order (GlobalOrder) while it is in its history.
 */
export interface Stored {
  peer: string;
  d: Delivery | null;
  bytes: number;
  older: Stored | null;
  newer: Stored | null;
}

export interface History {
  lastSeq: number;
  /**
   * In seq order (which is also publish order, across all peers). A ring buffer (denque): a full
   * history drops its front once per signal, which an array pays for with a copy or a runtime call
   * (docs/benchmarks.md, "issue 27, session 5": the soak's long event-loop turns).
   */
  entries: Denque<Stored>;
  bytes: number;
  /** Set when the peer went offline: the record (numbering included) is deleted at this time. */
  keepUntil?: number;
  /** Inbound quota of this recipient (quota.ts), made at its first signal. */
  bucket?: InboundBucket;
  /** While the peer is away: what each sender holds of the entries accepted since (quota.ts). */
  away?: AwayShares;
}

/** A history with nothing in it and no record behind it (a replay for a peer nobody has written to). */
export function emptyHistory(): History {
  return { lastSeq: 0, entries: new Denque<Stored>(), bytes: 0 };
}

/**
 * Every history entry of the process in publish order, for evicting the oldest first: a doubly
 * linked list through the entries themselves, so an entry that leaves its history another way
 * (count, age, byte cap, a deleted recipient) unlinks in O(1) and the order never holds it. It was
 * an array with tombstones, compacted by a whole-array filter whenever tombstones outnumbered live
 * entries: O(1) amortised, but one filter over ~10^5 entries stood alone in a 98 ms event-loop turn
 * of the soak (docs/benchmarks.md, "issue 27, session 6").
 */
class GlobalOrder {
  private head: Stored | null = null;
  private tail: Stored | null = null;

  push(s: Stored): void {
    s.older = this.tail;
    s.newer = null;
    if (this.tail) this.tail.newer = s;
    else this.head = s;
    this.tail = s;
  }

  /** `s` left its history: it leaves the order too. */
  remove(s: Stored): void {
    if (s.older) s.older.newer = s.newer;
    else if (this.head === s) this.head = s.newer;
    if (s.newer) s.newer.older = s.older;
    else if (this.tail === s) this.tail = s.older;
    s.older = s.newer = null;
  }

  /** The oldest entry still in a history, or undefined. */
  oldest(): Stored | undefined {
    return this.head ?? undefined;
  }
}

export class Histories {
  private readonly byPeer = new Map<string, History>();
  private readonly order = new GlobalOrder();

  constructor(
    private readonly resume: Timeouts['resume'],
    private readonly quota: RecipientQuota,
    /** Per-recipient history bytes (wire level, as in Redis). */
    private readonly maxBytes: number,
    private readonly memory: MemoryBudget,
  ) {}

  /** The recipient's history, if it has one (never creates a record). */
  get(peerId: string): History | undefined {
    return this.byPeer.get(peerId);
  }

  /** The recipient's history, made at its first signal. */
  of(peerId: string): History {
    let h = this.byPeer.get(peerId);
    if (!h) {
      h = emptyHistory();
      this.byPeer.set(peerId, h);
    }
    return h;
  }

  get size(): number {
    return this.byPeer.size;
  }

  /** Appends a numbered delivery to `h` and charges it (past the budget this evicts the oldest entries of all peers). */
  append(h: History, peer: string, d: Delivery, bytes: number, now: number): void {
    const stored: Stored = { peer, d, bytes, older: null, newer: null };
    h.away?.add(d.from, bytes);
    h.lastSeq = d.seq;
    h.entries.push(stored);
    h.bytes += bytes;
    this.order.push(stored);
    this.memory.charge('history', historyEntryHeapBytes(bytes));
    this.trim(h, now);
  }

  delete(peerId: string): void {
    const h = this.byPeer.get(peerId);
    if (!h) return;
    this.dropFront(h, h.entries.length);
    this.byPeer.delete(peerId);
  }

  /** Deletes every history (the backplane closes). */
  clear(): void {
    for (const id of [...this.byPeer.keys()]) this.delete(id);
  }

  /** Trims every history by age; deletes the records of peers gone for good (`keepUntil` passed, `online` false). */
  sweep(now: number, online: (peerId: string) => boolean): void {
    for (const [id, h] of this.byPeer) {
      this.trim(h, now);
      if (h.keepUntil !== undefined && now >= h.keepUntil && !online(id)) this.delete(id);
    }
  }

  /** Entries held and their wire-level bytes, over all recipients. */
  totals(): { entries: number; bytes: number } {
    let entries = 0;
    let bytes = 0;
    for (const h of this.byPeer.values()) {
      entries += h.entries.length;
      bytes += h.bytes;
    }
    return { entries, bytes };
  }

  /**
   * The recipient's inbound quota and, while it is away, the fair history (quota.ts): throws
   * RecipientBusyError, or makes room by dropping entries from before it went away only.
   */
  admit(hist: History, from: string, bytes: number, now: number): void {
    hist.bucket ??= new InboundBucket(this.quota, now);
    const wait = hist.bucket.wait(bytes, now);
    if (wait > 0)
      throw new RecipientBusyError(
        wait,
        `over ${this.quota.recipientSignalsPerSec} signals/s or ${this.quota.recipientBytesPerSec} bytes/s into one recipient`,
      );
    const away = hist.away;
    if (away) {
      away.check(from, bytes, this.quota, this.resume.historyMaxMessages, this.maxBytes);
      this.trim(hist, now);
      let drop = 0;
      let held = hist.bytes;
      while (hist.entries.length - drop + 1 > this.resume.historyMaxMessages || held + bytes > this.maxBytes) {
        const e = hist.entries.peekAt(drop);
        if (!e || e.d!.seq > away.fromSeq) {
          throw new RecipientBusyError(
            BUSY_RETRY_MS,
            `the away recipient's history is full of signals accepted while it was away (${this.resume.historyMaxMessages} entries, ${this.maxBytes} bytes)`,
          );
        }
        held -= e.bytes;
        drop++;
      }
      this.dropFront(hist, drop);
    }
    hist.bucket.take(bytes);
  }

  /** Count, age and per-recipient bytes. */
  trim(h: History, now: number): void {
    const minTs = now - this.resume.historyMaxAgeMs;
    let drop = Math.max(0, h.entries.length - this.resume.historyMaxMessages);
    let bytes = h.bytes;
    for (let i = 0; i < drop; i++) bytes -= h.entries.peekAt(i)!.bytes;
    for (let e = h.entries.peekAt(drop); e && (e.d!.ts < minTs || bytes > this.maxBytes); e = h.entries.peekAt(drop)) {
      bytes -= e.bytes;
      drop++;
    }
    this.dropFront(h, drop);
  }

  /** The process budget is exceeded: the oldest history entry of all peers goes. */
  evictOldest(): boolean {
    const s = this.order.oldest();
    if (!s) return false;
    const h = this.byPeer.get(s.peer);
    if (!h || h.entries.peekFront() !== s) {
      // Cannot happen (per-peer order is global order); never loop on it.
      s.d = null;
      this.order.remove(s);
      return true;
    }
    this.dropFront(h, 1);
    return true;
  }

  private dropFront(h: History, n: number): void {
    if (n <= 0) return;
    let freed = 0;
    let heap = 0;
    for (let i = 0; i < n; i++) {
      const s = h.entries.shift();
      if (!s) break;
      if (h.away && s.d && s.d.seq > h.away.fromSeq) h.away.remove(s.d.from, s.bytes);
      freed += s.bytes;
      heap += historyEntryHeapBytes(s.bytes);
      s.d = null;
      this.order.remove(s);
    }
    h.bytes -= freed;
    this.memory.release('history', heap);
  }
}
