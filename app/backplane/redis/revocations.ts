/**
 * Revocations on Redis, for every server of a region (app/auth/revocation.ts says what they mean):
 *
 *   store      one script adds the revocation to the `revoked` ZSET (score = until), drops the ended
 *              ones, sets the key's PEXPIREAT to the latest until, and PUBLISHes it: so a server that
 *              starts later, or whose subscriber was reconnecting, still finds it in the ZSET;
 *   broadcast  pub/sub on `revocations`: every subscribed server applies it within milliseconds. Not
 *              enough alone: "Pub/sub is at-most-once — pair it with durable state if you need
 *              replay" (redis.io/docs/latest/develop/use-cases/pub-sub/nodejs); a subscriber that
 *              was reconnecting never gets the message, hence the ZSET and the resync;
 *   resync     every revocation.resyncIntervalMs, and at once on every (re)connect, each server
 *              re-reads the ZSET: a missed message is applied within revocationBoundMs (the
 *              contract), the guaranteed bound;
 *   readiness  a server is not ready (no upgrade is answered 101) until it has read the list once.
 *
 * A `peer` disconnect is only broadcast (nothing to keep); the resync cannot bring it to a server
 * that missed it, which then keeps that connection (the SDK retries nothing after CLOSE.revoked, so
 * this matters only for a server whose subscriber was down at that moment). Revoke the `sub` for a
 * guarantee.
 */
import type { Logger } from 'pino';
import { decodeRevocation, encodeRevocation, Revocation } from '../../auth/revocation';
import { RevocationReplica } from '../revocations';
import type { Keys } from './keys';
import { LuaScript, RedisLike } from './lua';

/** KEYS: revocations ZSET. ARGV: member, until (ms), channel. Returns how many revocations are kept. */
const REVOKE = new LuaScript(
  'revoke',
  `
local key = KEYS[1]
redis.call('ZREMRANGEBYSCORE', key, '-inf', int(now_ms()))
redis.call('ZADD', key, ARGV[2], ARGV[1])
local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', key, int(tonumber(last[2])))
redis.call('PUBLISH', ARGV[3], ARGV[1])
return redis.call('ZCARD', key)
`,
);

export interface RedisRevocationsOptions {
  command: RedisLike;
  keys: Keys;
  resyncIntervalMs: number;
  log: Logger;
  /** Runs a Redis operation, turning a failure into BackplaneError('backplane_unavailable'). */
  run<T>(op: () => Promise<T>): Promise<T>;
  /** The list was read for the first time (readiness may turn ok). */
  onFirstLoad(): void;
}

export class RedisRevocations {
  readonly replica = new RevocationReplica();
  private timer?: NodeJS.Timeout;
  private syncing?: Promise<void>;
  private loadedOnce = false;

  constructor(private readonly o: RedisRevocationsOptions) {}

  /** True once the list has been read (a server serves nobody before). */
  get loaded(): boolean {
    return this.loadedOnce;
  }

  start(): void {
    this.timer = setInterval(() => void this.resync(), this.o.resyncIntervalMs);
    this.o.command.on('ready', () => void this.resync());
    if (this.o.command.status === 'ready') void this.resync();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Re-read the ZSET and apply what is new (one read at a time). */
  resync(): Promise<void> {
    this.syncing ??= this.read().finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  /** A pub/sub message on the revocations channel. */
  onMessage(message: string): void {
    const r = decodeRevocation(message);
    if (r) this.replica.apply(r);
    else this.o.log.warn({ length: message.length }, 'revocation message not understood, ignored (the resync reads the list)');
  }

  /** Store (unless a disconnect) and broadcast `r`; applied here at once. */
  async revoke(r: Revocation): Promise<void> {
    const line = encodeRevocation(r);
    const { command, keys } = this.o;
    if (r.kind === 'peer') await this.o.run(() => command.publish(keys.revocationChannel, line));
    else await this.o.run(() => REVOKE.run(command, [keys.revocations], [line, Math.floor(r.until), keys.revocationChannel]));
    this.replica.apply(r);
  }

  private async read(): Promise<void> {
    if (this.o.command.status !== 'ready') return;
    try {
      const rows = await this.o.command.zrangebyscore(this.o.keys.revocations, Date.now(), '+inf');
      for (const row of rows) {
        const r = decodeRevocation(row);
        if (r) this.replica.apply(r);
      }
      if (!this.loadedOnce) {
        this.loadedOnce = true;
        this.o.log.info({ revocations: this.replica.size }, 'revocations loaded');
        this.o.onFirstLoad();
      }
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, 'revocation resync failed; retried next interval');
    }
  }
}
