/**
 * One peer's WebSocket: Phoenix V2 framing, its own `peer:<sub>` channel, signals, heartbeats,
 * limits, and the three ways it can end on the server's initiative:
 *   - idle: no frame at all (data, heartbeat, pong) for `server.idleTimeoutMs` -> terminate;
 *   - restart: close 1012 (drain or lifetime rotation), then RST if the peer never completes it;
 *   - limits: oversized frame 1009 (by ws), flood 1008, slow consumer -> terminate.
 * Everything async (join, signal) runs through a per-connection queue so a peer's signals reach the
 * backplane in the order it sent them; heartbeats are answered at once, never behind that queue.
 * The join, the resume's replay and live deliveries are the channel's (channel.ts); a signal's
 * publish and its refusal replies are signal.ts's.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import type { PeerIdentity } from '../auth/token';
import { serverPingDueMs, type Timeouts } from '../contract/timeouts';
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
import { peerAddress, SenderChecks } from '../auth/policy';
import { corkForTurn } from './batch';
import { ChannelContext, ChannelHost, PeerChannel } from './channel';
import { joinDeadlineMs } from './config';
import type { DeadlineWheel } from './deadlines';
import { PreparedSignal, prepareSignal, spendProcessTurn, TURN_BYTES } from './inbound';
import { ByteRate, TokenBucket } from './rate-limit';
import { relaySignal, SignalSender } from './signal';

export interface ConnectionContext extends ChannelContext {
  log: Logger;
  timeouts: Timeouts;
  random: () => number;
  /** The server's one timer for every connection's join, idle, lifetime and close deadlines. */
  wheel: DeadlineWheel<PeerConnection>;
  onClosed(conn: PeerConnection): void;
}

type State = 'open' | 'closing' | 'closed';

/** What a signal's frame keeps once its data is prepared (only the JSON text waits in the queue). */
const NO_PAYLOAD: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;

interface Job {
  frame: Frame;
  signal?: PreparedSignal;
  /** Charged to the process memory budget while the job waits. */
  bytes: number;
}

let nextId = 1;

/** The connection a `ws` socket belongs to: one shared listener per event instead of closures per connection. */
const OWNER = Symbol('sluice.connection');
type Owned = WebSocket & { [OWNER]: PeerConnection };
const ownerOf = (ws: WebSocket) => (ws as Owned)[OWNER];

/**
 * A connection's own deadlines, all on the monotonic clock and all kept by the server's one
 * DeadlineWheel: the join deadline (checked once), the idle limit (moves with every frame, checked
 * lazily when it would have passed), the lifetime rotation, and the end of a close this side began.
 */
interface Ending {
  at: number;
  how: 'terminate' | 'reset';
  reason: string;
}

