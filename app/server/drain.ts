/**
 * The drain state machine: serving -> draining -> drained, entered once from any trigger (admin
 * POST /drain, SIGTERM, SIGINT, the GCE lifecycle watcher). While draining:
 *   - readiness is false at once (the LB stops sending new connections);
 *   - each open connection gets close 1012 at its own moment, spread evenly over `drain.windowMs`
 *     with jitter inside each slot, so the peers' reconnects do not stampede the rest of the fleet;
 *   - at `drain.deadlineMs` every connection still there (a peer that never answered its close
 *     frame, a half-open socket) is reset with a TCP RST. Nothing half-open outlives the drain.
 */
import { EventEmitter } from 'node:events';
import type { Timeouts } from '../contract/timeouts';

export type DrainState = 'serving' | 'draining' | 'drained';

export interface Drainable {
  readonly isClosed: boolean;
  /** Sends the 1012; false when the connection was already closing. */
  closeForRestart(reason: 'drain'): boolean;
  reset(reason: string): void;
}

export interface DrainReport {
  reason: string;
  startedAt: number;
  finishedAt: number;
  /** Connections open when the drain started. */
  total: number;
  /** Sent their 1012 (connections already closing, e.g. rotating, are not counted). */
  closeSent: number;
  /** Still open at the deadline, reset with RST. */
  reset: number;
  /** Offsets from drain start of the first and last 1012 sent. */
  firstCloseMs: number | null;
  lastCloseMs: number | null;
  /**
   * How evenly the 1012s left (set when the drain finishes, if any was sent): how late each close
   * fired after its planned moment (the event loop's turns: a long turn releases every close due
   * in it at once), and the most sent within any 100 ms, as a rate per second.
   */
  spread?: { lateP50Ms: number; lateP99Ms: number; lateMaxMs: number; peakPerSec100Ms: number };
}

export class Drainer extends EventEmitter {
  private _state: DrainState = 'serving';
  private report?: DrainReport;
  private done?: Promise<DrainReport>;
  private targets = new Set<Drainable>();
  private timers: NodeJS.Timeout[] = [];
  private finish?: () => void;

  constructor(
    private readonly drain: Timeouts['drain'],
    private readonly random: () => number = Math.random,
  ) {
    super();
  }

  get state(): DrainState {
    return this._state;
  }

  progress(): DrainReport | undefined {
    return this.report && { ...this.report };
  }

  /** Start draining `conns` (idempotent: later calls return the first drain's promise). */
  start(conns: Iterable<Drainable>, reason: string): Promise<DrainReport> {
    if (this.done) return this.done;
    const startedAt = Date.now();
    const order = shuffle(
      [...conns].filter((c) => !c.isClosed),
      this.random,
    );
    this.targets = new Set(order);
    this._state = 'draining';
    const report: DrainReport = {
      reason,
      startedAt,
      finishedAt: 0,
      total: order.length,
      closeSent: 0,
      reset: 0,
      firstCloseMs: null,
      lastCloseMs: null,
    };
    this.report = report;

    // Offsets of the 1012s sent and how late each was, ms (for report.spread).
    const sentAt: number[] = [];
    const late: number[] = [];
    this.done = new Promise<DrainReport>((resolve) => {
      this.finish = () => {
        if (this._state === 'drained') return;
        for (const t of this.timers) clearTimeout(t);
        this._state = 'drained';
        report.finishedAt = Date.now();
        if (sentAt.length > 0) report.spread = closeSpread(sentAt, late);
        this.emit('state', this._state, reason);
        resolve({ ...report });
      };
    });

    // Slot i of n covers [i, i+1) * window/n; the close lands at a random point inside its slot.
    const slot = order.length > 0 ? this.drain.windowMs / order.length : 0;
    order.forEach((conn, i) => {
      const at = (i + this.random()) * slot;
      this.timers.push(
        setTimeout(() => {
          if (conn.isClosed || !conn.closeForRestart('drain')) return;
          const offset = Date.now() - startedAt;
          sentAt.push(offset);
          late.push(Math.max(0, Math.round(offset - at)));
          report.closeSent++;
          report.firstCloseMs ??= offset;
          report.lastCloseMs = offset;
          this.emit('progress', { ...report });
        }, at),
      );
    });

    this.timers.push(
      setTimeout(() => {
        for (const conn of this.targets) {
          if (!conn.isClosed) {
            conn.reset('drain_deadline');
            report.reset++;
          }
        }
        this.finish?.();
      }, this.drain.deadlineMs),
    );

    // Announce only now: a listener may call start() again, which must find this drain.
    this.emit('state', this._state, reason);
    if (order.length === 0) this.finish?.();
    return this.done;
  }

  /** A connection ended: when the last one goes, the drain is over before its deadline. */
  connectionClosed(conn: Drainable): void {
    if (this._state !== 'draining' || !this.targets.delete(conn)) return;
    if (this.targets.size === 0) this.finish?.();
  }

  /** Stop all timers (hard shutdown in tests). */
  dispose(): void {
    for (const t of this.timers) clearTimeout(t);
  }
}

/** report.spread from the 1012s' offsets (in firing order) and lateness, ms. */
function closeSpread(sentAt: number[], late: number[]): NonNullable<DrainReport['spread']> {
  const sorted = [...late].sort((x, y) => x - y);
  const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
  let peak = 0;
  for (let i = 0, j = 0; i < sentAt.length; i++) {
    while (sentAt[i] - sentAt[j] >= 100) j++;
    peak = Math.max(peak, i - j + 1);
  }
  return { lateP50Ms: pct(50), lateP99Ms: pct(99), lateMaxMs: sorted[sorted.length - 1], peakPerSec100Ms: peak * 10 };
}

function shuffle<T>(xs: T[], random: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}
