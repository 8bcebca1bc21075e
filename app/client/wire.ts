/**
 * What the client reads off the wire, parsed with zod: everything from the network is input. The
 * frame itself is decoded by the shared Phoenix V2 serializer (app/protocol/phoenix.ts); here are
 * the payloads the client acts on, and the socket URL (Phoenix's `?vsn=2.0.0` plus our `token`).
 */
import { z } from 'zod';
import { PROTOCOL_VSN } from '../protocol/phoenix';

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
    const claims = z.object({ sub: z.string().min(1) }).safeParse(JSON.parse(Buffer.from(part, 'base64url').toString('utf8')));
    return claims.success ? claims.data.sub : undefined;
  } catch {
    return undefined;
  }
}

/** The URL to open: the configured endpoint plus `vsn` and `token` (other query parameters kept). */
export function socketUrl(endpoint: string, token: string): string {
  const u = new URL(endpoint);
  u.searchParams.set('vsn', PROTOCOL_VSN);
  u.searchParams.set('token', token);
  return u.toString();
}

/** The endpoint without its query string, for logs (the token must never be logged). */
export function redact(endpoint: string): string {
  const u = new URL(endpoint);
  u.search = '';
  return u.toString();
}
