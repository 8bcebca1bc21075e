/**
 * The signal path of a joined connection: a prepared `signal` frame published to the backplane in
 * the sender's own account under its policy (app/auth/policy.ts), answered `ok` with the delivery
 * status, or refused with a reason the SDK can act on. PeerConnection (connection.ts) calls this
 * from its queue, one signal at a time.
 */
import type { Logger } from 'pino';
import { checkFor, peerAddress, SenderChecks } from '../auth/policy';
import type { PeerIdentity } from '../auth/token';
import { RecipientBusyError } from '../backplane/quota';
import { BackplaneError, PublishOutcome } from '../backplane/types';
import { Frame, reply, replyStatus } from '../protocol/phoenix';
import type { ChannelContext } from './channel';
import type { PreparedSignal } from './inbound';

/** What the signal path needs of its connection (PeerConnection implements it). */
export interface SignalSender {
  readonly peer: PeerIdentity;
  /** `<account>/<sub>`: the sender's id in the backplane (policy.ts). */
  readonly address: string;
  readonly log: Logger;
  send(text: string): boolean;
}

/**
 * Publish one signal from `from` and answer its frame; never rejects for a backplane refusal.
 * On a backplane that publishes in process (`publishNow`) it is done when it returns: no promise,
 * no microtask turn per signal (bench/profile.ts); otherwise it returns the publish's promise.
 */
export function relaySignal(
  ctx: ChannelContext,
  from: SignalSender,
  checks: SenderChecks,
  f: Frame,
  prepared: PreparedSignal,
): void | Promise<void> {
  if (!prepared.ok) {
    ctx.metrics.signalsFailed.inc({ reason: 'invalid_payload' });
    from.send(reply(f, 'error', { reason: 'invalid_payload', field: prepared.field, expected: prepared.expected }));
    return;
  }
  const { to, id, json } = prepared;
  // `to` is resolved in the sender's own account; the policy for it is picked, not built.
  const signal = { from: from.address, to: peerAddress(from.peer.account, to), id, data: json, check: checkFor(checks, from.peer.sub, to) };
  const bp = ctx.backplane;
  if (bp.publishNow) {
    let outcome: PublishOutcome;
    try {
      outcome = bp.publishNow(signal);
    } catch (err) {
      return refused(ctx, from, f, err);
    }
    return accepted(ctx, from, f, outcome);
  }
  return bp.publish(signal).then(
    (outcome) => accepted(ctx, from, f, outcome),
    (err: unknown) => refused(ctx, from, f, err),
  );
}

/** Counters per status, each looked up once (prom-client hashes the labels on every `inc({...})`). */
const relayedBy = new WeakMap<ChannelContext['metrics'], Map<string, { inc(): void }>>();

function accepted(ctx: ChannelContext, from: SignalSender, f: Frame, outcome: PublishOutcome): void {
  let counters = relayedBy.get(ctx.metrics);
  if (!counters) relayedBy.set(ctx.metrics, (counters = new Map()));
  let c = counters.get(outcome.status);
  if (!c) counters.set(outcome.status, (c = ctx.metrics.signalsRelayed.labels({ status: outcome.status })));
  c.inc();
  from.send(replyStatus(f, outcome.status));
}

function refused(ctx: ChannelContext, from: SignalSender, f: Frame, err: unknown): void {
  const reason = err instanceof BackplaneError ? err.reason : 'internal_error';
  if (!(err instanceof BackplaneError)) from.log.error({ err: (err as Error).message }, 'publish failed');
  ctx.metrics.signalsFailed.inc({ reason });
  from.send(reply(f, 'error', refusal(reason, err)));
}

/**
 * A refused signal's reply: `forbidden` carries the rule (never whether the target exists:
 * policy.ts); `recipient_busy` the retry hint the SDK's outbox waits for (quota.ts).
 */
export function refusal(reason: string, err: unknown): Record<string, unknown> {
  if (reason === 'forbidden') return { reason, detail: (err as Error).message };
  if (err instanceof RecipientBusyError) return { reason, retry_after_ms: err.retryAfterMs, detail: err.message };
  return { reason };
}
