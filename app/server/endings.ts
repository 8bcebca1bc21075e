/**
 * A connection's state and the ways it ends on the server's initiative (the base of PeerConnection:
 * connection.ts). One class per concern, stacked by inheritance rather than composed, so that a
 * connection is still one object on the heap with the same fields: no helper object and no bound
 * closure per connection (bench/idle.ts, bench/heap.ts measure that budget).
 *   - idle: no frame at all (data, heartbeat, pong) for `server.idleTimeoutMs` -> terminate;
 *   - restart: close 1012 (drain or lifetime rotation), then RST if the peer never completes it;
 *   - join: a connection that has not joined by the join deadline is closed (CLOSE.joinTimeout);
 *   - a close this side began (flood, bad frame, join timeout) is cut if the peer never finishes it;
 *   - slow consumer: a write the peer does not read (send, writable) -> terminate.
 * Every deadline is on the monotonic clock and kept by the server's one DeadlineWheel (deadlines.ts):
 * the join deadline (checked once), the idle limit (moves with every frame, checked lazily when it
 * would have passed), the ping due after silence, the lifetime rotation, and the end of a close.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import type { PeerIdentity } from '../auth/token';
import { serverPingDueMs, type Timeouts } from '../contract/timeouts';
import { CLOSE } from '../protocol/phoenix';
import { corkForTurn } from './batch';
import { PING_FRAME } from './beats';
import type { ChannelContext } from './channel';
import { joinDeadlineMs } from './config';
import type { DeadlineWheel } from './deadlines';

/** What a connection needs of the server (connection.ts's ConnectionContext adds the close callback). */
export interface EndingsContext extends ChannelContext {
  log: Logger;
  timeouts: Timeouts;
  random: () => number;
  /** The server's one timer for every connection's join, idle, lifetime and close deadlines. */
  wheel: DeadlineWheel<ConnectionEndings>;
}

export type ConnectionState = 'open' | 'closing' | 'closed';

/** The end of a close this side began: terminate or RST at `at` if the socket is still open. */
interface Ending {
  at: number;
  how: 'terminate' | 'reset';
  reason: string;
}

let nextId = 1;

export abstract class ConnectionEndings {
  readonly id = nextId++;
  /** Monotonic (performance.now()) times. */
  protected readonly openedAt = performance.now();
  private lastSeen = this.openedAt;
  /** Pings sent since the last frame from the peer (the next one is due at serverPingDueMs of silence). */
  private pings = 0;
  private readonly rotateAt: number;
  private joinChecked = false;
  private rotated = false;
  private ending?: Ending;
  wheelSlot = -1;
  protected state: ConnectionState = 'open';
  closeReason = 'peer';
  /**
   * This connection's logger, made when a line is logged and not kept: a pino child held per
   * connection cost ~0.5 KiB of heap for the few lines a connection logs in its life (bench/idle.ts).
   */
  get log(): Logger {
    return this.ctx.log.child({ conn: this.id, peer: this.peer.sub, account: this.peer.account, kind: this.peer.kind });
  }

  constructor(
    protected readonly ws: WebSocket,
    protected readonly socket: Socket,
    readonly peer: PeerIdentity,
    protected readonly ctx: EndingsContext,
  ) {
    const { maxConnectionLifetimeMs, lifetimeJitter } = ctx.timeouts.server;
    this.rotateAt = this.openedAt + maxConnectionLifetimeMs * (1 - lifetimeJitter * ctx.random());
  }

  /**
   * A connection that never joins holds a socket for nothing: it is closed at the join deadline.
   * Derived, not a field: a time kept per connection is a boxed number (24 B each, bench/heap.ts).
   */
  private get joinBy(): number {
    return this.openedAt + joinDeadlineMs(this.ctx.timeouts);
  }

  /** The peer has joined its channel (the join deadline is met). */
  protected abstract get joined(): boolean;

  get isOpen(): boolean {
    return this.state === 'open';
  }
  get isClosed(): boolean {
    return this.state === 'closed';
  }

  /** Sent by onDeadline once the peer has been silent for serverPingDueMs: one shared 2-byte frame (beats.ts). */
  private ping(): void {
    if (this.state !== 'open' || this.ws.readyState !== WebSocket.OPEN) return;
    this.socket.write(PING_FRAME);
    this.ctx.metrics.pingsSent.inc();
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

  protected terminate(reason: string): void {
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

  /** Any frame from the peer (data, heartbeat, ping, pong): the idle limit and the ping schedule restart. Returns the time. */
  protected touch(): number {
    this.pings = 0;
    return (this.lastSeen = performance.now());
  }

  /**
   * A pong from the peer. After a ping of ours the deadline moves now, to the next ping due after
   * this pong: left lazy, the old deadline (the second ping's time) fired once per round only to find
   * nothing due and move itself (bench/idle-cpu.ts --cpu-prof: half of onDeadline's calls at 10k idle
   * connections). A plain heartbeat does the same (frame-queue.ts); data frames stay lazy (touch()),
   * and so do unsolicited pongs: at most one reschedule per ping sent.
   */
  protected ponged(): void {
    const pinged = this.pings > 0;
    this.touch();
    if (pinged) this.scheduleDeadline();
  }

  /**
   * A ping from the peer: it counts as a frame, and is answered with a pong of the same data (RFC 6455
   * 5.5.2/5.5.3; ws's own auto-pong is off, it kept a closure per socket). Not once a close has begun
   * (ws then is CLOSING and would not answer either). A peer that pings and never reads is a slow
   * consumer like any other: the send-buffer bound applies (ws's bound was 60 unsent pongs).
   */
  protected pong(data: Buffer): void {
    this.touch();
    if (this.state !== 'open' || this.ws.readyState !== WebSocket.OPEN) return;
    if (!this.slowConsumer(data.length)) this.ws.pong(data, false);
  }

  /** This side began a close: end the socket (terminate or RST) if it is still open `ms` from now. */
  private endBy(ms: number, how: Ending['how'], reason: string): void {
    const at = performance.now() + ms;
    if (this.ending && this.ending.at <= at) return; // an earlier end is already set
    this.ending = { at, how, reason };
    this.scheduleDeadline();
  }

  /** The earliest of this connection's deadlines, on the server's wheel. */
  protected scheduleDeadline(): void {
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
      if (this.state === 'open' && !this.joined) {
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

  /**
   * Write a whole pre-built WebSocket frame (beats.ts) now, as one buffer: no encoding, no cork
   * (a lone frame gains nothing from the turn's batch; a socket already corked this turn takes it
   * in order with the rest). The slow-consumer bound applies as in send().
   */
  protected sendFrame(frame: Buffer): boolean {
    if (this.state !== 'open' || this.ws.readyState !== WebSocket.OPEN) return false;
    if (this.slowConsumer(frame.length)) return false;
    this.socket.write(frame);
    return true;
  }

  /** Queue text on the socket unless the peer is a slow consumer (then it is disconnected). */
  send(text: string): boolean {
    if (this.state !== 'open' || this.ws.readyState !== WebSocket.OPEN) return false;
    if (this.slowConsumer(Buffer.byteLength(text))) return false;
    corkForTurn(this.socket);
    this.ws.send(text);
    return true;
  }

  /** `bytes` more would pass the send-buffer bound: the peer does not read, and is disconnected (true). */
  private slowConsumer(bytes: number): boolean {
    if (this.ws.bufferedAmount + bytes <= this.ctx.limits.maxBufferedBytes) return false;
    this.log.warn({ buffered: this.ws.bufferedAmount }, 'slow consumer, disconnecting');
    this.terminate('slow_consumer');
    return true;
  }
}
