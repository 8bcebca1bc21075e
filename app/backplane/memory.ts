/**
 * In-process Backplane: routing, per-recipient sequence, bounded history, dedupe and presence in
 * plain maps. History (memory-history.ts) keeps each signal's delivery, capped per recipient by
 * count, age and bytes; history and dedupe (dedupe.ts) records are charged to the process
 * MemoryBudget (budget.ts), which evicts the oldest first; a sweeper timer deletes what expired,
 * including departed peers' records.
 * Several servers in one process can share one instance (tests, the local drill's single-process
 * mode); across processes use the Redis backplane.
 */
import { EventEmitter } from 'node:events';
import type { Timeouts } from '../contract/timeouts';
import { FORBIDDEN_DETAIL, targetPermitted } from '../auth/policy';
import type { PeerKind } from '../auth/token';
import { BudgetLimits, DEFAULT_BUDGET, historyEntryBytes, historyEntryHeapBytes, MemoryBudget } from './budget';
import { AwayShares } from './quota';
import { dedupeKey, DedupeWindow } from './dedupe';
import { emptyHistory, Histories } from './memory-history';
import type { Revocation } from '../auth/revocation';
import { RevocationReplica } from './revocations';
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
} from './types';

interface PeerRecord {
  kind: PeerKind;
  /** The target's `grp` (policy.ts reads kind and groups here, never from a sender). */
  groups?: string[];
  serverId: string;
  state: 'online' | 'away';
  since: number;
  awayUntil?: number;
  /** The attachment currently owning the peer (undefined while away). */
  /** The attachment that owns the peer now; a newer attach replaces it, and only the owner may detach. */
  owner?: MemorySession;
  awayTimer?: NodeJS.Timeout;
}

export interface MemoryBackplaneOptions {
  /** Clock for trimming and grace (tests); timers still run on the real clock. */
  now?: () => number;
  /** Per-recipient history bytes and the process budget (DEFAULT_BUDGET when omitted). */
  budget?: Partial<BudgetLimits>;
  /** Share an existing account (several backplanes in one process); a new one from `budget` otherwise. */
  memory?: MemoryBudget;
  /** How often the sweeper trims aged history and dedupe records and deletes departed peers' records. */
  sweepIntervalMs?: number;
}

