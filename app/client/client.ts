/**
 * SluiceClient: a Phoenix V2 socket joined to its own `peer:<id>` channel, kept alive through
 * server restarts, drains, black holes and refusals, with exactly-once signals in both directions.
 *
 * The state machine (see ClientState):
 *
 *   idle --connect()--> connecting --open--> joining --join ok--> joined
 *                          ^                    |                   |
 *                          |            (any end of the socket: close, RST, timeout, refusal)
 *                          +------ waiting <----+-------------------+
 *   any --close(), HTTP 401/403, join refused as unauthorized, evicted, revoked--> stopped
 *
 * Each socket is a Transport; it reports exactly one end, and `decideReconnect()` (reconnect-policy.ts) turns that
 * end into the next step: reconnect after a delay chosen by backoff.ts, or stop. Every timer's
 * duration comes from the timeouts contract (`options.timeouts`, default `defaultTimeouts`).
 *
 * Exactly once: receiving in sequence.ts, sending in outbox.ts.
 */
import { livenessSchedule, type Timeouts } from '../contract/timeouts';
import { EVENTS, Frame, PEER_ID_PATTERN, PHOENIX_TOPIC, peerTopic, SIGNAL_EVENT } from '../protocol/phoenix';
import { Backoff, fullJitterMs } from './backoff';
import { Heartbeat } from './heartbeat';
import { ClientEmitter } from './client-emitter';
import { ClientSettings, clientSettings } from './options';
import { deliveryStep, lastSeqAfterJoin } from './sequence';
import { Outbox, OutboxEntry } from './outbox';
import { decideReconnect, ReconnectDecision } from './reconnect-policy';
import { afterPendingIo, Timer } from './timers';
import { Transport, TransportEnd } from './transport';
import { ClientLogger, DisconnectReason, SendStatus, SluiceClientError, SluiceClientOptions } from './types';
import {
  deliverySchema,
  heartbeatFrame,
  joinFrame,
  joinResponseSchema,
  redact,
  replySchema,
  signalFrame,
  socketRequest,
  subjectOf,
} from './wire';

export class SluiceClient extends ClientEmitter {
  readonly timeouts: Timeouts;
  /** The checked options (options.ts): URLs, token source, randomness. */
  private readonly o: ClientSettings;
  private urlIndex: number;
  protected readonly log: ClientLogger;
  private readonly backoff: Backoff;
  private readonly outbox: Outbox;
  private readonly heartbeat: Heartbeat;

  private _peerId?: string;
  private transport?: Transport;
  /** The ref of the join on the current socket; deliveries carrying another join_ref are stale. */
  private joinRef: string | null = null;
  /** The current socket completed its join (survives halt(), which changes the state first). */
  private sessionJoined = false;
  /** `last_seq` sent with the join in flight (null: first join, start from now). */
  private joinLastSeq: number | null = null;
  private _lastSeq: number | null;
  private refCounter = 0;
  private joins = 0;
  private joinTimer?: Timer;
  private retryTimer?: Timer;
  private outboxTimer?: Timer;
  private transportGone?: () => void;
  private closing?: Promise<void>;
  /** Counters for tests, the fleet and dashboards. */
  readonly stats = { duplicatesDropped: 0, replayed: 0, gaps: 0 };

  constructor(opts: SluiceClientOptions) {
    super();
    const o = (this.o = clientSettings(opts));
    this.timeouts = o.timeouts;
    this.urlIndex = o.urlIndex;
    this.log = o.log;
    this._peerId = o.peerId;
    this._lastSeq = o.lastSeq;
    this.backoff = new Backoff(this.timeouts.client, this.o.random);
    this.outbox = new Outbox(this.timeouts.client.outboxMaxAgeMs);
    this.heartbeat = new Heartbeat(livenessSchedule(this.timeouts), () => this.makeRef(), {
      send: (ref) => this.transport?.send(heartbeatFrame(ref)) ?? false,
      onDead: (info) => {
        this.log.warn({ ...info, url: this.currentUrl }, 'no heartbeat reply in time, terminating the socket');
        this.transport?.terminate('heartbeat_timeout');
      },
      onReply: (info) => this.fire('heartbeat', info),
    });
  }

