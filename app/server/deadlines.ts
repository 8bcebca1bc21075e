/**
 * DeadlineWheel: one timer for every connection's own deadlines (join, idle limit, lifetime
 * rotation, the end of a close it started). Three Node timers per connection cost ~0.5 KiB of heap
 * each connection (Timeout objects, a TimersList per distinct duration, boxed times: bench/heap.ts)
 * and a timer-list insertion per arm; here a connection is in at most one slot of one wheel, and
 * the wheel's timer runs only while something is scheduled.
 *
 * Time is in slots of `tickMs` on the monotonic clock. An item scheduled for `at` fires in the first
 * tick at or after `at` (never before it, at most about one tick after it on an idle event loop),
 * and the item decides what is due and schedules its next deadline itself.
 */
import { performance } from 'node:perf_hooks';

/** Resolution of every connection deadline: a sliver of the shortest contract bound (seconds). */
export const DEADLINE_TICK_MS = 20;

export interface Timed {
  /** Wheel bookkeeping: the slot this item waits in, -1 when none. */
  wheelSlot: number;
  /** Called once the scheduled time has come, with the monotonic time. */
  onDeadline(now: number): void;
}

const monotonic = () => performance.now();

export class DeadlineWheel<T extends Timed> {
  private readonly slots = new Map<number, Set<T>>();
  /** The last slot whose items were handed their deadline. */
  private done: number;
  private timer?: NodeJS.Timeout;
  private scheduled = 0;

  constructor(
    readonly tickMs: number = DEADLINE_TICK_MS,
    readonly now: () => number = monotonic,
  ) {
    if (!(tickMs > 0)) throw new RangeError(`deadline tick must be positive, got ${tickMs}`);
    this.done = Math.floor(now() / tickMs);
  }

  /** Items waiting for a deadline. */
  get size(): number {
    return this.scheduled;
  }

  /** (Re)schedule `item` for monotonic time `at`; replaces its previous deadline. */
  schedule(item: T, at: number): void {
    this.cancel(item);
    const slot = Math.max(Math.ceil(at / this.tickMs), this.done + 1);
    let set = this.slots.get(slot);
    if (!set) this.slots.set(slot, (set = new Set()));
    set.add(item);
    item.wheelSlot = slot;
    this.scheduled++;
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.tickMs);
      this.timer.unref();
    }
  }

  cancel(item: T): void {
    const slot = item.wheelSlot;
    if (slot < 0) return;
    item.wheelSlot = -1;
    const set = this.slots.get(slot);
    if (!set?.delete(item)) return;
    this.scheduled--;
    if (set.size === 0) this.slots.delete(slot);
  }

  /** Hands every item whose slot has come its deadline (public for tests). */
  tick(): void {
    const now = this.now();
    const upTo = Math.floor(now / this.tickMs);
    const from = this.done + 1;
    // Marked done first: an item rescheduled while its deadline is handled lands after this tick.
    this.done = Math.max(this.done, upTo);
    // After a long stall (a blocked event loop) many slots are due at once; walking the scheduled
    // slots is then cheaper than walking every slot in between.
    const due = upTo - from >= this.slots.size ? [...this.slots.keys()].filter((s) => s <= upTo).sort((a, b) => a - b) : undefined;
    const fire = (slot: number) => {
      const set = this.slots.get(slot);
      if (!set) return;
      this.slots.delete(slot);
      for (const item of set) {
        item.wheelSlot = -1;
        this.scheduled--;
        try {
          item.onDeadline(now);
        } catch {
          // One item's failure must never stop the others' deadlines.
        }
      }
    };
    if (due) for (const s of due) fire(s);
    else for (let s = from; s <= upTo; s++) fire(s);
    if (this.scheduled === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
