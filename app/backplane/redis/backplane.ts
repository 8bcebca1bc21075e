/**
 * RedisBackplane: the `Backplane` for a region of servers sharing one Redis (docs/backplane.md has the
 * key layout, TTLs and memory bound). Same semantics as MemoryBackplane; what differs is where the
 * state lives and how a delivery reaches the peer's server:
 *
 *   publish  -> one Lua script: dedupe (from,id), next seq, XADD to the peer's history, and XADD
 *               to the owner's inbox; the owner's reader hands it to the socket and acks
 *               (routing.ts). `delivered` only when the owner said so, `stored` otherwise.
 *   attach   -> one Lua script: new epoch, owner record, presence; the previous owner (any server)
 *               is told through its inbox to evict its stale connection.
 *   presence -> per-server peer hashes + liveness deadlines (presence.ts); events via pub/sub.
 *
 * One instance per server: the inbox and the liveness key are this server's.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import pino, { Logger } from 'pino';
import { FORBIDDEN_DETAIL, groupsWire } from '../../auth/policy';
import type { PeerKind } from '../../auth/token';
import type { Timeouts } from '../../contract/timeouts';
import { BudgetLimits, BUSY_RETRY_MS, DEFAULT_BUDGET, MemoryBudget, RecipientQuota } from '../budget';
import { RecipientBusyError } from '../quota';
import { senderHistoryBound } from '../../contract/recipient-quota';
import {
  AttachingPeer,
  AttachOptions,
  Backplane,
  BackplaneError,
  BackplaneHealth,
  Delivery,
  PeerSession,
  PresenceEntry,
  PresenceEvent,
  PublishOutcome,
  REPLAY_PAGE_DEFAULT,
  ReplayResult,
  SignalEnvelope,
} from '../types';
import { closeClients, createClients, describeRedisError, RedisClients, RedisTiming, redisTiming } from './clients';
import { DEFAULT_PREFIX, Keys, keys as makeKeys } from './keys';
import { PresenceLease, ServerIdConflictError } from './presence';
import { RedisRevocations } from './revocations';
import type { Revocation } from '../../auth/revocation';

export { ServerIdConflictError } from './presence';
import { AckWaiters, InboxEntry, InboxReader } from './routing';
import { scripts } from './scripts';

export interface RedisBackplaneOptions {
  url: string;
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

interface LocalPeer {
  epoch: string;
  kind: PeerKind;
  /** `,g1,g2,` ('' for none): restored with the record after a Redis restart. */
  groups: string;
  since: number;
  opts: AttachOptions;
  /** Highest seq this peer has been given here: numbering must never restart below it. */
  floor: number;
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
  private readonly sessions = new Map<string, LocalPeer>();
  /** Detaches that failed while Redis was away: `peer epoch`, retried on recovery. */
  private readonly pendingDetach = new Set<string>();
  private readonly acks = new AckWaiters(randomBytes(6).toString('hex'));
  private readonly inbox: InboxReader;
  private readonly lease: PresenceLease;
  private readonly events = new EventEmitter();
  private readonly inboxMaxLen: number;
  private readonly revocationSync: RedisRevocations;
  private closed = false;

  constructor(private readonly o: RedisBackplaneOptions) {
    this.serverId = o.serverId;
    this.k = makeKeys(o.prefix ?? DEFAULT_PREFIX);
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
    this.clients = createClients(o.url, this.timing, `sluice:${o.serverId}`, (which, err) => {
      // Every reconnect attempt errors while Redis is down: log at most once a second.
      if (Date.now() - lastErrorLog > 1_000) {
        lastErrorLog = Date.now();
        this.log.warn({ which, err: err.message }, 'redis connection error');
      }
    });
    const { command, reader, sub } = this.clients;
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
      restore: () => this.restore(),
      instanceToken: randomBytes(12).toString('hex'),
      onConflict: () => void this.inbox.stop(),
      // Ready only once the revocations were read: no revoked token is admitted by a new server.
      connectionsReady: () => reader.status === 'ready' && sub.status === 'ready' && this.revocationSync.loaded,
      onHealth: (h) => {
        // Our own close() drops the connections: that is no outage (close() reports 'closed' itself).
        if (this.closed) return;
        this.events.emit('health', h);
        if (h.ok) this.retryDetaches();
      },
    });
    for (const c of [command, reader, sub]) {
      c.on('ready', () => this.lease.refresh());
      for (const ev of ['close', 'end', 'reconnecting']) c.on(ev, () => this.lease.refresh('redis connection lost'));
    }
    sub.on('message', (channel: string, message: string) => this.onMessage(channel, message));
    sub
      .subscribe(this.k.presenceChannel, this.k.ackChannel(o.serverId), this.k.revocationChannel)
      .catch((err: Error) => this.log.error({ err: err.message }, 'subscribe failed'));
    this.inbox = new InboxReader({
      reader,
      command,
      key: this.k.inbox(o.serverId),
      blockMs: this.timing.readBlockMs,
      log: this.log,
      handle: (entries) => this.onInbox(entries),
    });
    this.inbox.start();
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
    const k = this.k;
    const res = (await this.run(() =>
      scripts.attach.run(
        this.clients.command,
        [k.peer(peer.id), k.serverPeers(serverId), k.seq(peer.id), k.history(peer.id), k.away, k.servers, k.epoch],
        [k.prefix, peer.id, peer.kind, serverId, this.inboxMaxLen, groupsWire(peer.groups)],
      ),
    )) as [string, number, number];
    if (res[0] !== 'ok') {
      void this.lease.tick();
      throw new BackplaneError('backplane_unavailable', 'this server is not registered with redis yet');
    }
    const epoch = String(res[1]);
    const prev = this.sessions.get(peer.id);
    this.sessions.set(peer.id, { epoch, kind: peer.kind, groups: groupsWire(peer.groups), since: Number(res[2]), opts, floor: 0 });
    // The newest attachment wins, here as across servers.
    if (prev) prev.opts.onEvicted();
    return new RedisSession(this, peer.id, epoch);
  }

  async publish(signal: SignalEnvelope): Promise<PublishOutcome> {
    this.assertOpen();
    // Right after a reconnect this server has not yet seen which Redis process answers (a
    // restarted one may have loaded stale liveness deadlines): it routes nothing until it has.
    if (!this.lease.processChecked())
      throw new BackplaneError('backplane_unavailable', this.lease.conflictDetail() ?? 'redis reconnected: checking for a restart');
    const k = this.k;
    const check = signal.check;
    const { reqId, result } = this.acks.register();
    let res: [string, number?, string?];
    try {
      res = (await this.run(() =>
        scripts.publish.run(
          this.clients.command,
          [
            k.dedupe(signal.from, signal.id),
            k.peer(signal.to),
            k.seq(signal.to),
            k.history(signal.to),
            k.servers,
            k.redis,
            k.quota(signal.to),
          ],
          [
            k.prefix,
            signal.to,
            signal.from,
            signal.id,
            signal.data,
            this.serverId,
            reqId,
            this.o.timeouts.resume.dedupeWindowMs,
            this.o.timeouts.resume.historyMaxMessages,
            this.o.timeouts.resume.historyMaxAgeMs,
            this.inboxMaxLen,
            this.timing.rebuildMs,
            this.historyMaxBytes,
            check ? (check.absent === 'forbidden' ? 'forbidden' : 'unknown') : 'unknown',
            check?.refuseKind ?? '',
            check?.groupsWire ?? '*',
            this.quota.recipientSignalsPerSec,
            this.quota.recipientBytesPerSec,
            this.senderBound.entries,
            BUSY_RETRY_MS,
            this.senderBound.bytes,
          ],
        ),
      )) as typeof res;
    } catch (err) {
      this.acks.settle(reqId, null);
      throw err;
    }
    const seq = Number(res[1]);
    switch (res[0]) {
      case 'duplicate':
        this.acks.settle(reqId, null);
        return { status: 'duplicate', seq };
      case 'stored':
        this.acks.settle(reqId, null);
        return { status: 'stored', seq };
      case 'busy':
        this.acks.settle(reqId, null);
        throw new RecipientBusyError(seq, BUSY_WHY[res[2] ?? ''] ?? 'over quota');
      case 'forbidden':
        this.acks.settle(reqId, null);
        throw new BackplaneError('forbidden', FORBIDDEN_DETAIL);
      case 'recovering':
        this.acks.settle(reqId, null);
        throw new BackplaneError('backplane_unavailable', 'redis restarted: servers are restoring their peers');
      case 'routed': {
        this.acks.arm(reqId, this.timing.ackTimeoutMs);
        const handed = await result;
        return { status: handed ? 'delivered' : 'stored', seq };
      }
      default:
        this.acks.settle(reqId, null);
        throw new BackplaneError('unknown_peer', `peer ${signal.to} is not online`);
    }
  }

  async replay(peerId: string, afterSeq: number | null, limit = REPLAY_PAGE_DEFAULT): Promise<ReplayResult> {
    this.assertOpen();
    // One page per call (XRANGE ... COUNT): a reply is at most `limit` entries, never the whole history.
    const count = Math.max(1, Math.floor(limit));
    const res = (await this.run(() =>
      scripts.replay.run(
        this.clients.command,
        [this.k.seq(peerId), this.k.history(peerId)],
        [afterSeq === null ? '' : String(afterSeq), this.o.timeouts.resume.historyMaxAgeMs, count + 1],
      ),
    )) as [number, string?, number?, Array<[string, string[]]>?];
    const last = Number(res[0]);
    const local = this.sessions.get(peerId);
    const raise = (seq: number) => {
      if (local) local.floor = Math.max(local.floor, seq);
    };
    if (afterSeq === null) {
      raise(last);
      return { deliveries: [], more: false, lastSeq: last };
    }
    if (res[1] === 'seq_reset') {
      // Clamped (see the replay script): the peer continues from Redis' last seq.
      raise(last);
      return { deliveries: [], more: false, lastSeq: last, gap: { reason: 'seq_reset', missedFrom: last + 1, missedTo: afterSeq } };
    }
    // The script reads one entry past the page: that it exists is `more`.
    const rows = res[3] ?? [];
    const deliveries = rows.slice(0, count).map(([id, fields]) => toDelivery(id, fields));
    const oldest = Number(res[2]);
    raise(last);
    const result: ReplayResult = { deliveries, more: rows.length > count, lastSeq: last };
    if (afterSeq + 1 < oldest) result.gap = { reason: 'trimmed', missedFrom: afterSeq + 1, missedTo: oldest - 1 };
    return result;
  }

  async presence(): Promise<PresenceEntry[]> {
    this.assertOpen();
    const rows = (await this.run(() =>
      scripts.presence.run(this.clients.command, [this.k.servers, this.k.away], [this.k.prefix]),
    )) as string[][];
    return rows
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
    const stopReader = this.inbox.stop();
    // Wake the blocking XREAD so the reader finishes and its connection can QUIT cleanly.
    if (this.clients.command.status === 'ready')
      await this.clients.command.xadd(k.inbox(this.serverId), '*', 'k', 'wake').catch(() => this.clients.reader.disconnect());
    else this.clients.reader.disconnect();
    await stopReader;
    const left = [...this.sessions.entries()];
    this.sessions.clear();
    await Promise.allSettled([
      ...left.map(([peerId, s]) => this.runDetach(peerId, s.epoch)),
      ...[...this.pendingDetach].map((pe) => this.runDetach(...(pe.split(' ') as [string, string]))),
    ]);
    // After a conflict the id, its peer set and its inbox belong to the other process: leave them.
    if (!this.lease.conflictDetail()) {
      await this.clients.command
        .multi()
        .zrem(k.servers, this.serverId)
        .del(k.serverPeers(this.serverId), k.inbox(this.serverId), k.claim(this.serverId))
        .exec()
        .catch(() => undefined);
    }
    this.acks.settleAll();
    await closeClients(this.clients, this.timing.commandTimeoutMs);
    this.events.emit('health', { ok: false, detail: 'closed' });
    this.events.removeAllListeners();
  }

  /** @internal RedisSession.close(). */
  async detach(peerId: string, epoch: string): Promise<void> {
    if (this.sessions.get(peerId)?.epoch === epoch) this.sessions.delete(peerId);
    if (this.closed) return;
    try {
      await this.runDetach(peerId, epoch);
    } catch (err) {
      // Redis is away: the peer must still turn away once it is back, or it would look online forever.
      this.pendingDetach.add(`${peerId} ${epoch}`);
      this.log.warn({ peer: peerId, err: describeRedisError(err) }, 'detach deferred until redis is back');
    }
  }

  private async runDetach(peerId: string, epoch: string): Promise<void> {
    const k = this.k;
    await scripts.detach.run(
      this.clients.command,
      [k.peer(peerId), k.serverPeers(this.serverId), k.seq(peerId), k.history(peerId), k.away],
      [k.prefix, peerId, this.serverId, epoch, this.o.timeouts.resume.awayGraceMs, this.o.timeouts.resume.historyMaxAgeMs],
    );
    this.pendingDetach.delete(`${peerId} ${epoch}`);
  }

  private retryDetaches(): void {
    for (const pe of [...this.pendingDetach]) {
      const [peerId, epoch] = pe.split(' ');
      this.runDetach(peerId, epoch).catch(() => undefined);
    }
  }

  /** Redis forgot this server: put back every peer it still holds, or evict those that moved on. */
  private async restore(): Promise<void> {
    const k = this.k;
    await Promise.all(
      [...this.sessions.entries()].map(async ([peerId, s]) => {
        const res = await scripts.restore.run(
          this.clients.command,
          [k.peer(peerId), k.serverPeers(this.serverId), k.seq(peerId), k.history(peerId), k.away, k.epoch],
          [k.prefix, peerId, s.kind, this.serverId, s.epoch, s.since, s.floor, s.groups],
        );
        if (res === 'moved' && this.sessions.get(peerId) === s) {
          this.sessions.delete(peerId);
          s.opts.onEvicted();
        }
      }),
    );
  }

  private onInbox(entries: InboxEntry[]): void {
    const acks = new Map<string, string[]>();
    for (const e of entries) {
      const local = this.sessions.get(e.peer);
      const current = local !== undefined && local.epoch === e.epoch;
      if (e.kind === 'evict') {
        if (current) {
          this.sessions.delete(e.peer);
          local.opts.onEvicted();
        }
        continue;
      }
      let handed = false;
      if (current) {
        try {
          handed = local.opts.deliver({ from: e.from, id: e.id, seq: e.seq, data: e.data, ts: e.ts });
        } catch (err) {
          this.log.error({ err: (err as Error).message, peer: e.peer }, 'deliver failed; the signal stays in history');
        }
        if (handed) local.floor = Math.max(local.floor, e.seq);
      }
      if (e.replyTo === this.serverId) this.acks.settle(e.reqId, handed);
      else {
        const list = acks.get(e.replyTo) ?? [];
        list.push(`${e.reqId} ${handed ? 1 : 0}`);
        acks.set(e.replyTo, list);
      }
    }
    for (const [server, lines] of acks) {
      this.clients.command.publish(this.k.ackChannel(server), lines.join('\n')).catch(() => undefined);
    }
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

  /** Run a Redis operation; any failure to reach Redis becomes BackplaneError('backplane_unavailable'). */
  private async run<T>(op: () => Promise<T>): Promise<T> {
    if (this.clients.command.status !== 'ready') {
      throw new BackplaneError('backplane_unavailable', `redis is not connected (${this.clients.command.status})`);
    }
    try {
      return await op();
    } catch (err) {
      const detail = describeRedisError(err);
      this.log.warn({ err: detail }, 'redis operation failed');
      if (/timed out|Connection is closed|Stream isn't writeable|max retries|ECONN|LOADING/i.test(detail))
        this.lease.commandFailed(`redis: ${detail}`);
      throw new BackplaneError('backplane_unavailable', `redis: ${detail}`);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new BackplaneError('backplane_unavailable', 'backplane closed');
  }
}

/** Why the publish script answered busy (quota.ts states each bound). */
const BUSY_WHY: Record<string, string> = {
  rate: 'over the signals or bytes per second into one recipient',
  share: "this sender holds its share of the away recipient's history",
  full: "the away recipient's history is full of signals accepted while it was away",
};

function toDelivery(id: string, fields: string[]): Delivery {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]] = fields[i + 1];
  return { from: f.f, id: f.i, seq: Number(id.split('-')[0]), data: f.d, ts: Number(f.t) };
}

/** One attachment of a peer on this server (a class, not a closure per attach). */
class RedisSession implements PeerSession {
  constructor(
    private readonly backplane: RedisBackplane,
    readonly peerId: string,
    private readonly epoch: string,
  ) {}

  close(): Promise<void> {
    return this.backplane.detach(this.peerId, this.epoch);
  }
}
