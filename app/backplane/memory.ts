/**
 * In-process Backplane: routing, per-recipient sequence, bounded history, dedupe and presence in
 * plain maps. Several servers in one process can share one instance (tests, the local drill's
 * single-process mode); across processes use the Redis backplane.
 */
import { EventEmitter } from 'node:events';
import type { Timeouts } from '../contract/timeouts';
import type { PeerKind } from '../auth/token';
import {
  AttachOptions, Backplane, BackplaneError, BackplaneHealth, Delivery, PeerSession, PresenceEntry,
  PresenceEvent, PublishOutcome, ReplayResult, SignalEnvelope,
} from './types';

interface PeerRecord {
  kind: PeerKind;
  serverId: string;
  state: 'online' | 'away';
  since: number;
  awayUntil?: number;
  /** The attachment currently owning the peer (undefined while away). */
  owner?: { token: symbol; opts: AttachOptions };
  awayTimer?: NodeJS.Timeout;
}

interface History {
  lastSeq: number;
  entries: Delivery[];
}

export class MemoryBackplane implements Backplane {
  readonly kind = 'memory' as const;
  private readonly peers = new Map<string, PeerRecord>();
  private readonly histories = new Map<string, History>();
  /** `${from}\n${id}` -> { seq, at }; insertion order == age order, so trimming pops from the front. */
  private readonly seen = new Map<string, { seq: number; at: number }>();
  private readonly events = new EventEmitter();
  private closed = false;

  constructor(private readonly resume: Timeouts['resume'], private readonly now: () => number = Date.now) {
    this.events.setMaxListeners(0);
  }

  async attach(peer: { id: string; kind: PeerKind }, serverId: string, opts: AttachOptions): Promise<PeerSession> {
    this.assertOpen();
    const prev = this.peers.get(peer.id);
    if (prev?.awayTimer) clearTimeout(prev.awayTimer);
    const token = Symbol(peer.id);
    const rec: PeerRecord = { kind: peer.kind, serverId, state: 'online', since: this.now(), owner: { token, opts } };
    this.peers.set(peer.id, rec);
    // The newest attachment wins: an older one is a stale (maybe half-open) connection.
    if (prev?.owner) prev.owner.opts.onEvicted();
    this.emit({ type: 'online', entry: toEntry(peer.id, rec) });
    return {
      peerId: peer.id,
      close: async () => this.detach(peer.id, token),
    };
  }

  private detach(peerId: string, token: symbol): void {
    const rec = this.peers.get(peerId);
    if (!rec || rec.owner?.token !== token) return; // already taken over elsewhere
    rec.owner = undefined;
    rec.state = 'away';
    rec.since = this.now();
    rec.awayUntil = rec.since + this.resume.awayGraceMs;
    rec.awayTimer = setTimeout(() => {
      if (this.peers.get(peerId) === rec && rec.state === 'away') {
        this.peers.delete(peerId);
        this.emit({ type: 'offline', peerId });
      }
    }, this.resume.awayGraceMs);
    rec.awayTimer.unref();
    this.emit({ type: 'away', entry: toEntry(peerId, rec) });
  }

  async publish(signal: SignalEnvelope): Promise<PublishOutcome> {
    this.assertOpen();
    const now = this.now();
    this.trimSeen(now);
    const key = `${signal.from}\n${signal.id}`;
    const dup = this.seen.get(key);
    if (dup) return { status: 'duplicate', seq: dup.seq };
    const rec = this.peers.get(signal.to);
    if (!rec) throw new BackplaneError('unknown_peer', `peer ${signal.to} is not online`);
    const hist = this.history(signal.to);
    const delivery: Delivery = { from: signal.from, id: signal.id, seq: hist.lastSeq + 1, data: signal.data, ts: now };
    hist.lastSeq = delivery.seq;
    hist.entries.push(delivery);
    this.trimHistory(hist, now);
    this.seen.set(key, { seq: delivery.seq, at: now });
    const handed = rec.owner ? rec.owner.opts.deliver(delivery) : false;
    return { status: handed ? 'delivered' : 'stored', seq: delivery.seq };
  }

  async replay(peerId: string, afterSeq: number | null): Promise<ReplayResult> {
    this.assertOpen();
    const hist = this.history(peerId);
    this.trimHistory(hist, this.now());
    if (afterSeq === null) return { deliveries: [], lastSeq: hist.lastSeq };
    if (afterSeq > hist.lastSeq) {
      return { deliveries: [], lastSeq: hist.lastSeq, gap: { reason: 'seq_reset', missedFrom: hist.lastSeq + 1, missedTo: afterSeq } };
    }
    const deliveries = hist.entries.filter((d) => d.seq > afterSeq);
    const oldest = hist.entries.length > 0 ? hist.entries[0].seq : hist.lastSeq + 1;
    const result: ReplayResult = { deliveries, lastSeq: hist.lastSeq };
    if (afterSeq + 1 < oldest) result.gap = { reason: 'trimmed', missedFrom: afterSeq + 1, missedTo: oldest - 1 };
    return result;
  }

  async presence(): Promise<PresenceEntry[]> {
    return [...this.peers.entries()].map(([id, rec]) => toEntry(id, rec)).sort((a, b) => a.peerId.localeCompare(b.peerId));
  }

  subscribePresence(listener: (ev: PresenceEvent) => void): () => void {
    this.events.on('presence', listener);
    return () => this.events.off('presence', listener);
  }

  health(): BackplaneHealth {
    return { ok: !this.closed };
  }

  onHealthChange(): () => void {
    return () => undefined; // an in-process map does not fail
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const rec of this.peers.values()) if (rec.awayTimer) clearTimeout(rec.awayTimer);
  }

  private history(peerId: string): History {
    let h = this.histories.get(peerId);
    if (!h) {
      h = { lastSeq: 0, entries: [] };
      this.histories.set(peerId, h);
    }
    return h;
  }

  private trimHistory(h: History, now: number): void {
    const minTs = now - this.resume.historyMaxAgeMs;
    let drop = Math.max(0, h.entries.length - this.resume.historyMaxMessages);
    while (drop < h.entries.length && h.entries[drop].ts < minTs) drop++;
    if (drop > 0) h.entries.splice(0, drop);
  }

  private trimSeen(now: number): void {
    const minAt = now - this.resume.dedupeWindowMs;
    for (const [k, v] of this.seen) {
      if (v.at >= minAt) break;
      this.seen.delete(k);
    }
  }

  private emit(ev: PresenceEvent): void {
    this.events.emit('presence', ev);
  }

  private assertOpen(): void {
    if (this.closed) throw new BackplaneError('backplane_unavailable', 'backplane closed');
  }
}

function toEntry(peerId: string, rec: PeerRecord): PresenceEntry {
  const e: PresenceEntry = { peerId, kind: rec.kind, serverId: rec.serverId, state: rec.state, since: rec.since };
  if (rec.awayUntil !== undefined && rec.state === 'away') e.awayUntil = rec.awayUntil;
  return e;
}
