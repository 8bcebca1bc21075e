/**
 * The peers attached to this server (RedisBackplane's sessions): attach (the attach script, which
 * evicts an older attachment anywhere), detach (deferred while Redis is away, so a peer never looks
 * online forever), restore after Redis forgot this server in some buckets, and the inbox: deliveries
 * handed to the sockets and acked to their publishers, evictions closing stale connections.
 */
import type { Logger } from 'pino';
import { groupsWire } from '../../auth/policy';
import type { PeerKind } from '../../auth/token';
import type { Timeouts } from '../../contract/timeouts';
import { AttachingPeer, AttachOptions, BackplaneError, PeerSession } from '../types';
import { describeRedisError } from './clients';
import type { Keys } from './keys';
import type { RedisLike } from './lua';
import type { AckWaiters, InboxEntry } from './routing';
import { scripts } from './scripts';

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

export interface AttachmentsDeps {
  command(): RedisLike;
  keys: Keys;
  serverId: string;
  timeouts: Timeouts;
  inboxMaxLen: number;
  acks: AckWaiters;
  owners: { ownerOf(peerId: string): string; rememberOwner(peerId: string, serverId: string): void };
  /** A beat now (the attach script found this server unregistered). */
  tick(): void;
  log: Logger;
  /** RedisBackplane.run: a Redis failure becomes backplane_unavailable and re-checks the bucket. */
  run<T>(op: () => Promise<T>, bucket?: number): Promise<T>;
}

export class Attachments {
  private readonly sessions = new Map<string, LocalPeer>();
  /** `peer epoch` of detaches that failed while Redis was away: retried once it is back. */
  private readonly pendingDetach = new Set<string>();
  private closed = false;

  constructor(private readonly d: AttachmentsDeps) {}

  async attach(peer: AttachingPeer, opts: AttachOptions): Promise<PeerSession> {
    const { keys: k, serverId } = this.d;
    const b = k.bucketOf(peer.id);
    let res: [string, number | string, number?];
    // The old owner (to evict) is declared with the keys: a wrong guess writes nothing and says who.
    for (let attempt = 0; ; attempt++) {
      const old = this.d.owners.ownerOf(peer.id);
      res = (await this.d.run(
        () =>
          scripts.attach.run(
            this.d.command(),
            [
              k.peer(peer.id),
              k.serverPeers(serverId, b),
              k.seq(peer.id),
              k.history(peer.id),
              k.away(b),
              k.servers(b),
              k.epoch(b),
              k.serverPeers(old, b),
              k.inbox(old, b),
            ],
            [k.prefix, peer.id, peer.kind, serverId, this.d.inboxMaxLen, groupsWire(peer.groups), old],
          ),
        b,
      )) as typeof res;
      if (res[0] !== 'owner' || attempt >= 3) break;
      this.d.owners.rememberOwner(peer.id, String(res[1]));
    }
    this.d.owners.rememberOwner(peer.id, serverId);
    if (res[0] !== 'ok') {
      this.d.tick();
      throw new BackplaneError('backplane_unavailable', 'this server is not registered with redis yet');
    }
    const epoch = String(res[1]);
    const prev = this.sessions.get(peer.id);
    this.sessions.set(peer.id, { epoch, kind: peer.kind, groups: groupsWire(peer.groups), since: Number(res[2]), opts, floor: 0 });
    // The newest attachment wins, here as across servers.
    if (prev) prev.opts.onEvicted();
    return new RedisSession(this, peer.id, epoch);
  }

  /** The highest seq a locally attached peer has been given (restored after a Redis restart). */
  raiseFloor(peerId: string, seq: number): void {
    const local = this.sessions.get(peerId);
    if (local) local.floor = Math.max(local.floor, seq);
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
      this.d.log.warn({ peer: peerId, err: describeRedisError(err) }, 'detach deferred until redis is back');
    }
  }

  /** Every peer still attached here turns away (as if its socket had closed); no attach after this. */
  async closeAll(): Promise<void> {
    this.closed = true;
    const left = [...this.sessions.entries()];
    this.sessions.clear();
    await Promise.allSettled([
      ...left.map(([peerId, s]) => this.runDetach(peerId, s.epoch)),
      ...[...this.pendingDetach].map((pe) => this.runDetach(...(pe.split(' ') as [string, string]))),
    ]);
  }

  private async runDetach(peerId: string, epoch: string): Promise<void> {
    const { keys: k, timeouts: t } = this.d;
    const b = k.bucketOf(peerId);
    await scripts.detach.run(
      this.d.command(),
      [k.peer(peerId), k.serverPeers(this.d.serverId, b), k.seq(peerId), k.history(peerId), k.away(b)],
      [k.prefix, peerId, this.d.serverId, epoch, t.resume.awayGraceMs, t.resume.historyMaxAgeMs],
    );
    this.pendingDetach.delete(`${peerId} ${epoch}`);
  }

  retryDetaches(): void {
    for (const pe of [...this.pendingDetach]) {
      const [peerId, epoch] = pe.split(' ');
      this.runDetach(peerId, epoch).catch(() => undefined);
    }
  }

  /** Redis forgot this server in `buckets`: put back every peer it still holds there, or evict those that moved on. */
  async restore(buckets: Set<number>): Promise<void> {
    const k = this.d.keys;
    await Promise.all(
      [...this.sessions.entries()].map(async ([peerId, s]) => {
        const b = k.bucketOf(peerId);
        if (!buckets.has(b)) return;
        const res = await scripts.restore.run(
          this.d.command(),
          [k.peer(peerId), k.serverPeers(this.d.serverId, b), k.seq(peerId), k.history(peerId), k.away(b), k.epoch(b)],
          [k.prefix, peerId, s.kind, this.d.serverId, s.epoch, s.since, s.floor, s.groups],
        );
        if (res === 'moved' && this.sessions.get(peerId) === s) {
          this.sessions.delete(peerId);
          s.opts.onEvicted();
        }
      }),
    );
  }

  /** Inbox entries: deliveries to the sockets (acked to their publishers), evictions of stale attachments. */
  onInbox(entries: InboxEntry[]): void {
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
          this.d.log.error({ err: (err as Error).message, peer: e.peer }, 'deliver failed; the signal stays in history');
        }
        if (handed) local.floor = Math.max(local.floor, e.seq);
      }
      if (e.replyTo === this.d.serverId) this.d.acks.settle(e.reqId, handed);
      else {
        const list = acks.get(e.replyTo) ?? [];
        list.push(`${e.reqId} ${handed ? 1 : 0}`);
        acks.set(e.replyTo, list);
      }
    }
    for (const [server, lines] of acks) {
      this.d
        .command()
        .publish(this.d.keys.ackChannel(server), lines.join('\n'))
        .catch(() => undefined);
    }
  }
}

/** One attachment of a peer on this server (a class, not a closure per attach). */
class RedisSession implements PeerSession {
  constructor(
    private readonly owner: Attachments,
    readonly peerId: string,
    private readonly epoch: string,
  ) {}

  close(): Promise<void> {
    return this.owner.detach(this.peerId, this.epoch);
  }
}
