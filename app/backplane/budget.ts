/**
 * Memory is budgeted, not hoped for. One `MemoryBudget` per process accounts, in bytes, for what
 * peers can make the server hold:
 *
 *   history  the replay history a MemoryBackplane keeps for every recipient (encoded JSON text);
 *   dedupe   the `(sender, id)` records a MemoryBackplane keeps for the dedupe window;
 *   queued   frames a connection holds: waiting behind the backplane, or replay pages and live
 *            deliveries waiting while a join replays (both backplanes).
 *
 * Past `limit`, older state goes first: the oldest history entries of the whole process (the
 * recipient is told on resume: a `trimmed` gap), then the oldest dedupe records (a re-send of a
 * signal older than the oldest record left would be delivered again; counted in `evicted.dedupe`).
 * A frame that still does not fit is refused (the connection closes with 1013, the peer's outbox
 * re-sends). Each recipient's history is also capped at `historyMaxBytesPerPeer`, in memory and in
 * Redis alike, so one flooded peer cannot take the budget of all the others.
 *
 * Sizes are UTF-8 bytes of the strings (what goes on the wire and what Redis stores) plus a fixed
 * overhead per record; V8 keeps ASCII JSON in one byte per character, so the count does not
 * understate what the heap holds. See the docs/security.md (Limits and failure behaviour).
 */

import { DEFAULT_MEMORY_BUDGET_BYTES } from '../contract/memory';
import { DEFAULT_RECIPIENT_QUOTA, RecipientQuota } from '../contract/recipient-quota';

export type BudgetKind = 'history' | 'dedupe' | 'queued';

export interface BudgetLimits extends RecipientQuota {
  /** Replay history kept per recipient, in bytes (with historyMaxMessages and historyMaxAgeMs). */
  historyMaxBytesPerPeer: number;
  /** Everything the process holds for peers: history + dedupe records + queued frames. */
  memoryBudgetBytes: number;
}

/** The per-recipient quota's shape, defaults and validation live in the contract (one home). */
export type { RecipientQuota };

/**
 * 4 MiB per recipient (64 maximal 64 KiB signals, or 1000 of 4 KiB); 256 MiB per process (its home,
 * with the V8 heap limit derived from it: app/contract/memory.ts).
 */
export const DEFAULT_BUDGET: BudgetLimits = {
  historyMaxBytesPerPeer: 4 * 1024 * 1024,
  memoryBudgetBytes: DEFAULT_MEMORY_BUDGET_BYTES,
  ...DEFAULT_RECIPIENT_QUOTA,
};

/** The retry hint of a `recipient_busy` for a full history or a spent share (an away peer frees it by coming back). */
export const BUSY_RETRY_MS = 1_000;

/**
 * A history entry's size on top of its strings for the per-recipient byte cap
 * (historyMaxBytesPerPeer), the same in memory and in Redis (redis/lua.ts): a wire-level size.
 */
export const RECORD_OVERHEAD_BYTES = 96;

/**
 * What the heap holds per record beyond its strings' bytes, MEASURED (bench/record-cost.ts,
 * test/server/record-cost.test.ts, which fails if a charge falls below the measured cost), in
 * steady state (the window full, records leaving as fast as they come) at the worst point of the
 * cycle, after full GCs, Node 20, 2026-12-06:
 *   history entry: 381 B on the heap for 131 B of strings (Delivery + Stored objects, the data,
 *     id and sender strings, the per-recipient and process-order array slots, tombstones
 *     included), 200k entries: 250 B beyond the strings; charged 264. Since the process order is
 *     a linked list through the entries (2026-12-07, session 6: two fields per entry, no slots, no
 *     tombstones), record-cost.test.ts's entry measures 318 B instead of 356 B: the charge stays.
 *   dedupe record: 160 B at 100k records, 141 B at 300k, 103 B at 1M for a 30-byte key (Map slot
 *     with V8's spare capacity, key string, key and time array slots): 130 B beyond the key at
 *     100k; charged 136. A window of fewer records costs more per record (up to ~210 B at 10k)
 *     but under 2 MiB in all.
 * The old single overhead (96 B for both) undercharged history by 1.7x and dedupe (before its
 * generations) by 2.3x: the soak's heap outgrew the budget.
 */