  /** The peer id (token `sub`); known once the token has been read. */
  get peerId(): string | undefined {
    return this._peerId;
  }
  /** Last seq handed to listeners: persist it and pass it as `resumeFrom` to resume in a new process. */
  get lastSeq(): number | null {
    return this._lastSeq;
  }
  /** Sends not yet answered by the server. */
  get pendingSends(): number {
    return this.outbox.size;
  }
  /** The endpoint of the current (or next) attempt, without its query string. */
  get currentUrl(): string {
    return redact(this.o.urls[this.urlIndex]);
  }
  private get topic(): string {
    return peerTopic(this._peerId ?? '');
  }

  /** Start the state machine (idempotent). */
  connect(): this {
    if (this._state === 'idle') void this.open();
    return this;
  }

  /**
   * Send `data` to peer `to`. Resolves with the server's status once acknowledged, across reconnects
   * (the outbox re-sends with the same id; the server drops a copy it already accepted and answers
   * `duplicate`). Rejects with SendError on a final refusal, or when the client is closed first.
   */
  send(to: string, data: unknown, id?: string): Promise<SendStatus> {
    if (this._state === 'stopped') return Promise.reject(this.stoppedError);
    const entry = this.outbox.add(to, data, id ?? this.outbox.nextId());
    // Pipelined: it does not wait for earlier sends (a transiently refused one is retried later and
    // may then arrive after this one; each still arrives exactly once).
    if (this._state === 'joined' && entry.ref === undefined) this.push(entry);
    return entry.promise;
  }

  /**
   * Stop for good: pending sends reject, the socket is closed politely (1000) and terminated if the
   * server does not finish the closing handshake within `connectTimeoutMs`.
   */
  close(): Promise<void> {
    // Every caller gets the same promise: a second close() must not orphan the first one's wait.
    this.closing ??= (async () => {
      const t = this.transport;
      this.halt('client_closed', new SluiceClientError('closed', 'client closed'));
      if (!t) return;
      const gone = new Promise<void>((resolve) => (this.transportGone = resolve));
      t.close('client_closed', this.timeouts.client.connectTimeoutMs);
      await gone;
    })();
    return this.closing;
  }

  // ---- connecting -------------------------------------------------------------------------------

  private async open(): Promise<void> {
    this.setState('connecting');
    const endpoint = this.o.urls[this.urlIndex];
    let token: string;
    try {
      token = typeof this.o.token === 'string' ? this.o.token : await this.o.token();
    } catch (err) {
      if (this._state !== 'connecting') return;
      this.emitError(new SluiceClientError('token_unavailable', `token source failed: ${(err as Error).message}`));
      this.next(endpoint, false, { reason: 'token_unavailable', delayMs: this.backoff.next() }, {});
      return;
    }
    if (this._state !== 'connecting') return; // closed while the token was being fetched
    const sub = this._peerId ?? subjectOf(token);
    if (!sub || !PEER_ID_PATTERN.test(sub)) {
      const err = new SluiceClientError('unauthorized', 'no valid peer id: pass `peerId` or a token with a `sub` claim');
      this.halt('unauthorized', err);
      this.emitError(err);
      return;
    }
    this._peerId = sub;
    const { url, protocols } = socketRequest(endpoint, token, this.o.tokenInQuery);
    let t: Transport;
    try {
      t = new Transport(url, protocols, this.timeouts.client.connectTimeoutMs, {
        onOpen: () => this.transport === t && this.onOpen(t),
        onFrame: (f) => this.transport === t && this.onFrame(f),
        onEnd: (end) => this.onEnd(t, endpoint, end),
      });
    } catch {
      // ws refused the URL or the subprotocols: retrying the same request cannot help. Not
      // expected (the constructor checked the URLs; base64url is all token characters), and ws's
      // message may quote the URL with its query: not passed on.
      const err = new SluiceClientError('protocol_error', `ws refused to open a WebSocket to ${redact(endpoint)}`);
      this.halt('protocol_error', err);
      this.emitError(err);
      return;
    }
    this.transport = t;
    this.log.debug({ url: redact(endpoint) }, 'connecting');
  }

