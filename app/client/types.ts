/**
 * Public types of the client SDK: options, the typed events, and the errors it reports.
 * Kept apart from the state machine so users (and the fleet) can import them without the machinery.
 */
import type { Timeouts } from '../contract/timeouts';

/**
 * idle -> connecting -> joining -> joined -> (connection lost) -> waiting -> connecting ...
 * `stopped` is terminal: reached by close() or by a refusal that retrying cannot fix (HTTP 401 or
 * 403, close 4409 or 4403).
 */
export type ClientState = 'idle' | 'connecting' | 'joining' | 'joined' | 'waiting' | 'stopped';

/** Why a socket (an attempt or a joined session) ended. */
export type DisconnectReason =
  | 'server_restart' // close 1012: drain or lifetime rotation; reconnect promptly
  | 'going_away' // close 1001; reconnect promptly
  | 'server_closed' // any other close code sent by the server
  | 'heartbeat_timeout' // no heartbeat reply in time: the socket was terminated locally
  | 'connect_timeout' // TCP + upgrade did not finish in connectTimeoutMs
  | 'join_timeout' // phx_join not answered in joinTimeoutMs
  | 'join_refused' // phx_join answered with an error
  | 'server_draining' // HTTP 503 on upgrade (Retry-After honoured)
  | 'unauthorized' // HTTP 401 on upgrade: the client stops
  | 'refused' // any other HTTP status on upgrade
  | 'connection_error' // socket error / abnormal close (1006) / connection refused
  | 'protocol_error' // the server sent something that is not a Phoenix V2 frame
  | 'seq_hole' // a delivery skipped a seq: reconnect and let the replay fill it
  | 'token_unavailable' // the token function threw
  | 'evicted' // close 4409 (CLOSE.evicted): the same peer joined on another connection; the client stops
  | 'revoked' // close 4403 (CLOSE.revoked) or HTTP 403 on upgrade: the operator revoked the token or disconnected the peer; the client stops
  | 'client_closed'; // close() was called

/** Minimal logger shape (pino-compatible). */
export interface ClientLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/** A token, or a function returning a fresh one before every connection attempt (expiry). */
export type TokenSource = string | (() => string | Promise<string>);

export interface SluiceClientOptions {
  /**
   * ws://host:port/socket/websocket, or several: each reconnect moves on to the next one (a
   * client-side stand-in for a load balancer; with one URL behind a real LB, give one).
   */
  url: string | readonly string[];
  token: TokenSource;
  /** Peer id (the token's `sub`); read from the token when omitted. */
  peerId?: string;
  /** Every timer of the client comes from here (default: `defaultTimeouts`). */
  timeouts?: Timeouts;
  /** Source of randomness for backoff and restart jitter (seed it for deterministic tests). */
  random?: () => number;
  logger?: ClientLogger;
  /** Resume from this seq on the first join (a seq persisted by an earlier process). */
  resumeFrom?: number;
  /** Which URL of the list to try first (default 0); the fleet spreads peers with it. */
  startUrlIndex?: number;
  /**
   * Put the token in the URL's `token` query parameter instead of the Sec-WebSocket-Protocol
   * header (default false): only for servers older than the header, and servers that still accept
   * it (SLUICE_TOKEN_IN_QUERY=on). URLs end up in load balancer and proxy logs.
   */
  tokenInQuery?: boolean;
}

export interface ReceivedSignal {
  from: string;
  id: string;
  /** Per-recipient sequence number; the client hands each seq to listeners once, in order. */
  seq: number;
  data: unknown;
  /** True when it came from the resume replay rather than live. */
  replayed: boolean;
}

export interface ConnectedInfo {
  url: string;
  peerId: string;
  /** The newest seq known at join time. */
  lastSeq: number;
  /** How many times this client has been connected before (0 on the first connect). */
  reconnects: number;
}

export interface DisconnectedInfo {
  reason: DisconnectReason;
  url: string;
  /** WebSocket close code, when the socket had opened. */
  code?: number;
  /** HTTP status, when the upgrade was refused. */
  status?: number;
  detail?: string;
  /** True when this socket had completed its join (a session ended, not just an attempt). */
  wasJoined: boolean;
  willReconnect: boolean;
  /** Delay before the next attempt, when willReconnect. */
  delayMs?: number;
}

export interface ResumedInfo {
  /** The last seq the client had processed (sent as `last_seq`). */
  fromSeq: number;
  /** The server's newest seq for this peer. */
  lastSeq: number;
  /** How many missed deliveries the server replays right after this event. */
  replayed: number;
}

export interface GapInfo {
  /** `trimmed`: older signals left the bounded history; `seq_reset`: the server knows fewer signals than we do. */
  reason: 'trimmed' | 'seq_reset';
  missedFrom: number;
  missedTo: number;
}

export interface HeartbeatInfo {
  rttMs: number;
}

export interface StateChange {
  from: ClientState;
  to: ClientState;
  reason?: DisconnectReason;
}

/** The typed events (for `client.on(name, listener)`). */
export interface ClientEvents {
  connected: [info: ConnectedInfo];
  disconnected: [info: DisconnectedInfo];
  signal: [signal: ReceivedSignal];
  resumed: [info: ResumedInfo];
  gap: [gap: GapInfo];
  error: [err: SluiceClientError];
  state: [change: StateChange];
  heartbeat: [info: HeartbeatInfo];
}

export type ClientErrorCode =
  | 'unauthorized' // 401: the token is bad, missing or expired; the client stopped
  | 'join_refused'
  | 'closed' // the client was closed (pending sends reject with this)
  | 'send_failed' // the server refused a signal for good (see `reason`)
  | 'protocol_error'
  | 'evicted' // another connection joined as this peer; the client stopped
  | 'revoked' // the operator revoked this token or disconnected this peer (4403 / HTTP 403); the client stopped
  | 'listener_error' // an event listener threw
  | 'token_unavailable';

export class SluiceClientError extends Error {
  constructor(
    readonly code: ClientErrorCode,
    message: string,
    readonly detail: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'SluiceClientError';
  }
}

/** A final error reply to a signal: `reason` is the server's (`unknown_peer`, `invalid_payload`, ...). */
export class SendError extends SluiceClientError {
  constructor(
    readonly reason: string,
    readonly signalId: string,
    response: Record<string, unknown>,
  ) {
    super('send_failed', `signal ${signalId} refused: ${reason}`, response);
    this.name = 'SendError';
  }
}

/** What the server answered a signal with. */
export type SendStatus = 'delivered' | 'stored' | 'duplicate';
