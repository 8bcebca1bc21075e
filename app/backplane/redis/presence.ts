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
 *
 * Per bucket (keys.ts): every bucket holds its own copy of the liveness deadlines and its own
 * restart detection (the `beat` script reads the run_id of the process serving the bucket's slot),
 * so on a Redis Cluster a failover of one shard restarts the recovery window of that shard's
 * buckets only. A tick renews the claim on the server id (one key), then beats every bucket.
 */
import type { Timeouts } from '../../contract/timeouts';
import type { BackplaneHealth } from '../types';
import { ServerIdClaim, ServerIdClaimOptions } from './claim';
import { scripts } from './scripts';

/**
 * A bucket nobody has renewed in for this long was cut off (its shard failing over, its slot
 * migrating): deadlines that passed there say nothing about the servers. ttl - renew: an owner
 * renews at most `renewIntervalMs` before an outage starts, so its deadline can pass only after
 * the bucket went unrenewed for at least this long.
 */
export function staleBucketMs(t: Timeouts): number {
  return Math.max(1, t.presence.ttlMs - t.presence.renewIntervalMs);
}

/** What a beat found to do: buckets whose peers to restore, and those whose recovery waits for this server (with the run_id beaten). */
interface Reassert {
  restore: Set<number>;
  pending: Map<number, string>;
}

/** At most this many dead servers / due away peers are reaped per script run (keeps each run short). */
const REAP_BATCH = 200;

/** What the claim needs (command, keys, serverId, timeouts, timing, log, instanceToken), and: */
export interface PresenceLeaseOptions extends ServerIdClaimOptions {
  /**
   * Redis no longer knows this server in these buckets (reaped while cut off, restarted without
   * data) or a new Redis process serves them (restart, failover): re-register their peers.
   */
  restore(buckets: Set<number>): Promise<void>;
  /** Other conditions health depends on (the reader and pub/sub connections). */
  connectionsReady(): boolean;
  onHealth(h: BackplaneHealth): void;
  /** Another live process holds (or took over) this server id: stop serving, never share its routing. */
  onConflict(detail: string): void;
}

export class PresenceLease {
  private registered = false;
  /**
   * Per bucket: checked on the current connection which Redis process serves it. Cleared on every
   * (re)connect and every node error; a bucket routes nothing until a beat has checked it again.
   */
  private readonly checked: boolean[];
  /** Per bucket: the run_id seen last (a different one means a restart or failover). */
  private readonly lastRunIds: Array<string | undefined>;
  /**
   * Per bucket: when it was last checked after being unchecked or served by a new process. Other
   * servers are reaped in a bucket only `reapGraceMs` after that: a promoted replica (or a node
   * back from an outage) holds deadlines that passed while nobody could renew them there.
   */
  private readonly checkedSince: number[];
  /** Per bucket: the primary ("host:port") serving its slot in the Cluster's slot map (single Redis: none). */
  private owners: Array<string | undefined> = [];
  private lastRenewOk = false;
  private connectedAt = 0;
  private interval?: NodeJS.Timeout;
  private reapTimer?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  private readonly idClaim: ServerIdClaim;
  private conflict?: string;
  private stopped = false;
  private health: BackplaneHealth = { ok: false, detail: 'connecting to redis' };

  constructor(private readonly o: PresenceLeaseOptions) {
    this.checked = Array.from({ length: o.keys.buckets }, () => false);
    this.lastRunIds = Array.from({ length: o.keys.buckets }, () => undefined);
    this.checkedSince = Array.from({ length: o.keys.buckets }, () => 0);
    this.idClaim = new ServerIdClaim(o);
  }

  private get allBuckets(): number[] {
    return this.checked.map((_, b) => b);
  }

  start(): void {
    this.interval = setInterval(() => void this.tick(), this.o.timeouts.presence.renewIntervalMs);
    this.o.command.on('ready', () => {
      this.connectedAt = Date.now();
      this.uncheck();
    });
    // Whatever comes back may be another Redis process: nothing is routed until it is checked.
    this.o.command.on('close', () => this.uncheck(false));
    // A Cluster: a node failing or the node set changing may be a failover of some shard. Every
    // bucket is checked again at once (healthy shards answer within a round trip).
    this.o.command.on('node error', (_err: Error, address?: string) => this.uncheckNode(address));
    // The slot map was read again: a bucket whose slot has another primary now (a promoted replica,
    // a finished migration) is checked before it routes, before any command reaches that primary.
    this.o.command.on('refresh', () => this.slotMapRead());
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
  processChecked(bucket: number): boolean {
    return this.checked[bucket] && this.conflict === undefined;
  }

  private slotOwners(): Array<string | undefined> {
    const slots = (this.o.command as { slots?: string[][] }).slots;
    return this.allBuckets.map((b) => slots?.[this.o.keys.slot(b)]?.[0]);
  }

  private slotMapRead(): void {
    const owners = this.slotOwners();
    let changed = false;
    owners.forEach((o, b) => {
      if (this.owners[b] !== undefined && o !== this.owners[b]) {
        this.checked[b] = false;
        changed = true;
      }
    });
    this.owners = owners;
    if (changed && !this.stopped) void this.tick();
  }

  /**
   * A Cluster node failed: forget which process serves the buckets whose slot it holds (all of
   * them when the slot map does not say) and check them again at once; other shards keep routing.
   */
  uncheckNode(address: string | undefined): void {
    const slots = (this.o.command as { slots?: string[][] }).slots;
    for (const b of this.allBuckets) {
      const owner = slots?.[this.o.keys.slot(b)]?.[0];
      if (address === undefined || owner === undefined || owner === address) this.checked[b] = false;
    }
    if (!this.stopped) void this.tick();
  }

  /** A command on `bucket`'s slot failed to reach Redis: check which process serves it before it routes again. */
  uncheckBucket(bucket: number): void {
    this.checked[bucket] = false;
  }

  /** Forget which processes serve the buckets; with `now`, check them again at once. */
  uncheck(now = true): void {
    this.checked.fill(false);
    if (now && !this.stopped) void this.tick();
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
    const { serverId } = this.o;
    try {
      if (!this.registered) {
        if (!(await this.claim())) return;
        // A previous process with this id died holding peers (its claim expired): they are not ours.
        await this.reap(serverId);
      }
      // The claim lives on one shard, the buckets on all: a shard that does not answer (failing
      // over) must not stop the renewals on the others, or every bucket's deadline would pass.
      const [claimed, beaten] = await Promise.allSettled([this.registered ? this.idClaim.renew() : Promise.resolve(true), this.beatAll()]);
      if (claimed.status === 'fulfilled' && !claimed.value)
        return this.conflicted(
          `server id ${serverId} was taken over by another process (this one was cut off from redis for longer than presence.ttlMs)`,
        );
      if (beaten.status === 'rejected') throw beaten.reason;
      if (claimed.status === 'rejected') throw claimed.reason;
      await this.reassert(beaten.value);
      if (!this.registered) {
        this.registered = true;
        this.connectedAt = Date.now();
        this.o.log.info({ serverId }, 'registered with the redis backplane');
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
   * Renew liveness and check the serving process in every bucket, in parallel. Returns the buckets
   * whose peers need restoring; throws when any bucket could not be reached (after the others
   * have been checked and re-asserted: one shard's outage does not hold up the rest).
   */
  private async beatAll(): Promise<Reassert> {
    const { command, keys, serverId, timeouts } = this.o;
    const todo: Reassert = { restore: new Set<number>(), pending: new Map<number, string>() };
    const results = await Promise.allSettled(
      this.allBuckets.map((b) =>
        scripts.beat.run(
          command,
          [keys.redis(b), keys.servers(b), keys.recovering(b)],
          [serverId, timeouts.presence.ttlMs, staleBucketMs(timeouts)],
        ),
      ),
    );
    let failed: unknown;
    results.forEach((r, b) => {
      if (r.status === 'rejected') {
        failed ??= r.reason;
        return;
      }
      const [runId, had, fresh, pending] = r.value as [string, number, number, number];
      const last = this.lastRunIds[b];
      if (last !== undefined && last !== runId) this.o.log.warn({ bucket: b, runId }, 'redis restarted or failed over (new run_id)');
      // Pending: the bucket waits for this server (and stays refusing publishes) until it restored there.
      if (Number(pending) === 1) todo.pending.set(b, runId);
      if (Number(had) === 0 || (last !== undefined && last !== runId) || Number(pending) === 1) todo.restore.add(b);
      if (!this.checked[b] || last !== runId || Number(fresh) === 1) this.checkedSince[b] = Date.now();
      this.lastRunIds[b] = runId;
      this.checked[b] = true;
    });
    if (failed !== undefined) {
      // Peers of the reachable buckets are re-asserted now; the others when their shard answers.
      await this.reassert(todo);
      throw failed;
    }
    return todo;
  }

  /**
   * A new Redis process may have lost the last writes (no fsync, or a failover to a replica that
   * had not received them): a peer record written just before (an attach) is missing, and a seq
   * counter one behind would hand out a number a peer already has. Restoring puts every local
   * peer's record back and raises its counter to what it has been given; then this server leaves
   * the bucket's recovering set, and once every server has, the bucket answers unknown_peer again.
   * (Before registration this server holds no peers: nothing to restore, it only leaves the set.)
   */
  private async reassert(todo: Reassert): Promise<void> {
    const { command, keys, serverId } = this.o;
    if (this.registered && todo.restore.size > 0) {
      this.o.log.warn({ buckets: [...todo.restore] }, "restoring this server's peers in redis");
      await this.o.restore(todo.restore);
    }
    await Promise.all(
      [...todo.pending].map(([b, runId]) => scripts.recovered.run(command, [keys.redis(b), keys.recovering(b)], [serverId, runId])),
    );
    todo.restore.clear();
    todo.pending.clear();
  }

  /** Claim the server id before registering (claim.ts); false while another process holds it. */
  private async claim(): Promise<boolean> {
    const res = await this.idClaim.take();
    if (res.kind === 'ok') return true;
    if (res.kind === 'conflict') {
      this.conflicted(res.detail);
      return false;
    }
    this.refresh(res.detail);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.tick();
    }, res.retryInMs);
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

  /** Reap what is due in every bucket, then sleep until the next deadline (never longer than one renew interval). */
  private async reap(force: string): Promise<void> {
    const { command, keys, serverId, timing } = this.o;
    const now = Date.now();
    const reapServers = force === '' && now - this.connectedAt >= timing.reapGraceMs ? '1' : '0';
    const settled = (b: number) => this.checked[b] && now - this.checkedSince[b] >= timing.reapGraceMs;
    const results = await Promise.all(
      this.allBuckets.map(
        (b) =>
          scripts.reap.run(
            command,
            [keys.servers(b), keys.away(b), keys.redis(b), keys.recovering(b)],
            [
              keys.prefix,
              serverId,
              this.o.timeouts.resume.historyMaxAgeMs,
              REAP_BATCH,
              reapServers === '1' && settled(b) ? '1' : '0',
              force,
              keys.tag(b),
              staleBucketMs(this.o.timeouts),
            ],
          ) as Promise<[number, string]>,
      ),
    );
    // `next` comes back as a bulk string (the script formats it with %d).
    const gone = results.reduce((sum, r) => sum + Number(r[0]), 0);
    const due = results.map((r) => Number(r[1])).filter((n) => n >= 0);
    const next = due.length > 0 ? Math.min(...due) : -1;
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
