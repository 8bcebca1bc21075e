/**
 * The signal path of the Redis backplane: publish (one script per signal, routed to the owner's
 * inbox for the recipient's bucket; `delivered` once the owner acks) and replay (one page of a
 * recipient's history per call). RedisBackplane owns the connections and sessions; this owns what
 * a signal needs from them, and the cache of owners the publish script's declared keys rely on.
 */
import type { Logger } from 'pino';
import { FORBIDDEN_DETAIL } from '../../auth/policy';
import type { Timeouts } from '../../contract/timeouts';
import { BUSY_RETRY_MS, RecipientQuota } from '../budget';
import { RecipientBusyError } from '../quota';
import { BackplaneError, Delivery, PublishOutcome, REPLAY_PAGE_DEFAULT, ReplayResult, SignalEnvelope } from '../types';
import type { RedisTiming } from './clients';
import type { Keys } from './keys';
import type { RedisLike } from './lua';
import type { AckWaiters } from './routing';
import { staleBucketMs } from './presence';
import { scripts } from './scripts';

/** Owners remembered for the publish and attach scripts' declared keys (a miss costs one more round trip). */
const OWNER_CACHE_MAX = 65_536;

export interface SignalPathDeps {
  command(): RedisLike;
  keys: Keys;
  serverId: string;
  timeouts: Timeouts;
  timing: RedisTiming;
  quota: RecipientQuota;
  /** What one sender may hold of an away recipient's history (the contract's senderHistoryBound). */
  senderBound: { entries: number; bytes: number };
  historyMaxBytes: number;
  inboxMaxLen: number;
  /** WAIT for this many replicas after the publish script, before the `ok` (0: no WAIT). */
  waitReplicas: number;
  acks: AckWaiters;
  lease: { processChecked(bucket: number): boolean; conflictDetail(): string | undefined };
  log: Logger;
  /** RedisBackplane.run: a Redis failure becomes backplane_unavailable and re-checks the bucket. */
  run<T>(op: () => Promise<T>, bucket?: number): Promise<T>;
  /** The highest seq a locally attached peer has been given (restored after a Redis restart). */
  raiseFloor(peerId: string, seq: number): void;
}

export class SignalPath {
  /** peer -> the server that held it online when last seen (see OWNER_CACHE_MAX). */
  private readonly owners = new Map<string, string>();

  constructor(private readonly d: SignalPathDeps) {}

  /** The owner this server expects for `peerId` ('' when it knows none). */
  ownerOf(peerId: string): string {
    return this.owners.get(peerId) ?? '';
  }

  async publish(signal: SignalEnvelope): Promise<PublishOutcome> {
    // Right after a reconnect this server has not yet seen which Redis process answers (a
    // restarted one may have loaded stale liveness deadlines): it routes nothing until it has.
    const k = this.d.keys;
    const b = k.bucketOf(signal.to);
    if (!this.d.lease.processChecked(b))
      throw new BackplaneError('backplane_unavailable', this.d.lease.conflictDetail() ?? 'redis reconnected: checking for a restart');
    const { reqId, result } = this.d.acks.register();
    let res: [string, number | string | undefined, string?];
    try {
      // The owner's inbox is declared with the keys: a wrong guess writes nothing and says who.
      for (let attempt = 0; ; attempt++) {
        const owner = this.owners.get(signal.to) ?? '';
        res = await this.publishOnce(signal, b, reqId, owner);
        if (res[0] !== 'owner' || attempt >= 3) break;
        this.rememberOwner(signal.to, String(res[1]));
      }
    } catch (err) {
      this.d.acks.settle(reqId, null);
      throw err;
    }
    const seq = Number(res[1]);
    switch (res[0]) {
      case 'duplicate':
        this.d.acks.settle(reqId, null);
        return { status: 'duplicate', seq };
      case 'stored':
        this.d.acks.settle(reqId, null);
        return { status: 'stored', seq };
      case 'busy':
        this.d.acks.settle(reqId, null);
        throw new RecipientBusyError(seq, BUSY_WHY[res[2] ?? ''] ?? 'over quota');
      case 'forbidden':
        this.d.acks.settle(reqId, null);
        throw new BackplaneError('forbidden', FORBIDDEN_DETAIL);
      case 'recovering':
        this.d.acks.settle(reqId, null);
        throw new BackplaneError('backplane_unavailable', 'redis restarted: servers are restoring their peers');
      case 'routed': {
        this.d.acks.arm(reqId, this.d.timing.ackTimeoutMs);
        const handed = await result;
        return { status: handed ? 'delivered' : 'stored', seq };
      }
      case 'owner':
        this.d.acks.settle(reqId, null);
        throw new BackplaneError('backplane_unavailable', `peer ${signal.to} moved between servers too often to route; retry`);
      default:
        this.d.acks.settle(reqId, null);
        this.d.log.debug({ peer: signal.to, bucket: b, why: res[2] }, 'publish: recipient unknown');
        throw new BackplaneError('unknown_peer', `peer ${signal.to} is not online`);
    }
  }

