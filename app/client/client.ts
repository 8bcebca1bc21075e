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
 * Exactly once, receiving: the server numbers deliveries per recipient (`seq`). The client hands a
 * seq to listeners only if it is the next one; an older one (a replay overlapping what already
 * arrived) is dropped, a skipped one means something went missing, so the client reconnects and
 * the join's `last_seq` makes the server replay from there. Sending: see outbox.ts.
 */
import { EventEmitter } from 'events';
import { defaultTimeouts, Timeouts, TimeoutsContractError, validate } from '../contract/timeouts';
import { encode, EVENTS, Frame, PHOENIX_TOPIC, peerTopic, SIGNAL_EVENT } from '../protocol/phoenix';
import { PEER_ID_PATTERN } from '../protocol/phoenix';
import { Backoff, fullJitterMs, Random } from './backoff';
import { Heartbeat } from './heartbeat';
import { Outbox, OutboxEntry } from './outbox';
import { decideReconnect, ReconnectDecision } from './reconnect-policy';
import { afterPendingIo, Timer } from './timers';
import { Transport, TransportEnd } from './transport';
import {
  ClientEvents,
  ClientLogger,
  ClientState,
  DisconnectReason,
  SendStatus,
  SluiceClientError,
  SluiceClientOptions,
  TokenSource,
} from './types';
import { deliverySchema, joinResponseSchema, redact, replySchema, socketRequest, subjectOf } from './wire';

const silent: ClientLogger = { debug: () => undefined, info: () => undefined, warn: () => undefined };

export class SluiceClient extends EventEmitter<ClientEvents> {
  readonly timeouts: Timeouts;
  private readonly urls: readonly string[];
  private urlIndex: number;
  private readonly token: TokenSource;
  private readonly tokenInQuery: boolean;
  private readonly random: Random;
  private readonly log: ClientLogger;
  private readonly backoff: Backoff;
  private readonly outbox: Outbox;
  private readonly heartbeat: Heartbeat;

  private _state: ClientState = 'idle';
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
  private stopError?: SluiceClientError;
  private readyWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  private transportGone?: () => void;
  private closing?: Promise<void>;
  /** Counters for tests, the fleet and dashboards. */
  readonly stats = { duplicatesDropped: 0, replayed: 0, gaps: 0 };

  constructor(opts: SluiceClientOptions) {
    super();
    this.timeouts = opts.timeouts ?? defaultTimeouts;
    const violations = validate(this.timeouts);
    if (violations.length > 0) throw new TimeoutsContractError(violations);
    this.urls = typeof opts.url === 'string' ? [opts.url] : [...opts.url];
    if (this.urls.length === 0) throw new Error('SluiceClient: at least one url is required');
    for (const u of this.urls) {
      // Fail fast here: a bad URL found later, inside the reconnect loop, would only ever retry.
      const parsed = new URL(u);
      if (!['ws:', 'wss:'].includes(parsed.protocol)) throw new Error(`SluiceClient: not a ws:// or wss:// URL: ${redact(u)}`);
      if (parsed.hash) throw new Error(`SluiceClient: a WebSocket URL has no #fragment: ${redact(u)}`);
    }
    this.urlIndex = (opts.startUrlIndex ?? 0) % this.urls.length;
    // Checked here: a missing token found inside the reconnect loop would only retry forever.
    if (!(typeof opts.token === 'function' || (typeof opts.token === 'string' && opts.token.length > 0))) {
      throw new TypeError(
        `SluiceClient: token is required: a string (a JWT, e.g. from \`npm run token\`) or a function returning one; got ${opts.token === '' ? 'an empty string' : typeof opts.token}`,
      );
    }
    this.token = opts.token;
    this.tokenInQuery = opts.tokenInQuery ?? false;
    this.random = opts.random ?? Math.random;
    this.log = opts.logger ?? silent;
    this._peerId = opts.peerId ?? (typeof opts.token === 'string' ? subjectOf(opts.token) : undefined);
    this._lastSeq = opts.resumeFrom ?? null;
    this.backoff = new Backoff(this.timeouts.client, this.random);
    this.outbox = new Outbox(this.timeouts.client.outboxMaxAgeMs);
    this.heartbeat = new Heartbeat(this.timeouts.client, () => this.makeRef(), {
      send: (ref) =>
        this.transport?.send(encode({ joinRef: null, ref, topic: PHOENIX_TOPIC, event: EVENTS.heartbeat, payload: {} })) ?? false,
      onDead: (info) => {
        this.log.warn({ ...info, url: this.currentUrl }, 'no heartbeat reply in time, terminating the socket');
        this.transport?.terminate('heartbeat_timeout');
      },
      onReply: (info) => this.fire('heartbeat', info),
    });
  }

