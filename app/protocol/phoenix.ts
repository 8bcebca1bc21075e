/**
 * Phoenix Channels V2 JSON serializer: every frame is `[join_ref, ref, topic, event, payload]`.
 * Spoken by the server and the client SDK, and compatible with the official `phoenix` npm client
 * (its `Serializer` encodes exactly this array; see phoenix/assets/js/phoenix/serializer.js).
 * Binary frames (the V2 binary push format) are not used by sluice and are refused.
 */

export const PROTOCOL_VSN = '2.0.0';

/**
 * The token in the `Sec-WebSocket-Protocol` header instead of the URL, as the official `phoenix`
 * client (1.8) sends it with its `authToken` option: `["phoenix", "base64url.bearer.phx.<token,
 * base64 without padding>"]` (phoenix/assets/js/phoenix/socket.js, transportConnect). The server
 * answers with `phoenix`, never with the token entry (Phoenix.Transports.WebSocket does the same).
 */
export const PHOENIX_SUBPROTOCOL = 'phoenix';
export const AUTH_TOKEN_SUBPROTOCOL_PREFIX = 'base64url.bearer.phx.';

/** The subprotocols that carry `token` (base64url, no padding: only token characters, RFC 6455 4.1). */
export function authTokenSubprotocols(token: string): [string, string] {
  return [PHOENIX_SUBPROTOCOL, `${AUTH_TOKEN_SUBPROTOCOL_PREFIX}${base64url(token)}`];
}

/** UTF-8, base64url without padding; with what Node and browsers both have (the client SDK runs in both). */
export function base64url(text: string): string {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The inverse of base64url(); throws on input that is not base64. */
export function fromBase64url(b64: string): string {
  const binary = atob(b64.replace(/-/g, '+').replace(/_/g, '/'));
  return new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
}

/** Events reserved by Phoenix itself. */
export const EVENTS = {
  join: 'phx_join',
  leave: 'phx_leave',
  reply: 'phx_reply',
  error: 'phx_error',
  close: 'phx_close',
  heartbeat: 'heartbeat',
} as const;

/** sluice's own events. */
export const SIGNAL_EVENT = 'signal';
export const PHOENIX_TOPIC = 'phoenix';
export const PEER_TOPIC_PREFIX = 'peer:';

export type Ref = string | null;

export interface Frame {
  joinRef: Ref;
  ref: Ref;
  topic: string;
  event: string;
  payload: Record<string, unknown>;
}

/** Why an incoming frame was refused: serialised into an error reply or a close reason. */
export class ProtocolError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

const isRef = (v: unknown): v is Ref => v === null || typeof v === 'string';

/** Parse one text frame. Throws ProtocolError with a reason code; never anything else. */
export function decode(text: string): Frame {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ProtocolError('malformed_json', 'frame is not valid JSON');
  }
  if (!Array.isArray(raw) || raw.length !== 5) {
    throw new ProtocolError('malformed_frame', 'frame must be a JSON array [join_ref, ref, topic, event, payload]');
  }
  const [joinRef, ref, topic, event, payload] = raw;
  if (!isRef(joinRef)) throw new ProtocolError('malformed_frame', 'join_ref must be a string or null');
  if (!isRef(ref)) throw new ProtocolError('malformed_frame', 'ref must be a string or null');
  if (typeof topic !== 'string' || topic.length === 0 || topic.length > 256) {
    throw new ProtocolError('malformed_frame', 'topic must be a non-empty string of at most 256 characters');
  }
  if (typeof event !== 'string' || event.length === 0 || event.length > 64) {
    throw new ProtocolError('malformed_frame', 'event must be a non-empty string of at most 64 characters');
  }
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    throw new ProtocolError('malformed_frame', 'payload must be a JSON object');
  }
  return { joinRef, ref, topic, event, payload: payload as Record<string, unknown> };
}

export function encode(f: Frame): string {
  return JSON.stringify([f.joinRef, f.ref, f.topic, f.event, f.payload]);
}

/** `phx_reply` payload shape: `{status, response}`. */
export function reply(to: Pick<Frame, 'joinRef' | 'ref' | 'topic'>, status: 'ok' | 'error', response: Record<string, unknown>): string {
  return encode({ joinRef: to.joinRef, ref: to.ref, topic: to.topic, event: EVENTS.reply, payload: { status, response } });
}

/**
 * `reply(to, 'ok', { status })`, the answer to every accepted signal, assembled as text: the same
 * bytes without the frame, payload and response objects JSON.stringify would walk.
 */
