/**
 * A connection's two rate limits, as plain numbers on the connection (frame-queue.ts) rather than an
 * object per bucket: two bucket objects, their clock and their boxed times cost ~190 B of heap for
 * each idle connection (bench/heap.ts). Both buckets refill from the same instant (the last frame's),
 * on the monotonic clock, in fractions of a millisecond: wall-clock jumps never grant or take tokens,
 * and refills between frames less than a millisecond apart are not rounded away.
 *   - messages: a token bucket, `burst` frames at once, refilled at `perSec`; an empty bucket closes
 *     the connection (the caller's decision);
 *   - bytes: backpressure rather than a close. A frame that overdraws the balance is still handled,
 *     and the caller stops reading the socket for `pauseMs` (TCP then slows the sender). The message
 *     bucket cannot bound bytes: at 50 frames/s of 64 KiB one connection would make the server parse
 *     3.2 MB/s of JSON.
 */

/** What a bucket of `burst`, refilled at `perSec`, holds `elapsedMs` after it held `level`. */
export function refill(level: number, elapsedMs: number, perSec: number, burst: number): number {
  return Math.min(burst, level + (elapsedMs / 1000) * perSec);
}

/** How many ms to stop reading until an overdrawn byte `balance` is back to zero at `perSec` (0: keep reading). */
export function pauseMs(balance: number, perSec: number): number {
  return balance >= 0 ? 0 : (-balance / perSec) * 1000;
}
