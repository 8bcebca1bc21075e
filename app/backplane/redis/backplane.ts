/**
 * RedisBackplane: the `Backplane` for a region of servers sharing one Redis (docs/backplane.md has the
 * key layout, TTLs and memory bound). Same semantics as MemoryBackplane; what differs is where the
 * state lives and how a delivery reaches the peer's server:
 *
 *   publish  -> one Lua script: dedupe (to,from,id), next seq, XADD to the peer's history, and XADD
 *               to the owner's inbox for the peer's bucket (every key in the bucket's slot: keys.ts); the owner's reader hands it to the socket and acks
 *               (routing.ts). `delivered` only when the owner said so, `stored` otherwise.
 *   attach   -> one Lua script: new epoch, owner record, presence; the previous owner (any server)
 *               is told through its inbox to evict its stale connection.
 *   presence -> per-server peer hashes + liveness deadlines (presence.ts); events via pub/sub.
 *
 * One instance per server: the inboxes and the liveness entries are this server's. The target is one
 * Redis or a Redis Cluster (target.ts); the key layout is the same for both.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import pino, { Logger } from 'pino';
import type { PeerKind } from '../../auth/token';
import type { Timeouts } from '../../contract/timeouts';
import { BudgetLimits, DEFAULT_BUDGET, MemoryBudget, RecipientQuota } from '../budget';
import { senderHistoryBound } from '../../contract/recipient-quota';
import {
  AttachingPeer,
  AttachOptions,
  Backplane,
  BackplaneError,
  BackplaneHealth,
  PeerSession,
  PresenceEntry,
  PresenceEvent,
  PublishOutcome,
  REPLAY_PAGE_DEFAULT,
  ReplayResult,
  SignalEnvelope,
} from '../types';
import { closeClients, createClients, describeRedisError, RedisClients, RedisTiming, redisTiming } from './clients';
import { DEFAULT_BUCKETS, DEFAULT_PREFIX, Keys, keys as makeKeys } from './keys';
import { ServerIdConflictError } from './claim';
import { PresenceLease } from './presence';
import { RedisRevocations } from './revocations';
import type { Revocation } from '../../auth/revocation';

export { ServerIdConflictError } from './claim';
import { AckWaiters, InboxReader } from './routing';
import { Attachments } from './attachments';
import { scripts } from './scripts';
import { SignalPath } from './signals';
import type { ClusterNode, NatMap, RedisTarget } from './target';

export interface RedisBackplaneOptions {
  /** One Redis (`redis://host:port`); or `cluster`. */
  url?: string;
  /** Seed nodes of a Redis Cluster (SLUICE_REDIS_CLUSTER). */
  cluster?: ClusterNode[];
  /** Buckets of the key layout (keys.ts), fixed per deployment. */
  buckets?: number;
  /** Cluster node addresses reached elsewhere (SLUICE_REDIS_NAT_MAP; target.ts). */
  natMap?: NatMap;
  /** Replicas that must acknowledge a signal's writes (WAIT) before its `ok` (SLUICE_REDIS_WAIT_REPLICAS; 0: none). */
  waitReplicas?: number;
  serverId: string;
  timeouts: Timeouts;
  log?: Logger;
  /** Key prefix (default `sluice:`): several deployments can share one Redis. */
  prefix?: string;
  /** Cap of a server's inbox stream; only reached when its reader is cut off for long. */
  inboxMaxLen?: number;
  /** Per-recipient history bytes (enforced by the publish script) and this process's budget. */
  budget?: Partial<BudgetLimits>;
}