export class MemoryBackplane implements Backplane {
  readonly kind = 'memory' as const;
  readonly memory: MemoryBudget;
  private readonly peers = new Map<string, PeerRecord>();
  private readonly histories: Histories;
  /** Signals numbered in the last dedupe window (dedupe.ts). */
  private readonly seen: DedupeWindow;
  private readonly events = new EventEmitter();
  private readonly now: () => number;
  private readonly unregister: Array<() => void>;
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly resume: Timeouts['resume'],
    opts: MemoryBackplaneOptions = {},
  ) {
    this.events.setMaxListeners(0);
    this.now = opts.now ?? Date.now;
    const budget = { ...DEFAULT_BUDGET, ...opts.budget };
    this.memory = opts.memory ?? new MemoryBudget(budget.memoryBudgetBytes);
    this.histories = new Histories(resume, budget, budget.historyMaxBytesPerPeer, this.memory);
    this.seen = new DedupeWindow(this.memory);
    this.unregister = [
      this.memory.addReclaimer('history', () => this.histories.evictOldest()),
      this.memory.addReclaimer('dedupe', () => this.seen.dropOldest()),
    ];
    const every = opts.sweepIntervalMs ?? sweepIntervalMs(resume);
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  async attach(peer: AttachingPeer, serverId: string, opts: AttachOptions): Promise<PeerSession> {
    this.assertOpen();
    const prev = this.peers.get(peer.id);
    if (prev?.awayTimer) clearTimeout(prev.awayTimer);
    const session = new MemorySession(this, peer.id, opts);
    const rec: PeerRecord = { kind: peer.kind, groups: peer.groups, serverId, state: 'online', since: this.now(), owner: session };
    this.peers.set(peer.id, rec);
    const hist = this.histories.get(peer.id);
    if (hist) {
      hist.keepUntil = undefined; // online: numbering and history stay as long as it does
      hist.away = undefined; // online: what it missed is replayed; shares apply only while away
    }
    // The newest attachment wins: an older one is a stale (maybe half-open) connection.
    if (prev?.owner) prev.owner.opts.onEvicted();
    this.emit({ type: 'online', entry: toEntry(peer.id, rec) });
    return session;
  }

  /** @internal MemorySession.close(). */
  detach(session: MemorySession): void {
    const { peerId } = session;
    const rec = this.peers.get(peerId);
    if (!rec || rec.owner !== session) return; // already taken over elsewhere
    rec.owner = undefined;
    rec.state = 'away';
    rec.since = this.now();
    const awayUntil = rec.since + this.resume.awayGraceMs;
    rec.awayUntil = awayUntil;
    const h = this.histories.of(peerId);
    h.away = new AwayShares(h.lastSeq);
    rec.awayTimer = setTimeout(() => {
      if (this.peers.get(peerId) === rec && rec.state === 'away') {
        this.peers.delete(peerId);
        // Like the Redis keys: what was stored stays replayable for the history age after the grace.
        const hist = this.histories.get(peerId);
        if (hist) hist.keepUntil = awayUntil + this.resume.historyMaxAgeMs;
        this.emit({ type: 'offline', peerId });
      }
    }, this.resume.awayGraceMs);
    rec.awayTimer.unref();
    this.emit({ type: 'away', entry: toEntry(peerId, rec) });
  }

  async publish(signal: SignalEnvelope): Promise<PublishOutcome> {
    return this.publishNow(signal);
  }

  publishNow(signal: SignalEnvelope): PublishOutcome {
    this.assertOpen();
    const now = this.now();
    this.trimSeen(now);
    const key = dedupeKey(signal.to, signal.from, signal.id);
    const dup = this.seen.get(key);
    if (dup !== undefined) return { status: 'duplicate', seq: dup };
    const rec = this.peers.get(signal.to);
    const check = signal.check;
    if (!rec) {
      if (check?.absent === 'forbidden') throw new BackplaneError('forbidden', FORBIDDEN_DETAIL);
      throw new BackplaneError('unknown_peer', `peer ${signal.to} is not online`);
    }
    if (check && !targetPermitted(check, rec.kind, rec.groups)) throw new BackplaneError('forbidden', FORBIDDEN_DETAIL);
    const hist = this.histories.of(signal.to);
    const bytes = historyEntryBytes(signal.from, signal.id, signal.data);
    this.histories.admit(hist, signal.from, bytes, now);
    const delivery: Delivery = { from: signal.from, id: signal.id, seq: hist.lastSeq + 1, data: signal.data, ts: now };
    // Past the process budget this evicts the oldest entries of all peers (this one last).
    this.histories.append(hist, signal.to, delivery, bytes, now);
    this.seen.add(key, delivery.seq, now);
    const handed = rec.owner ? rec.owner.opts.deliver(delivery) : false;
    return { status: handed ? 'delivered' : 'stored', seq: delivery.seq };
  }

  async replay(peerId: string, afterSeq: number | null, limit = REPLAY_PAGE_DEFAULT): Promise<ReplayResult> {
    this.assertOpen();
    // Never creates a record: a replay for a peer nobody has written to holds no memory.
    const hist = this.histories.get(peerId) ?? emptyHistory();
    this.histories.trim(hist, this.now());
    if (afterSeq === null) return { deliveries: [], more: false, lastSeq: hist.lastSeq };
    if (afterSeq > hist.lastSeq) {
      return {
        deliveries: [],
        more: false,
        lastSeq: hist.lastSeq,
        gap: { reason: 'seq_reset', missedFrom: hist.lastSeq + 1, missedTo: afterSeq },
      };
    }
    const oldest = hist.entries.peekFront()?.d!.seq ?? hist.lastSeq + 1;
    // Entries are seq-contiguous: the first one after afterSeq is at a known index.
    const startAt = Math.max(0, afterSeq + 1 - oldest);
    const end = Math.min(hist.entries.length, startAt + Math.max(1, limit));
    const deliveries: Delivery[] = [];
    for (let i = startAt; i < end; i++) deliveries.push(hist.entries.peekAt(i)!.d!);
    const result: ReplayResult = {
      deliveries,
      more: end < hist.entries.length,
      lastSeq: hist.lastSeq,
    };
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

  /** One replica for every server sharing this backplane: a revocation reaches them all at once. */
  readonly revocations = new RevocationReplica();

  async revoke(r: Revocation): Promise<void> {
    this.assertOpen();
    this.revocations.apply(r);
  }

  health(): BackplaneHealth {
    return { ok: !this.closed };
  }

  onHealthChange(): () => void {
    return () => undefined; // an in-process map does not fail
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweeper);
    for (const rec of this.peers.values()) if (rec.awayTimer) clearTimeout(rec.awayTimer);
    for (const u of this.unregister) u();
    this.histories.clear();
    this.seen.clear();
  }

  /** What this backplane holds right now (tests, /status). */
  /**
   * historyBytes: sizes for the per-recipient cap (wire level, as in Redis); historyHeapBytes: what
   * the budget charges for them (their measured heap cost, budget.ts).
   */
  stats(): {
    peers: number;
    histories: number;
    historyEntries: number;
    historyBytes: number;
    historyHeapBytes: number;
    dedupeRecords: number;
    dedupeBytes: number;
  } {
    const { entries, bytes } = this.histories.totals();
    return {
      peers: this.peers.size,
      histories: this.histories.size,
      historyEntries: entries,
      historyBytes: bytes,
      historyHeapBytes: historyEntryHeapBytes(0) * entries + bytes,
      dedupeRecords: this.seen.size,
      dedupeBytes: this.seen.bytes,
    };
  }

  /**
   * Runs on a timer: trims aged history and dedupe records of every peer (not only of those that
   * publish or replay) and deletes the records of peers offline for longer than the history age.
   */
  sweep(): void {
    const now = this.now();
    this.trimSeen(now);
    this.histories.sweep(now, (id) => this.peers.has(id));
  }

  private trimSeen(now: number): void {
    this.seen.trim(now - this.resume.dedupeWindowMs);
  }

  private emit(ev: PresenceEvent): void {
    this.events.emit('presence', ev);
  }

  private assertOpen(): void {
    if (this.closed) throw new BackplaneError('backplane_unavailable', 'backplane closed');
  }
}

/** Often enough that expired state never lingers long past its bound, never busier than 20/s. */
function sweepIntervalMs(r: Timeouts['resume']): number {
  return Math.max(50, Math.min(1_000, Math.floor(Math.min(r.historyMaxAgeMs, r.dedupeWindowMs, r.awayGraceMs) / 4)));
}

function toEntry(peerId: string, rec: PeerRecord): PresenceEntry {
  const e: PresenceEntry = { peerId, kind: rec.kind, serverId: rec.serverId, state: rec.state, since: rec.since };
  if (rec.awayUntil !== undefined && rec.state === 'away') e.awayUntil = rec.awayUntil;
  return e;
}

/** One attachment of a peer (a class, not a closure per attach: it is held as long as the peer is online). */
class MemorySession implements PeerSession {
  constructor(
    private readonly backplane: MemoryBackplane,
    readonly peerId: string,
    readonly opts: AttachOptions,
  ) {}

  async close(): Promise<void> {
    this.backplane.detach(this);
  }
}
