/**
 * The outbox: every outgoing signal stays here, with its stable id, until the server has answered
 * it. That is what turns "at least once" into "exactly once" together with the server:
 *
 *   - a signal sent on a connection that dies before its reply is re-sent, same id, after the next
 *     join (in the order send() was called);
 *   - the backplane remembers `(sender, id)` for `resume.dedupeWindowMs`, so when the first copy had
 *     in fact been accepted the re-send is answered `duplicate` and nothing is delivered twice;
 *   - a final error reply (`unknown_peer`, `invalid_payload`, ...) rejects the send; a transient one
 *     (`backplane_unavailable`, ...) leaves it in the outbox for another try.
 *
 * No per-signal reply timer: on a live connection the server always answers; on a dead one the
 * heartbeat notices, and the reconnect re-sends.
 */
import { SendError, SendStatus, SluiceClientError } from './types';

/** Error reasons worth trying again later (the signal itself is fine). */
const TRANSIENT_REASONS = new Set(['backplane_unavailable', 'internal_error', 'unmatched topic']);
const SEND_STATUSES = new Set<SendStatus>(['delivered', 'stored', 'duplicate']);

export interface OutboxEntry {
  readonly id: string;
  readonly to: string;
  readonly data: unknown;
  /** Ref of the push on the current connection; undefined while not in flight. */
  ref?: string;
  /** Transient failures so far (drives the retry backoff). */
  failures: number;
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
    const entry: OutboxEntry = { id, to, data, failures: 0, resolve, reject, promise };
    this.entries.set(id, entry);
    return entry;
  }

  /** Entries not in flight on the current connection, in send order. */
  pending(): OutboxEntry[] {
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
  }

  /** The connection is gone: its replies will never come, everything in flight goes again. */
  connectionLost(): void {
    for (const e of this.inFlight.values()) e.ref = undefined;
    this.inFlight.clear();
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
      return { kind: 'retry', entry };
    }
    this.entries.delete(entry.id);
    entry.reject(new SendError(reason, entry.id, response));
    return { kind: 'done' };
  }

  /** The client is closing for good: every pending send rejects. */
  failAll(err: SluiceClientError): void {
    for (const e of this.entries.values()) e.reject(err);
    this.entries.clear();
    this.inFlight.clear();
  }
}
