/** Timer helpers of the client SDK. */
/**
 * Run `fn` once the I/O that is already waiting has been read. After a stalled event loop (GC, a
 * busy machine) Node runs due timers before it polls sockets, so a timeout could fire while the
 * answer it waits for sits unread in the socket: a healthy connection would be called dead. A
 * timeout callback that defers its verdict with this, and re-checks, sees that answer first.
 */
export function afterPendingIo(fn: () => void): void {
  // Browsers have no setImmediate; a 0 ms timeout also runs after the input already queued.
  if (typeof setImmediate === 'function') setImmediate(fn);
  else setTimeout(fn, 0);
}

/** A timer handle in Node and in browsers. */
export type Timer = ReturnType<typeof setTimeout>;
