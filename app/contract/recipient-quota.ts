/**
 * The per-recipient inbound quota (issue 23): the values the server's config, both backplanes (the
 * MemoryBackplane's app/backplane/quota.ts and the Redis publish script) and docs/security.md must
 * agree on, their validation, and the one function for the per-sender bound they imply. Plain data,
 * no I/O (not to be confused with ./quota, the Compute API rate quota of the lifecycle watchers).
 *
 *   per recipient  recipientSignalsPerSec signals/s and recipientBytesPerSec bytes/s, from all senders
 *                  on all servers together (token buckets of one second's worth);
 *   per sender     while the recipient is away: senderHistoryBound() entries and bytes of its history;
 *   over either    the SENDER is refused `recipient_busy` with a retry hint (the SDK outbox retries);
 *                  nothing already accepted is dropped.
 *
 * At the process memory budget (SLUICE_MEMORY_BUDGET_BYTES) the MemoryBackplane still evicts the
 * oldest history entry of any recipient (a `trimmed` gap on resume): the fairness holds below the
 * budget; on Redis the budget is `maxmemory` with `noeviction` (writes refused, nothing dropped).
 */

export interface RecipientQuota {
  /** Signals per second into one recipient (a token bucket of one second's worth). SLUICE_RECIPIENT_SIGNALS_PER_SEC. */
  recipientSignalsPerSec: number;
  /** History bytes (budget.ts historyEntryBytes) per second into one recipient, bucket of one second. SLUICE_RECIPIENT_BYTES_PER_SEC. */
  recipientBytesPerSec: number;
  /**
   * While the recipient is away: the part of its history (entries and bytes) one sender may hold.
   * SLUICE_SENDER_HISTORY_SHARE, in (0, 1].
   */
  senderHistoryShare: number;
}

/**
 * 100 signals/s and 1 MiB/s into one recipient: 2x a peer's own send rate (50/s) and 4x its byte
 * rate (256 KiB/s), so one honest sender never meets it, and four floods share it. A sender holds
 * at most a quarter of an away recipient's history (250 entries, 1 MiB with the default history).
 */
export const DEFAULT_RECIPIENT_QUOTA: Readonly<RecipientQuota> = Object.freeze({
  recipientSignalsPerSec: 100,
  recipientBytesPerSec: 1024 * 1024,
  senderHistoryShare: 0.25,
});

/** The environment variable of each value (the server's config reads them; errors name them). */
export const RECIPIENT_QUOTA_ENV: Readonly<Record<keyof RecipientQuota, string>> = Object.freeze({
  recipientSignalsPerSec: 'SLUICE_RECIPIENT_SIGNALS_PER_SEC',
  recipientBytesPerSec: 'SLUICE_RECIPIENT_BYTES_PER_SEC',
  senderHistoryShare: 'SLUICE_SENDER_HISTORY_SHARE',
});

/** Every value that is out of bounds, as `VARIABLE: what was expected, got value`; empty when all hold. */
export function recipientQuotaErrors(q: RecipientQuota, maxFrameBytes: number): string[] {
  const env = RECIPIENT_QUOTA_ENV;
  const out: string[] = [];
  if (!(Number.isFinite(q.recipientSignalsPerSec) && q.recipientSignalsPerSec >= 1))
    out.push(`${env.recipientSignalsPerSec}: must be >= 1, got ${q.recipientSignalsPerSec}`);
  if (!(Number.isSafeInteger(q.recipientBytesPerSec) && q.recipientBytesPerSec >= 2 * maxFrameBytes)) {
    out.push(
      `${env.recipientBytesPerSec}: must be an integer >= 2 x SLUICE_MAX_FRAME_BYTES (${2 * maxFrameBytes}): one largest signal must fit the one-second bucket, got ${q.recipientBytesPerSec}`,
    );
  }
  if (!(q.senderHistoryShare > 0 && q.senderHistoryShare <= 1))
    out.push(`${env.senderHistoryShare}: must be in (0, 1], got ${q.senderHistoryShare}`);
  return out;
}

/**
 * What one sender may hold of an away recipient's history (resume.historyMaxMessages entries and
 * SLUICE_HISTORY_MAX_BYTES bytes): its share, at least one entry. The MemoryBackplane checks it, the
 * Redis publish script gets these two numbers, docs/security.md states them.
 */
export function senderHistoryBound(
  q: RecipientQuota,
  historyMaxMessages: number,
  historyMaxBytes: number,
): { entries: number; bytes: number } {
  return {
    entries: Math.max(1, Math.floor(q.senderHistoryShare * historyMaxMessages)),
    bytes: Math.floor(q.senderHistoryShare * historyMaxBytes),
  };
}
