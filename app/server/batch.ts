/**
 * Writes batched per event-loop turn: the first frame a connection sends in a turn corks its
 * socket, and one setImmediate per process uncorks every socket corked in the turn, after the poll
 * phase has handed over all the input that was ready. Frames that one turn produces for the same
 * socket (a signal's ack and the pushes for it, a replay page, heartbeat replies) then leave in one
 * writev instead of one syscall each: a loopback TCP send costs ~20 us, well over half the CPU of a
 * relayed signal (bench/profile.ts). As load grows and turns get longer, more frames share a
 * syscall, so the cost per signal falls where it matters. uWebSockets corks per loop iteration for
 * the same reason.
 *
 * A frame waits at most until the end of its turn. Corked bytes count in `bufferedAmount` (they sit
 * in the socket's writable buffer), so the slow-consumer and replay bounds still see them.
 */
import type { Socket } from 'node:net';

const corked = new Set<Socket>();
let scheduled = false;

function flush(): void {
  scheduled = false;
  for (const s of corked) s.uncork();
  corked.clear();
}

/** Cork `socket` until the end of this turn (once per turn). */
export function corkForTurn(socket: Socket): void {
  if (corked.has(socket)) return;
  socket.cork();
  corked.add(socket);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
}
