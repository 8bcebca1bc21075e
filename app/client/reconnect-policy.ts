/**
 * The client's reconnect policy, what to do after a socket ended: the reason reported to users, and either the delay before the
 * next attempt (backoff.ts explains the three policies) or a stop. Read top to bottom, first match
 * wins: an HTTP refusal, then our own decision to end it, then the server's close code.
 */
import type { Timeouts } from '../contract/timeouts';
import { CLOSE } from '../protocol/phoenix';
import { Backoff, Random, restartDelayMs, retryAfterDelayMs } from './backoff';
import type { TransportEnd } from './transport';
import { DisconnectReason, SluiceClientError } from './types';

export type ReconnectDecision = { reason: DisconnectReason; delayMs: number } | { reason: DisconnectReason; stop: SluiceClientError };

export function decideReconnect(end: TransportEnd, t: Timeouts['client'], backoff: Backoff, random: Random): ReconnectDecision {
  if (end.refusal) {
    const { status, retryAfterMs } = end.refusal;
    // A bad, missing or expired token does not get better by retrying: stop and say so.
    if (status === 401)
      return {
        reason: 'unauthorized',
        stop: new SluiceClientError('unauthorized', 'upgrade refused with 401: token missing, invalid or expired', { status }),
      };
    // Revoked by the operator (app/auth/revocation.ts): refused until the revocation ends. Stop.
    if (status === 403)
      return {
        reason: 'revoked',
        stop: new SluiceClientError('revoked', 'upgrade refused with 403: this token was revoked by the operator', { status }),
      };
    // Draining: the server said when to come back (the LB routes the retry to a serving VM).
    if (status === 503)
      return {
        reason: 'server_draining',
        delayMs: retryAfterMs !== undefined ? retryAfterDelayMs(retryAfterMs, t, random) : backoff.next(),
      };
    return { reason: 'refused', delayMs: backoff.next() };
  }
  if (end.local) {
    // We reconnect to have the server replay a skipped seq: nothing is wrong with the server.
    if (end.local === 'seq_hole') return { reason: 'seq_hole', delayMs: restartDelayMs(t, random) };
    if (end.local === 'channel_closed') return { reason: 'server_closed', delayMs: backoff.next() };
    // heartbeat_timeout, connect_timeout, join_timeout, join_refused, protocol_error.
    return { reason: end.local as DisconnectReason, delayMs: backoff.next() };
  }
  if (end.opened) {
    // CLOSE.evicted: the same peer id joined on another socket and the newest wins. Our socket
    // being the older one means another instance runs with this identity; reconnecting would
    // evict it in turn, forever.
    if (end.code === CLOSE.evicted) {
      return {
        reason: 'evicted',
        stop: new SluiceClientError('evicted', 'another connection joined as this peer; this client stopped', { code: end.code }),
      };
    }
    // CLOSE.revoked: the operator revoked this token or disconnected this peer: stop, do not retry.
    if (end.code === CLOSE.revoked) {
      return {
        reason: 'revoked',
        stop: new SluiceClientError('revoked', 'the operator revoked this token or disconnected this peer; this client stopped', {
          code: end.code,
        }),
      };
    }
    // Drain, rotation, restart: the server is fine and wants us back (elsewhere) promptly.
    if (end.code === CLOSE.serviceRestart) return { reason: 'server_restart', delayMs: restartDelayMs(t, random) };
    if (end.code === CLOSE.goingAway) return { reason: 'going_away', delayMs: restartDelayMs(t, random) };
    if (end.code !== 1006) return { reason: 'server_closed', delayMs: backoff.next() };
  }
  // 1006 / never opened: reset, refused, unreachable.
  return { reason: 'connection_error', delayMs: backoff.next() };
}
