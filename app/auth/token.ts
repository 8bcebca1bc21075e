/**
 * Peer tokens: HS256 JWTs with `sub` (peer id), `kind` and `exp`, verified with jose before the
 * WebSocket upgrade. HS256 keeps the development story to one shared secret; the verifier pins the
 * algorithm so a token cannot pick its own (`alg: none`, RS/HS confusion).
 */
import { SignJWT, jwtVerify, errors } from 'jose';
import { z } from 'zod';

export const PEER_KINDS = ['client', 'gateway'] as const;
export type PeerKind = (typeof PEER_KINDS)[number];

export interface PeerIdentity {
  sub: string;
  kind: PeerKind;
}

/** Peer ids end up in topics and Redis keys: keep them short and boring. */
export const PEER_ID_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;

const claimsSchema = z.object({
  sub: z.string().regex(PEER_ID_PATTERN, 'sub must be 1-128 characters of [A-Za-z0-9_.-]'),
  kind: z.enum(PEER_KINDS),
  exp: z.number(),
});

export class TokenError extends Error {
  constructor(readonly reason: 'missing' | 'expired' | 'invalid', message: string) {
    super(message);
  }
}

const ISSUER = 'sluice';

function key(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}

export async function signToken(secret: string, id: PeerIdentity, ttlSec = 24 * 3600): Promise<string> {
  return new SignJWT({ kind: id.kind })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(id.sub)
    .setIssuer(ISSUER)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSec)
    .sign(key(secret));
}

export async function verifyToken(secret: string, token: string | null | undefined): Promise<PeerIdentity> {
  if (!token) throw new TokenError('missing', 'token query parameter is required');
  try {
    const { payload } = await jwtVerify(token, key(secret), { algorithms: ['HS256'], issuer: ISSUER, requiredClaims: ['exp', 'sub'] });
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success) throw new TokenError('invalid', `token claims invalid: ${claims.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    return { sub: claims.data.sub, kind: claims.data.kind };
  } catch (err) {
    if (err instanceof TokenError) throw err;
    if (err instanceof errors.JWTExpired) throw new TokenError('expired', 'token expired');
    throw new TokenError('invalid', 'token signature or format invalid');
  }
}
