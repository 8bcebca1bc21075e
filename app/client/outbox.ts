/**
 * The outbox: every outgoing signal stays here, with its stable id, until the server has answered
 * it. That is what turns "at least once" into "exactly once" together with the server:
 *
 *   - a signal sent on a connection that dies before its reply is re-sent, same id, after the next
 *     join (in the order send() was called);
 *   - the backplane remembers `(sender, id)` for `resume.dedupeWindowMs`, so when the first copy had
 *     in fact been accepted the re-send is answered `duplicate` and nothing is delivered twice;
 *   - an entry is never re-sent later than `client.outboxMaxAgeMs` after send(): one timer (for the
 *     oldest entry not in flight) rejects it with `expired` (outcome unknown) instead. The contract's
 *     rule dedupe-covers-outbox keeps the dedupe window at least that long, so every re-send the
 *     outbox can make is still recognised. An entry in flight is never expired: its reply decides;
 *   - a final error reply (`unknown_peer`, `invalid_payload`, ...) rejects the send; a transient one
 *     (`backplane_unavailable`, ...) leaves it in the outbox for another try.
 *
 * No per-signal reply timer: on a live connection the server always answers; on a dead one the
 * heartbeat notices, and the reconnect re-sends.
 */
import { Timer } from './timers';
import { SendError, SendStatus, SluiceClientError } from './types';

/** Error reasons worth trying again later (the signal itself is fine). */
const TRANSIENT_REASONS = new Set(['backplane_unavailable', 'internal_error', 'unmatched topic', 'recipient_busy']);
const SEND_STATUSES = new Set<SendStatus>(['delivered', 'stored', 'duplicate']);

export interface OutboxEntry {
  readonly id: string;
  readonly to: string;
  readonly data: unknown;
  /** Ref of the push on the current connection; undefined while not in flight. */
  ref?: string;
  /** When send() queued it (the outbox's clock): it is never re-sent at or after addedAt + maxAgeMs. */
  readonly addedAt: number;
  /** Transient failures so far (drives the retry backoff). */
  failures: number;
  /** The server's hint with the last transient failure (`recipient_busy`'s `retry_after_ms`): wait at least this. */
  retryAfterMs?: number;
  readonly resolve: (s: SendStatus) => void;
  readonly reject: (e: Error) => void;
  readonly promise: Promise<SendStatus>;
}

export type Settled = { kind: 'done' } | { kind: 'retry'; entry: OutboxEntry } | { kind: 'unknown' };

export class Outbox {
  /** Insertion order is send order: re-sends keep it. */
  private readonly entries = new Map<string, OutboxEntry>();
  private readonly inFlight = new Map<string, OutboxEntry>();
  /** A random prefix per client instance: a restarted process never reuses an id inside the dedupe window. */
  private readonly prefix = crypto.randomUUID().slice(0, 8);
  private counter = 0;
  /** The one timer of the max-age bound: armed for the oldest entry not in flight. */
  private expiryTimer?: Timer;

  /**
   * @param maxAgeMs `client.outboxMaxAgeMs`
   * @param now a monotonic clock (ms); wall-clock jumps must not expire or keep entries
   */
  constructor(
    private readonly maxAgeMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** A fresh id, unique across processes (prefix) and within this one (counter). */
  nextId(): string {
    return `${this.prefix}-${++this.counter}`;
  }

  /** Queue a signal. Sending the same id again while it is pending returns the pending promise. */
  add(to: string, data: unknown, id: string): OutboxEntry {
    const existing = this.entries.get(id);
    if (existing) return existing;
    let resolve!: (s: SendStatus) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<SendStatus>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // A caller that never awaits must not crash the process with an unhandled rejection.
    promise.catch(() => undefined);
    const entry: OutboxEntry = { id, to, data, addedAt: this.now(), failures: 0, resolve, reject, promise };
    this.entries.set(id, entry);
    this.armExpiry();
    return entry;
  }

  /** Entries not in flight on the current connection, in send order (expired ones rejected first). */
  pending(): OutboxEntry[] {
    this.expire();
    return [...this.entries.values()].filter((e) => e.ref === undefined);
  }

  markSent(entry: OutboxEntry, ref: string): void {
    entry.ref = ref;
    this.inFlight.set(ref, entry);
  }

  /** Give an in-flight entry back to the pending set (its push could not be written). */
  unmark(entry: OutboxEntry): void {
    if (entry.ref !== undefined) this.inFlight.delete(entry.ref);
    entry.ref = undefined;
    this.armExpiry();
  }

  /** The connection is gone: its replies will never come, everything in flight goes again. */
  connectionLost(): void {
    for (const e of this.inFlight.values()) e.ref = undefined;
    this.inFlight.clear();
    this.armExpiry();
  }

  /** A `phx_reply` for `ref`: settle the entry, or hand it back for a retry. */
  settle(ref: string, status: string, response: Record<string, unknown>): Settled {
    const entry = this.inFlight.get(ref);
    if (!entry) return { kind: 'unknown' };
    this.inFlight.delete(ref);
    entry.ref = undefined;
    if (status === 'ok') {
      const s = response.status;
      this.entries.delete(entry.id);
      entry.resolve(SEND_STATUSES.has(s as SendStatus) ? (s as SendStatus) : 'delivered');
      return { kind: 'done' };
    }
    const reason = typeof response.reason === 'string' ? response.reason : 'unknown_error';
    if (TRANSIENT_REASONS.has(reason)) {
      entry.failures++;
      const hint = response.retry_after_ms;
      entry.retryAfterMs = typeof hint === 'number' && Number.isFinite(hint) && hint > 0 ? Math.min(hint, 60_000) : undefined;
      this.armExpiry();
      return { kind: 'retry', entry };
    }
    this.entries.delete(entry.id);
    entry.reject(new SendError(reason, entry.id, response));
    return { kind: 'done' };
  }

  /** The client is closing for good: every pending send rejects. */
  failAll(err: SluiceClientError): void {
    clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    for (const e of this.entries.values()) e.reject(err);
    this.entries.clear();
    this.inFlight.clear();
  }

  /** Reject every entry not in flight whose max age has passed. */
  private expire(): void {
    const now = this.now();
    for (const e of this.entries.values()) {
      if (e.ref !== undefined || now - e.addedAt < this.maxAgeMs) continue;
      this.entries.delete(e.id);
      e.reject(new SendError('expired', e.id, { reason: 'expired', age_ms: Math.round(now - e.addedAt), max_age_ms: this.maxAgeMs }));
    }
  }

  /** (Re)arm the one expiry timer for the oldest entry not in flight (entries are in send order). */
  private armExpiry(): void {
    clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    let oldest: OutboxEntry | undefined;
    for (const e of this.entries.values()) {
      if (e.ref === undefined) {
        oldest = e;
        break;
      }
    }
    if (!oldest) return;
    const t = setTimeout(
      () => {
        this.expiryTimer = undefined;
        this.expire();
        this.armExpiry();
      },
      Math.max(0, oldest.addedAt + this.maxAgeMs - this.now()),
    );
    // Node: a pending send alone does not keep the process alive (browsers have no unref).
    (t as { unref?: () => void }).unref?.();
    this.expiryTimer = t;
  }
}
