/**
 * The WebSocket under a Transport, in Node: `ws`, which (unlike a browser's WebSocket) reports the
 * HTTP status and Retry-After of a refused upgrade (401 stops the client, 503 waits Retry-After) and
 * can destroy the TCP socket at once (`terminate()`) instead of waiting on a closing handshake with
 * a peer that may be dead. The browser build of the package swaps this file for socket.browser.ts.
 */
import WebSocket from 'ws';
import { parseRetryAfterMs } from './backoff';

export interface SocketHandlers {
  onOpen(): void;
  onText(text: string): void;
  /** A binary frame: the protocol has none. */
  onBinary(): void;
  /** The upgrade was answered with an HTTP response instead (not reported in browsers). */
  onRefused(status: number, retryAfterMs: number | undefined): void;
  onError(message: string): void;
  /** Exactly once, last. */
  onClose(code: number, reason: string): void;
}

export interface Socket {
  readonly isOpen: boolean;
  send(text: string): void;
  /** Closing handshake with `code` (1000 or 4000-4999). */
  close(code: number, reason: string): void;
  /** Drop the connection now, no handshake; onClose follows. */
  terminate(): void;
}

/** Throws only what `new WebSocket` throws for a URL or subprotocol it refuses. */
export function openSocket(url: string, protocols: readonly string[], h: SocketHandlers): Socket {
  // perMessageDeflate off: signals are small, and compression costs CPU and memory per socket.
  const ws = new WebSocket(url, [...protocols], { perMessageDeflate: false });
  ws.on('unexpected-response', (_req, res) => {
    h.onRefused(res.statusCode ?? 0, parseRetryAfterMs(res.headers['retry-after']));
    res.resume();
    // On a CONNECTING socket ws aborts the request and emits error + close: one path to onClose.
    ws.terminate();
  });
  ws.on('open', () => h.onOpen());
  ws.on('message', (data, isBinary) => (isBinary ? h.onBinary() : h.onText((data as Buffer).toString('utf8'))));
  ws.on('error', (err) => h.onError(err.message));
  ws.on('close', (code, reason) => h.onClose(code, reason.toString()));
  return {
    get isOpen() {
      return ws.readyState === WebSocket.OPEN;
    },
    send: (text) => ws.send(text),
    close: (code, reason) => ws.close(code, reason),
    terminate: () => ws.terminate(),
  };
}
