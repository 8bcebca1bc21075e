/**
 * Application-layer heartbeat: the client's last line of defence against a half-open connection
 * (postmortem fix 3). TCP alone never tells us that a server, VM or middlebox went silent without
 * a FIN or RST; only an answer that fails to come does.
 *
 * - A Phoenix `heartbeat` goes out every `heartbeatIntervalMs`, on a fixed cadence, whether or not
 *   other traffic flows (a busy link must not hide a dead server).
 * - The socket is declared dead when EITHER clock runs out, whichever first:
 *     1. the oldest unanswered heartbeat has waited `heartbeatTimeoutMs`;
 *     2. nothing has answered for `deadPeerDetectionMs` since the last reply (or since open).
 *   Clock 1 is the contract's per-heartbeat timeout. Clock 2 pins the worst case to the contract's
 *   bound exactly: with a fixed cadence, the first heartbeat lost to a black hole may leave up to one
 *   interval after the last reply, and the contract only promises interval + timeout <= bound.
 * - On death the owner terminates the socket (no closing handshake with a dead peer) and reconnects.
 */
import type { LivenessSchedule } from '../contract/timeouts';
import { afterPendingIo, Timer } from './timers';

export interface HeartbeatHooks {
  /** Send a heartbeat frame with this ref (false if the socket could not take it). */
  send(ref: string): boolean;
  /** The peer is considered dead. */
  onDead(info: { silentMs: number; unanswered: number }): void;
  /** A reply arrived. */
  onReply?(info: { rttMs: number }): void;
}

export class Heartbeat {
  private ticker?: Timer;
  private deadline?: Timer;
  /** Heartbeats in flight, oldest first. Replies come back in order on one socket. */
  private outstanding: Array<{ ref: string; sentAt: number }> = [];
  private lastReplyAt = 0;
  private running = false;

  constructor(
    /** The client's side of the contract's livenessSchedule(): interval, reply timeout, silence bound. */
    private readonly t: Pick<LivenessSchedule, 'heartbeatIntervalMs' | 'heartbeatTimeoutMs' | 'deadPeerDetectionMs'>,
    private readonly makeRef: () => string,
    private readonly hooks: HeartbeatHooks,
  ) {}

  /** Start on socket open: the silence clock starts now. */
  start(): void {
    this.stop();
    this.running = true;
    this.lastReplyAt = Date.now();
    this.ticker = setInterval(() => this.beat(), this.t.heartbeatIntervalMs);
    this.arm();
  }

  stop(): void {
    this.running = false;
    if (this.ticker) clearInterval(this.ticker);
    if (this.deadline) clearTimeout(this.deadline);
    this.ticker = undefined;
    this.deadline = undefined;
    this.outstanding = [];
  }

  /** Feed a `phx_reply` on topic `phoenix`; true when `ref` was one of ours. */
  ack(ref: string): boolean {
    const i = this.outstanding.findIndex((h) => h.ref === ref);
    if (i < 0) return false;
    const now = Date.now();
    const rttMs = now - this.outstanding[i].sentAt;
    // A reply to heartbeat i proves the older ones were merely answered late or lost before it.
    this.outstanding.splice(0, i + 1);
    this.lastReplyAt = now;
    this.arm();
    this.hooks.onReply?.({ rttMs });
    return true;
  }

  private beat(): void {
    if (!this.running) return;
    const ref = this.makeRef();
    this.outstanding.push({ ref, sentAt: Date.now() });
    this.hooks.send(ref);
    if (this.outstanding.length === 1) this.arm();
  }

  /** (Re)arm the one deadline timer at the earlier of the two clocks. */
  private arm(): void {
    if (this.deadline) clearTimeout(this.deadline);
    if (!this.running) return;
    this.deadline = setTimeout(() => afterPendingIo(() => this.expire()), Math.max(0, this.dueAt() - Date.now()));
  }

  /** The earlier of the two clocks: silence since the last reply, and the oldest unanswered heartbeat. */
  private dueAt(): number {
    const silenceDue = this.lastReplyAt + this.t.deadPeerDetectionMs;
    const oldest = this.outstanding[0];
    return oldest ? Math.min(silenceDue, oldest.sentAt + this.t.heartbeatTimeoutMs) : silenceDue;
  }

  private expire(): void {
    if (!this.running) return;
    // A reply read after the timer fired (afterPendingIo) moved the deadline: not dead, re-arm.
    if (this.dueAt() > Date.now()) return this.arm();
    const info = { silentMs: Date.now() - this.lastReplyAt, unanswered: this.outstanding.length };
    this.stop();
    this.hooks.onDead(info);
  }
}
