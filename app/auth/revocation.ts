/**
 * Revocations: what an operator (the issuer's backend) asks through the admin API, and how a server
 * tells whether a token is revoked. Plain data and functions; the backplanes carry revocations to
 * every server (app/backplane/revocations.ts, app/backplane/redis/revocations.ts) and the server
 * applies them (closes matching connections with CLOSE.revoked, refuses matching upgrades).
 *
 *   jti   one token: refused while the revocation lasts (until its `exp`, given by the caller, or
 *         the longest token lifetime from now, which no token issued before now can outlive);
 *   sub   every token of one peer (`<account>/<sub>`, policy.ts peerAddress) issued at or before the
 *         revocation (`iat` <= its time, in whole seconds; a token without `iat` counts as issued
 *         before): the issuer re-admits the peer by minting a new token after it;
 *   peer  disconnect only: the peer's open connections are closed, nothing is stored (a token may
 *         connect again; the SDK does not retry by itself after CLOSE.revoked).
 */

export const REVOCATION_KINDS = ['jti', 'sub', 'peer'] as const;
export type RevocationKind = (typeof REVOCATION_KINDS)[number];

export interface Revocation {
  kind: RevocationKind;
  /** jti: the token's `jti`; sub and peer: the peer's address `<account>/<sub>`. */
  value: string;
  /** Epoch ms when it was made (a sub revocation refuses the tokens issued up to then). */
  at: number;
  /** Epoch ms until which it holds (a `peer` disconnect: `at`, it is never stored). */
  until: number;
}

/** What a server knows of a connection's token: enough to match every kind of revocation. */
export interface TokenFacts {
  address: string;
  jti?: string;
  /** `iat`, epoch seconds. */
  iat?: number;
}

/** A `jti` as the token claim and the admin API accept it: printable ASCII without spaces, 1-128 characters. */
export const JTI_PATTERN = /^[\x21-\x7e]{1,128}$/;

/**
 * At most this many revocations are held (each server keeps them all in memory: ~200 bytes each,
 * 20 MB at the cap). The admin API refuses a new one past it (503 `revocations_full`).
 */
export const MAX_REVOCATIONS = 100_000;

/** Whether `r` revokes a connection or an upgrade with token `t`. */
export function revokes(r: Revocation, t: TokenFacts): boolean {
  if (r.kind === 'jti') return t.jti === r.value;
  if (t.address !== r.value) return false;
  return r.kind === 'peer' || t.iat === undefined || t.iat * 1000 <= r.at;
}

/** One revocation as one line (the Redis list member and the pub/sub message): `kind at until value`. */
export function encodeRevocation(r: Revocation): string {
  return `${r.kind} ${Math.floor(r.at)} ${Math.floor(r.until)} ${r.value}`;
}

/** The inverse of encodeRevocation; undefined for anything else (a message from another version). */
export function decodeRevocation(line: string): Revocation | undefined {
  const m = /^(jti|sub|peer) (\d{1,16}) (\d{1,16}) (\S{1,256})$/.exec(line);
  if (!m) return undefined;
  return { kind: m[1] as RevocationKind, at: Number(m[2]), until: Number(m[3]), value: m[4] };
}

/**
 * The revocations a server holds (jti and sub; a `peer` disconnect is never kept). Two revocations
 * of one sub merge into the later time and the later end, so matching is one map lookup per kind.
 */
export class RevocationList {
  private readonly jtis = new Map<string, Revocation>();
  private readonly subs = new Map<string, Revocation>();

  get size(): number {
    return this.jtis.size + this.subs.size;
  }

  /** Keep `r` (unless it has ended); true when it changed what the list revokes. */
  add(r: Revocation, now: number = Date.now()): boolean {
    if (r.kind === 'peer' || r.until <= now) return false;
    const map = r.kind === 'jti' ? this.jtis : this.subs;
    const had = map.get(r.value);
    if (had && had.at >= r.at && had.until >= r.until) return false;
    map.set(r.value, had ? { ...r, at: Math.max(had.at, r.at), until: Math.max(had.until, r.until) } : r);
    return true;
  }

  /** The revocation that refuses token `t` now, if any. */
  match(t: TokenFacts, now: number = Date.now()): Revocation | undefined {
    const byJti = t.jti !== undefined ? this.jtis.get(t.jti) : undefined;
    if (byJti && byJti.until > now) return byJti;
    const bySub = this.subs.get(t.address);
    if (bySub && bySub.until > now && revokes(bySub, t)) return bySub;
    return undefined;
  }

  /** Forget what has ended. */
  prune(now: number = Date.now()): void {
    for (const map of [this.jtis, this.subs]) for (const [k, r] of map) if (r.until <= now) map.delete(k);
  }

  /** What holds now (GET /revocations), oldest first. */
  list(now: number = Date.now()): Revocation[] {
    return [...this.jtis.values(), ...this.subs.values()].filter((r) => r.until > now).sort((a, b) => a.at - b.at);
  }
}
