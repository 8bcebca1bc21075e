/**
 * One peer of the drill: a SluiceClient that sends numbered signals (`{n, at}`, n = 1, 2, 3, ...)
 * to its partner on a fixed cadence and keeps the books a rollout drill needs: what it sent, what
 * the server acknowledged or refused, what it received from whom (so duplicates and holes show),
 * and how long each disconnection lasted (the reconnect gap: from losing a joined session to the
 * next join).
 *
 * Sending does not pause while disconnected: send() queues in the client's outbox, as a real
 * control plane client would, and the exchange must come out exactly once anyway.
 */
import type { Logger } from 'pino';
// '../client/index', not the directory: app/client is also a package whose package.json `main` is
// its build (dist/, absent until `npm run build` there); Node warns (DEP0128) on a directory import.
import { SluiceClient } from '../client/index';
import type { SluiceClientOptions } from '../client/index';

export interface PeerSpec {
  id: string;
  kind: 'client' | 'gateway';
  /** Partner peer id (signals go there). */
  to: string;
}

export interface PeerStats {
  sent: number;
  acked: number;
  failed: number;
  failures: Record<string, number>;
  statuses: { delivered: number; stored: number; duplicate: number };
  /** Distinct numbered signals received (all senders). */
  received: number;
  /** A number received again from the same sender (must stay 0). */
  duplicated: number;
  reconnects: number;
  gapsMs: number[];
  /** History gaps reported by the server on resume (`gap` events). */
  historyGaps: number;
  replayed: number;
  /** Set when the client stopped by itself (401, refused join): it will not come back. */
  fatal?: string;
}

/** A peer's counts before anything happened (the drill peer and the bench's light peer start from it). */
export function newPeerStats(): PeerStats {
  return {
    sent: 0,
    acked: 0,
    failed: 0,
    failures: {},
    statuses: { delivered: 0, stored: 0, duplicate: 0 },
    received: 0,
    duplicated: 0,
    reconnects: 0,
    gapsMs: [],
    historyGaps: 0,
    replayed: 0,
  };
}

export class DrillPeer {
  readonly client: SluiceClient;
  readonly stats: PeerStats = newPeerStats();
  /** Numbers received, per sender (compact: a long drill must not grow a set per signal). */
  private readonly receivedFrom = new Map<string, Received>();
  private timer?: NodeJS.Timeout;
  private phaseTimer?: NodeJS.Timeout;
  private joinedOnce = false;
  private lostAt?: number;
  private inFlight = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(
    readonly spec: PeerSpec,
    clientOptions: SluiceClientOptions,
    private readonly log: Pick<Logger, 'info' | 'warn' | 'debug'>,
    /** Called on every change that may settle the run (a receive, an answered send). */
    private readonly onProgress: () => void = () => undefined,
    /** Called when the client stopped by itself (see `stats.fatal`). */
    private readonly onStopped: () => void = () => undefined,
  ) {
    this.client = new SluiceClient({ ...clientOptions, peerId: spec.id });
    const c = this.client;
    c.on('state', (s) => {
      this.log.info({ event: 'state', from: s.from, to: s.to, reason: s.reason }, `${s.from} -> ${s.to}`);
      if (s.to === 'stopped' && s.reason !== 'client_closed') {
        this.stats.fatal = s.reason ?? 'stopped';
        this.stopSending();
        this.onStopped();
      }
    });
    c.on('connected', (info) => {
      if (this.joinedOnce) this.stats.reconnects++;
      this.joinedOnce = true;
      if (this.lostAt !== undefined) {
        const gap = Date.now() - this.lostAt;
        this.stats.gapsMs.push(gap);
        this.lostAt = undefined;
        this.log.info({ event: 'connected', url: info.url, gapMs: gap, lastSeq: info.lastSeq }, 'reconnected');
      } else {
        this.log.info({ event: 'connected', url: info.url, lastSeq: info.lastSeq }, 'connected');
      }
    });
    c.on('disconnected', (info) => {
      if (info.wasJoined) this.lostAt = Date.now();
      this.log.info({ event: 'disconnected', ...info }, `disconnected: ${info.reason}`);
    });
    c.on('resumed', (info) => {
      this.stats.replayed += info.replayed;
      this.log.info({ event: 'resumed', ...info }, 'resumed');
    });
    c.on('gap', (gap) => {
      this.stats.historyGaps++;
      this.log.warn({ event: 'gap', ...gap }, 'history gap: some signals could not be replayed');
    });
    c.on('error', (err) => this.log.warn({ event: 'error', code: err.code, err: err.message }, 'client error'));
    c.on('signal', (s) => this.onSignal(s.from, s.data));
  }

