/**
 * Peer tokens: JWTs with `sub` (peer id), `kind`, `acct` (the account, or tenant), `iss`, `aud`,
 * `iat` and `exp`, verified with jose before the WebSocket upgrade. Optional `grp` (the groups the
 * peer belongs to) and `sig` (the peers, or `group:<name>`s, it may signal: a narrower policy, see
 * policy.ts). HS256 keeps the development story to one shared secret; the verifier pins the
 * algorithms so a token cannot pick its own (`alg: none`, RS/HS confusion). `iss` and `aud` must be
 * the configured ones (SLUICE_TOKEN_ISSUER, SLUICE_TOKEN_AUDIENCE): a token minted for another
 * service is refused.
 *
 * Lifetime is bounded (docs/security.md "Limits and failure behaviour"): a token must carry `exp`, may live
 * at most `maxTtlSec` (`exp - iat`, and `exp - now` so a token without `iat` cannot outlive it
 * either), and must not be issued in the future beyond `clockSkewSec`.
 */
import { createSecretKey, KeyObject } from 'node:crypto';
import { SignJWT, jwtVerify, errors, JWTHeaderParameters, JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import { AUTH_TOKEN_SUBPROTOCOL_PREFIX, PEER_ID_PATTERN } from '../protocol/phoenix';
import { JTI_PATTERN } from './revocation';

export { PEER_ID_PATTERN };

/** Used only when SLUICE_ENV=development (the default) and no secret is set. Never in production. */
export const DEV_TOKEN_SECRET = 'sluice-development-secret-do-not-use-in-production';

export const PEER_KINDS = ['client', 'gateway'] as const;
export type PeerKind = (typeof PEER_KINDS)[number];

/** An account (tenant) name: what `acct` holds. No '/': a peer's address is `<account>/<sub>`. */
export const ACCOUNT_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
/** A group name (`grp`, and `group:<name>` entries of `sig`). */
export const GROUP_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
/** The account of a token without `acct` while SLUICE_ENV=development (production refuses such a token). */
export const DEFAULT_ACCOUNT = 'default';
/** At most this many `grp` and `sig` entries: the policy check stays small and bounded per signal. */
export const MAX_GROUPS = 16;
export const MAX_ALLOW_ENTRIES = 64;
/** The `iss` and `aud` of development tokens (and the defaults of SLUICE_TOKEN_ISSUER / _AUDIENCE). */
export const DEFAULT_ISSUER = 'sluice';
export const DEFAULT_AUDIENCE = 'sluice';

export interface PeerIdentity {
  sub: string;
  kind: PeerKind;
  /** The `acct` claim (DEFAULT_ACCOUNT for a development token without one). */
  account: string;
  /** `grp`: the groups this peer belongs to (others' `sig` may name them). */
  groups?: string[];
  /** `sig`: when present, the only peers (ids, or `group:<name>`) this peer may signal. */
  allow?: string[];
}

/** What signToken needs: the account defaults to DEFAULT_ACCOUNT. */
export type TokenSubject = Omit<PeerIdentity, 'account'> & { account?: string };

/** SLUICE_TOKEN_MAX_TTL_SEC default: 7 days. */
export const DEFAULT_TOKEN_MAX_TTL_SEC = 7 * 24 * 3600;
/** How far in the future `iat` may lie (clocks of issuer and server disagree a little). */
export const TOKEN_CLOCK_SKEW_SEC = 60;
/** `npm run token` default lifetime. */
export const DEFAULT_TOKEN_TTL_SEC = 24 * 3600;

const ALLOW_ENTRY = /^(group:)?[A-Za-z0-9_.-]{1,128}$/;
const claimsSchema = z.object({
  sub: z.string().regex(PEER_ID_PATTERN, 'sub must be 1-128 characters of [A-Za-z0-9_.-]'),
  kind: z.enum(PEER_KINDS),
  exp: z.number(),
  iat: z.number().optional(),
  acct: z.string().regex(ACCOUNT_PATTERN, 'acct must be 1-64 characters of [A-Za-z0-9_.-]').optional(),
  grp: z.array(z.string().regex(GROUP_PATTERN, 'each grp entry must be 1-64 characters of [A-Za-z0-9_.-]')).max(MAX_GROUPS).optional(),
  sig: z.array(z.string().regex(ALLOW_ENTRY, 'each sig entry must be a peer id or group:<name>')).max(MAX_ALLOW_ENTRIES).optional(),
  jti: z.string().regex(JTI_PATTERN, 'jti must be 1-128 printable ASCII characters without spaces').optional(),
});

/**
 * Why a token was refused. The server answers 401 to every one of them and counts
 * `sluice_upgrades_rejected_total{reason="token_<reason>"}`.
 */
export type TokenErrorReason =
  | 'missing' // no token: neither in Sec-WebSocket-Protocol nor (where allowed) in the query
  | 'in_query_disabled' // a `token` query parameter while SLUICE_TOKEN_IN_QUERY=off
  | 'invalid' // bad signature, format, algorithm or claims
  | 'wrong_issuer' // iss is not SLUICE_TOKEN_ISSUER
  | 'wrong_audience' // aud does not name SLUICE_TOKEN_AUDIENCE
  | 'no_account' // no acct claim while SLUICE_ENV=production
  | 'unknown_key' // kid names no key of the issuer's JWKS (keys.ts)
  | 'revoked' // its jti or sub was revoked through the admin API (revocation.ts)
  | 'expired' // exp has passed
  | 'no_expiry' // no exp claim: a token must end
  | 'lifetime_exceeded' // exp - iat, or exp - now, beyond the maximum lifetime
  | 'issued_in_future'; // iat later than now + clock skew

/** Where an upgrade carried its token: the Sec-WebSocket-Protocol header, or the URL's query. */
export type TokenCarrier = 'header' | 'query';

export class TokenError extends Error {
  constructor(
    readonly reason: TokenErrorReason,
    message: string,
    readonly carrier?: TokenCarrier,
  ) {
    super(message);
  }
}

export interface VerifyOptions {
  /** Longest accepted lifetime in seconds (default 7 days). */
  maxTtlSec?: number;
  /** Tolerated future `iat`, seconds (default 60). */
  clockSkewSec?: number;
  /** Now, in seconds since the epoch (tests). */
  nowSec?: number;
  /** Required `iss` (default DEFAULT_ISSUER). */
  issuer?: string;
  /** Required `aud` (default DEFAULT_AUDIENCE): a token for another service is refused. */
  audience?: string;
  /** Refuse a token without `acct` (SLUICE_ENV=production); else it belongs to DEFAULT_ACCOUNT. */
  requireAccount?: boolean;
  /** Accepted algorithms (default HS256 for a secret; the JWKS verifier passes EdDSA and ES256). */
  algorithms?: string[];
}

/** A shared secret (HS256, development) or a jose key resolver (a JWKS: keys.ts). */
export type VerificationKey = string | Uint8Array | JWTVerifyGetKey;

/**
 * The HS256 key of a secret, made once per secret: jose turns a Uint8Array into a KeyObject on
 * every verify (crypto.createSecretKey), a cost paid per upgrade (bench/join-cost.ts). A server has
 * one secret; a second replaces the first (tests and tools mint with several).
 */
let lastKey: { secret: string; key: KeyObject } | undefined;
function key(secret: string): KeyObject {
  if (lastKey?.secret !== secret) lastKey = { secret, key: createSecretKey(Buffer.from(secret, 'utf8')) };
  return lastKey.key;
}

/** What a signer may set besides the subject and lifetime. */
export interface SignOptions {
  maxTtlSec?: number;
  audience?: string;
  issuer?: string;
  jti?: string;
}

/**
 * A peer token ready to sign, for any signer (the HS256 secret here, an issuer key in issuer.ts):
 * claims, subject, issuer, audience, iat, exp and jti under `header`. Refuses a lifetime the verifier
 * would refuse (beyond `maxTtlSec`) or one that is not a whole number of seconds.
 */
export function unsignedToken(id: TokenSubject, ttlSec: number, header: JWTHeaderParameters, opts: SignOptions = {}): SignJWT {
  const maxTtlSec = opts.maxTtlSec ?? DEFAULT_TOKEN_MAX_TTL_SEC;
  if (!Number.isSafeInteger(ttlSec)) throw new RangeError(`token lifetime must be a whole number of seconds, got ${String(ttlSec)}`);
  if (ttlSec > maxTtlSec)
    throw new RangeError(
      `token lifetime ${ttlSec} s exceeds the maximum ${maxTtlSec} s (SLUICE_TOKEN_MAX_TTL_SEC): servers would refuse it`,
    );
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT(tokenClaims(id))
    .setProtectedHeader(header)
    .setSubject(id.sub)
    .setIssuer(opts.issuer ?? DEFAULT_ISSUER)
    .setAudience(opts.audience ?? DEFAULT_AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(now + ttlSec);
  if (opts.jti) jwt.setJti(opts.jti);
  return jwt;
}

/** Sign a peer token valid for `ttlSec` (negative: already expired, for tests) with the HS256 secret. */
export async function signToken(secret: string, id: TokenSubject, ttlSec = DEFAULT_TOKEN_TTL_SEC, opts: SignOptions = {}): Promise<string> {
  // async: a refused lifetime rejects the promise, as it always has.
  return unsignedToken(id, ttlSec, { alg: 'HS256', typ: 'JWT' }, opts).sign(key(secret));
}

/** The private claims of a peer token (kind, acct, grp, sig), for any signer. */
export function tokenClaims(id: TokenSubject): Record<string, unknown> {
  return {
    kind: id.kind,
    acct: id.account ?? DEFAULT_ACCOUNT,
    ...(id.groups ? { grp: id.groups } : {}),
    ...(id.allow ? { sig: id.allow } : {}),
  };
}

export async function verifyToken(
  secret: VerificationKey,
  token: string | null | undefined,
  opts: VerifyOptions = {},
): Promise<PeerIdentity> {
  return (await verifyTokenClaims(secret, token, opts)).id;
}

/** A verified token: the peer's identity, and the claims a revocation matches (app/auth/revocation.ts). */
export interface VerifiedToken {
  id: PeerIdentity;
  jti?: string;
  /** Epoch seconds. */
  iat?: number;
  exp: number;
}

/** verifyToken, keeping `jti`, `iat` and `exp` beside the identity (the server matches revocations with them). */
export async function verifyTokenClaims(
  secret: VerificationKey,
  token: string | null | undefined,
  opts: VerifyOptions = {},
): Promise<VerifiedToken> {
  if (!token) throw new TokenError('missing', 'a token is required (Sec-WebSocket-Protocol: phoenix, base64url.bearer.phx.<token>)');
  const maxTtlSec = opts.maxTtlSec ?? DEFAULT_TOKEN_MAX_TTL_SEC;
  const skew = opts.clockSkewSec ?? TOKEN_CLOCK_SKEW_SEC;
  const now = opts.nowSec ?? Math.floor(Date.now() / 1000);
  const issuer = opts.issuer ?? DEFAULT_ISSUER;
  const audience = opts.audience ?? DEFAULT_AUDIENCE;
  let payload: unknown;
  try {
    // Signature first: nothing about an unsigned token's claims is reported.
    const verifyOpts = {
      algorithms: opts.algorithms ?? ['HS256'],
      issuer,
      audience,
      requiredClaims: ['sub'],
      currentDate: new Date(now * 1000),
    };
    ({ payload } =
      typeof secret === 'function'
        ? await jwtVerify(token, secret, verifyOpts)
        : await jwtVerify(token, typeof secret === 'string' ? key(secret) : secret, verifyOpts));
  } catch (err) {
    if (err instanceof TokenError) throw err;
    if (err instanceof errors.JWTExpired) throw new TokenError('expired', 'token expired');
    // Claims are checked only after the signature: these say which claim and what was expected.
    if (err instanceof errors.JWTClaimValidationFailed && err.claim === 'iss')
      throw new TokenError('wrong_issuer', `token iss must be "${issuer}" (SLUICE_TOKEN_ISSUER)`);
    if (err instanceof errors.JWTClaimValidationFailed && err.claim === 'aud')
      throw new TokenError('wrong_audience', `token aud must name "${audience}" (SLUICE_TOKEN_AUDIENCE)`);
    if (err instanceof errors.JWKSNoMatchingKey)
      throw new TokenError('unknown_key', 'token kid names no key of the issuer (retired, or not yet published)');
    throw new TokenError('invalid', 'token signature or format invalid');
  }
  const claims = claimsSchema.safeParse(payload);
  if (!claims.success) {
    if ((payload as { exp?: unknown }).exp === undefined) throw new TokenError('no_expiry', 'token has no exp claim: tokens must expire');
    throw new TokenError(
      'invalid',
      `token claims invalid: ${claims.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  const { exp, iat } = claims.data;
  if (iat !== undefined && iat > now + skew) {
    throw new TokenError('issued_in_future', `token iat is ${iat - now} s in the future (at most ${skew} s of clock skew is tolerated)`);
  }
  if (iat !== undefined && exp - iat > maxTtlSec) {
    throw new TokenError(
      'lifetime_exceeded',
      `token lifetime exp - iat = ${exp - iat} s exceeds the maximum ${maxTtlSec} s (SLUICE_TOKEN_MAX_TTL_SEC)`,
    );
  }
  if (exp - now > maxTtlSec) {
    throw new TokenError(
      'lifetime_exceeded',
      `token exp is ${exp - now} s away, beyond the maximum lifetime ${maxTtlSec} s (SLUICE_TOKEN_MAX_TTL_SEC)`,
    );
  }
  const { acct, grp, sig } = claims.data;
  if (acct === undefined && opts.requireAccount)
    throw new TokenError('no_account', 'token has no acct claim: SLUICE_ENV=production requires every token to name its account (tenant)');
  const id: PeerIdentity = { sub: claims.data.sub, kind: claims.data.kind, account: acct ?? DEFAULT_ACCOUNT };
  if (grp) id.groups = grp;
  if (sig) id.allow = sig;
  return { id, jti: claims.data.jti, iat, exp };
}

/** Unpadded base64 in either alphabet: phoenix.js sends standard base64 (btoa), which for a JWT is also base64url. */
const ENCODED_TOKEN = /^[A-Za-z0-9_\-+/]+$/;
/** What a decoded token may hold: printable ASCII (a JWT is [A-Za-z0-9_.-]); nothing else reaches the verifier. */
const TOKEN_TEXT = /^[\x21-\x7e]+$/;

/**
 * The token from a `Sec-WebSocket-Protocol` request header (`phoenix, base64url.bearer.phx.<b64>`),
 * or undefined when the header carries none. Throws TokenError('invalid') for a token entry that is
 * not unpadded base64 of a printable token, and for more than one token entry (which one would be
 * meant?). The messages never contain the header or the token.
 */
export function tokenFromProtocols(header: string | readonly string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const entries = (typeof header === 'string' ? [header] : header)
    .flatMap((h) => h.split(','))
    .map((e) => e.trim())
    .filter((e) => e.startsWith(AUTH_TOKEN_SUBPROTOCOL_PREFIX));
  if (entries.length === 0) return undefined;
  if (entries.length > 1) throw new TokenError('invalid', `more than one ${AUTH_TOKEN_SUBPROTOCOL_PREFIX} subprotocol`, 'header');
  const encoded = entries[0].slice(AUTH_TOKEN_SUBPROTOCOL_PREFIX.length);
  if (!ENCODED_TOKEN.test(encoded) || encoded.length % 4 === 1)
    throw new TokenError('invalid', 'subprotocol token is not unpadded base64', 'header');
  const token = Buffer.from(encoded, 'base64').toString('latin1');
  if (!TOKEN_TEXT.test(token)) throw new TokenError('invalid', 'subprotocol token does not decode to a token', 'header');
  return token;
}

/**
 * The token an upgrade request carries, and where (docs/security.md "Tokens out of URLs"):
 * - a `token` query parameter while the query is not allowed is refused (`in_query_disabled`),
 *   even beside a header token: the token has already been written into a URL, and only a refusal
 *   makes that client change;
 * - else the header's token, when there is one (a query token beside it is ignored);
 * - else the query's, when allowed; else none (verifyToken then refuses it as `missing`).
 */
export function upgradeToken(
  protocolsHeader: string | readonly string[] | undefined,
  queryToken: string | null,
  opts: { queryAllowed: boolean },
): { token?: string; carrier?: TokenCarrier } {
  if (queryToken !== null && !opts.queryAllowed) {
    throw new TokenError(
      'in_query_disabled',
      'token in the URL query refused (SLUICE_TOKEN_IN_QUERY=off): send it in Sec-WebSocket-Protocol',
      'query',
    );
  }
  const fromHeader = tokenFromProtocols(protocolsHeader);
  if (fromHeader !== undefined) return { token: fromHeader, carrier: 'header' };
  if (queryToken) return { token: queryToken, carrier: 'query' };
  return {};
}
