/**
 * The public listener accepts more than one connection per event-loop turn (app/server/acceptors.ts):
 * libuv >= 1.45 accepts one per turn and listening descriptor, so a busy loop left the kernel's
 * queue full during a drain. Real sockets and a helper process: e2e.
 */
import net from 'node:net';
import { startServer, TestServer } from '../helpers/server';

/** Connect `n` clients while the loop is blocked, then count the server's 'connection' events per loop turn. */
async function acceptsPerTurn(s: TestServer, n: number): Promise<{ accepted: number; maxPerTurn: number }> {
  const pub = (s.server as unknown as { public: net.Server }).public;
  let turn = 0;
  const perTurn = new Map<number, number>();
  const onConn = () => perTurn.set(turn, (perTurn.get(turn) ?? 0) + 1);
  pub.on('connection', onConn);
  const clients = Array.from({ length: n }, () => net.connect(s.port, '127.0.0.1').on('error', () => undefined));
  // The kernel completes every handshake while this loop cannot accept (the queue is 511 deep).
  const until = Date.now() + 300;
  while (Date.now() < until);
  let spinning = true;
  const spin = () => {
    turn++;
    if (spinning) setImmediate(spin);
  };
  spin();
  const deadline = Date.now() + 10_000;
  while ([...perTurn.values()].reduce((a, b) => a + b, 0) < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  spinning = false;
  pub.off('connection', onConn);
  for (const c of clients) c.destroy();
  const counts = [...perTurn.values()];
  return { accepted: counts.reduce((a, b) => a + b, 0), maxPerTurn: Math.max(...counts) };
}

let s: TestServer | undefined;
afterEach(async () => {
  await s?.server.shutdown();
  s = undefined;
});

test('without extra acceptors libuv accepts one connection per loop turn', async () => {
  s = await startServer({ acceptors: 0 });
  const r = await acceptsPerTurn(s, 40);
  expect(r.accepted).toBe(40);
  expect(r.maxPerTurn).toBe(1);
});

test('with 7 extra acceptors one loop turn accepts up to 8, and every connection reaches the server', async () => {
  s = await startServer({ acceptors: 7 });
  const r = await acceptsPerTurn(s, 40);
  expect(r.accepted).toBe(40);
  expect(r.maxPerTurn).toBeGreaterThanOrEqual(4);
  expect(r.maxPerTurn).toBeLessThanOrEqual(8);
  // The server still answers through them (health check on the public listener).
  const res = await fetch(`http://127.0.0.1:${s.port}/healthz`);
  expect(res.status).toBe(200);
});

test('stop closes every acceptor: the port refuses afterwards', async () => {
  s = await startServer({ acceptors: 7 });
  const port = s.port;
  await s.server.shutdown();
  s = undefined;
  const refused = await new Promise<boolean>((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.on('connect', () => {
      c.destroy();
      resolve(false);
    });
    c.on('error', () => resolve(true));
  });
  expect(refused).toBe(true);
});
