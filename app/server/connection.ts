/**
 * One peer's WebSocket, the face the rest of the server uses (server.ts makes one per upgrade):
 * Phoenix V2 framing through the `ws` listeners, its own `peer:<sub>` channel, signals, limits.
 * Its state, the ways it ends and every deadline are its base class's (endings.ts: one object, the
 * same fields, no helper object per connection). Everything async (join, signal) runs through a
 * per-connection queue so a peer's signals reach the backplane in the order it sent them;
 * heartbeats are answered at once, never behind that queue. The join, the resume's replay and live
 * deliveries are the channel's (channel.ts); a signal's publish and its refusal replies are signal.ts's.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { peerAddress, SenderChecks } from '../auth/policy';
import type { PeerIdentity } from '../auth/token';
import {
  CLOSE,
  decode,
  decodeHead,
  EVENTS,
  Frame,
  MAX_DATA_VALUES,
  PHOENIX_TOPIC,
  peerTopic,
  ProtocolError,
  reply,
  scanFrame,
  SIGNAL_EVENT,
} from '../protocol/phoenix';
import { ChannelHost, PeerChannel } from './channel';
import { ConnectionEndings, EndingsContext } from './endings';
import { PreparedSignal, prepareSignal, spendProcessTurn, TURN_BYTES } from './inbound';
import { ByteRate, TokenBucket } from './rate-limit';
import { relaySignal, SignalSender } from './signal';

export interface ConnectionContext extends EndingsContext {
  onClosed(conn: PeerConnection): void;
}

/** The connection a `ws` socket belongs to: one shared listener per event instead of closures per connection. */
const OWNER = Symbol('sluice.connection');
type Owned = WebSocket & { [OWNER]: PeerConnection };
const ownerOf = (ws: WebSocket) => (ws as Owned)[OWNER];

/** What a signal's frame keeps once its data is prepared (only the JSON text waits in the queue). */
const NO_PAYLOAD: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;

interface Job {
  frame: Frame;
  signal?: PreparedSignal;
  /** Charged to the process memory budget while the job waits. */
  bytes: number;
}

export class PeerConnection extends ConnectionEndings implements ChannelHost, SignalSender {
  declare protected readonly ctx: ConnectionContext;
  /** The peer's channel, made at its first join (a connection that never joins holds none). */
  private channel?: PeerChannel;
  /** `<account>/<sub>`: this peer's id in the backplane (policy.ts). */
  readonly address: string;

  constructor(
    ws: WebSocket,
    socket: Socket,
    peer: PeerIdentity,
    ctx: ConnectionContext,
    /** Who this peer may signal (policy.ts), built once at upgrade. */
    private readonly checks: SenderChecks,
  ) {
    super(ws, socket, peer, ctx);
    this.address = peerAddress(peer.account, peer.sub);
    this.bucket = new TokenBucket(ctx.limits.ratePerSec, ctx.limits.rateBurst);
    this.byteRate = new ByteRate(ctx.limits.bytesPerSec, ctx.limits.bytesBurst);
    (ws as Owned)[OWNER] = this;
    ws.on('message', PeerConnection.onWsMessage);
    ws.on('pong', PeerConnection.onWsBeat);
    ws.on('ping', PeerConnection.onWsBeat);
    ws.on('error', PeerConnection.onWsError);
    ws.on('close', PeerConnection.onWsClose);
    this.scheduleDeadline();
    this.log.info('connection open');
  }

  /** Frames behind the one being handled (created on the first wait: an idle connection holds none). */
  private waiting?: Job[];
  /** A frame is being handled (its dispatch may be awaiting the backplane). */
  private busy = false;
  /** Frames in the queue, the one being handled included. */
  private queued = 0;
  /** Bytes of frames received in this event-loop turn (see yieldAfter). */
  private turnBytes = 0;
  private readonly bucket: TokenBucket;
  private readonly byteRate: ByteRate;
  /** Set while reading is stopped for the byte rate (the fairness resume must not undo it). */
  private throttledUntil = 0;
  private throttleTimer?: NodeJS.Timeout;

  private onMessage(data: Buffer, isBinary: boolean): void {
    this.touch();
    if (this.state !== 'open') return;
    this.yieldAfter(data.length);
    this.throttle(this.byteRate.spend(data.length));
    if (!this.bucket.take()) {
      this.log.warn('message rate exceeded');
      this.closeWith(CLOSE.policyViolation, 'rate_limited', 'message rate exceeded');
      return;
    }
    if (isBinary) {
      this.closeWith(CLOSE.unsupportedData, 'binary_frame', 'binary frames are not supported');
      return;
    }
    // Before parsing: a frame of more values than any signal may carry is refused unparsed.
    const scan = data.length > 2 * MAX_DATA_VALUES ? scanFrame(data) : undefined;
    if (scan?.tooManyValues) return this.refuseUnparsed(data);
    let frame: Frame;
    try {
      frame = decode(data.toString('utf8'));
    } catch (err) {
      const reason = err instanceof ProtocolError ? err.reason : 'malformed_frame';
      this.log.info({ reason }, 'malformed frame');
      this.closeWith(CLOSE.invalidPayload, reason, reason);
      return;
    }
    if (frame.topic === PHOENIX_TOPIC && frame.event === EVENTS.heartbeat) {
      this.send(reply(frame, 'ok', {}));
      return;
    }
    // The token bucket bounds how fast frames come in, not how many wait on a slow backplane.
    if (this.queued >= this.ctx.limits.rateBurst) {
      this.log.warn({ queued: this.queued }, 'too many frames waiting, closing');
      this.closeWith(CLOSE.policyViolation, 'overloaded', 'too many frames in flight');
      return;
    }
    const job: Job = { frame, bytes: data.length };
    if (frame.event === SIGNAL_EVENT) {
      job.signal = prepareSignal(frame.payload, scan?.data ? data.toString('utf8', scan.data[0], scan.data[1]) : undefined);
      frame.payload = NO_PAYLOAD; // drop the parsed data now: only its JSON text waits
    }
    const memory = this.ctx.backplane.memory;
    if (!memory.reserve('queued', job.bytes)) {
      this.log.warn({ memory: memory.snapshot() }, 'memory budget exhausted, closing');
      this.closeWith(CLOSE.tryAgainLater, 'memory_budget', 'server memory budget exhausted');
      return;
    }
    this.queued++;
    if (this.busy) (this.waiting ??= []).push(job);
    else void this.handle(job);
  }

