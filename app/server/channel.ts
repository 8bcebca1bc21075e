/**
 * A connection's own channel, `peer:<sub>`: the join (fresh, or a resume from `last_seq`), the
 * replay of history page by page, live deliveries (held back while the replay runs so the peer sees
 * them in seq order), and the leave. The connection (connection.ts, over frame-queue.ts and
 * endings.ts) owns the socket, the framing, the queue and the deadlines, and hands a `phx_join` /
 * `phx_leave` here; this module never touches the socket except through `ChannelHost`.
 */
import type { Logger } from 'pino';
import { subOf } from '../auth/policy';
import type { PeerIdentity } from '../auth/token';
import { AttachOptions, Backplane, BackplaneError, Delivery, PeerSession, ReplayResult } from '../backplane/types';
import { CLOSE, Frame, peerTopic, pushSignal, reply } from '../protocol/phoenix';
import type { Limits } from './config';
import type { Metrics } from './metrics';

/** What the channel needs of the server (the connection's context has it all). */
export interface ChannelContext {
  serverId: string;
  backplane: Backplane;
  metrics: Metrics;
  limits: Limits;
  /** The server may serve (server.ts ready()): a join while it may not is refused, never half-served. */
  ready(): boolean;
}

/** What the channel needs of its connection (PeerConnection implements it). */
export interface ChannelHost {
  readonly peer: PeerIdentity;
  /** `<account>/<sub>`: the peer's id in the backplane (app/auth/policy.ts). */
  readonly address: string;
  readonly isOpen: boolean;
  readonly log: Logger;
  /** The join was answered and its replay sent: the connection records it (and logs it at debug). */
  joinedLive(lastSeq: number): void;
  /** Queue text on the socket; false if the connection is not open or the peer is a slow consumer. */
  send(text: string): boolean;
  /** Close with `code`; the connection is ended if the peer does not finish the close in time. */
  closeWith(code: number, reason: string, text: string): void;
  /** Resolves true once the send buffer is at most `limit` bytes; false if the connection ended (or was cut as a slow consumer). */
  writable(limit: number): Promise<boolean>;
}

/** A replay waits for the socket to drain below this before sending more. */
const REPLAY_HIGH_WATER_BYTES = 64 * 1024;
/** A replay page (one backplane read, e.g. one XRANGE reply) holds about this much: pages of maxFrameBytes entries. */
const REPLAY_PAGE_BYTES = 1024 * 1024;

export class PeerChannel implements AttachOptions {
  private joinRef: string | null = null;
  private session?: PeerSession;
  /** While a join replays history, live deliveries wait here so order stays seq order. */
  private pending: Delivery[] | null = null;
  /** Bytes held in `pending` (charged to the memory budget); past the cap deliveries are refused. */
  private pendingBytes = 0;
  /** A live delivery was refused during the replay: it is in history, read it from there. */
  private pendingRefused = false;
  private lastSentSeq = 0;

  constructor(
    private readonly host: ChannelHost,
    private readonly ctx: ChannelContext,
  ) {}

  /** A join has been answered (or is being answered): frames on the peer's topic are accepted. */
  get joined(): boolean {
    return this.joinRef !== null;
  }