  private onOpen(t: Transport): void {
    this.sessionJoined = false;
    this.setState('joining');
    this.heartbeat.start();
    const ref = this.makeRef();
    this.joinRef = ref;
    this.joinLastSeq = this._lastSeq;
    t.send(joinFrame(ref, this.topic, this._lastSeq));
    const timer = setTimeout(
      () =>
        afterPendingIo(() => {
          if (this.joinTimer === timer) t.terminate('join_timeout');
        }),
      this.timeouts.client.joinTimeoutMs,
    );
    this.joinTimer = timer;
  }

  // ---- frames -----------------------------------------------------------------------------------

  private onFrame(f: Frame): void {
    if (f.event === EVENTS.reply) {
      const parsed = replySchema.safeParse(f.payload);
      if (!parsed.success || f.ref === null) return this.protocolError('malformed phx_reply');
      const { status, response } = parsed.data;
      if (f.topic === PHOENIX_TOPIC) {
        this.heartbeat.ack(f.ref);
      } else if (f.topic === this.topic) {
        if (f.ref === this.joinRef && this._state === 'joining') this.onJoinReply(status, response);
        else {
          const settled = this.outbox.settle(f.ref, status, response);
          if (settled.kind === 'retry') this.retryOutbox(settled.entry);
        }
      }
      return;
    }
    if (f.topic !== this.topic) return; // nothing else is addressed to us
    if (f.event === SIGNAL_EVENT) {
      if (this._state === 'joined' && f.joinRef === this.joinRef) this.onDelivery(f.payload);
      return;
    }
    if (f.event === EVENTS.error || f.event === EVENTS.close) {
      // The server dropped our channel: a fresh socket and join resume it cleanly.
      this.transport?.terminate('channel_closed');
    }
    // Unknown events are ignored (forward compatibility).
  }

  private onJoinReply(status: string, response: Record<string, unknown>): void {
    clearTimeout(this.joinTimer);
    this.joinTimer = undefined;
    if (status !== 'ok') {
      const reason = typeof response.reason === 'string' ? response.reason : 'unknown';
      this.log.warn({ reason }, 'join refused');
      // `unauthorized` means the token's peer may not join this topic: retrying cannot fix that.
      if (reason === 'unauthorized') {
        const t = this.transport;
        const err = new SluiceClientError('join_refused', `join refused: ${reason}`, response);
        this.halt('join_refused', err);
        t?.terminate('join_refused');
        this.emitError(err);
      } else {
        this.transport?.terminate('join_refused');
      }
      return;
    }
    const parsed = joinResponseSchema.safeParse(response);
    if (!parsed.success) return this.protocolError('malformed join reply');
    const { last_seq: serverSeq, replayed, gap } = parsed.data;
    const sent = this.joinLastSeq;
    this._lastSeq = lastSeqAfterJoin(this._lastSeq, sent, serverSeq, gap);
    this.backoff.reset();
    this.sessionJoined = true;
    this.setState('joined');
    const reconnects = this.joins++;
    this.log.info({ url: this.currentUrl, lastSeq: serverSeq, replayed, gap, reconnects }, 'joined');
    this.resolveReady();
    this.fire('connected', { url: this.currentUrl, peerId: this._peerId ?? '', lastSeq: serverSeq, reconnects });
    if (gap) {
      this.stats.gaps++;
      this.fire('gap', gap);
    }
    if (sent !== null) this.fire('resumed', { fromSeq: sent, lastSeq: serverSeq, replayed });
    this.flushOutbox();
  }

  private onDelivery(payload: Record<string, unknown>): void {
    const parsed = deliverySchema.safeParse(payload);
    if (!parsed.success) return this.protocolError('malformed signal delivery');
    const d = parsed.data;
    const step = deliveryStep(this._lastSeq, d.seq);
    if (step === 'duplicate') {
      this.stats.duplicatesDropped++;
      return;
    }
    if (step === 'hole') {
      this.log.warn({ expected: (this._lastSeq ?? 0) + 1, got: d.seq }, 'delivery skipped a seq, reconnecting to replay');
      this.transport?.terminate('seq_hole');
      return;
    }
    this._lastSeq = d.seq;
    if (d.replayed) this.stats.replayed++;
    this.fire('signal', { from: d.from, id: d.id, seq: d.seq, data: d.data, replayed: d.replayed });
  }