export const HISTORY_HEAP_OVERHEAD_BYTES = 264;
export const DEDUPE_HEAP_OVERHEAD_BYTES = 136;

/** One history entry's size for the per-recipient cap: its encoded data, sender and id, and the record around them. */
export function historyEntryBytes(from: string, id: string, data: string): number {
  return Buffer.byteLength(data) + Buffer.byteLength(from) + Buffer.byteLength(id) + RECORD_OVERHEAD_BYTES;
}

/** What one history entry of `entryBytes` (historyEntryBytes) costs the process heap: what the budget charges. */
export function historyEntryHeapBytes(entryBytes: number): number {
  return entryBytes - RECORD_OVERHEAD_BYTES + HISTORY_HEAP_OVERHEAD_BYTES;
}

/** What one dedupe record costs the heap, from its key (dedupe.ts's dedupeKey: the whole string is held). */
export function dedupeRecordBytes(key: string): number {
  return Buffer.byteLength(key) + DEDUPE_HEAP_OVERHEAD_BYTES;
}

/** Frees one unit of evictable state (the oldest of its kind); false when it has nothing left. */
type Reclaimer = () => boolean;

const RECLAIM_ORDER: BudgetKind[] = ['history', 'dedupe'];

export class MemoryBudget {
  readonly used: Record<BudgetKind, number> = { history: 0, dedupe: 0, queued: 0 };
  /** Records evicted to stay within the budget (not counting ordinary count/age trimming). */
  readonly evicted = { history: 0, dedupe: 0 };
  /** Frames refused because even after evicting everything evictable they did not fit. */
  refused = 0;
  private readonly reclaimers = new Map<BudgetKind, Set<Reclaimer>>();

  constructor(readonly limit: number = DEFAULT_BUDGET.memoryBudgetBytes) {
    if (!(Number.isSafeInteger(limit) && limit > 0))
      throw new RangeError(`memory budget must be a positive integer of bytes, got ${limit}`);
  }

  get total(): number {
    return this.used.history + this.used.dedupe + this.used.queued;
  }

  /** Register how to free state of `kind` (history before dedupe); returns the unregister function. */
  addReclaimer(kind: 'history' | 'dedupe', fn: Reclaimer): () => void {
    let set = this.reclaimers.get(kind);
    if (!set) this.reclaimers.set(kind, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  /** Account for state already kept (a history entry, a dedupe record); evicts older state past the limit. */
  charge(kind: BudgetKind, bytes: number): void {
    this.used[kind] += bytes;
    this.reclaim(0);
  }

  /** Take `bytes` for a frame about to be held; false (and nothing taken) when it cannot fit. */
  reserve(kind: BudgetKind, bytes: number): boolean {
    if (this.total + bytes > this.limit) this.reclaim(bytes);
    if (this.total + bytes > this.limit) {
      this.refused++;
      return false;
    }
    this.used[kind] += bytes;
    return true;
  }

  release(kind: BudgetKind, bytes: number): void {
    this.used[kind] = Math.max(0, this.used[kind] - bytes);
  }

  snapshot(): {
    limit: number;
    total: number;
    used: Record<BudgetKind, number>;
    evicted: { history: number; dedupe: number };
    refused: number;
  } {
    return { limit: this.limit, total: this.total, used: { ...this.used }, evicted: { ...this.evicted }, refused: this.refused };
  }

  private reclaim(extra: number): void {
    for (const kind of RECLAIM_ORDER) {
      const fns = this.reclaimers.get(kind);
      if (!fns) continue;
      for (const fn of fns) {
        while (this.total + extra > this.limit) {
          if (!fn()) break;
          this.evicted[kind as 'history' | 'dedupe']++;
        }
        if (this.total + extra <= this.limit) return;
      }
    }
  }
}
