import { performance } from 'node:perf_hooks';

/** The default clock, one function for every bucket (a closure per instance cost ~100 B per connection). */
const monotonic = () => performance.now();

/**
 * Token bucket: `burst` messages at once, refilled at `perSec`. One per connection. Timed on the
 * monotonic clock, in fractions of a millisecond: wall-clock jumps never grant or take tokens, and
 * refills between frames less than a millisecond apart are not rounded away.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perSec: number,
    private readonly burst: number,
    private readonly now: () => number = monotonic,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Takes one token; false when the bucket is empty (the caller closes the connection). */
  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.perSec);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/**
 * Bytes per second of one connection's incoming frames, as backpressure rather than a close: a
 * frame that overdraws the bucket is still handled, and the caller stops reading the socket for
 * the returned time (TCP then slows the sender). The message bucket above cannot bound bytes: at
 * 50 frames/s of 64 KiB one connection would make the server parse 3.2 MB/s of JSON.
 */
export class ByteRate {
  private balance: number;
  private last: number;

  constructor(
    private readonly perSec: number,
    private readonly burst: number,
    private readonly now: () => number = monotonic,
  ) {
    this.balance = burst;
    this.last = now();
  }

  /** Spend `bytes`; returns how many ms to stop reading until the balance is back to zero (0: keep reading). */
  spend(bytes: number): number {
    const t = this.now();
    this.balance = Math.min(this.burst, this.balance + ((t - this.last) / 1000) * this.perSec) - bytes;
    this.last = t;
    return this.balance >= 0 ? 0 : (-this.balance / this.perSec) * 1000;
  }
}