  private protocolError(what: string): void {
    this.emitError(new SluiceClientError('protocol_error', what));
    this.transport?.terminate('protocol_error');
  }

  // ---- outbox -----------------------------------------------------------------------------------

  private push(entry: OutboxEntry): void {
    const ref = this.makeRef();
    if (this.transport?.send(signalFrame(this.joinRef, ref, this.topic, entry))) this.outbox.markSent(entry, ref);
  }

  private flushOutbox(): void {
    if (this._state !== 'joined') return;
    for (const e of this.outbox.pending()) this.push(e);
  }

  /** A transient refusal (e.g. backplane_unavailable): try the pending ones again after a backoff. */
  private retryOutbox(entry: OutboxEntry): void {
    if (this.outboxTimer) return;
    this.outboxTimer = setTimeout(
      () => {
        this.outboxTimer = undefined;
        this.flushOutbox();
      },
      Math.max(entry.retryAfterMs ?? 0, fullJitterMs(entry.failures, this.timeouts.client, this.o.random)),
    );
  }

  // ---- the end of a socket, and what comes next -------------------------------------------------

  private onEnd(t: Transport, endpoint: string, end: TransportEnd): void {
    if (this.transport !== t) return;
    this.transport = undefined;
    const wasJoined = this.sessionJoined;
    this.sessionJoined = false;
    this.heartbeat.stop();
    clearTimeout(this.joinTimer);
    this.joinRef = null;
    this.outbox.connectionLost();
    const facts = { code: end.opened ? end.code : undefined, status: end.refusal?.status, detail: end.error ?? (end.text || undefined) };
    if (this._state === 'stopped') {
      // close() (or a fatal refusal) ended it; nothing comes next.
      this.fire('disconnected', {
        reason: (end.local as DisconnectReason | undefined) ?? 'client_closed',
        url: redact(endpoint),
        ...facts,
        wasJoined,
        willReconnect: false,
      });
      this.transportGone?.();
      return;
    }
    this.next(endpoint, wasJoined, decideReconnect(end, this.timeouts.client, this.backoff, this.o.random), facts);
  }

  private next(
    endpoint: string,
    wasJoined: boolean,
    decision: ReconnectDecision,
    facts: { code?: number; status?: number; detail?: string },
  ): void {
    const url = redact(endpoint);
    if ('stop' in decision) {
      this.fire('disconnected', { reason: decision.reason, url, ...facts, wasJoined, willReconnect: false });
      this.halt(decision.reason, decision.stop);
      this.emitError(decision.stop);
      return;
    }
    // Move on to the next URL: with several servers listed, a draining or dead one is skipped.
    this.urlIndex = (this.urlIndex + 1) % this.o.urls.length;
    this.setState('waiting', decision.reason);
    this.log.info(
      { reason: decision.reason, url, ...facts, delayMs: decision.delayMs },
      wasJoined ? 'disconnected' : 'connection attempt failed',
    );
    this.fire('disconnected', { reason: decision.reason, url, ...facts, wasJoined, willReconnect: true, delayMs: decision.delayMs });
    if (this._state !== 'waiting') return; // a listener closed the client
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.open();
    }, decision.delayMs);
  }

  /** Enter `stopped`: timers off, pending sends and ready() waiters rejected. */
  private halt(reason: DisconnectReason, err: SluiceClientError): void {
    if (this._state === 'stopped') return;
    clearTimeout(this.retryTimer);
    clearTimeout(this.joinTimer);
    clearTimeout(this.outboxTimer);
    this.heartbeat.stop();
    this.setState('stopped', reason);
    this.outbox.failAll(err);
    this.rejectReady(err);
  }

  // ---- small helpers ----------------------------------------------------------------------------

  private makeRef(): string {
    return String(++this.refCounter);
  }
}
