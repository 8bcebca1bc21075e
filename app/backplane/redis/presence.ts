/**
 * Presence upkeep for one server: the heartbeat that keeps its registration alive, the reaper that
 * turns dead servers' peers and expired away peers offline, and the health flag that /readyz and
 * `sluice_backplane_up` report.
 *
 * Liveness: `servers` holds each server's deadline (Redis clock) = last renew + presence.ttlMs,
 * renewed every presence.renewIntervalMs. A SIGKILLed server stops renewing; at its deadline its
 * peers drop out of GET /presence (the presence script ignores expired servers) and publishes to
 * them answer unknown_peer; the reaper, scheduled for the earliest pending deadline, publishes
 * their `offline` events and frees their keys. So a dead server's peers leave presence at most
 * presence.ttlMs after it died, which the contract keeps <= PRESENCE_MAX_BOUND_MS (60 s).
 */
import type Redis from 'ioredis';
import type { Logger } from 'pino';
import type { Timeouts } from '../../contract/timeouts';
import type { BackplaneHealth } from '../types';
import type { RedisTiming } from './clients';
import type { Keys } from './keys';
import { scripts } from './scripts';

/** At most this many dead servers / due away peers are reaped per script run (keeps each run short). */
const REAP_BATCH = 200;

export interface HeartbeatOptions {
  command: Redis;
  keys: Keys;
  serverId: string;
  timeouts: Timeouts;
  timing: RedisTiming;
  log: Logger;
  /** Redis no longer knows this server (reaped while cut off, or restarted without data): re-register its peers. */
  restore(): Promise<void>;
  /** Other conditions health depends on (the reader and pub/sub connections). */
  connectionsReady(): boolean;
  onHealth(h: BackplaneHealth): void;
}

export class Heartbeat {
  private registered = false;
  /** Set on every (re)connect: learn whether this is a new Redis process before trusting deadlines. */
  private needsMark = true;
  private lastRunId?: string;
  private lastRenewOk = false;
  private connectedAt = 0;
  private interval?: NodeJS.Timeout;
  private reapTimer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  private stopped = false;
  private health: BackplaneHealth = { ok: false, detail: 'connecting to redis' };

  constructor(private readonly o: HeartbeatOptions) {}

  start(): void {
    this.interval = setInterval(() => void this.tick(), this.o.timeouts.presence.renewIntervalMs);
    this.o.command.on('ready', () => {
      this.connectedAt = Date.now();
      this.needsMark = true;
      void this.tick();
    });
    if (this.o.command.status === 'ready') void this.tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.interval) clearInterval(this.interval);
    if (this.reapTimer) clearTimeout(this.reapTimer);
  }

  current(): BackplaneHealth {
    return this.health;
  }

  /** Re-evaluate health (a connection went up or down). */
  refresh(detail?: string): void {
    const ok = !this.stopped && this.lastRenewOk && this.o.command.status === 'ready' && this.o.connectionsReady();
    if (!ok && this.o.command.status !== 'ready') this.lastRenewOk = false;
    const next: BackplaneHealth = ok ? { ok: true } : { ok: false, detail: detail ?? this.health.detail ?? 'redis unavailable' };
    if (next.ok === this.health.ok) return;
    this.health = next;
    this.o.onHealth(next);
  }

  /** A command failed in a way that says Redis is not answering: report it before the next renew does. */
  commandFailed(detail: string): void {
    this.lastRenewOk = false;
    this.refresh(detail);
  }

  /** Run one renew + reap now (single flight: a tick in progress is joined, not doubled). */
  tick(): Promise<void> {
    this.ticking ??= this.runTick().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  private async runTick(): Promise<void> {
    if (this.stopped || this.o.command.status !== 'ready') return;
    const { command, keys, serverId } = this.o;
    try {
      let newRedis = false;
      if (this.needsMark) {
        const runId = /run_id:(\w+)/.exec(await command.info('server'))?.[1] ?? 'unknown';
        // `mark` records (once, for everyone) when this Redis process was first seen; whether
        // *this* server must restore depends on the process it saw last, not on who marked first.
        await scripts.mark.run(command, [keys.redis], [runId]);
        newRedis = this.lastRunId !== undefined && this.lastRunId !== runId;
        if (newRedis) this.o.log.warn({ runId }, 'redis restarted or failed over (new run_id)');
        this.lastRunId = runId;
        this.needsMark = false;
      }
      if (!this.registered) {
        // A previous process with this id may have died holding peers: they are not ours.
        await this.reap(serverId);
        await scripts.renew.run(command, [keys.servers], [serverId, this.o.timeouts.presence.ttlMs]);
        this.registered = true;
        this.connectedAt = Date.now();
        this.o.log.info({ serverId }, 'registered with the redis backplane');
      } else {
        const still = Number(await scripts.renew.run(command, [keys.servers], [serverId, this.o.timeouts.presence.ttlMs]));
        // A new Redis process may have lost the last writes (no fsync, or a failover to a replica
        // that had not received them): a seq counter one behind would hand out a number a peer
        // already has, and the connection would skip that signal. Restoring puts every local
        // peer's record back and raises its counter to what it has been given.
        if (still === 0 || newRedis) {
          this.o.log.warn({ reaped: still === 0, newRedis }, 'restoring this server\'s peers in redis');
          await this.o.restore();
        }
      }
      this.lastRenewOk = true;
      this.refresh();
      await this.reap('');
    } catch (err) {
      if (this.stopped) return;
      this.o.log.warn({ err: (err as Error).message }, 'presence renew failed');
      this.lastRenewOk = false;
      this.refresh(`redis: ${(err as Error).message}`);
    }
  }

  /** Reap what is due, then sleep until the next deadline (never longer than one renew interval). */
  private async reap(force: string): Promise<void> {
    const { command, keys, serverId, timing } = this.o;
    const reapServers = force === '' && Date.now() - this.connectedAt >= timing.reapGraceMs ? '1' : '0';
    const res = (await scripts.reap.run(command, [keys.servers, keys.away], [
      keys.prefix, serverId, this.o.timeouts.resume.historyMaxAgeMs, REAP_BATCH, reapServers, force,
    ])) as [number, string];
    // `next` comes back as a bulk string (the script formats it with %d).
    const gone = Number(res[0]);
    const next = Number(res[1]);
    if (gone > 0) this.o.log.info({ gone }, 'reaped peers (dead servers, expired away grace)');
    if (force !== '' || this.stopped) return;
    const renew = this.o.timeouts.presence.renewIntervalMs;
    // A little after the deadline, so Redis' clock has passed it too.
    const wait = next < 0 ? renew : Math.min(renew, Math.max(next + 25, 25));
    if (reapServers === '0') {
      // In the grace after a (re)connect other servers are not reaped yet: look again when it ends.
      const graceLeft = timing.reapGraceMs - (Date.now() - this.connectedAt);
      this.scheduleReap(Math.min(renew, Math.max(graceLeft + 25, 25)));
    } else {
      this.scheduleReap(wait);
    }
  }

  private scheduleReap(ms: number): void {
    if (this.reapTimer) clearTimeout(this.reapTimer);
    this.reapTimer = setTimeout(() => {
      this.reapTimer = undefined;
      if (this.stopped || this.o.command.status !== 'ready') return;
      this.reap('').catch((err: Error) => this.o.log.debug({ err: err.message }, 'reap failed'));
    }, ms);
  }
}
