/**
 * A connection's inbound side (the middle layer of PeerConnection: endings.ts <- this <- connection.ts):
 * each text frame checked against the limits (message rate 1008, binary 1003, too many JSON values,
 * malformed 1007, frames waiting 1008, memory budget 1013), heartbeats answered at once, and every
 * other frame run through a per-connection queue, one at a time, so a peer's signals reach the
 * backplane in the order it sent them. The read side yields: past TURN_BYTES in one event-loop turn
 * the socket waits for the next turn, and an overdrawn byte rate stops reading for a while (one timer
 * owns that pause). What a frame is for (join, leave, signal) is the subclass's `dispatch`.
 */
import { performance } from 'node:perf_hooks';
import {
  CLOSE,
  decode,
  decodeHead,
  EVENTS,
  Frame,
  MAX_DATA_VALUES,
  PHOENIX_TOPIC,
  ProtocolError,
  reply,
  scanFrame,
  SIGNAL_EVENT,
} from '../protocol/phoenix';
import { heartbeatReplyFrame } from './beats';
import { ConnectionEndings } from './endings';
import { currentTurn, PreparedSignal, prepareSignal, resumeAfterTurn, spendProcessTurn, TURN_BYTES } from './inbound';
import { pauseMs, refill } from './rate-limit';

/** What a signal's frame keeps once its data is prepared (only the JSON text waits in the queue). */
const NO_PAYLOAD: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;

export interface Job {
  frame: Frame;
  signal?: PreparedSignal;
  /** Charged to the process memory budget while the job waits. */
  bytes: number;
}

export abstract class FrameQueue extends ConnectionEndings {
  /** Frames behind the one being handled (created on the first wait: an idle connection holds none). */
  private waiting?: Job[];
  /** A frame is being handled (its dispatch may be awaiting the backplane). */
  private busy = false;
  /** Frames in the queue, the one being handled included. */
  private queued = 0;
  /** Bytes of frames received in the process's read turn `turn` (see yieldAfter). */
  private turnBytes = 0;
  private turn = -1;
  /** The message bucket (rate-limit.ts): frames left to take now, refilled at limits.ratePerSec. */
  private tokens = this.ctx.limits.rateBurst;
  /** The byte bucket: bytes left to read before the socket pauses, refilled at limits.bytesPerSec. */
  private byteBalance = this.ctx.limits.bytesBurst;
  /** When both buckets were last refilled (the last data frame's time; monotonic). */
  private refilledAt = this.openedAt;
  /** Set while reading is stopped for the byte rate (the fairness resume must not undo it). */
  private throttledUntil = 0;
  private throttleTimer?: NodeJS.Timeout;

  /**
   * Handle one queued frame (join, leave, signal...); the queue waits for it. A promise only when it
   * must wait (a join, a publish to Redis): a signal on the in-process backplane is handled at once.
   */
  protected abstract dispatch(job: Job): void | Promise<void>;

  protected onMessage(data: Buffer, isBinary: boolean): void {
    const now = this.touch();
    if (this.state !== 'open') return;
    const limits = this.ctx.limits;
    const elapsed = now - this.refilledAt;
    this.refilledAt = now;
    this.byteBalance = refill(this.byteBalance, elapsed, limits.bytesPerSec, limits.bytesBurst) - data.length;
    this.throttle(pauseMs(this.byteBalance, limits.bytesPerSec));
    this.tokens = refill(this.tokens, elapsed, limits.ratePerSec, limits.rateBurst);
    if (this.tokens < 1) {
      this.log.warn('message rate exceeded');
      this.closeWith(CLOSE.policyViolation, 'rate_limited', 'message rate exceeded');
      return;
    }
    this.tokens -= 1;
    if (isBinary) {
      this.closeWith(CLOSE.unsupportedData, 'binary_frame', 'binary frames are not supported');
      return;
    }
    // A plain heartbeat (nearly every frame of an idle connection) is answered from its bytes (beats.ts),
    // outside the per-turn read budget: at most 125 bytes, so the message bucket above bounds a flood
    // of them, and a lone heartbeat does not start a read turn (its setImmediate made the event loop
    // turn once more, with one more epoll_wait, per heartbeat: bench/idle-cpu.ts --cpu-prof).
    const beat = heartbeatReplyFrame(data);
    if (beat) {
      if (this.sendFrame(beat)) this.ctx.metrics.heartbeatsAnswered.inc();
      this.scheduleDeadline(); // touched above: the next ping is due 1.1 intervals from now (endings.ts)
      return;
    }
    this.yieldAfter(data.length);
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
      if (this.send(reply(frame, 'ok', {}))) this.ctx.metrics.heartbeatsAnswered.inc();
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
    else this.handle(job);
  }

  /**
   * Handles `first` and then every frame that queued behind it, one at a time: a peer's signals
   * reach the backplane in the order it sent them. A frame whose dispatch returns a promise holds
   * the queue (busy) until it settles; the others cost no promise of their own. Never throws.
   */
  private handle(first: Job): void {
    this.busy = true;
    for (let job: Job | undefined = first; job; job = this.waiting?.shift()) {
      let pending: void | Promise<void> = undefined;
      try {
        pending = this.dispatch(job);
      } catch (err) {
        this.failed(job, err);
      }
      if (pending) {
        void this.settle(job, pending);
        return;
      }
      this.done(job);
    }
    this.waiting = undefined;
    this.busy = false;
  }

  /** Waits for a dispatch that had to wait, then goes on with the frames queued behind it. */
  private async settle(job: Job, pending: Promise<void>): Promise<void> {
    try {
      await pending;
    } catch (err) {
      this.failed(job, err);
    }
    this.done(job);
    const next = this.waiting?.shift();
    if (next) this.handle(next);
    else {
      this.waiting = undefined;
      this.busy = false;
    }
  }

  private failed(job: Job, err: unknown): void {
    this.log.error({ err: (err as Error).message }, 'frame handler failed');
    this.send(reply(job.frame, 'error', { reason: 'internal_error' }));
  }

  private done(job: Job): void {
    this.queued--;
    this.ctx.backplane.memory.release('queued', job.bytes);
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
    const turn = currentTurn();
    if (this.turn !== turn) {
      this.turn = turn;
      this.turnBytes = 0;
    }
    this.turnBytes += bytes;
    const processSpent = spendProcessTurn(bytes);
    if ((this.turnBytes >= TURN_BYTES || processSpent) && !this.ws.isPaused) {
      this.ws.pause();
      resumeAfterTurn(this);
    }
  }

  /** The turn that paused this socket ended (inbound.ts): read again unless the byte rate holds it. */
  resumeAfterTurn(): void {
    if (this.ws.isPaused && this.state !== 'closed' && performance.now() >= this.throttledUntil) this.ws.resume();
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

  /** The socket closed: the byte-rate pause has nothing left to resume. */
  protected stopThrottle(): void {
    if (this.throttleTimer) clearTimeout(this.throttleTimer);
  }
}
