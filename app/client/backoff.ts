/**
 * Reconnect delays. Why a connection ended decides how long to wait before the next attempt:
 *
 *   - the server asked us to go (close 1012 / 1001: drain, rotation): it is healthy and wants us
 *     elsewhere, so come back promptly, spread over random(0, restartJitterMs) so a whole server's
 *     peers do not land on the next one in the same millisecond (the server already spreads its
 *     closes over the drain window);
 *   - the server refused the upgrade with 503 + Retry-After: wait at least what it asked, plus the
 *     same small jitter;
 *   - anything else (refused, reset, timed out, dead peer): full-jitter exponential backoff,
 *     delay = random(0, min(cap, base * 2^attempt)) (AWS architecture blog, "Exponential Backoff
 *     And Jitter"), so a fleet that lost its server at once does not retry in lockstep.
 *
 * All numbers come from the timeouts contract; `random` is injected so tests are deterministic.
 */
import type { Timeouts } from '../contract/timeouts';

export type Random = () => number;
type ClientTimeouts = Timeouts['client'];

/** Exponential ceiling for `attempt` (0-based), capped. */
export function backoffCeilingMs(attempt: number, t: ClientTimeouts): number {
  // 2 ** attempt overflows to Infinity for huge attempts; min() still yields the cap.
  return Math.min(t.reconnectCapMs, t.reconnectBaseMs * 2 ** Math.max(0, attempt));
}

/** Full jitter: uniform in [0, ceiling). */
export function fullJitterMs(attempt: number, t: ClientTimeouts, random: Random): number {
  return Math.floor(random() * backoffCeilingMs(attempt, t));
}

/** After a polite close asking us to reconnect (1012 Service Restart, 1001 Going Away). */
export function restartDelayMs(t: ClientTimeouts, random: Random): number {
  return Math.floor(random() * t.restartJitterMs);
}

/** After 503 + Retry-After: never earlier than the server asked. */
export function retryAfterDelayMs(retryAfterMs: number, t: ClientTimeouts, random: Random): number {
  return retryAfterMs + restartDelayMs(t, random);
}

/**
 * `Retry-After` is either delta-seconds or an HTTP-date (RFC 9110, section 10.2.3). Returns
 * milliseconds to wait, or undefined when absent or unparsable.
 */
export function parseRetryAfterMs(header: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number.parseInt(text, 10) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** The attempt counter behind the full-jitter policy: grows on each failure, resets once joined. */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly t: ClientTimeouts,
    private readonly random: Random,
  ) {}

  get attempts(): number {
    return this.attempt;
  }

  next(): number {
    const delay = fullJitterMs(this.attempt, this.t, this.random);
    // Stop counting once the ceiling is the cap: keeps the number small on a long outage.
    if (backoffCeilingMs(this.attempt, this.t) < this.t.reconnectCapMs) this.attempt++;
    return delay;
  }

  reset(): void {
    this.attempt = 0;
  }
}