  get joined(): boolean {
    return this.joinedOnce;
  }
  /** Sends not yet answered. */
  get pending(): number {
    return this.inFlight;
  }

  connect(): void {
    this.client.connect();
  }

  /** Send the next number every `intervalMs`, starting after `phaseMs` (spreads a fleet's sends). */
  startSending(intervalMs: number, phaseMs: number): void {
    if (this.timer || this.phaseTimer) return;
    this.phaseTimer = setTimeout(() => {
      this.phaseTimer = undefined;
      this.sendNext();
      this.timer = setInterval(() => this.sendNext(), intervalMs);
    }, phaseMs);
  }

  stopSending(): void {
    clearTimeout(this.phaseTimer);
    clearInterval(this.timer);
    this.phaseTimer = undefined;
    this.timer = undefined;
  }

  /** Resolves once every send made so far has been answered (or failed). */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Numbers below the highest received from `from` that never arrived. */
  holesFrom(from: string): number {
    const got = this.receivedFrom.get(from);
    if (!got) return 0;
    let max = got.upTo;
    for (const n of got.ahead) if (n > max) max = n;
    return max - got.upTo - got.ahead.size;
  }

  close(): Promise<void> {
    this.stopSending();
    return this.client.close();
  }

  private sendNext(): void {
    const n = ++this.stats.sent;
    this.inFlight++;
    // The id is derived from (peer, n): a re-send after reconnect carries the same id, so the
    // server's (sender, id) dedupe recognises it.
    this.client
      .send(this.spec.to, { n, at: Date.now() }, `${this.spec.id}-${n}`)
      .then(
        (status) => {
          this.stats.acked++;
          this.stats.statuses[status]++;
        },
        (err: Error & { reason?: string; code?: string }) => {
          this.stats.failed++;
          const why = err.reason ?? err.code ?? 'error';
          this.stats.failures[why] = (this.stats.failures[why] ?? 0) + 1;
          if (err.code !== 'closed') this.log.warn({ event: 'send_failed', n, reason: why }, 'signal refused');
        },
      )
      .finally(() => {
        this.inFlight--;
        if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
        this.onProgress();
      });
  }

  private onSignal(from: string, data: unknown): void {
    const n = (data as { n?: unknown } | null)?.n;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) return;
    let got = this.receivedFrom.get(from);
    if (!got) this.receivedFrom.set(from, (got = new Received()));
    if (!got.add(n)) {
      this.stats.duplicated++;
      this.log.warn({ event: 'duplicate', from, n }, 'numbered signal received twice');
    } else {
      this.stats.received++;
    }
    this.onProgress();
  }
}

/**
 * The numbers received from one sender: every n <= upTo, plus the few that arrived ahead of a
 * missing one. Senders number 1, 2, 3, ... and delivery is in order, so `ahead` stays tiny.
 */
class Received {
  upTo = 0;
  readonly ahead = new Set<number>();

  /** False when `n` had been received before. */
  add(n: number): boolean {
    if (n <= this.upTo || this.ahead.has(n)) return false;
    if (n !== this.upTo + 1) {
      this.ahead.add(n);
      return true;
    }
    this.upTo = n;
    while (this.ahead.delete(this.upTo + 1)) this.upTo++;
    return true;
  }
}