  /** `phx_join` on `own` (the peer's topic): attach, answer, replay what the peer missed, then go live. */
  async join(f: Frame, own: string): Promise<void> {
    const lastSeq = this.checkJoin(f, own);
    if (lastSeq === false) return;
    if (!this.ctx.ready()) {
      // Unready (e.g. another process holds this server id, or no backplane yet): never say "joined".
      this.ctx.metrics.joins.inc({ result: 'not_ready' });
      this.host.send(reply(f, 'error', { reason: 'backplane_unavailable' }));
      return;
    }
    if (this.session) await this.leave(); // a rejoin replaces the old join
    const fail = (err: unknown) => {
      const reason = err instanceof BackplaneError ? err.reason : 'internal_error';
      this.ctx.metrics.joins.inc({ result: reason });
      this.host.send(reply(f, 'error', { reason }));
    };
    // Without last_seq the peer starts from "now". Read where now is BEFORE attaching and replay
    // from there after attaching: a signal published in between is then either in that replay or
    // arrives live with a higher seq. (Taking "now" after attaching would count such a signal as
    // already sent and skip it, with no hole for the client to notice.)
    const fresh = lastSeq === null;
    let from: number;
    try {
      from = fresh ? (await this.ctx.backplane.replay(this.host.address, null)).lastSeq : lastSeq;
    } catch (err) {
      return fail(err);
    }
    if (!this.host.isOpen) return;
    this.joinRef = f.joinRef;
    this.pending = [];
    let session: PeerSession;
    try {
      // This channel is its own AttachOptions (deliver, onEvicted): no closures per join.
      session = await this.ctx.backplane.attach(
        { id: this.host.address, kind: this.host.peer.kind, groups: this.host.peer.groups },
        this.ctx.serverId,
        this,
      );
    } catch (err) {
      this.joinRef = null;
      this.pending = null;
      return fail(err);
    }
    if (!this.host.isOpen) {
      await session.close();
      return;
    }
    this.session = session;
    // History is read page by page (one bounded backplane reply each), and each page is sent only
    // as fast as the socket drains: a join never holds more than a page plus `pending`.
    const pageSize = Math.max(1, Math.floor(REPLAY_PAGE_BYTES / this.ctx.limits.maxFrameBytes));
    let replay: ReplayResult;
    try {
      replay = await this.ctx.backplane.replay(this.host.address, from, pageSize);
    } catch (err) {
      await this.leave();
      return fail(err);
    }
    // Where this peer's stream starts. After a seq_reset: the backplane's numbering, or every new
    // seq up to the peer's old last_seq would be skipped as "already sent".
    const start = !fresh && replay.gap?.reason === 'seq_reset' ? replay.lastSeq : from;
    // History is seq-contiguous (trimmed from the front only): what it holds after `from` is known
    // before the pages are read.
    const total = replay.gap?.reason === 'seq_reset' ? 0 : Math.max(0, replay.lastSeq - Math.max(from, replay.gap?.missedTo ?? 0));
    this.ctx.metrics.joins.inc({ result: 'ok' });
    this.host.send(reply(f, 'ok', { last_seq: fresh ? start : replay.lastSeq, replayed: total, gap: replay.gap ?? null }));
    // After a trimmed gap the peer continues from its end (the client does the same).
    this.lastSentSeq = replay.gap?.reason === 'trimmed' ? Math.max(start, replay.gap.missedTo) : start;
    if (await this.replayPages(replay, pageSize)) this.host.joinedLive(this.lastSentSeq);
  }

  /** The join's topic and `last_seq` (null: fresh), or false once the refusal is answered. */
  private checkJoin(f: Frame, own: string): number | null | false {
    if (f.topic !== own) {
      this.ctx.metrics.joins.inc({ result: 'unauthorized' });
      this.host.send(reply(f, 'error', { reason: 'unauthorized' }));
      return false;
    }
    const lastSeq = f.payload.last_seq;
    if (lastSeq === undefined || lastSeq === null) return null;
    if (!(Number.isSafeInteger(lastSeq) && (lastSeq as number) >= 0)) {
      this.ctx.metrics.joins.inc({ result: 'invalid' });
      this.host.send(reply(f, 'error', { reason: 'invalid_payload', field: 'last_seq', expected: 'a non-negative integer or null' }));
      return false;
    }
    return lastSeq as number;
  }

