/**
 * A 403 is not always a missing role (issue 22 point 6): the error body's reason tells a spent rate
 * quota ("a 403 error with the reason rateLimitExceeded", cloud.google.com/compute/api-quota) from a
 * permission error; and the fleet size at which the watchers' polls reach the default quota.
 */
import { failureOf, quotaRetryAt } from '../../app/lifecycle/failures';
import { GceHttpError } from '../../app/lifecycle/gce';
import { COMPUTE_READ_QUOTA_PER_MIN, watcherCallsPerMinute, watcherFleetAtQuota, watcherFleetBudget } from '../../app/contract/quota';
import { defaultTimeouts, mergeTimeouts } from '../../app/contract/timeouts';

const http = (status: number, reason?: string, detail = 'x') =>
  new GceHttpError(status, 'https://compute.googleapis.com/x', detail, reason);

describe('poll failures', () => {
  it.each([
    [http(403, 'rateLimitExceeded'), 'quota'],
    [http(403, 'userRateLimitExceeded'), 'quota'],
    [http(429), 'quota'],
    [http(403, 'forbidden'), 'permission'],
    [http(403), 'permission'],
    [http(401), 'permission'],
    [http(0, undefined, 'The operation was aborted due to timeout'), 'timeout'],
    [http(0, undefined, 'ECONNREFUSED'), 'network'],
    [http(503, 'backendError'), 'server'],
    [http(200, undefined, 'answer is not JSON'), 'bad_answer'],
    [http(404, 'notFound'), 'other'],
    [new Error('boom'), 'other'],
  ] as const)('%s is %s', (err, kind) => {
    expect(failureOf(err)).toBe(kind);
  });

  it('the error message carries the reason, so a log line alone tells quota from permission', () => {
    expect(http(403, 'rateLimitExceeded', 'Quota exceeded').message).toBe(
      'HTTP 403 (rateLimitExceeded) for https://compute.googleapis.com/x: Quota exceeded',
    );
  });

  it('after rateLimitExceeded the next poll is at the next synchronized minute plus jitter within one interval', () => {
    const t = Date.UTC(2026, 11, 6, 10, 0, 15); // "reaches a quota limit at 10:00:15 ... refills at ... 10:01:00"
    expect(quotaRetryAt(t, 5_000, () => 0)).toBe(Date.UTC(2026, 11, 6, 10, 1, 0));
    expect(quotaRetryAt(t, 5_000, () => 0.999)).toBe(Date.UTC(2026, 11, 6, 10, 1, 0) + 4_995);
    expect(quotaRetryAt(Date.UTC(2026, 11, 6, 10, 1, 0), 5_000, () => 0)).toBe(Date.UTC(2026, 11, 6, 10, 2, 0));
  });
});

describe('the watchers against the Compute read quota', () => {
  it('with the defaults (one poll per 5 s per VM) 125 VMs reach the documented 1,500 requests/minute', () => {
    expect(COMPUTE_READ_QUOTA_PER_MIN).toBe(1_500);
    expect(watcherCallsPerMinute(defaultTimeouts, 1)).toBe(12);
    expect(watcherFleetAtQuota(defaultTimeouts)).toBe(125);
    expect(watcherCallsPerMinute(defaultTimeouts, 125)).toBe(1_500);
    expect(watcherFleetBudget(defaultTimeouts)).toBe(62);
    const slower = mergeTimeouts(defaultTimeouts, { gce: { watcherPollIntervalMs: 10_000 } });
    expect(watcherFleetAtQuota(slower)).toBe(250);
    expect(watcherFleetAtQuota(defaultTimeouts, 6_000)).toBe(500);
  });
});