  get state(): ClientState {
    return this._state;
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
    return redact(this.urls[this.urlIndex]);
  }
  private get topic(): string {
    return peerTopic(this._peerId ?? '');
  }

  /** Start the state machine (idempotent). */
  connect(): this {
    if (this._state === 'idle') void this.open();
    return this;
  }

  /** Resolves when joined (now or at the next join); rejects once the client has stopped. */
  ready(): Promise<void> {
    if (this._state === 'joined') return Promise.resolve();
    if (this._state === 'stopped') return Promise.reject(this.stopError ?? new SluiceClientError('closed', 'client closed'));
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  /**
   * Send `data` to peer `to`. Resolves with the server's status once acknowledged, across reconnects
   * (the outbox re-sends with the same id; the server drops a copy it already accepted and answers
   * `duplicate`). Rejects with SendError on a final refusal, or when the client is closed first.
   */
  send(to: string, data: unknown, id?: string): Promise<SendStatus> {
    if (this._state === 'stopped') return Promise.reject(this.stopError ?? new SluiceClientError('closed', 'client closed'));
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
    const endpoint = this.urls[this.urlIndex];
    let token: string;
    try {
      token = typeof this.token === 'string' ? this.token : await this.token();
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
    const { url, protocols } = socketRequest(endpoint, token, this.tokenInQuery);
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
    const payload = this._lastSeq === null ? {} : { last_seq: this._lastSeq };
    t.send(encode({ joinRef: ref, ref, topic: this.topic, event: EVENTS.join, payload }));
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
    if (sent === null || gap?.reason === 'seq_reset') {
      // First join: start from now. seq_reset: the server's numbering restarted below ours.
      this._lastSeq = serverSeq;
    } else if (gap?.reason === 'trimmed') {
      // Replay starts after the hole; do not mistake that for a skipped seq.
      this._lastSeq = Math.max(sent, gap.missedTo);
    }
    this.backoff.reset();
    this.sessionJoined = true;
    this.setState('joined');
    const reconnects = this.joins++;
    this.log.info({ url: this.currentUrl, lastSeq: serverSeq, replayed, gap, reconnects }, 'joined');
    for (const w of this.readyWaiters.splice(0)) w.resolve();
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
    const last = this._lastSeq ?? 0;
    if (d.seq <= last) {
      this.stats.duplicatesDropped++;
      return;
    }
    if (d.seq > last + 1) {
      this.log.warn({ expected: last + 1, got: d.seq }, 'delivery skipped a seq, reconnecting to replay');
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
    const frame = encode({
      joinRef: this.joinRef,
      ref,
      topic: this.topic,
      event: SIGNAL_EVENT,
      payload: { to: entry.to, id: entry.id, data: entry.data },
    });
    if (this.transport?.send(frame)) this.outbox.markSent(entry, ref);
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
      Math.max(entry.retryAfterMs ?? 0, fullJitterMs(entry.failures, this.timeouts.client, this.random)),
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
    this.next(endpoint, wasJoined, decideReconnect(end, this.timeouts.client, this.backoff, this.random), facts);
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
    this.urlIndex = (this.urlIndex + 1) % this.urls.length;
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
    this.stopError = err;
    clearTimeout(this.retryTimer);
    clearTimeout(this.joinTimer);
    clearTimeout(this.outboxTimer);
    this.heartbeat.stop();
    this.setState('stopped', reason);
    this.outbox.failAll(err);
    for (const w of this.readyWaiters.splice(0)) w.reject(err);
  }

  // ---- small helpers ----------------------------------------------------------------------------

  private setState(to: ClientState, reason?: DisconnectReason): void {
    if (this._state === to) return;
    const from = this._state;
    this._state = to;
    this.fire('state', { from, to, reason });
  }

  private makeRef(): string {
    return String(++this.refCounter);
  }

  /**
   * Emit to user listeners. A listener that throws must not break the state machine (we are inside
   * a socket or timer callback, where it would become an uncaught exception): report it instead.
   */
  private fire<K extends Exclude<keyof ClientEvents, 'error'>>(event: K, ...args: ClientEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: ClientEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      this.emitError(new SluiceClientError('listener_error', `${event} listener threw: ${(err as Error).message}`, { event }));
    }
  }

  /** 'error' without a listener would throw from EventEmitter and kill the process: log instead. */
  private emitError(err: SluiceClientError): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else this.log.warn({ code: err.code, err: err.message }, 'client error');
  }
}