  /**
   * Send `replay` and the pages after it, each as fast as the socket drains, then what arrived live
   * meanwhile. True once the peer is live; false if the connection ended or was closed on the way.
   */
  private async replayPages(first: ReplayResult, pageSize: number): Promise<boolean> {
    let replay = first;
    let sent = 0;
    // A low mark keeps heartbeat replies (which share this socket) from waiting behind a replay.
    const mark = Math.min(this.ctx.limits.maxBufferedBytes / 2, REPLAY_HIGH_WATER_BYTES);
    try {
      for (;;) {
        for (const d of replay.deliveries) {
          // A long replay must respect the send-buffer bound too: wait for the socket to drain
          // rather than queueing megabytes (or mistaking a resuming peer for a slow consumer).
          if (!(await this.host.writable(mark))) return false;
          if (d.seq > this.lastSentSeq) sent++;
          this.sendDelivery(d, true);
        }
        // Done when history is read to its end and every live delivery since is in `pending`.
        if (!replay.more && !this.pendingRefused) break;
        this.pendingRefused = false;
        replay = await this.ctx.backplane.replay(this.host.address, this.lastSentSeq, pageSize);
        if (replay.gap) {
          // Entries left the history while this replay read it (budget eviction under load): the
          // peer rejoins from what it has, and that join reports the gap.
          this.host.log.warn({ gap: replay.gap, lastSentSeq: this.lastSentSeq }, 'history trimmed during the replay, closing');
          this.host.closeWith(CLOSE.tryAgainLater, 'replay_trimmed', 'history trimmed during replay, rejoin');
          return false;
        }
      }
      this.ctx.metrics.replayed.inc(sent);
      if (sent > 0 || replay.gap) this.host.log.info({ replayed: sent, gap: replay.gap }, 'resumed');
      const waiting = this.pending ?? [];
      this.releasePending();
      for (const d of waiting) this.sendDelivery(d, false);
      return true;
    } catch (err) {
      // The peer was told it joined: it must not stay half-joined. Close; it rejoins and resumes.
      this.host.log.error({ err: (err as Error).message }, 'replay failed after the join reply');
      this.host.closeWith(CLOSE.internalError, 'replay_failed', 'replay failed');
      return false;
    }
  }

  /** `phx_leave`, a rejoin, or the connection's end: detach from the backplane. */
  async leave(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    this.joinRef = null;
    this.releasePending();
    if (s) await s.close();
  }

  private releasePending(): void {
    this.pending = null;
    this.pendingRefused = false;
    this.ctx.backplane.memory.release('queued', this.pendingBytes);
    this.pendingBytes = 0;
  }

  /** The backplane's call (AttachOptions): the same peer attached elsewhere, so this connection is stale. */
  onEvicted(): void {
    this.host.log.info('peer attached elsewhere, closing this connection');
    this.host.closeWith(CLOSE.evicted, 'evicted', 'peer connected elsewhere');
  }

  /** The backplane's call (AttachOptions): a delivery for this peer. */
  deliver(d: Delivery): boolean {
    if (!this.host.isOpen || this.joinRef === null) return false;
    if (this.pending) {
      // Bounded: a quarter of the send buffer (so the flush after the replay fits beside the
      // replay's high-water mark) and the process budget. Past it the delivery is refused: it
      // stays in history (`stored`) and the replay reads it from there.
      const bytes = d.data.length + 128;
      if (
        this.pendingRefused ||
        this.pendingBytes + bytes > this.ctx.limits.maxBufferedBytes / 4 ||
        !this.ctx.backplane.memory.reserve('queued', bytes)
      ) {
        this.pendingRefused = true;
        return false;
      }
      this.pendingBytes += bytes;
      this.pending.push(d);
      return true;
    }
    return this.sendDelivery(d, false);
  }

  private sendDelivery(d: Delivery, replayed: boolean): boolean {
    if (d.seq <= this.lastSentSeq) return true; // already sent by the replay
    // The sender is of this peer's account (policy.ts): it is shown by its sub.
    const ok = this.host.send(
      pushSignal(this.joinRef, peerTopic(this.host.peer.sub), { from: subOf(d.from), id: d.id, seq: d.seq, replayed }, d.data),
    );
    if (ok) this.lastSentSeq = d.seq;
    return ok;
  }
}
