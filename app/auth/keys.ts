/**
 * The issuer's public keys for verifying EdDSA / ES256 peer tokens: a JWKS fetched from a URL (the
 * issuer publishes it) or read from a file (offline), refreshed on a timer, selected by `kid`.
 *
 * Rotation without downtime: the issuer publishes the new key beside the old one (overlap), signs
 * new tokens with it, and removes the old key once no valid token needs it; each refresh picks that
 * up. A token whose `kid` is not in the set triggers one early refresh (at most one per cooldown),
 * so a key published a moment ago is accepted at once.
 *
 * An unreachable JWKS never takes serving peers down: tokens are verified at the upgrade only, and a
 * failed refresh keeps the last good keys (a log line at most once per refresh interval, the
 * `sluice_jwks_refresh_failures_total` counter and the `sluice_jwks_age_seconds` gauge). Staleness
 * is bounded: once the last good set is older than `maxStaleMs`, new upgrades are refused
 * (`token_unknown_key`, the message says why) while connected peers stay.
 */
import fs from 'node:fs/promises';
import { createLocalJWKSet, errors, JSONWebKeySet, JWTVerifyGetKey } from 'jose';
import type { Logger } from 'pino';
import { TokenError } from './token';

export interface JwksOptions {
  /** https URL of the issuer's JWKS (http only for loopback tests) ... */
  url?: string;
  /** ... or a file holding one (offline use). */
  file?: string;
  /** Refresh this often (SLUICE_JWKS_REFRESH_MS, default 60 s). */
  refreshMs: number;
  /** Keep using the last good set at most this long after it was loaded (SLUICE_JWKS_MAX_STALE_MS, default 24 h). */
  maxStaleMs: number;
  /** One fetch is aborted after this (default 5 s). */
  fetchTimeoutMs?: number;
  /** An unknown `kid` refreshes early at most this often (default 10 s). */
  cooldownMs?: number;
  log?: Logger;
  /** Each refresh's outcome (metrics). */
  onRefresh?(ok: boolean): void;
}

/** Algorithms accepted with a JWKS (never HS256: the public set must not be usable as a secret). */
export const JWKS_ALGORITHMS = ['EdDSA', 'ES256'];

export class IssuerKeys {
  private set?: ReturnType<typeof createLocalJWKSet>;
  private loadedAt = 0;
  private lastEarly = 0;
  private lastFailLog = 0;
  private inFlight?: Promise<boolean>;
  private timer?: NodeJS.Timeout;
  /** Refreshes that failed since start (also counted by the server's metric). */
  failures = 0;

  constructor(private readonly o: JwksOptions) {
    if (!o.url === !o.file) throw new Error('IssuerKeys: exactly one of url or file');
  }

  /** First load, then refresh on the timer. Resolves whether the first load worked (the server is unready until one has). */
  async start(): Promise<boolean> {
    const ok = await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.o.refreshMs);
    this.timer.unref();
    return ok;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** A set has been loaded at least once. */
  get loaded(): boolean {
    return this.set !== undefined;
  }

  /** Seconds since the last good load (Infinity before the first). */
  ageSec(now = Date.now()): number {
    return this.set ? (now - this.loadedAt) / 1000 : Infinity;
  }

  /** Fetch or read the JWKS now (single flight); true when a valid set was loaded. */
  refresh(): Promise<boolean> {
    this.inFlight ??= this.load().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** jose's key resolver: the set's key for the token's `kid` and `alg`. */
  readonly resolver: JWTVerifyGetKey = async (header, token) => {
    const set = this.set;
    if (!set) throw new TokenError('unknown_key', 'issuer keys not loaded yet (JWKS unreachable since start)');
    if (Date.now() - this.loadedAt > this.o.maxStaleMs) {
      throw new TokenError(
        'unknown_key',
        `issuer keys are ${Math.round(this.ageSec())} s old, beyond SLUICE_JWKS_MAX_STALE_MS (${this.o.maxStaleMs / 1000} s): the JWKS has been unreachable`,
      );
    }
    try {
      return await set(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey) || Date.now() - this.lastEarly < (this.o.cooldownMs ?? 10_000)) throw err;
      // A key published since the last refresh (the start of a rotation): look once, now.
      this.lastEarly = Date.now();
      if (!(await this.refresh()) || !this.set) throw err;
      return this.set(header, token);
    }
  };

  private async load(): Promise<boolean> {
    try {
      const text = this.o.url ? await this.fetchText(this.o.url) : await fs.readFile(this.o.file!, 'utf8');
      const jwks = JSON.parse(text) as JSONWebKeySet;
      if (!jwks || !Array.isArray(jwks.keys)) throw new Error('not a JWKS: no "keys" array');
      const usable = jwks.keys.filter((k) => typeof k.kid === 'string' && JWKS_ALGORITHMS.includes(String(k.alg)));
      if (usable.length === 0) throw new Error(`no key with a kid and alg ${JWKS_ALGORITHMS.join(' or ')}`);
      this.set = createLocalJWKSet({ keys: usable });
      this.loadedAt = Date.now();
      this.o.onRefresh?.(true);
      return true;
    } catch (err) {
      this.failures++;
      this.o.onRefresh?.(false);
      const now = Date.now();
      if (now - this.lastFailLog >= this.o.refreshMs) {
        this.lastFailLog = now;
        this.o.log?.warn(
          {
            source: this.o.url ?? this.o.file,
            err: (err as Error).message,
            keysAgeSec: Math.round(this.ageSec()),
            failures: this.failures,
          },
          'JWKS refresh failed: keeping the last good keys',
        );
      }
      return false;
    }
  }

  private async fetchText(url: string): Promise<string> {
    const res = await fetch(url, { signal: AbortSignal.timeout(this.o.fetchTimeoutMs ?? 5_000), headers: { Accept: 'application/json' } });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return res.text();
  }
}
