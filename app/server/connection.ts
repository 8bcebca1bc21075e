/**
 * One peer's WebSocket, the face the rest of the server uses (server.ts makes one per upgrade):
 * Phoenix V2 framing from ws's events (PeerSocket), its own `peer:<sub>` channel and its signals.
 * The class is built in layers, one file per concern, so that a connection stays one object with
 * the same fields (no helper object or bound closure per connection; bench/idle.ts):
 *   - endings.ts: state, the close / RST / terminate paths, every deadline on the server's one
 *     DeadlineWheel (join, idle, ping, lifetime rotation, end of a close), writes and slow consumers;
 *   - frame-queue.ts: each inbound frame checked against the limits, heartbeats answered at once,
 *     the per-connection queue (signals reach the backplane in the order sent), yield and throttle;
 *   - this file: ws's events (PeerSocket), what a queued frame is for (join, leave, signal), the close;
 *   - signal.ts: the signal's publish and its refusal replies; channel.ts: the join, the resume's
 *     replay and live deliveries.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { peerAddress, SenderChecks } from '../auth/policy';
import type { PeerIdentity } from '../auth/token';
import { EVENTS, peerTopic, reply, SIGNAL_EVENT } from '../protocol/phoenix';
import { ChannelHost, PeerChannel } from './channel';
import type { EndingsContext } from './endings';
import { FrameQueue, Job } from './frame-queue';
import { relaySignal, SignalSender } from './signal';

export interface ConnectionContext extends EndingsContext {
  onClosed(conn: PeerConnection): void;
}

/**
 * The server's WebSocket class, given to ws as its `WebSocket` option ("the WebSocket class to use.
 * It must be the WebSocket class or class that extends it", ws/lib/websocket-server.js): ws's events
 * reach the connection that owns the socket directly. No listener per event and socket: five of them
 * grew every socket's listener table (a dictionary) by ~100 B (bench/heap.ts). A listener added with
 * `on` still runs, after the connection's handler.
 */
export class PeerSocket extends WebSocket {
  /** The connection this socket belongs to (set once, by its constructor). */
  owner: PeerConnection | undefined = undefined;

  override emit(event: string | symbol, a?: unknown, b?: unknown): boolean {
    const conn = this.owner;
    if (conn && PeerConnection.route(conn, event, a, b) && this.listenerCount(event) === 0) return true;
    return super.emit(event, a, b);
  }
}

export class PeerConnection extends FrameQueue implements ChannelHost, SignalSender {
  declare protected readonly ctx: ConnectionContext;
  /** The peer's channel, made at its first join (a connection that never joins holds none). */
  private channel?: PeerChannel;
  /** `<account>/<sub>`: this peer's id in the backplane (policy.ts). */
  readonly address: string;

  constructor(
    ws: PeerSocket,
    socket: Socket,
    peer: PeerIdentity,
    ctx: ConnectionContext,
    /** Who this peer may signal (policy.ts), built once at upgrade. */
    private readonly checks: SenderChecks,
  ) {
    super(ws, socket, peer, ctx);
    this.address = peerAddress(peer.account, peer.sub);
    ws.owner = this;
    this.scheduleDeadline();
    this.log.info('connection open');
  }

  /** PeerSocket's call for each of ws's events: true if it is one the connection handles. */
  static route(conn: PeerConnection, event: string | symbol, a: unknown, b: unknown): boolean {
    switch (event) {
      case 'message':
        conn.onMessage(a as Buffer, b as boolean);
        return true;
      case 'pong':
        conn.ponged();
        return true;
      case 'ping':
        conn.pong(a as Buffer);
        return true;
      case 'error': {
        // ws emits an error and then closes for protocol violations (e.g. 1009 for maxPayload).
        const err = a as Error & { code?: string };
        conn.closeReason = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'frame_too_big' : 'socket_error';
        conn.log.info({ err: err.message }, 'connection error');
        return true;
      }
      case 'close':
        conn.onClose(a as number);
        return true;
      default:
        return false;
    }
  }

  protected override get joined(): boolean {
    return this.channel?.joined === true;
  }

  /** Returns a promise only while something is awaited (a join, a leave, a publish to Redis). */
  protected override dispatch(job: Job): void | Promise<void> {
    const f = job.frame;
    if (this.state !== 'open') return;
    const own = peerTopic(this.peer.sub);
    if (f.event === EVENTS.join) return (this.channel ??= new PeerChannel(this, this.ctx)).join(f, own);
    if (f.topic !== own || !this.channel?.joined) {
      this.send(reply(f, 'error', { reason: 'unmatched topic' }));
      return;
    }
    if (f.event === EVENTS.leave) {
      return this.channel.leave().then(() => void this.send(reply(f, 'ok', {})));
    }
    if (f.event === SIGNAL_EVENT && job.signal) return relaySignal(this.ctx, this, this.checks, f, job.signal);
    this.send(reply(f, 'error', { reason: 'unknown_event', event: f.event }));
  }

  private onClose(code: number): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.ctx.wheel.cancel(this);
    this.stopThrottle();
    this.ctx.metrics.closes.inc({ reason: this.closeReason });
    this.log.info({ code, reason: this.closeReason, lifetimeMs: Math.round(performance.now() - this.openedAt) }, 'connection closed');
    this.channel?.leave().catch((err: Error) => this.log.warn({ err: err.message }, 'detach failed'));
    this.ctx.onClosed(this);
  }
}
