/**
 * Phoenix Channels V2 JSON serializer: every frame is `[join_ref, ref, topic, event, payload]`.
 * Spoken by the server and the client SDK, and compatible with the official `phoenix` npm client
 * (its `Serializer` encodes exactly this array; see phoenix/assets/js/phoenix/serializer.js).
 * Binary frames (the V2 binary push format) are not used by sluice and are refused.
 */

export const PROTOCOL_VSN = '2.0.0';
export const SOCKET_PATH = '/socket/websocket';

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
  constructor(readonly reason: string, message: string) {
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

export function push(joinRef: Ref, topic: string, event: string, payload: Record<string, unknown>): string {
  return encode({ joinRef, ref: null, topic, event, payload });
}

export const peerTopic = (peerId: string) => `${PEER_TOPIC_PREFIX}${peerId}`;

/** A signal as the recipient sees it (payload of event `signal` on `peer:<to>`). */
export interface SignalDelivery {
  from: string;
  id: string;
  seq: number;
  data: unknown;
}

/** Close codes used by sluice (RFC 6455 and the IANA registry). */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
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
} as const;
