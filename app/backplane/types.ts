/**
 * The Backplane routes signals between peers, wherever they are connected, and owns what makes
 * delivery exactly-once across reconnects: the per-recipient sequence (`seq`), the bounded replay
 * history, the `(sender, id)` dedupe window, and presence. The server never keeps any of this itself,
 * so a peer that reconnects to another server (sharing the backplane) resumes where it left off.
 *
 * Implementations: `MemoryBackplane` (one process; several servers in one process may share it) and
 * `RedisBackplane` (a region of servers).
 */
import type { TargetCheck } from '../auth/policy';
import type { Revocation } from '../auth/revocation';
import type { PeerKind } from '../auth/token';
import type { MemoryBudget } from './budget';
import type { RevocationReplica } from './revocations';

/** Deliveries per replay page unless the caller asks for fewer (one Redis reply <= this x 64 KiB). */
export const REPLAY_PAGE_DEFAULT = 32;

/**
 * A signal as sent: `from` comes from the verified token, never from the payload.
 *
 * `data` is JSON text, encoded once by the server that accepted the signal (the bytes the recipient
 * will get). Backplanes store and route it as that string and never parse it: a parsed value can
 * cost many times its encoded size (a 64 KiB `[{},{},...]` is ~21,000 objects), and history would
 * multiply that by every entry kept.
 */
export interface SignalEnvelope {
  /** Addresses (`<account>/<sub>`, policy.ts) when a server publishes; opaque ids to the backplane. */
  from: string;
  to: string;
  id: string;
  data: string;
  /**
   * The sender's signalling policy for this target (policy.ts), applied against the target's
   * record in the step that routes the signal. Absent: no policy (backplane tests, tools).
   */
  check?: TargetCheck;
}

/** A peer as it attaches: its kind and groups travel with its route record (the policy reads them there). */
export interface AttachingPeer {
  id: string;
  kind: PeerKind;
  groups?: string[];
}

/** A signal as numbered for its recipient. */
export interface Delivery {
  from: string;
  id: string;
  /** 1, 2, 3, ... per recipient, without holes. */
  seq: number;
  /** JSON text, exactly as it goes into the push frame (see SignalEnvelope). */
  data: string;
  /** Epoch ms when the backplane accepted it (drives age trimming). */
  ts: number;
}

/**
 * - `delivered`: handed to the recipient's socket on its owning server;
 * - `stored`: recipient is away (within its grace) or its socket refused it; kept for its resume;
 * - `duplicate`: `(from, id)` was accepted before; nothing new happened (`seq` is the original's).
 */
export interface PublishOutcome {
  status: 'delivered' | 'stored' | 'duplicate';
  seq: number;
}

export type BackplaneErrorReason = 'unknown_peer' | 'backplane_unavailable' | 'forbidden' | 'recipient_busy';

export class BackplaneError extends Error {
  constructor(
    readonly reason: BackplaneErrorReason,
    message: string,
  ) {
    super(message);
  }
}

export interface ReplayResult {
  /** Deliveries with seq > afterSeq, in order; at most `limit` of them (the oldest first). */
  deliveries: Delivery[];
  /** True when the history holds more after the last one returned: ask again from its seq. */
  more: boolean;
  /** The recipient's newest seq. */
  lastSeq: number;
  /**
   * Set when the history cannot fill the gap: `trimmed` (older signals left the bounded history:
   * its count, age or byte budget, or the process memory budget) or `seq_reset` (the backplane
   * knows fewer signals than the peer claims to have seen).
   */
  gap?: { reason: 'trimmed' | 'seq_reset'; missedFrom: number; missedTo: number };
}

export interface PresenceEntry {
  peerId: string;
  kind: PeerKind;
  serverId: string;
  /** online: attached to a server; away: disconnected, still addressable until `awayUntil`. */
  state: 'online' | 'away';
  since: number;
  awayUntil?: number;
}

export type PresenceEvent =
  { type: 'online'; entry: PresenceEntry } | { type: 'away'; entry: PresenceEntry } | { type: 'offline'; peerId: string };

/**
 * Receives a delivery for a locally attached peer. Returns true when the bytes were handed to the
 * socket; false when the socket could not take them (closing, slow consumer): the delivery then
 * stays in history for the peer's resume.
 */
export type DeliverFn = (d: Delivery) => boolean;

export interface PeerSession {
  readonly peerId: string;
  /** Detach: the peer turns `away` (unless another server has taken it over meanwhile). */
  close(): Promise<void>;
}

export interface AttachOptions {
  deliver: DeliverFn;
  /** Called when the same peer attached elsewhere: this connection is stale and must go. */
  onEvicted(): void;
}

export interface BackplaneHealth {
  ok: boolean;
  detail?: string;
  /**
   * Set when this server must stop serving for good: another live process holds its server id
   * (they would share one inbox and one peer set). The server drains; it does not recover.
   */
  fatal?: boolean;
}

export interface Backplane {
  readonly kind: 'memory' | 'redis';
  /**
   * This process's memory account: history and dedupe records held in process (MemoryBackplane),
   * and the frames connections queue or hold for a replay. See budget.ts.
   */
  readonly memory: MemoryBudget;
  /** Claim `peer` for this server: from now on its deliveries go to `opts.deliver`. */
  attach(peer: AttachingPeer, serverId: string, opts: AttachOptions): Promise<PeerSession>;
  /**
   * Dedupe, apply `signal.check` to the target's record, number, store and route one signal.
   * Throws BackplaneError (`forbidden` when the policy refuses, or for an absent target whose
   * answer must not differ from a refusal: see policy.ts).
   */
  publish(signal: SignalEnvelope): Promise<PublishOutcome>;
  /**
   * The same as `publish`, done before it returns (an in-process backplane: nothing to wait for).
   * The relay path calls it when present, so a signal costs no promise and no microtask turn.
   */
  publishNow?(signal: SignalEnvelope): PublishOutcome;
  /**
   * What `peerId` missed after `afterSeq`, one page of at most `limit` deliveries (default
   * REPLAY_PAGE_DEFAULT); call again from the last seq while `more`. `null` (a peer with no resume
   * state) replays nothing and only reports `lastSeq`, so the peer starts from now.
   */
  replay(peerId: string, afterSeq: number | null, limit?: number): Promise<ReplayResult>;
  presence(): Promise<PresenceEntry[]>;
  /** Presence changes as they happen; returns the unsubscribe function. */
  subscribePresence(listener: (ev: PresenceEvent) => void): () => void;
  /**
   * This server's copy of the backplane's revocations (app/auth/revocation.ts): upgrades are checked
   * against it, and its event closes the matching connections.
   */
  readonly revocations: RevocationReplica;
  /**
   * Keep `r` until `r.until` (a `peer` disconnect is not kept) and bring it to every server of the
   * backplane: at once by broadcast, within revocationBoundMs (the contract) by resync. Throws
   * BackplaneError('backplane_unavailable') when it could not be stored.
   */
  revoke(r: Revocation): Promise<void>;
  health(): BackplaneHealth;
  /** Health changes (for /readyz and metrics); returns the unsubscribe function. */
  onHealthChange(listener: (h: BackplaneHealth) => void): () => void;
  close(): Promise<void>;
}