export class RedisBackplane implements Backplane {
  readonly kind = 'redis' as const;
  readonly serverId: string;
  /** History and dedupe live in Redis; this accounts for the frames this process's connections hold. */
  readonly memory: MemoryBudget;
  private readonly historyMaxBytes: number;
  private readonly quota: RecipientQuota;
  /** What one sender may hold of an away recipient's history (the contract's senderHistoryBound). */
  private readonly senderBound: { entries: number; bytes: number };
  private readonly k: Keys;
  private readonly timing: RedisTiming;
  private readonly clients: RedisClients;
  private readonly log: Logger;
  private readonly acks = new AckWaiters(randomBytes(6).toString('hex'));
  private readonly inboxes: InboxReader[];
  private readonly signals: SignalPath;
  private readonly attachments: Attachments;
  private readonly lease: PresenceLease;
  private readonly events = new EventEmitter();
  private readonly inboxMaxLen: number;
  private readonly revocationSync: RedisRevocations;
  private closed = false;

  constructor(private readonly o: RedisBackplaneOptions) {
    this.serverId = o.serverId;
    this.k = makeKeys(o.prefix ?? DEFAULT_PREFIX, o.buckets ?? DEFAULT_BUCKETS);
    this.timing = redisTiming(o.timeouts);
    this.log = (o.log ?? pino({ level: 'silent' })).child({ component: 'redis-backplane' });
    this.inboxMaxLen = o.inboxMaxLen ?? 100_000;
    const budget = { ...DEFAULT_BUDGET, ...o.budget };
    this.historyMaxBytes = budget.historyMaxBytesPerPeer;
    this.quota = budget;
    this.senderBound = senderHistoryBound(budget, o.timeouts.resume.historyMaxMessages, this.historyMaxBytes);
    this.memory = new MemoryBudget(budget.memoryBudgetBytes);
    this.events.setMaxListeners(0);
    let lastErrorLog = 0;
    const target: RedisTarget = o.cluster ? { cluster: o.cluster, natMap: o.natMap } : { url: o.url ?? '' };
    if (!o.cluster && !o.url) throw new Error('RedisBackplane needs url (one Redis) or cluster (seed nodes)');
    this.clients = createClients(target, this.k.buckets, this.timing, `sluice:${o.serverId}`, (which, err) => {
      // Every reconnect attempt errors while Redis is down: log at most once a second.
      if (Date.now() - lastErrorLog > 1_000) {
        lastErrorLog = Date.now();
        this.log.warn({ which, err: err.message }, 'redis connection error');
      }
    });
    const { command, readers, sub } = this.clients;
    this.revocationSync = new RedisRevocations({
      command,
      keys: this.k,
      resyncIntervalMs: o.timeouts.revocation.resyncIntervalMs,
      log: this.log,
      run: (op) => this.run(op),
      onFirstLoad: () => this.lease.refresh(),
    });
    this.lease = new PresenceLease({
      command,
      keys: this.k,
      serverId: o.serverId,
      timeouts: o.timeouts,
      timing: this.timing,
      log: this.log,
      restore: (buckets) => this.attachments.restore(buckets),
      instanceToken: randomBytes(12).toString('hex'),
      onConflict: () => void Promise.all(this.inboxes.map((r) => r.stop())),
      // Ready only once the revocations were read: no revoked token is admitted by a new server.
      connectionsReady: () => readers.every((r) => r.conn.status === 'ready') && sub.status === 'ready' && this.revocationSync.loaded,
      onHealth: (h) => {
        // Our own close() drops the connections: that is no outage (close() reports 'closed' itself).
        if (this.closed) return;
        this.events.emit('health', h);
        if (h.ok) this.attachments.retryDetaches();
      },
    });
    for (const c of [command, sub, ...readers.map((r) => r.conn)]) {
      c.on('ready', () => this.lease.refresh());
      for (const ev of ['close', 'end', 'reconnecting']) c.on(ev, () => this.lease.refresh('redis connection lost'));
    }
    sub.on('message', (channel: string, message: string) => this.onMessage(channel, message));
    sub
      .subscribe(this.k.presenceChannel, this.k.ackChannel(o.serverId), this.k.revocationChannel)
      .catch((err: Error) => this.log.error({ err: err.message }, 'subscribe failed'));
    this.signals = new SignalPath({
      command: () => this.clients.command,
      keys: this.k,
      serverId: o.serverId,
      timeouts: o.timeouts,
      timing: this.timing,
      quota: this.quota,
      senderBound: this.senderBound,
      historyMaxBytes: this.historyMaxBytes,
      inboxMaxLen: this.inboxMaxLen,
      waitReplicas: o.waitReplicas ?? 0,
      acks: this.acks,
      lease: this.lease,
      log: this.log,
      run: (op, bucket) => this.run(op, bucket),
      raiseFloor: (peerId, seq) => this.attachments.raiseFloor(peerId, seq),
    });
    this.attachments = new Attachments({
      command: () => this.clients.command,
      keys: this.k,
      serverId: o.serverId,
      timeouts: o.timeouts,
      inboxMaxLen: this.inboxMaxLen,
      acks: this.acks,
      owners: this.signals,
      tick: () => void this.lease.tick(),
      log: this.log,
      run: (op, bucket) => this.run(op, bucket),
    });
    this.inboxes = readers.map(
      (r) =>
        new InboxReader({
          reader: r.conn,
          command,
          keys: r.buckets.map((b) => this.k.inbox(o.serverId, b)),
          blockMs: this.timing.readBlockMs,
          log: this.log,
          handle: (entries) => this.attachments.onInbox(entries),
        }),
    );
    for (const r of this.inboxes) r.start();
    this.lease.start();
    this.revocationSync.start();
  }

