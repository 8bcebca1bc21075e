/**
 * Presence upkeep for one server: the lease that keeps its registration alive (PresenceLease), the reaper that
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

export interface PresenceLeaseOptions {
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
  /** This process's claim on `serverId` (random per process). */
  instanceToken: string;
  /** Another live process holds (or took over) this server id: stop serving, never share its routing. */
  onConflict(detail: string): void;
}

/** Raised by `whenReady` when another live process holds the server id. */
export class ServerIdConflictError extends Error {
  readonly code = 'SERVER_ID_CONFLICT';
}

export class PresenceLease {
  private registered = false;
  /** Set on every (re)connect: learn whether this is a new Redis process before trusting deadlines. */
  private needsMark = true;
  private lastRunId?: string;
  private lastRenewOk = false;
  private connectedAt = 0;
  private interval?: NodeJS.Timeout;
  private reapTimer?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  /** While another process's claim on our id is being watched: its PTTL when first seen. */
  private heldSeen?: { pttl: number; at: number };
  private conflict?: string;
  private stopped = false;
  private health: BackplaneHealth = { ok: false, detail: 'connecting to redis' };

  constructor(private readonly o: PresenceLeaseOptions) {}

  start(): void {
    this.interval = setInterval(() => void this.tick(), this.o.timeouts.presence.renewIntervalMs);
    this.o.command.on('ready', () => {
      this.connectedAt = Date.now();
      this.needsMark = true;
      void this.tick();
    });
    // Whatever comes back may be another Redis process: nothing is routed until it is checked.
    this.o.command.on('close', () => {
      this.needsMark = true;
    });
    if (this.o.command.status === 'ready') void this.tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.interval) clearInterval(this.interval);
    if (this.reapTimer) clearTimeout(this.reapTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }

  /**
   * True once this server has checked, on the current connection, which Redis process it talks to
   * (and so whether that process is still restoring). A publish before that could read liveness
   * deadlines a restarted Redis loaded from disk, and answer unknown_peer for a live peer.
   */
  processChecked(): boolean {
    return !this.needsMark && this.conflict === undefined;
  }

  /** Set when another live process holds this server id (this one must not serve). */
  conflictDetail(): string | undefined {
    return this.conflict;
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
    this.retrySoon();
  }

  /**
   * While unhealthy, try again every reconnect cap rather than waiting for the next renew: a Redis
   * that answers again (after a pause, a failover, a restart) is back in use within a fraction of
   * a renew interval on every server, not only on the one whose interval happened to fire first.
   */
  private retrySoon(): void {
    if (this.stopped || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.stopped || this.health.ok) return;
      void this.tick().then(() => {
        if (!this.health.ok) this.retrySoon();
      });
    }, this.o.timing.reconnectCapMs);
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
        await scripts.mark.run(command, [keys.redis, keys.servers], [runId, this.o.timeouts.presence.ttlMs]);
        newRedis = this.lastRunId !== undefined && this.lastRunId !== runId;
        if (newRedis) this.o.log.warn({ runId }, 'redis restarted or failed over (new run_id)');
        this.lastRunId = runId;
        this.needsMark = false;
      }
      if (!this.registered) {
        if (!(await this.claim())) return;
        // A previous process with this id died holding peers (its claim expired): they are not ours.
        await this.reap(serverId);
        await scripts.renew.run(
          command,
          [keys.servers, keys.claim(serverId)],
          [serverId, this.o.timeouts.presence.ttlMs, this.o.instanceToken],
        );
        this.registered = true;
        this.connectedAt = Date.now();
        this.o.log.info({ serverId }, 'registered with the redis backplane');
      } else {
        const still = Number(
          await scripts.renew.run(
            command,
            [keys.servers, keys.claim(serverId)],
            [serverId, this.o.timeouts.presence.ttlMs, this.o.instanceToken],
          ),
        );
        if (still === -1)
          return this.conflicted(
            `server id ${serverId} was taken over by another process (this one was cut off from redis for longer than presence.ttlMs)`,
          );
        // A new Redis process may have lost the last writes (no fsync, or a failover to a replica
        // that had not received them): a seq counter one behind would hand out a number a peer
        // already has, and the connection would skip that signal. Restoring puts every local
        // peer's record back and raises its counter to what it has been given.
        if (still === 0 || newRedis) {
          this.o.log.warn({ reaped: still === 0, newRedis }, "restoring this server's peers in redis");
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
      this.retrySoon();
    }
  }

  /**
   * Claim the server id before registering. Held by another process: live if it renews the claim
   * within one renew interval (then this one refuses to start), dead if the claim just runs out
   * (at most presence.ttlMs after that process died; then this one takes it).
   */
  private async claim(): Promise<boolean> {
    const { command, keys, serverId } = this.o;
    const res = (await scripts.claim.run(command, [keys.claim(serverId)], [this.o.instanceToken, this.o.timeouts.presence.ttlMs])) as [
      string,
      number?,
    ];
    if (res[0] === 'ok') {
      this.heldSeen = undefined;
      return true;
    }
    const pttl = Number(res[1]);
    const now = Date.now();
    const seen = this.heldSeen;
    // Renewed since first seen: its remaining time grew beyond what the elapsed time explains.
    if (seen && pttl > seen.pttl - (now - seen.at) + this.o.timing.reconnectCapMs) {
      this.conflicted(`server id ${serverId} is in use by another live process (SLUICE_SERVER_ID must be unique per process)`);
      return false;
    }
    if (!seen) {
      this.heldSeen = { pttl, at: now };
      this.o.log.warn({ serverId, pttl }, 'server id held by another process: waiting one renew interval to see if it is alive');
    }
    this.refresh(`server id ${serverId} held by another process; waiting for it to renew or expire`);
    const wait = Math.min(this.o.timeouts.presence.renewIntervalMs + this.o.timing.reconnectCapMs, Math.max(25, pttl + 25));
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.tick();
    }, wait);
    return false;
  }

  private conflicted(detail: string): void {
    this.conflict = detail;
    this.o.log.error({ serverId: this.o.serverId }, detail);
    this.stop();
    this.lastRenewOk = false;
    this.health = { ok: false, detail, fatal: true };
    this.o.onHealth(this.health);
    this.o.onConflict(detail);
  }

  /** Reap what is due, then sleep until the next deadline (never longer than one renew interval). */
  private async reap(force: string): Promise<void> {
    const { command, keys, serverId, timing } = this.o;
    const reapServers = force === '' && Date.now() - this.connectedAt >= timing.reapGraceMs ? '1' : '0';
    const res = (await scripts.reap.run(
      command,
      [keys.servers, keys.away],
      [keys.prefix, serverId, this.o.timeouts.resume.historyMaxAgeMs, REAP_BATCH, reapServers, force],
    )) as [number, string];
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
