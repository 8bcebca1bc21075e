/**
 * A raw Phoenix V2 peer for the backplane suites: joins `peer:<id>`, sends signals, collects pushes,
 * speaking the wire format directly (no SDK, no reconnects), so a test sees exactly what a server
 * answered. The real SDK is app/client.
 */
import WebSocket from 'ws';

export interface Received {
  from: string;
  id: string;
  seq: number;
  data: unknown;
  replayed: boolean;
}
export interface Reply {
  status: 'ok' | 'error';
  response: Record<string, unknown>;
}

/**
 * A raw Phoenix V2 peer: join `peer:<id>`, send signals, collect pushes. Enough for backplane
 * tests; the real SDK is app/client.
 */
export class RawPeer {
  readonly received: Received[] = [];
  private ref = 0;
  private readonly waiting = new Map<string, (r: Reply) => void>();
  private listeners: Array<() => void> = [];
  closedWith?: number;
  readonly closed: Promise<number>;

  private constructor(
    readonly id: string,
    readonly ws: WebSocket,
  ) {
    ws.on('message', (raw) => {
      const [, ref, , event, payload] = JSON.parse(raw.toString()) as [
        string | null,
        string | null,
        string,
        string,
        Record<string, unknown>,
      ];
      if (event === 'phx_reply' && ref !== null) {
        const done = this.waiting.get(ref);
        this.waiting.delete(ref);
        done?.(payload as unknown as Reply);
      } else if (event === 'signal') {
        this.received.push(payload as unknown as Received);
        for (const l of this.listeners) l();
      }
    });
    this.closed = new Promise((resolve) =>
      ws.once('close', (code) => {
        this.closedWith = code;
        for (const [, done] of this.waiting) done({ status: 'error', response: { reason: 'closed' } });
        this.waiting.clear();
        resolve(code);
      }),
    );
  }

  static async connect(url: string, id: string): Promise<RawPeer> {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    return new RawPeer(id, ws);
  }

  /** Connect and join; `lastSeq` resumes (replay), undefined starts fresh. */
  static async join(url: string, id: string, lastSeq?: number): Promise<{ peer: RawPeer; reply: Reply }> {
    const peer = await RawPeer.connect(url, id);
    const reply = await peer.push('phx_join', lastSeq === undefined ? {} : { last_seq: lastSeq }, '1');
    return { peer, reply };
  }

  push(event: string, payload: Record<string, unknown>, joinRef: string | null = '1'): Promise<Reply> {
    const ref = String(++this.ref);
    return new Promise((resolve) => {
      if (this.ws.readyState !== WebSocket.OPEN) return resolve({ status: 'error', response: { reason: 'closed' } });
      this.waiting.set(ref, resolve);
      this.ws.send(JSON.stringify([joinRef, ref, `peer:${this.id}`, event, payload]));
    });
  }

  signal(to: string, id: string, data: unknown): Promise<Reply> {
    return this.push('signal', { to, id, data });
  }

  get lastSeq(): number {
    return this.received.length === 0 ? 0 : this.received[this.received.length - 1].seq;
  }

  /** Resolves once `n` signals have been received in total. */
  waitFor(n: number, timeoutMs = 5_000): Promise<void> {
    if (this.received.length >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners = this.listeners.filter((l) => l !== check);
        reject(new Error(`${this.id}: ${this.received.length}/${n} signals after ${timeoutMs} ms`));
      }, timeoutMs);
      const check = () => {
        if (this.received.length < n) return;
        clearTimeout(timer);
        this.listeners = this.listeners.filter((l) => l !== check);
        resolve();
      };
      this.listeners.push(check);
    });
  }

  close(): Promise<number> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(1000);
    return this.closed;
  }

  /** Drop the TCP connection without a close handshake. */
  terminate(): Promise<number> {
    this.ws.terminate();
    return this.closed;
  }
}