  get revocations() {
    return this.revocationSync.replica;
  }

  async revoke(r: Revocation): Promise<void> {
    this.assertOpen();
    await this.revocationSync.revoke(r);
  }

  /** Resolves once registered with Redis (tests, tools); rejects after `timeoutMs`. */
  whenReady(timeoutMs = 10_000): Promise<void> {
    if (this.health().ok) return Promise.resolve();
    const conflict = this.lease.conflictDetail();
    if (conflict) return Promise.reject(new ServerIdConflictError(conflict));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`redis backplane not ready after ${timeoutMs} ms: ${this.health().detail ?? ''}`));
      }, timeoutMs);
      const off = this.onHealthChange((h) => {
        if (h.fatal) {
          clearTimeout(timer);
          off();
          reject(new ServerIdConflictError(h.detail ?? 'server id conflict'));
          return;
        }
        if (!h.ok) return;
        clearTimeout(timer);
        off();
        resolve();
      });
    });
  }

  async attach(peer: AttachingPeer, serverId: string, opts: AttachOptions): Promise<PeerSession> {
    this.assertOpen();
    if (serverId !== this.serverId) throw new Error(`this RedisBackplane serves ${this.serverId}, not ${serverId}`);
    return this.attachments.attach(peer, opts);
  }

  async publish(signal: SignalEnvelope): Promise<PublishOutcome> {
    this.assertOpen();
    return this.signals.publish(signal);
  }

  async replay(peerId: string, afterSeq: number | null, limit = REPLAY_PAGE_DEFAULT): Promise<ReplayResult> {
    this.assertOpen();
    return this.signals.replay(peerId, afterSeq, limit);
  }

  async presence(): Promise<PresenceEntry[]> {
    this.assertOpen();
    const k = this.k;
    const perBucket = await Promise.all(
      Array.from({ length: k.buckets }, (_, b) =>
        this.run(
          () => scripts.presence.run(this.clients.command, [k.servers(b), k.away(b)], [k.prefix, k.tag(b)]) as Promise<string[][]>,
          b,
        ),
      ),
    );
    return perBucket
      .flat()
      .map((r) => {
        const e: PresenceEntry = {
          peerId: r[0],
          kind: r[1] as PeerKind,
          serverId: r[2],
          state: r[3] as 'online' | 'away',
          since: Number(r[4]),
        };
        if (r[3] === 'away' && r[5] !== undefined) e.awayUntil = Number(r[5]);
        return e;
      })
      .sort((a, b) => a.peerId.localeCompare(b.peerId));
  }

  subscribePresence(listener: (ev: PresenceEvent) => void): () => void {
    this.events.on('presence', listener);
    return () => this.events.off('presence', listener);
  }

  health(): BackplaneHealth {
    return this.closed ? { ok: false, detail: 'closed' } : this.lease.current();
  }

  onHealthChange(listener: (h: BackplaneHealth) => void): () => void {
    this.events.on('health', listener);
    return () => this.events.off('health', listener);
  }

  /**
   * Peers still attached here turn away (as if their sockets had closed) so they stay addressable
   * for their grace; then the server leaves the registry and the connections close.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.lease.stop();
    this.revocationSync.stop();
    const k = this.k;
    const stopReaders = Promise.all(this.inboxes.map((r) => r.stop()));
    // Wake the blocking XREADs so the readers finish and their connections can QUIT cleanly.
    const ready = this.clients.command.status === 'ready';
    await Promise.all(
      this.clients.readers.map(async (r) => {
        if (!ready) return r.conn.disconnect();
        await this.clients.command.xadd(k.inbox(this.serverId, r.buckets[0]), '*', 'k', 'wake').catch(() => r.conn.disconnect());
      }),
    );
    await stopReaders;
    await this.attachments.closeAll();
    // After a conflict the id, its peer set and its inbox belong to the other process: leave them.
    if (!this.lease.conflictDetail()) {
      // One transaction per bucket (one slot each), then the claim.
      await Promise.all(
        Array.from({ length: k.buckets }, (_, b) =>
          this.clients.command
            .multi()
            .zrem(k.servers(b), this.serverId)
            .srem(k.recovering(b), this.serverId)
            .del(k.serverPeers(this.serverId, b), k.inbox(this.serverId, b))
            .exec()
            .catch(() => undefined),
        ),
      );
      await this.clients.command.del(k.claim(this.serverId)).catch(() => undefined);
    }
    this.acks.settleAll();
    await closeClients(this.clients, this.timing.commandTimeoutMs);
    this.events.emit('health', { ok: false, detail: 'closed' });
    this.events.removeAllListeners();
  }

  private onMessage(channel: string, message: string): void {
    if (channel === this.k.presenceChannel) {
      let ev: PresenceEvent;
      try {
        ev = JSON.parse(message) as PresenceEvent;
      } catch {
        return;
      }
      this.events.emit('presence', ev);
    } else if (channel === this.k.ackChannel(this.serverId)) {
      this.acks.settleMessage(message);
    } else if (channel === this.k.revocationChannel) {
      this.revocationSync.onMessage(message);
    }
  }

  /**
   * Run a Redis operation on `bucket`'s slot; any failure to reach Redis becomes
   * BackplaneError('backplane_unavailable'), and the bucket is checked again before it routes.
   */
  private async run<T>(op: () => Promise<T>, bucket?: number): Promise<T> {
    if (this.clients.command.status !== 'ready') {
      throw new BackplaneError('backplane_unavailable', `redis is not connected (${this.clients.command.status})`);
    }
    try {
      return await op();
    } catch (err) {
      const detail = describeRedisError(err);
      this.log.warn({ err: detail }, 'redis operation failed');
      if (
        /timed out|Connection is closed|Stream isn't writeable|max retries|ECONN|LOADING|CLUSTERDOWN|TRYAGAIN|Too many Cluster redirections/i.test(
          detail,
        )
      ) {
        if (this.clients.cluster && bucket !== undefined) this.lease.uncheckBucket(bucket);
        this.lease.commandFailed(`redis: ${detail}`);
      }
      throw new BackplaneError('backplane_unavailable', `redis: ${detail}`);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new BackplaneError('backplane_unavailable', 'backplane closed');
  }
}
