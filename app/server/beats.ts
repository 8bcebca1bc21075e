/**
 * The two frames an idle connection costs, built without the general machinery (bench/idle-cpu.ts
 * profiles: at 10k idle connections nearly all the server's time is one syscall per ping or
 * heartbeat reply; what was JavaScript around it is cut here):
 *   - the server's ping: one shared 2-byte WebSocket frame (FIN + opcode 0x9, no payload; a server
 *     never masks, RFC 6455 5.1), written as it is;
 *   - the reply to a Phoenix heartbeat `[null,"<ref>","phoenix","heartbeat",{}]` (what phoenix.js and
 *     the sluice SDK send): the incoming frame is recognised by its bytes, without JSON.parse, and the
 *     reply `[null,"<ref>","phoenix","phx_reply",{"status":"ok","response":{}}]` is one WebSocket
 *     text frame assembled from a pre-built head and tail around the ref's bytes. Any other shape
 *     (a join_ref, spaces, an escaped or long ref) takes the general path and gets the same reply.
 * Both are written straight to the TCP socket as one buffer (one write, no writev, no cork): the
 * server's `ws` sender never queues (perMessageDeflate is off and it is never handed a Blob), so a
 * frame written here goes out in order with every frame `ws` writes.
 */

/** A server's empty ping frame. */
export const PING_FRAME: Buffer = Buffer.from([0x89, 0x00]);

const BEAT_HEAD = Buffer.from('[null,"', 'latin1');
const BEAT_TAIL = Buffer.from('","phoenix","heartbeat",{}]', 'latin1');
const REPLY_HEAD = Buffer.from('[null,"', 'latin1');
const REPLY_TAIL = Buffer.from('","phoenix","phx_reply",{"status":"ok","response":{}}]', 'latin1');
/** Longest ref taken on the fast path: the reply then fits a frame with a 7-bit length (< 126). */
export const MAX_FAST_REF = 125 - REPLY_HEAD.length - REPLY_TAIL.length;

/**
 * The reply frame (WebSocket header included) to `data` if it is a plain Phoenix heartbeat whose ref
 * is 1..MAX_FAST_REF printable ASCII characters other than `"` and `\`; undefined otherwise.
 */
export function heartbeatReplyFrame(data: Buffer): Buffer | undefined {
  const refLen = data.length - BEAT_HEAD.length - BEAT_TAIL.length;
  if (refLen < 1 || refLen > MAX_FAST_REF) return undefined;
  const tailAt = data.length - BEAT_TAIL.length;
  // Byte loops, not Buffer#compare: a 7- and a 27-byte match cost less than two calls into C++.
  if (!bytesAt(data, 0, BEAT_HEAD) || !bytesAt(data, tailAt, BEAT_TAIL)) return undefined;
  for (let i = BEAT_HEAD.length; i < tailAt; i++) {
    const c = data[i];
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return undefined;
  }
  const len = REPLY_HEAD.length + refLen + REPLY_TAIL.length;
  const frame = Buffer.allocUnsafe(2 + len);
  frame[0] = 0x81; // FIN + text
  frame[1] = len; // < 126, unmasked
  // Byte loops again: three Buffer#copy calls into C++ cost more than ~70 bytes moved in JavaScript.
  let at = put(frame, 2, REPLY_HEAD, 0, REPLY_HEAD.length);
  at = put(frame, at, data, BEAT_HEAD.length, tailAt);
  put(frame, at, REPLY_TAIL, 0, REPLY_TAIL.length);
  return frame;
}

/** Copies `src[from, to)` into `dst` at `at`; returns the index after it. */
function put(dst: Buffer, at: number, src: Buffer, from: number, to: number): number {
  for (let i = from; i < to; i++) dst[at++] = src[i];
  return at;
}

/** Whether `data` holds exactly the bytes of `want` at `at`. */
function bytesAt(data: Buffer, at: number, want: Buffer): boolean {
  for (let i = 0; i < want.length; i++) if (data[at + i] !== want[i]) return false;
  return true;
}
