/**
 * What the client reads off the wire, parsed with zod: everything from the network is input. The
 * frame itself is decoded by the shared Phoenix V2 serializer (app/protocol/phoenix.ts); here are
 * the payloads the client acts on, and what to open (Phoenix's `?vsn=2.0.0`, the token in the
 * Sec-WebSocket-Protocol header).
 */
import { z } from 'zod';
import { authTokenSubprotocols, encode, EVENTS, fromBase64url, PHOENIX_TOPIC, PROTOCOL_VSN, SIGNAL_EVENT } from '../protocol/phoenix';

/** `phx_reply` payload: `{status, response}`. */
export const replySchema = z.object({
  status: z.string(),
  response: z.record(z.string(), z.unknown()).default({}),
});

const seq = z.number().int().nonnegative();

export const gapSchema = z.object({
  reason: z.enum(['trimmed', 'seq_reset']),
  missedFrom: seq,
  missedTo: seq,
});

/** The ok join reply's `response`. */
export const joinResponseSchema = z.object({
  last_seq: seq,
  replayed: seq.default(0),
  gap: gapSchema.nullable().default(null),
});

/** Payload of event `signal` on `peer:<me>`. */
export const deliverySchema = z.object({
  from: z.string(),
  id: z.string(),
  seq: z.number().int().positive(),
  data: z.unknown(),
  replayed: z.boolean().default(false),
});

/** Peer id from a token's `sub` claim. Not verified: the server verifies; we only need the name. */
export function subjectOf(token: string): string | undefined {
  const part = token.split('.')[1];
  if (!part) return undefined;
  try {
    const claims = z.object({ sub: z.string().min(1) }).safeParse(JSON.parse(fromBase64url(part)));
    return claims.success ? claims.data.sub : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What to open for one attempt: the endpoint plus Phoenix's `vsn` (its other query parameters
 * kept), and the token in the `Sec-WebSocket-Protocol` header as the official phoenix client's
 * `authToken` sends it. A `token` parameter already in the endpoint is dropped: the token never
 * rides in a URL (URLs end up in LB and proxy logs). `tokenInQuery` (for servers older than the
 * header) puts it in the query instead, and sends no subprotocols.
 */
export function socketRequest(endpoint: string, token: string, tokenInQuery = false): { url: string; protocols: string[] } {
  const u = new URL(endpoint);
  u.searchParams.set('vsn', PROTOCOL_VSN);
  if (tokenInQuery) {
    u.searchParams.set('token', token);
    return { url: u.toString(), protocols: [] };
  }
  u.searchParams.delete('token');
  return { url: u.toString(), protocols: authTokenSubprotocols(token) };
}

/** The endpoint without its query string, for logs (the token must never be logged). */
export function redact(endpoint: string): string {
  const u = new URL(endpoint);
  u.search = '';
  return u.toString();
}

/** A Phoenix heartbeat (topic `phoenix`, no join ref): the server answers it from its bytes (app/server/beats.ts). */
export function heartbeatFrame(ref: string): string {
  return encode({ joinRef: null, ref, topic: PHOENIX_TOPIC, event: EVENTS.heartbeat, payload: {} });
}

/** The join of the peer's own topic; `lastSeq` (the last seq handed to listeners) makes the server replay after it. */
export function joinFrame(ref: string, topic: string, lastSeq: number | null): string {
  return encode({ joinRef: ref, ref, topic, event: EVENTS.join, payload: lastSeq === null ? {} : { last_seq: lastSeq } });
}

/** A signal to peer `to`, with the sender's id (the server drops a re-sent copy it already accepted). */
export function signalFrame(joinRef: string | null, ref: string, topic: string, s: { to: string; id: string; data: unknown }): string {
  return encode({ joinRef, ref, topic, event: SIGNAL_EVENT, payload: { to: s.to, id: s.id, data: s.data } });
}
