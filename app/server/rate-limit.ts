import { performance } from 'node:perf_hooks';

/**
 * Token bucket: `burst` messages at once, refilled at `perSec`. One per connection. Timed on the
 * monotonic clock, in fractions of a millisecond: wall-clock jumps never grant or take tokens, and
 * refills between frames less than a millisecond apart are not rounded away.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(private readonly perSec: number, private readonly burst: number, private readonly now: () => number = () => performance.now()) {
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