export function replyStatus(to: Pick<Frame, 'joinRef' | 'ref' | 'topic'>, status: string): string {
  return `[${JSON.stringify(to.joinRef)},${JSON.stringify(to.ref)},${JSON.stringify(to.topic)},"${EVENTS.reply}",{"status":"ok","response":{"status":${JSON.stringify(status)}}}]`;
}

export function push(joinRef: Ref, topic: string, event: string, payload: Record<string, unknown>): string {
  return encode({ joinRef, ref: null, topic, event, payload });
}

export const peerTopic = (peerId: string) => `${PEER_TOPIC_PREFIX}${peerId}`;

/**
 * A `signal` push whose `data` is already JSON text (encoded once, when the server accepted the
 * signal): the frame is assembled around it, never parsed or stringified again per recipient.
 * Same bytes as `push(joinRef, topic, SIGNAL_EVENT, {from, id, seq, data, replayed})`.
 */
export function pushSignal(
  joinRef: Ref,
  topic: string,
  s: { from: string; id: string; seq: number; replayed: boolean },
  dataJson: string,
): string {
  return (
    `[${JSON.stringify(joinRef)},null,${JSON.stringify(topic)},${JSON.stringify(SIGNAL_EVENT)},` +
    `{"from":${JSON.stringify(s.from)},"id":${JSON.stringify(s.id)},"seq":${s.seq},"data":${dataJson},"replayed":${s.replayed}}]`
  );
}

/** Signal `data` bounds: nesting of objects/arrays ... */
export const MAX_DATA_DEPTH = 32;
/**
 * ... and JSON values in all (every object, array, string, number, boolean and null counts one).
 * Refused beyond it: a 64 KiB frame of `[{},{},...]` is ~21,000 values, each a heap object.
 */
export const MAX_DATA_VALUES = 4_096;

/** Commas a frame may hold beyond its data's values (envelope and payload fields). */
const FRAME_COMMA_SLACK = 16;

export interface FrameScan {
  /**
   * The frame holds more JSON values than any acceptable frame (every comma outside strings
   * separates two values): refuse it without parsing. JSON.parse of a 64 KiB `[{},{},...]` takes
   * ~5 ms and allocates ~21,000 objects; this scan stops after a few KB.
   */
  tooManyValues: boolean;
  /** `[start, end)` byte span of the payload's `data` value (the last one, as JSON.parse keeps). */
  data?: [number, number];
}

const WS = (b: number) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
// Pure: a bundle of the client SDK, which never scans frames, drops it (browsers have no Buffer).
const DATA_KEY = /* @__PURE__ */ Buffer.from('data');

/**
 * One pass over a frame's bytes, before it is parsed: the value bound, and where `data` is, so the
 * server keeps the signal's data as the sender's own JSON text (valid: the frame is parsed as a
 * whole before it is used) instead of stringifying the parsed value again. Structural bytes are
 * ASCII and never occur inside UTF-8 multi-byte sequences, so scanning bytes is exact.
 */
export function scanFrame(buf: Buffer, maxValues: number = MAX_DATA_VALUES): FrameScan {
  const maxCommas = maxValues + FRAME_COMMA_SLACK;
  let commas = 0;
  let depth = 0;
  let payloadOpen = false; // inside the first object at depth 1 (the payload)
  let payloadSeen = false;
  let expectKey = false;
  let keyIsData = false;
  let valueStart = -1;
  let data: [number, number] | undefined;
  const n = buf.length;
  const close = (end: number) => {
    let a = valueStart;
    let b = end;
    while (a < b && WS(buf[a])) a++;
    while (b > a && WS(buf[b - 1])) b--;
    data = [a, b];
    keyIsData = false;
  };
  for (let i = 0; i < n; i++) {
    const c = buf[i];
    if (c === 0x22) {
      // string: jump to its closing quote
      let q = i;
      for (;;) {
        q = buf.indexOf(0x22, q + 1);
        if (q < 0) return { tooManyValues: false }; // unterminated: JSON.parse will refuse it
        let k = q - 1;
        while (buf[k] === 0x5c) k--;
        if ((q - 1 - k) % 2 === 0) break; // an even run of backslashes: the quote is real
      }
      if (payloadOpen && depth === 2 && expectKey) {
        expectKey = false;
        // An escaped key may still mean "data": then no span, and the caller re-encodes instead.
        keyIsData = q - i - 1 === 4 && buf.compare(DATA_KEY, 0, 4, i + 1, q) === 0;
        if (!keyIsData && buf.subarray(i + 1, q).includes(0x5c)) data = undefined;
      }
      i = q;
    } else if (c === 0x2c) {
      if (++commas > maxCommas) return { tooManyValues: true };
      if (payloadOpen && depth === 2) {
        if (keyIsData) close(i);
        expectKey = true;
      }
    } else if (c === 0x3a) {
      if (payloadOpen && depth === 2) valueStart = i + 1;
    } else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth === 2 && c === 0x7b && !payloadSeen) {
        payloadOpen = payloadSeen = true;
        expectKey = true;
      }
    } else if (c === 0x7d || c === 0x5d) {
      if (payloadOpen && depth === 2) {
        if (keyIsData) close(i);
        payloadOpen = false;
      }
      depth--;
    }
  }
  return { tooManyValues: false, data };
}