export class PeerConnection implements ChannelHost, SignalSender {
  readonly id = nextId++;
  /** Monotonic (performance.now()) times. */
  private readonly openedAt = performance.now();
  private lastSeen = this.openedAt;
  /** Pings sent since the last frame from the peer (the next one is due at serverPingDueMs of silence). */
  private pings = 0;
  private readonly joinBy: number;
  private readonly rotateAt: number;
  private joinChecked = false;
  private rotated = false;
  private ending?: Ending;
  wheelSlot = -1;
  private state: State = 'open';
  /** The peer's channel, made at its first join (a connection that never joins holds none). */
  private channel?: PeerChannel;
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
  /**
   * This connection's logger, made when a line is logged and not kept: a pino child held per
   * connection cost ~0.5 KiB of heap for the few lines a connection logs in its life (bench/idle.ts).
   */
  get log(): Logger {
    return this.ctx.log.child({ conn: this.id, peer: this.peer.sub, account: this.peer.account, kind: this.peer.kind });
  }
  closeReason = 'peer';
  /** `<account>/<sub>`: this peer's id in the backplane (policy.ts). */
  readonly address: string;

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Socket,
    readonly peer: PeerIdentity,
    private readonly ctx: ConnectionContext,
    /** Who this peer may signal (policy.ts), built once at upgrade. */
    private readonly checks: SenderChecks,
  ) {
    this.address = peerAddress(peer.account, peer.sub);
    this.bucket = new TokenBucket(ctx.limits.ratePerSec, ctx.limits.rateBurst);
    this.byteRate = new ByteRate(ctx.limits.bytesPerSec, ctx.limits.bytesBurst);
    (ws as Owned)[OWNER] = this;
    ws.on('message', PeerConnection.onWsMessage);
    ws.on('pong', PeerConnection.onWsBeat);
    ws.on('ping', PeerConnection.onWsBeat);
    ws.on('error', PeerConnection.onWsError);
    ws.on('close', PeerConnection.onWsClose);
    const { maxConnectionLifetimeMs, lifetimeJitter } = ctx.timeouts.server;
    // A connection that never joins holds a socket for nothing: it is closed at the join deadline.
    this.joinBy = this.openedAt + joinDeadlineMs(ctx.timeouts);
    this.rotateAt = this.openedAt + maxConnectionLifetimeMs * (1 - lifetimeJitter * ctx.random());
    this.scheduleDeadline();
    this.log.info('connection open');
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

  get isOpen(): boolean {
    return this.state === 'open';
  }
  get isClosed(): boolean {
    return this.state === 'closed';
  }

  /** Sent by onDeadline once the peer has been silent for serverPingDueMs. */
  private ping(): void {
    if (this.state === 'open' && this.ws.readyState === WebSocket.OPEN) this.ws.ping();
  }

  /** Polite close 1012 "reconnect elsewhere". With `resetAfterMs`, RST if the peer has not finished closing by then. */
  closeForRestart(reason: 'drain' | 'rotate', resetAfterMs?: number): boolean {
    if (this.state !== 'open') return false;
    this.state = 'closing';
    this.closeReason = reason;
    this.ws.close(CLOSE.serviceRestart, reason === 'drain' ? 'server draining' : 'connection rotation');
    if (resetAfterMs !== undefined) this.endBy(resetAfterMs, 'reset', `${reason}_deadline`);
    return true;
  }

  /** TCP RST: the peer learns at once that this connection is gone (no FIN dance with a dead peer). */
  reset(reason: string): void {
    if (this.state === 'closed') return;
    this.closeReason = reason;
    this.state = 'closing';
    this.socket.resetAndDestroy();
  }

  private terminate(reason: string): void {
    if (this.state === 'closed') return;
    this.closeReason = reason;
    this.state = 'closing';
    this.ws.terminate();
  }

  /** Close with `code`; a peer that does not finish the close within drain.marginMs is cut. */
  closeWith(code: number, reason: string, text: string): void {
    if (this.state !== 'open') return;
    this.state = 'closing';
    this.closeReason = reason;
    this.ws.close(code, text);
    // A peer that floods or misbehaves does not get to hold the socket open by ignoring our close.
    this.endBy(this.ctx.timeouts.drain.marginMs, 'terminate', reason);
  }

  private touch(): void {
    this.lastSeen = performance.now();
    this.pings = 0;
  }

  /** This side began a close: end the socket (terminate or RST) if it is still open `ms` from now. */
  private endBy(ms: number, how: Ending['how'], reason: string): void {
    const at = performance.now() + ms;
    if (this.ending && this.ending.at <= at) return; // an earlier end is already set
    this.ending = { at, how, reason };
    this.scheduleDeadline();
  }

  /** The earliest of this connection's deadlines, on the server's wheel. */
  private scheduleDeadline(): void {
    if (this.state === 'closed') return;
    let at = this.lastSeen + this.ctx.timeouts.server.idleTimeoutMs;
    if (!this.joinChecked) at = Math.min(at, this.joinBy);
    if (!this.rotated) at = Math.min(at, this.rotateAt);
    if (this.ending) at = Math.min(at, this.ending.at);
    if (this.state === 'open') at = Math.min(at, this.lastSeen + serverPingDueMs(this.ctx.timeouts, this.pings));
    this.ctx.wheel.schedule(this, at);
  }

  /** The wheel's call: act on whatever is due, then wait for the next deadline. */
  onDeadline(now: number): void {
    if (this.state === 'closed') return;
    if (this.ending && now >= this.ending.at) {
      const { how, reason } = this.ending;
      this.ending = undefined;
      if (how === 'reset') this.reset(reason);
      else this.terminate(reason);
      return;
    }
    const idleMs = now - this.lastSeen;
    if (idleMs >= this.ctx.timeouts.server.idleTimeoutMs) {
      this.ctx.metrics.heartbeatTimeouts.inc();
      this.log.warn({ idleMs: Math.round(idleMs) }, 'idle limit passed, terminating');
      this.terminate('idle_timeout');
      return;
    }
    if (!this.joinChecked && now >= this.joinBy) {
      this.joinChecked = true;
      if (this.state === 'open' && !this.channel?.joined) {
        this.log.info('no join before the deadline, closing');
        this.closeWith(CLOSE.joinTimeout, 'join_timeout', 'join timeout');
      }
    }
    if (!this.rotated && now >= this.rotateAt) {
      this.rotated = true;
      this.closeForRestart('rotate', this.ctx.timeouts.drain.marginMs);
    }
    // A peer silent for long enough gets a ping (one that spoke since needs none: touch() reset it).
    if (this.state === 'open' && idleMs >= serverPingDueMs(this.ctx.timeouts, this.pings)) {
      this.pings++;
      this.ping();
    }
    this.scheduleDeadline();
  }

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

  /**
   * Resolves true once the send buffer is at most `limit` (the replay's mark); false if the connection
   * ended or the peer did not read for a whole idle period (then it is disconnected as a slow consumer).
   */
  async writable(limit: number): Promise<boolean> {
    if (this.ws.bufferedAmount <= limit) return this.state === 'open';
    if (this.socket.destroyed) return false;
    const drained = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => done(false), this.ctx.timeouts.server.idleTimeoutMs);
      const onDrain = () => done(true);
      const onClose = () => done(false);
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.socket.off('drain', onDrain);
        this.socket.off('close', onClose);
        resolve(ok);
      };
      this.socket.on('drain', onDrain);
      this.socket.on('close', onClose);
    });
    if (!drained && this.state === 'open') {
      this.log.warn({ buffered: this.ws.bufferedAmount }, 'slow consumer during replay, disconnecting');
      this.terminate('slow_consumer');
    }
    return drained && this.state === 'open';
  }

  /** Queue text on the socket unless the peer is a slow consumer (then it is disconnected). */
  send(text: string): boolean {
    if (this.state !== 'open' || this.ws.readyState !== WebSocket.OPEN) return false;
    if (this.ws.bufferedAmount + Buffer.byteLength(text) > this.ctx.limits.maxBufferedBytes) {
      this.log.warn({ buffered: this.ws.bufferedAmount }, 'slow consumer, disconnecting');
      this.terminate('slow_consumer');
      return false;
    }
    corkForTurn(this.socket);
    this.ws.send(text);
    return true;
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
