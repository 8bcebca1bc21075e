/**
 * The public listener accepts more than one connection per event-loop turn (app/server/acceptors.ts):
 * libuv >= 1.45 accepts one per turn and listening descriptor, so a busy loop left the kernel's
 * queue full during a drain. Real sockets and a helper process: e2e.
 */
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { addAcceptors } from '../../app/server/acceptors';
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

test("the listener keeps its accept queue's length: the descriptors that come back do not reset it to Node's 511", async () => {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', 1024, resolve));
  const port = (server.address() as net.AddressInfo).port;
  // `ss -ltn`: for a listening socket Send-Q is the accept queue's length (the backlog in force).
  const backlog = () =>
    Number(
      execFileSync('ss', ['-ltnH', `sport = :${port}`])
        .toString()
        .trim()
        .split(/\s+/)[2],
    );
  expect(backlog()).toBe(1024);
  const acceptors = await addAcceptors(server, 3, 1024);
  try {
    expect(acceptors).toHaveLength(3);
    expect(backlog()).toBe(1024);
  } finally {
    for (const a of acceptors) a.close();
    server.close();
  }
});