  /**
   * Handles `first` and then every frame that queued behind it, one at a time: a peer's signals
   * reach the backplane in the order it sent them. Never rejects.
   */
  private async handle(first: Job): Promise<void> {
    this.busy = true;
    const memory = this.ctx.backplane.memory;
    for (let job: Job | undefined = first; job; job = this.waiting?.shift()) {
      try {
        await this.dispatch(job);
      } catch (err) {
        this.log.error({ err: (err as Error).message }, 'frame handler failed');
        this.send(reply(job.frame, 'error', { reason: 'internal_error' }));
      }
      this.queued--;
      memory.release('queued', job.bytes);
    }
    this.waiting = undefined;
    this.busy = false;
  }

  /** A frame over the value bound: answered from its head alone, or closed if even that is unusual. */
  private refuseUnparsed(data: Buffer): void {
    const head = decodeHead(data);
    if (!head) {
      this.closeWith(CLOSE.invalidPayload, 'too_many_values', 'too many JSON values');
      return;
    }
    const isSignal = head.event === SIGNAL_EVENT;
    if (isSignal) this.ctx.metrics.signalsFailed.inc({ reason: 'invalid_payload' });
    this.send(
      reply(head, 'error', {
        reason: 'invalid_payload',
        field: isSignal ? 'data' : 'payload',
        expected: `JSON of at most ${MAX_DATA_VALUES} values (objects, arrays, strings, numbers, booleans, nulls)`,
      }),
    );
  }

  /**
   * Fairness: one socket read loop can hand over megabytes of frames at once (libuv reads up to
   * 32 x 64 KiB per readiness). Past TURN_BYTES in one event-loop turn the socket is paused until
   * the next turn, so other sockets, /healthz and timers run between bursts of large frames.
   */
  private yieldAfter(bytes: number): void {
    if (this.turnBytes === 0) {
      setImmediate(() => {
        this.turnBytes = 0;
        if (this.ws.isPaused && this.state !== 'closed' && performance.now() >= this.throttledUntil) this.ws.resume();
      });
    }
    this.turnBytes += bytes;
    const processSpent = spendProcessTurn(bytes);
    if ((this.turnBytes >= TURN_BYTES || processSpent) && !this.ws.isPaused) this.ws.pause();
  }

  /** Byte rate overdrawn: stop reading this socket for `ms` (the frames already read are handled). */
  private throttle(ms: number): void {
    if (ms <= 0 || this.state === 'closed') return;
    if (!this.throttleTimer) this.ctx.metrics.throttled.inc();
    else clearTimeout(this.throttleTimer);
    this.throttledUntil = performance.now() + ms;
    if (!this.ws.isPaused) this.ws.pause();
    // One timer owns the pause: each overdraw moves it to the new end.
    this.throttleTimer = setTimeout(() => {
      this.throttleTimer = undefined;
      this.throttledUntil = 0;
      if (this.state !== 'closed' && this.ws.isPaused) this.ws.resume();
    }, ms);
  }

  // Listeners shared by every connection (`this` is the socket: EventEmitter calls them so).
  private static onWsMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
    ownerOf(this).onMessage(data, isBinary);
  }
  private static onWsBeat(this: WebSocket): void {
    ownerOf(this).touch();
  }
  private static onWsError(this: WebSocket, err: Error): void {
    // ws emits an error and then closes for protocol violations (e.g. 1009 for maxPayload).
    const conn = ownerOf(this);
    conn.closeReason = (err as { code?: string }).code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'frame_too_big' : 'socket_error';
    conn.log.info({ err: err.message }, 'connection error');
  }
  private static onWsClose(this: WebSocket, code: number): void {
    ownerOf(this).onClose(code);
  }

  protected override get joined(): boolean {
    return this.channel?.joined === true;
  }

  private async dispatch(job: Job): Promise<void> {
    const f = job.frame;
    if (this.state !== 'open') return;
    const own = peerTopic(this.peer.sub);
    if (f.event === EVENTS.join) return (this.channel ??= new PeerChannel(this, this.ctx)).join(f, own);
    if (f.topic !== own || !this.channel?.joined) {
      this.send(reply(f, 'error', { reason: 'unmatched topic' }));
      return;
    }
    if (f.event === EVENTS.leave) {
      await this.channel.leave();
      this.send(reply(f, 'ok', {}));
      return;
    }
    if (f.event === SIGNAL_EVENT && job.signal) return relaySignal(this.ctx, this, this.checks, f, job.signal);
    this.send(reply(f, 'error', { reason: 'unknown_event', event: f.event }));
  }

  private onClose(code: number): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.ctx.wheel.cancel(this);
    if (this.throttleTimer) clearTimeout(this.throttleTimer);
    this.ctx.metrics.closes.inc({ reason: this.closeReason });
    this.log.info({ code, reason: this.closeReason, lifetimeMs: Math.round(performance.now() - this.openedAt) }, 'connection closed');
    this.channel?.leave().catch((err: Error) => this.log.warn({ err: err.message }, 'detach failed'));
    this.ctx.onClosed(this);
  }
}
