/**
 * Exactly once, receiving: the server numbers deliveries per recipient (`seq`). The client hands a
 * seq to listeners only if it is the next one; an older one (a replay overlapping what already
 * arrived) is dropped, a skipped one means something went missing, so the client reconnects and
 * the join's `last_seq` makes the server replay from there. Pure functions: SluiceClient keeps the
 * number and acts on the verdicts.
 */
import type { z } from 'zod';
import type { gapSchema } from './wire';

/** The `gap` of a join reply: the server could not replay everything after `last_seq`. */
export type JoinGap = z.infer<typeof gapSchema>;

/**
 * The last seq handed to listeners once a join is answered, `sent` being the `last_seq` the join
 * carried (null: the first join) and `serverSeq` the server's latest for this recipient.
 */
export function lastSeqAfterJoin(current: number | null, sent: number | null, serverSeq: number, gap: JoinGap | null): number | null {
  // First join: start from now. seq_reset: the server's numbering restarted below ours.
  if (sent === null || gap?.reason === 'seq_reset') return serverSeq;
  // Replay starts after the hole; do not mistake that for a skipped seq.
  if (gap?.reason === 'trimmed') return Math.max(sent, gap.missedTo);
  return current;
}

/** What a delivery numbered `seq` is, after `lastSeq`: the next one, an old copy, or past a hole. */
export function deliveryStep(lastSeq: number | null, seq: number): 'deliver' | 'duplicate' | 'hole' {
  const last = lastSeq ?? 0;
  if (seq <= last) return 'duplicate';
  return seq > last + 1 ? 'hole' : 'deliver';
}
