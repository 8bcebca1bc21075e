/**
 * Pinger: every connection is pinged once per `intervalMs`, at its own phase of the interval, by one
 * timer. A single `setInterval` that pinged all N connections in one synchronous loop stalled the
 * event loop for N pings every interval (10k connections: tens of ms every 5 s, the p99 of every
 * signal relayed meanwhile); here the interval is cut into slots of ~`slotMs` and each tick pings
 * one slot, so a tick costs N / slots pings and the stall no longer grows with N.
 *
 * A connection joins the slot after the cursor's (round robin, so slots stay balanced as
 * connections come and go) and is pinged once in every interval from then on, the first time
 * within one interval of being added: the same promise as the one loop made ("the server pings
 * every `server.pingIntervalMs`"), which the idle limit relies on (rule server-idle-covers-two-pings).
 */

export interface Pingable {
  ping(): void;
}

/** Slot length: short enough that one tick's pings are a sliver of a millisecond at 20k connections. */
export const PING_SLOT_MS = 10;

export class Pinger<T extends Pingable> {
  readonly slots: number;
  readonly tickMs: number;
  private readonly buckets: Array<Set<T>>;
  private readonly slotOf = new Map<T, number>();
  private cursor = 0;
  private nextSlot = 0;
  private timer?: NodeJS.Timeout;

  constructor(readonly intervalMs: number, slotMs: number = PING_SLOT_MS) {
    if (!(intervalMs > 0)) throw new RangeError(`ping interval must be positive, got ${intervalMs}`);
    this.slots = Math.max(1, Math.floor(intervalMs / Math.max(1, slotMs)));
    this.tickMs = intervalMs / this.slots;
    this.buckets = Array.from({ length: this.slots }, () => new Set<T>());
  }

  get size(): number {
    return this.slotOf.size;
  }

  add(c: T): void {
    if (this.slotOf.has(c)) return;
    const slot = this.nextSlot;
    this.nextSlot = (this.nextSlot + 1) % this.slots;
    this.slotOf.set(c, slot);
    this.buckets[slot].add(c);
  }

  delete(c: T): void {
    const slot = this.slotOf.get(c);
    if (slot === undefined) return;
    this.slotOf.delete(c);
    this.buckets[slot].delete(c);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.tickMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Pings the connections of the current slot (public for tests). */
  tick(): void {
    const bucket = this.buckets[this.cursor];
    this.cursor = (this.cursor + 1) % this.slots;
    for (const c of bucket) {
      try {
        c.ping();
      } catch {
        // A ping on a socket that is going away must never stop the others' pings.
      }
    }
  }
}
