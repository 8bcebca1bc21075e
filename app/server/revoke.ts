/**
 * Revocation on the server (app/auth/revocation.ts says what each kind means): the admin routes an
 * operator (the issuer's backend) calls, and what a server does with a revocation, wherever it was
 * made. Every route here sits behind the admin listener's bearer check (admin.ts); none is public.
 *
 *   POST /revoke?jti=J[&exp=S]              revoke one token until its `exp` (epoch seconds)
 *   POST /revoke?account=A&sub=P[&exp=S]    revoke every token of peer A/P issued up to now
 *   POST /disconnect?account=A&sub=P        close peer A/P's connections on every server (no revocation)
 *   GET  /revocations[?account=A]           the revocations in force (this server's copy)
 *
 * Without `exp`, a revocation lasts the longest token lifetime (SLUICE_TOKEN_MAX_TTL_SEC) plus the
 * tolerated clock skew: no token issued before it can outlive that, so a later `exp` is cut to it.
 * Answers: 201 (revoke) / 202 (disconnect) with the revocation and `boundMs`, the contract's
 * revocationBoundMs: every server closes the peer within it (usually within milliseconds).
 */
import type http from 'node:http';
import type { Logger } from 'pino';
import { accountOf, peerAddress, subOf } from '../auth/policy';
import { JTI_PATTERN, MAX_REVOCATIONS, Revocation, revokes, TokenFacts } from '../auth/revocation';
import { PEER_ID_PATTERN, TOKEN_CLOCK_SKEW_SEC } from '../auth/token';
import type { Backplane } from '../backplane/types';
import { revocationBoundMs, Timeouts } from '../contract/timeouts';
import { CLOSE } from '../protocol/phoenix';
import type { Limits } from './config';
import { json } from './http';

export const REVOCATION_ROUTES = ['/revoke', '/disconnect', '/revocations'];

/** What the revocation routes need from the server. */
export interface RevocationAdmin {
  readonly config: { timeouts: Timeouts; limits: Pick<Limits, 'tokenMaxTtlSec'> };
  readonly log: Logger;
  readonly backplane: Pick<Backplane, 'revoke' | 'revocations'>;
}

/** A revocation as the admin API shows it. */
export function shownRevocation(r: Revocation): Record<string, string> {
  const target: Record<string, string> = r.kind === 'jti' ? { jti: r.value } : { account: accountOf(r.value), sub: subOf(r.value) };
  return { kind: r.kind, ...target, at: new Date(r.at).toISOString(), until: new Date(r.until).toISOString() };
}

type Fail = (err: Error) => void;
type Refusal = { field: string; expected: string };

/** The revocation a request asks for, or which parameter is wrong and what was expected. */
export function parseRevocation(q: URLSearchParams, disconnect: boolean, tokenMaxTtlSec: number, now: number): Revocation | Refusal {
  const jti = disconnect ? null : q.get('jti');
  const sub = q.get('sub');
  const account = q.get('account');
  let value: string;
  if (jti !== null) {
    if (!JTI_PATTERN.test(jti)) return { field: 'jti', expected: '1-128 printable ASCII characters without spaces' };
    if (sub !== null || account !== null) return { field: 'jti', expected: 'either jti, or account and sub, not both' };
    value = jti;
  } else {
    if (account === null)
      return { field: 'account', expected: "the peer's account (its token's acct claim; `default` for a development token without one)" };
    if (sub === null || !PEER_ID_PATTERN.test(sub)) return { field: 'sub', expected: 'a peer id (1-128 characters of [A-Za-z0-9_.-])' };
    value = peerAddress(account, sub);
  }
  // No token issued before now outlives this: a later exp is cut to it.
  const longest = now + (tokenMaxTtlSec + TOKEN_CLOCK_SKEW_SEC) * 1000;
  let until = disconnect ? now : longest;
  const exp = q.get('exp');
  if (exp !== null && !disconnect) {
    if (!/^\d{1,12}$/.test(exp) || Number(exp) * 1000 <= now)
      return { field: 'exp', expected: "epoch seconds in the future (the token's exp)" };
    until = Math.min(Number(exp) * 1000, longest);
  }
  return { kind: disconnect ? 'peer' : jti !== null ? 'jti' : 'sub', value, at: now, until };
}

/** Serve `route` if it is a revocation route; false when it is not one. */
export function serveRevocation(server: RevocationAdmin, route: string, url: URL, res: http.ServerResponse, fail: Fail): boolean {
  const q = url.searchParams;
  switch (route) {
    case 'GET /revocations': {
      const account = q.get('account');
      const rows = server.backplane.revocations
        .active()
        .filter((r) => account === null || (r.kind !== 'jti' && accountOf(r.value) === account));
      json(res, 200, { revocations: rows.map(shownRevocation), boundMs: revocationBoundMs(server.config.timeouts) });
      return true;
    }
    case 'POST /revoke':
    case 'POST /disconnect': {
      const disconnect = route === 'POST /disconnect';
      const parsed = parseRevocation(q, disconnect, server.config.limits.tokenMaxTtlSec, Date.now());
      if ('field' in parsed) {
        json(res, 400, { error: 'bad_request', ...parsed });
        return true;
      }
      const r = parsed;
      if (!disconnect && server.backplane.revocations.size >= MAX_REVOCATIONS) {
        json(res, 503, { error: 'revocations_full', expected: `at most ${MAX_REVOCATIONS} revocations in force` });
        return true;
      }
      server.backplane
        .revoke(r)
        .then(() => {
          server.log.info({ revocation: shownRevocation(r) }, disconnect ? 'peer disconnected over admin' : 'token revoked over admin');
          json(res, disconnect ? 202 : 201, { revocation: shownRevocation(r), boundMs: revocationBoundMs(server.config.timeouts) });
        })
        .catch(fail);
      return true;
    }
    default:
      return false;
  }
}

/** Something a revocation can close: a connection, with its token's facts. */
export interface Revocable {
  readonly isOpen: boolean;
  closeWith(code: number, reason: string, text: string): void;
}

/** Close every open connection `r` revokes (CLOSE.revoked: the SDK stops); returns how many. */
export function closeRevoked<C extends Revocable>(conns: Iterable<C>, facts: (c: C) => TokenFacts | undefined, r: Revocation): number {
  let n = 0;
  const text = r.kind === 'peer' ? 'disconnected by operator' : 'token revoked';
  for (const c of conns) {
    const t = facts(c);
    if (!c.isOpen || !t || !revokes(r, t)) continue;
    c.closeWith(CLOSE.revoked, 'revoked', text);
    n++;
  }
  return n;
}
