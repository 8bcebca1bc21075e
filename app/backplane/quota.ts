/**
 * Per-recipient inbound quota and fair history, for the MemoryBackplane (the Redis publish script
 * does the same in Redis, so the bound holds across servers). Bounds (app/contract/recipient-quota.ts):
 *
 *   per recipient  recipientSignalsPerSec signals/s and recipientBytesPerSec bytes/s, whoever sends
 *                  (token buckets holding one second's worth);
 *   per sender     while the recipient is away: at most senderHistoryShare of its history entries
 *                  and bytes (historyMaxMessages, SLUICE_HISTORY_MAX_BYTES);
 *   history        while the recipient is away, a new signal never pushes out one accepted during
 *                  the away period: entries from before it went away (already handed to its socket)
 *                  go first, and when only away-period entries are left the sender is refused.
 *
 * Over any of them: BackplaneError('recipient_busy') with `retryAfterMs`; nothing is dropped.
 */
import { BackplaneError } from './types';
import { BUSY_RETRY_MS } from './budget';
import { RecipientQuota, senderHistoryBound } from '../contract/recipient-quota';

export class RecipientBusyError extends BackplaneError {
  constructor(
    readonly retryAfterMs: number,
    what: string,
  ) {
    super('recipient_busy', `recipient busy: ${what}; retry in ${retryAfterMs} ms`);
  }
}

/** The inbound buckets of one recipient (one per history record). */
export class InboundBucket {
  private signals: number;
  private bytes: number;
  private at: number;

  constructor(
    private readonly q: RecipientQuota,
    now: number,
  ) {
    this.signals = q.recipientSignalsPerSec;
    this.bytes = q.recipientBytesPerSec;
    this.at = now;
  }

  /** Refill to `now`; 0 when `size` bytes fit now, else the ms until they will (nothing taken). */
  wait(size: number, now: number): number {
    const dt = Math.max(0, now - this.at);
    this.at = now;
    this.signals = Math.min(this.q.recipientSignalsPerSec, this.signals + (dt * this.q.recipientSignalsPerSec) / 1000);
    this.bytes = Math.min(this.q.recipientBytesPerSec, this.bytes + (dt * this.q.recipientBytesPerSec) / 1000);
    if (this.signals >= 1 && this.bytes >= size) return 0;
    const forSignal = this.signals >= 1 ? 0 : ((1 - this.signals) * 1000) / this.q.recipientSignalsPerSec;
    const forBytes = this.bytes >= size ? 0 : ((size - this.bytes) * 1000) / this.q.recipientBytesPerSec;
    return Math.max(1, Math.ceil(Math.max(forSignal, forBytes)));
  }

  take(size: number): void {
    this.signals -= 1;
    this.bytes -= size;
  }
}

/** What each sender holds in an away recipient's history (entries accepted since it went away). */
export class AwayShares {
  private readonly held = new Map<string, { n: number; bytes: number }>();

  constructor(readonly fromSeq: number) {}

  /** Refuses (throws RecipientBusyError) when `from` would pass its share with one more entry of `size`. */
  check(from: string, size: number, q: RecipientQuota, maxMessages: number, maxBytes: number): void {
    const h = this.held.get(from);
    const n = (h?.n ?? 0) + 1;
    const bytes = (h?.bytes ?? 0) + size;
    const { entries: maxN, bytes: maxB } = senderHistoryBound(q, maxMessages, maxBytes);
    if (n > maxN || bytes > maxB)
      throw new RecipientBusyError(
        BUSY_RETRY_MS,
        `this sender holds its share of the away recipient's history (${maxN} entries, ${maxB} bytes)`,
      );
  }

  add(from: string, size: number): void {
    const h = this.held.get(from);
    if (h) {
      h.n++;
      h.bytes += size;
    } else this.held.set(from, { n: 1, bytes: size });
  }

  /** An away-period entry left the history (age, or the process budget). */
  remove(from: string, size: number): void {
    const h = this.held.get(from);
    if (!h) return;
    h.n--;
    h.bytes -= size;
    if (h.n <= 0) this.held.delete(from);
  }
}
