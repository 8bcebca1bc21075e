/**
 * The WebSocket under a Transport, in a browser: the native `WebSocket` (the package's browser build
 * uses this file instead of socket.ts). Two things a browser does not give a page, by design: the
 * HTTP status of a refused upgrade (a 401 or a 503 looks like any failed connection, code 1006, so
 * the client backs off and retries instead of stopping on a bad token), and destroying the TCP
 * socket at once: `terminate()` starts the close and reports the end now, so the client moves on
 * while the browser finishes with the old socket.
 */
import type { Socket, SocketHandlers } from './socket';

export type { Socket, SocketHandlers } from './socket';

export function openSocket(url: string, protocols: readonly string[], h: SocketHandlers): Socket {
  const ws = new WebSocket(url, [...protocols]);
  let closed = false;
  const end = (code: number, reason: string) => {
    if (closed) return;
    closed = true;
    h.onClose(code, reason);
  };
  ws.onopen = () => h.onOpen();
  ws.onmessage = (e: MessageEvent) => (typeof e.data === 'string' ? h.onText(e.data) : h.onBinary());
  ws.onerror = () => h.onError('WebSocket error');
  ws.onclose = (e: CloseEvent) => end(e.code, e.reason);
  return {
    get isOpen() {
      return ws.readyState === WebSocket.OPEN;
    },
    send: (text) => ws.send(text),
    close: (code, reason) => ws.close(code, reason),
    terminate: () => {
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
      ws.close();
      setTimeout(() => end(1006, ''), 0);
    },
  };
}