  private publishOnce(
    signal: SignalEnvelope,
    b: number,
    reqId: string,
    owner: string,
  ): Promise<[string, number | string | undefined, string?]> {
    const k = this.d.keys;
    const check = signal.check;
    return this.d.run(
      () =>
        this.runPublish(
          [
            k.dedupe(signal.to, signal.from, signal.id),
            k.peer(signal.to),
            k.seq(signal.to),
            k.history(signal.to),
            k.servers(b),
            k.redis(b),
            k.quota(signal.to),
            k.inbox(owner, b),
            k.recovering(b),
          ],
          [
            k.prefix,
            signal.to,
            signal.from,
            signal.id,
            signal.data,
            this.d.serverId,
            reqId,
            this.d.timeouts.resume.dedupeWindowMs,
            this.d.timeouts.resume.historyMaxMessages,
            this.d.timeouts.resume.historyMaxAgeMs,
            this.d.inboxMaxLen,
            this.d.timing.rebuildMs,
            this.d.historyMaxBytes,
            check ? (check.absent === 'forbidden' ? 'forbidden' : 'unknown') : 'unknown',
            check?.refuseKind ?? '',
            check?.groupsWire ?? '*',
            this.d.quota.recipientSignalsPerSec,
            this.d.quota.recipientBytesPerSec,
            this.d.senderBound.entries,
            BUSY_RETRY_MS,
            this.d.senderBound.bytes,
            owner,
            staleBucketMs(this.d.timeouts),
          ],
        ) as Promise<[string, number | string | undefined, string?]>,
      b,
    );
  }

  /**
   * The publish script, and with waitReplicas > 0 a WAIT behind it (lua.ts runAndWait). A signal
   * that fewer replicas acknowledged in time is refused (`backplane_unavailable`, the SDK resends it
   * with the same id: dedupe answers, or after a failover that lost it, it is numbered again), so an
   * `ok` means its dedupe record, seq and history entry survive a failover of the primary.
   */
  private async runPublish(keys: string[], args: Array<string | number>): Promise<unknown> {
    const n = this.d.waitReplicas;
    if (n <= 0) return scripts.publish.run(this.d.command(), keys, args);
    const [reply, acked] = await scripts.publish.runAndWait(this.d.command(), keys, args, n, this.d.timing.replicaWaitMs);
    // `duplicate`: the record it found may be this connection's own write of a try that was refused.
    const writes = Array.isArray(reply) && ['stored', 'routed', 'duplicate'].includes(String(reply[0]));
    if (writes && acked < n)
      throw new BackplaneError(
        'backplane_unavailable',
        `signal reached ${acked} of ${n} replicas within ${this.d.timing.replicaWaitMs} ms; retry`,
      );
    return reply;
  }

  rememberOwner(peerId: string, serverId: string): void {
    this.owners.delete(peerId);
    this.owners.set(peerId, serverId);
    if (this.owners.size > OWNER_CACHE_MAX) this.owners.delete(this.owners.keys().next().value as string);
  }

  async replay(peerId: string, afterSeq: number | null, limit = REPLAY_PAGE_DEFAULT): Promise<ReplayResult> {
    // One page per call (XRANGE ... COUNT): a reply is at most `limit` entries, never the whole history.
    const count = Math.max(1, Math.floor(limit));
    const res = (await this.d.run(
      () =>
        scripts.replay.run(
          this.d.command(),
          [this.d.keys.seq(peerId), this.d.keys.history(peerId)],
          [afterSeq === null ? '' : String(afterSeq), this.d.timeouts.resume.historyMaxAgeMs, count + 1],
        ),
      this.d.keys.bucketOf(peerId),
    )) as [number, string?, number?, Array<[string, string[]]>?];
    const last = Number(res[0]);
    const raise = (seq: number) => this.d.raiseFloor(peerId, seq);
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