const HEAD = /^\s*\[\s*(null|"[^"\\]*")\s*,\s*(null|"[^"\\]*")\s*,\s*("[^"\\]{1,256}")\s*,\s*("[^"\\]{1,64}")\s*,/;

/** join_ref, ref, topic and event of a frame that will not be parsed (refused by scanFrame), if plain. */
export function decodeHead(buf: Buffer): Omit<Frame, 'payload'> | undefined {
  const m = HEAD.exec(buf.toString('utf8', 0, Math.min(buf.length, 512)));
  if (!m) return undefined;
  const [joinRef, ref, topic, event] = m.slice(1).map((t) => JSON.parse(t) as string | null);
  return { joinRef, ref, topic: topic as string, event: event as string };
}

/**
 * Checks a parsed `data` value against MAX_DATA_DEPTH and MAX_DATA_VALUES without recursion,
 * stopping at the first bound passed. Returns the expectation broken, or undefined.
 */
export function dataBoundsError(v: unknown): string | undefined {
  const tooMany = `JSON of at most ${MAX_DATA_VALUES} values (objects, arrays, strings, numbers, booleans, nulls)`;
  // Two parallel stacks (no tuple per value): this runs on every accepted signal.
  const values: unknown[] = [v];
  const depths: number[] = [0];
  let count = 0;
  while (values.length > 0) {
    const x = values.pop();
    const depth = depths.pop()!;
    if (++count > MAX_DATA_VALUES) return tooMany;
    if (x === null || typeof x !== 'object') continue;
    if (depth + 1 > MAX_DATA_DEPTH) return `JSON nested at most ${MAX_DATA_DEPTH} levels deep`;
    if (Array.isArray(x)) {
      // Not pushed one by one past the bound: a huge array is refused without walking all of it.
      if (count + values.length + x.length > MAX_DATA_VALUES) return tooMany;
      for (let i = 0; i < x.length; i++) {
        values.push(x[i]);
        depths.push(depth + 1);
      }
    } else {
      for (const k in x as Record<string, unknown>) {
        values.push((x as Record<string, unknown>)[k]);
        depths.push(depth + 1);
        if (count + values.length > MAX_DATA_VALUES) return tooMany;
      }
    }
  }
  return undefined;
}

/** Close codes used by sluice (RFC 6455 and the IANA registry). */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  /** A binary frame: the protocol is JSON text. */
  unsupportedData: 1003,
  /** A frame that is not valid Phoenix V2 JSON, or one with more JSON values than any signal may carry. */
  invalidPayload: 1007,
  policyViolation: 1008,
  messageTooBig: 1009,
  internalError: 1011,
  serviceRestart: 1012,
  tryAgainLater: 1013,
  /**
   * Private-use range (4000-4999; 4408 as HTTP 408 Request Timeout, the code graphql-ws uses for the
   * same case): the connection did not join its channel within the server's join deadline
   * (`joinDeadlineMs` in app/server/config.ts). Clients back off and reconnect.
   */
  joinTimeout: 4408,
  /**
   * Private-use (as HTTP 409 Conflict): the same peer id joined on another connection and the
   * newest wins; this, older, connection is stale. A client receiving it stops instead of
   * reconnecting (two instances with one identity would otherwise evict each other forever).
   * A code of its own, so no client ever has to match a close reason's text.
   */
  evicted: 4409,
  /**
   * Private-use (as HTTP 403 Forbidden): an operator revoked this peer's token (its `jti`, or its
   * `sub`) or disconnected the peer through the admin API (app/auth/revocation.ts). A client
   * receiving it stops: "stop, do not retry" (a revoked token is refused at the upgrade, 403, until
   * it expires). A code of its own, as `evicted`, so no client matches a reason's text.
   */
  revoked: 4403,
} as const;

/** Peer ids end up in topics and Redis keys: keep them short and boring. */
export const PEER_ID_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;
