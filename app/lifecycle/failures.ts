/**
 * What a failed lifecycle poll means, so the metric, the log field and the runbook can tell a missing
 * IAM grant from a spent quota (both are HTTP 403 from the Compute API):
 *
 *   - quota: "If your project exceeds a rate quota, you receive a 403 error with the reason
 *     rateLimitExceeded. To resolve this error, wait a minute then try your request again" and the quota
 *     "refills at the start of the next synchronized interval, such as 10:01:00, rather than refilling
 *     immediately" (https://cloud.google.com/compute/api-quota). HTTP 429 (RESOURCE_EXHAUSTED, the
 *     generic Google API answer for an exhausted quota) counts as quota too.
 *   - permission: any other 403 (reason forbidden: the watcher's custom role or its binding is missing), or 401.
 *   - timeout / network: no HTTP answer (status 0): the per-poll time limit, a reset, a refused connection.
 *   - server: 5xx. bad_answer: a 2xx that is not the documented JSON. other: anything else.
 */
import { GceHttpError } from './gce';

export type PollFailure = 'quota' | 'permission' | 'timeout' | 'network' | 'server' | 'bad_answer' | 'other';
export const POLL_FAILURES: readonly PollFailure[] = ['quota', 'permission', 'timeout', 'network', 'server', 'bad_answer', 'other'];

/** Google's reasons for an exhausted rate quota (the first is the one the Compute quota page names). */
export const QUOTA_REASONS = ['rateLimitExceeded', 'userRateLimitExceeded', 'quotaExceeded'] as const;

export function failureOf(err: unknown): PollFailure {
  if (!(err instanceof GceHttpError)) return 'other';
  const { status, reason } = err;
  if (status === 429 || (status === 403 && reason !== undefined && (QUOTA_REASONS as readonly string[]).includes(reason))) return 'quota';
  if (status === 403 || status === 401) return 'permission';
  if (status === 0) return /abort|timeout/i.test(err.message) ? 'timeout' : 'network';
  if (status >= 500) return 'server';
  if (status >= 200 && status < 300) return 'bad_answer';
  return 'other';
}

/** Compute's rate quotas are enforced per synchronized minute. */
export const QUOTA_WINDOW_MS = 60_000;

/**
 * After a rateLimitExceeded at `now`: the first moment worth polling again. The quota refills at the
 * start of the next minute; a random offset within one poll interval keeps the whole fleet (which hit
 * the same quota in the same minute) from polling at the same instant when it refills.
 */
export function quotaRetryAt(now: number, pollIntervalMs: number, random: () => number = Math.random): number {
  const nextWindow = Math.floor(now / QUOTA_WINDOW_MS) * QUOTA_WINDOW_MS + QUOTA_WINDOW_MS;
  return nextWindow + Math.floor(random() * pollIntervalMs);
}
