/**
 * Issue 22 point 4: Google's Application LB pools idle backend connections for a fixed 600 s and says
 * "you must configure your backend software so that its HTTP keepalive (TCP idle) timeout value is
 * greater than 600 seconds" (cloud.google.com/load-balancing/docs/https). Node's default keepAliveTimeout
 * is 5 s. The relation is checked on the real contract; the behaviour on real sockets with a scaled
 * contract (the LB's 600 s as 3 s): an idle keep-alive connection lives past the LB's keepalive and
 * serves the request the LB sends into it, while a connection that never sends a request is still
 * closed at the slowloris bound (headersTimeout), which the long keep-alive does not weaken.
 */
import net from 'node:net';
import pino from 'pino';
import { defaultTimeouts, GCP_BACKEND_KEEPALIVE_SEC, mergeTimeouts, serverKeepAliveTimeoutMs, validate } from '../../app/contract/timeouts';
import { httpTimeouts } from '../../app/server/config';
import { SluiceServer } from '../../app/server/server';
import { testConfig } from '../helpers/server';

describe('keep-alive against the LB backend keepalive (the contract)', () => {
  it('both listeners keep an idle connection longer than 600 s, and a request still has the 5 s header bound', () => {
    const t = httpTimeouts(defaultTimeouts);
    expect(GCP_BACKEND_KEEPALIVE_SEC).toBe(600);
    expect(defaultTimeouts.lb.backendKeepAliveSec).toBe(600);
    expect(t.keepAliveTimeoutMs).toBe(serverKeepAliveTimeoutMs(defaultTimeouts));
    expect(t.keepAliveTimeoutMs).toBeGreaterThan(GCP_BACKEND_KEEPALIVE_SEC * 1000);
    expect(t.keepAliveTimeoutMs).toBe(605_000);
    expect(t).toMatchObject({ headersTimeoutMs: 5_000, requestTimeoutMs: 5_000, boundMs: 6_000 });
  });

  it("refuses a contract that puts the LB keepalive below Google's fixed 600 s", () => {
    const broken = mergeTimeouts(defaultTimeouts, { lb: { backendKeepAliveSec: 300 } });
    expect(validate(broken).map((v) => v.rule)).toEqual(["lb-backend-keepalive-is-gcp's"]);
    expect(validate(mergeTimeouts(defaultTimeouts, { lb: { backendKeepAliveSec: 601 } }))).toEqual([]);
  });
});

/** A raw HTTP/1.1 client on one socket: send requests, read responses, note when the server closes. */
function rawClient(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  let buf = '';
  let waiter: (() => void) | undefined;
  let closedAt = 0;
  const opened = new Promise<number>((resolve) => socket.once('connect', () => resolve(performance.now())));
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve((closedAt = performance.now()))));
  socket.on('data', (d) => {
    buf += d.toString();
    waiter?.();
  });
  socket.on('error', () => undefined);
  return {
    opened,
    closed,
    get closedAt() {
      return closedAt;
    },
    /** Send GET `path` and resolve with the status line of its response (and the time the body ended). */
    async get(path: string): Promise<{ status: string; at: number }> {
      buf = '';
      socket.write(`GET ${path} HTTP/1.1\r\nHost: lb\r\nConnection: keep-alive\r\n\r\n`);
      await new Promise<void>((resolve, reject) => {
        const check = () => {
          const m = /Content-Length: (\d+)\r\n[\s\S]*?\r\n\r\n/i.exec(buf);
          if (m && buf.length >= buf.indexOf('\r\n\r\n') + 4 + Number(m[1])) {
            waiter = undefined;
            resolve();
          }
        };
        waiter = check;
        socket.once('close', () => reject(new Error(`closed before an answer to ${path}`)));
        check();
      });
      return { status: buf.split('\r\n')[0], at: performance.now() };
    },
  };
}

describe('keep-alive on real sockets, the LB keepalive scaled to 3 s', () => {
  // lb.backendKeepAliveSec 3 s + drain.marginMs 0.5 s = 3.5 s keep-alive; headersTimeout = connectTimeoutMs = 1 s.
  const scaled = mergeTimeouts(defaultTimeouts, {
    lb: { backendKeepAliveSec: 3 },
    drain: { marginMs: 500 },
    client: { connectTimeoutMs: 1_000 },
  });
  const lbKeepAliveMs = scaled.lb.backendKeepAliveSec * 1000;

  it('an idle pooled connection serves a request after the LB keepalive (3 s, > headersTimeout), is closed only after the server keep-alive; a silent one is closed at the header bound', async () => {
    const t = httpTimeouts(scaled);
    expect(t).toMatchObject({ headersTimeoutMs: 1_000, boundMs: 2_000, keepAliveTimeoutMs: 3_500 });
    const config = { ...testConfig(), timeouts: scaled };
    const server = new SluiceServer({ config, logger: pino({ level: 'silent' }) });
    const { port, adminPort } = await server.start();
    try {
      const pooled = [rawClient(port), rawClient(adminPort)];
      const silent = rawClient(port);
      const silentOpened = await silent.opened;
      const first = await Promise.all(pooled.map((c, i) => c.get(i === 0 ? '/healthz' : '/status')));
      expect(first.map((r) => r.status)).toEqual(['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK']);
      // The LB reuses a pooled connection up to its own keepalive: idle that long (3 x headersTimeout), then send.
      // Idle time is the behaviour under test, so this wait is the test, not a synchronisation.
      await new Promise((r) => setTimeout(r, lbKeepAliveMs));
      const second = await Promise.all(pooled.map((c, i) => c.get(i === 0 ? '/readyz' : '/status')));
      expect(second.map((r) => r.status)).toEqual(['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK']);
      // The connection that never sent a request was closed at the slowloris bound meanwhile.
      const silentMs = (await silent.closed) - silentOpened;
      expect(silentMs).toBeGreaterThanOrEqual(t.headersTimeoutMs - 100);
      expect(silentMs).toBeLessThanOrEqual(t.boundMs + 500);
      // The server closes the idle pooled connections only after its keep-alive, counted from the last response.
      const idleMs = await Promise.all(pooled.map(async (c, i) => (await c.closed) - second[i].at));
      for (const ms of idleMs) expect(ms).toBeGreaterThanOrEqual(t.keepAliveTimeoutMs - 50);
      console.log(
        `silent connection closed after ${(silentMs / 1000).toFixed(2)} s; idle keep-alive connections (public, admin) closed ${idleMs.map((ms) => (ms / 1000).toFixed(2)).join(', ')} s after their last response (keepAliveTimeout ${t.keepAliveTimeoutMs / 1000} s)`,
      );
    } finally {
      await server.shutdown();
    }
  }, 30_000);
});
