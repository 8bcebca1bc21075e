/**
 * One WebSocket, from connect to close, and nothing else: no retries, no state beyond this socket.
 * It owns the connect timer, captures an HTTP refusal (status, Retry-After) before ws turns it into
 * a generic error, decodes Phoenix V2 frames, and reports exactly one `onEnd` with everything the
 * client needs to decide what to do next.
 *
 * Ending it from our side is always `terminate()` (destroy the TCP socket at once) except for the
 * client's own close(), which says goodbye politely but still terminates after a bound: a polite
 * close would otherwise wait on a peer that may be dead.
 */
import { decode, Frame, ProtocolError } from '../protocol/phoenix';
import { openSocket, Socket } from './socket';
import { afterPendingIo, Timer } from './timers';

export interface TransportEnd {
  /** The upgrade had completed. */
  opened: boolean;
  /** Close code seen (1006 when the socket just died). */
  code: number;
  /** Close reason text from the server. */
  text: string;
  /** Set when we ended it ourselves (heartbeat_timeout, connect_timeout, ...). */
  local?: string;
  /** Set when the upgrade was refused with an HTTP response. */
  refusal?: { status: number; retryAfterMs?: number };
  /** Socket-level error message, if any. */
  error?: string;
}

export interface TransportHandlers {
  onOpen(): void;
  onFrame(frame: Frame): void;
  onEnd(end: TransportEnd): void;
}

export class Transport {
  private readonly ws: Socket;
  private connectTimer?: Timer;
  private closeTimer?: Timer;
  private opened = false;
  private ended = false;
  private local?: string;
  private refusal?: TransportEnd['refusal'];
  private error?: string;

  /**
   * `protocols`: the Sec-WebSocket-Protocol offer (the token rides there, wire.ts socketRequest);
   * the handshake fails if the server picks none of them. Throws only what opening a WebSocket
   * throws for a URL or subprotocol it refuses.
   */
  constructor(
    url: string,
    protocols: readonly string[],
    connectTimeoutMs: number,
    private readonly h: TransportHandlers,
  ) {
    this.ws = openSocket(url, protocols, {
      onRefused: (status, retryAfterMs) => {
        this.refusal = { status, retryAfterMs };
      },
      onOpen: () => {
        this.clearConnectTimer();
        this.opened = true;
        this.h.onOpen();
      },
      onText: (text) => this.onText(text),
      onBinary: () => {
        this.error ??= 'binary frame';
        this.terminate('protocol_error');
      },
      onError: (message) => {
        this.error ??= message;
      },
      onClose: (code, reason) => this.end(code, reason),
    });
    // Covers DNS, TCP, TLS and the HTTP upgrade: a server that accepts TCP and then says nothing
    // must not hold the client forever.
    // Judged after pending I/O (see afterPendingIo): an 'open' that arrived during a stall wins.
    const timer = setTimeout(
      () =>
        afterPendingIo(() => {
          if (this.connectTimer === timer) this.terminate('connect_timeout');
        }),
      connectTimeoutMs,
    );
    this.connectTimer = timer;
  }

  /** Queue a text frame; false when the socket cannot take it. */
  send(text: string): boolean {
    if (!this.ws.isOpen) return false;
    this.ws.send(text);
    return true;
  }

  /** Destroy the socket now, no closing handshake. `reason` is reported in onEnd. */
  terminate(reason: string): void {
    if (this.ended) return;
    this.local ??= reason;
    this.ws.terminate();
  }

  /** Polite close (1000), terminated anyway after `graceMs`. */
  close(reason: string, graceMs: number): void {
    if (this.ended) return;
    this.local ??= reason;
    if (this.ws.isOpen) {
      this.ws.close(1000, reason);
      this.closeTimer = setTimeout(() => this.ws.terminate(), graceMs);
    } else {
      this.ws.terminate();
    }
  }

  private onText(text: string): void {
    if (this.ended || this.local) return;
    let frame: Frame;
    try {
      frame = decode(text);
    } catch (err) {
      this.error ??= err instanceof ProtocolError ? err.reason : 'malformed_frame';
      this.terminate('protocol_error');
      return;
    }
    this.h.onFrame(frame);
  }

  private clearConnectTimer(): void {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
  }

  private end(code: number, text: string): void {
    if (this.ended) return;
    this.ended = true;
    this.clearConnectTimer();
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.h.onEnd({ opened: this.opened, code, text, local: this.local, refusal: this.refusal, error: this.error });
  }
}
