/** The client against a real server: join, signals both ways, refusals, close. */
import { SendError, SluiceClient, SluiceClientError } from '../../app/client/index';
import type { ReceivedSignal } from '../../app/client/index';
import { startServer, TestServer, token } from '../helpers/server';
import { client, closeClients, fastTimeouts, next } from './helpers';
import { CLOSE } from '../../app/protocol/phoenix';

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer();
});
afterEach(closeClients);
afterAll(async () => {
  await srv.server.shutdown();
});

test('joins its own peer topic and reports connected', async () => {
  const c = await client(srv.socketUrl, 'c-join', { timeouts: fastTimeouts() });
  const connected = next(c, 'connected');
  c.connect();
  await c.ready();
  const [info] = await connected;
  expect(info).toMatchObject({ peerId: 'c-join', reconnects: 0, lastSeq: 0 });
  expect(c.state).toBe('joined');
  expect(c.lastSeq).toBe(0);
});

test('signals flow both ways, numbered per recipient', async () => {
  const a = await client(srv.socketUrl, 'c-a', { timeouts: fastTimeouts() });
  const b = await client(srv.socketUrl, 'gw-b', { timeouts: fastTimeouts() });
  a.connect();
  b.connect();
  await Promise.all([a.ready(), b.ready()]);
  const got: ReceivedSignal[] = [];
  b.on('signal', (s) => got.push(s));
  const statuses = await Promise.all([1, 2, 3].map((n) => a.send('gw-b', { n })));
  expect(statuses).toEqual(['delivered', 'delivered', 'delivered']);
  await new Promise<void>((resolve) => (got.length >= 3 ? resolve() : b.on('signal', () => got.length >= 3 && resolve())));
  expect(got.map((s) => [s.from, s.seq, (s.data as { n: number }).n, s.replayed])).toEqual([
    ['c-a', 1, 1, false],
    ['c-a', 2, 2, false],
    ['c-a', 3, 3, false],
  ]);
  const [back] = await Promise.all([next(a, 'signal'), b.send('c-a', 'pong', 'fixed-id')]);
  expect(back[0]).toMatchObject({ from: 'gw-b', id: 'fixed-id', seq: 1, data: 'pong' });
});

test('a final error reply rejects send with the server reason', async () => {
  const a = await client(srv.socketUrl, 'c-lonely', { timeouts: fastTimeouts() });
  a.connect();
  await a.ready();
  await expect(a.send('nobody-here', 1)).rejects.toMatchObject({ name: 'SendError', reason: 'unknown_peer' });
  await expect(a.send('nobody-here', 1)).rejects.toBeInstanceOf(SendError);
  expect(a.pendingSends).toBe(0);
});

test('sends made before the join go out once joined', async () => {
  const b = await client(srv.socketUrl, 'gw-early', { timeouts: fastTimeouts() });
  b.connect();
  await b.ready();
  const a = await client(srv.socketUrl, 'c-early', { timeouts: fastTimeouts() });
  const sent = a.send('gw-early', 'hello');
  const got = next(b, 'signal');
  a.connect();
  await expect(sent).resolves.toBe('delivered');
  expect((await got)[0].data).toBe('hello');
});

test('heartbeats are answered', async () => {
  const a = await client(srv.socketUrl, 'c-hb', { timeouts: fastTimeouts() });
  a.connect();
  const [hb] = await next(a, 'heartbeat');
  expect(hb.rttMs).toBeGreaterThanOrEqual(0);
  expect(a.state).toBe('joined');
});

test('a join the server refuses as unauthorized stops the client', async () => {
  // The token says c-x, the client claims to be someone else: the server refuses the topic.
  const a = new SluiceClient({ url: srv.socketUrl, token: await token('c-x'), peerId: 'c-other', timeouts: fastTimeouts() });
  const err = next(a, 'error');
  a.connect();
  await expect(a.ready()).rejects.toMatchObject({ code: 'join_refused' });
  expect((await err)[0]).toBeInstanceOf(SluiceClientError);
  expect(a.state).toBe('stopped');
  await a.close();
});

test('close() rejects pending sends and ends the socket', async () => {
  const a = await client(srv.socketUrl, 'c-close', { timeouts: fastTimeouts() });
  const pending = a.send('whoever', 1); // never joined: stays in the outbox
  const disconnected = next(a, 'disconnected');
  a.connect();
  await next(a, 'state', (s) => s.to === 'joining');
  await a.close();
  await expect(pending).rejects.toMatchObject({ code: 'closed' });
  expect((await disconnected)[0]).toMatchObject({ reason: 'client_closed', willReconnect: false });
  expect(a.state).toBe('stopped');
  await expect(a.send('x', 1)).rejects.toMatchObject({ code: 'closed' });
});

test('the constructor refuses URLs it could never connect to', () => {
  const tok = 'x.eyJzdWIiOiJhIn0.y';
  expect(() => new SluiceClient({ url: 'not a url', token: tok })).toThrow();
  expect(() => new SluiceClient({ url: 'ftp://127.0.0.1/socket/websocket', token: tok })).toThrow(/ws:\/\/ or wss:\/\//);
  expect(() => new SluiceClient({ url: [], token: tok })).toThrow(/at least one url/);
});

test('the constructor refuses a timeouts value that breaks the contract', () => {
  const bad = fastTimeouts();
  bad.client.heartbeatTimeoutMs = 50; // below the interval: rule client-timeout-covers-interval
  expect(() => new SluiceClient({ url: srv.socketUrl, token: 'x.eyJzdWIiOiJhIn0.y', timeouts: bad })).toThrow(
    /client-timeout-covers-interval/,
  );
});

test('a second connection with the same peer id evicts the first, which stops instead of fighting back', async () => {
  const first = await client(srv.socketUrl, 'gw-twice', { timeouts: fastTimeouts() });
  first.connect();
  await first.ready();
  const evicted = next(first, 'disconnected');
  const error = next(first, 'error');
  const second = await client(srv.socketUrl, 'gw-twice', { timeouts: fastTimeouts() });
  second.connect();
  await second.ready();
  expect((await evicted)[0]).toMatchObject({ reason: 'evicted', code: CLOSE.evicted, wasJoined: true, willReconnect: false });
  expect((await error)[0]).toMatchObject({ code: 'evicted' });
  expect(first.state).toBe('stopped');
  expect(second.state).toBe('joined');
});

test('a throwing listener is reported as an error and does not break the client', async () => {
  const a = await client(srv.socketUrl, 'c-throw-a', { timeouts: fastTimeouts() });
  const b = await client(srv.socketUrl, 'gw-throw-b', { timeouts: fastTimeouts() });
  a.connect();
  b.connect();
  await Promise.all([a.ready(), b.ready()]);
  b.once('signal', () => {
    throw new Error('boom');
  });
  const err = next(b, 'error');
  await a.send('gw-throw-b', 1);
  expect((await err)[0]).toMatchObject({ code: 'listener_error', detail: { event: 'signal' } });
  const second = next(b, 'signal');
  await a.send('gw-throw-b', 2);
  expect((await second)[0]).toMatchObject({ seq: 2, data: 2 });
  expect(b.state).toBe('joined');
});

test('close() called twice: both calls resolve once the socket is gone', async () => {
  const a = await client(srv.socketUrl, 'c-close-twice', { timeouts: fastTimeouts() });
  a.connect();
  await a.ready();
  await Promise.all([a.close(), a.close()]);
  expect(a.state).toBe('stopped');
});

test('nothing the SDK logs or emits carries the token, in header or query mode, joined or refused', async () => {
  const lines: string[] = [];
  const logger = {
    debug: (o: object, m?: string) => lines.push(JSON.stringify([o, m])),
    info: (o: object, m?: string) => lines.push(JSON.stringify([o, m])),
    warn: (o: object, m?: string) => lines.push(JSON.stringify([o, m])),
  };
  const good = await token('c-quiet');
  const bad = await token('c-quiet-bad', 'client', 'another-secret-of-at-least-32-characters');
  const runs: Array<{ tok: string; tokenInQuery: boolean; url: string }> = [
    { tok: good, tokenInQuery: false, url: `${srv.socketUrl}?token=${good}` },
    { tok: good, tokenInQuery: true, url: srv.socketUrl },
    { tok: bad, tokenInQuery: false, url: srv.socketUrl },
    { tok: bad, tokenInQuery: true, url: srv.socketUrl },
  ];
  for (const r of runs) {
    const c = new SluiceClient({ url: r.url, token: r.tok, tokenInQuery: r.tokenInQuery, logger, timeouts: fastTimeouts() });
    for (const ev of ['connected', 'disconnected', 'error', 'state', 'heartbeat'] as const) {
      c.on(ev, (...args: unknown[]) =>
        lines.push(JSON.stringify(args, (_k, v: unknown) => (v instanceof Error ? { ...v, message: v.message } : v))),
      );
    }
    c.connect();
    if (r.tok === good) {
      await c.ready();
      await next(c, 'heartbeat');
    } else {
      await expect(c.ready()).rejects.toMatchObject({ code: 'unauthorized' });
    }
    expect(c.currentUrl).toBe(srv.socketUrl);
    await c.close();
  }
  expect(lines.filter((l) => l.includes('"joined"')).length).toBeGreaterThanOrEqual(2);
  expect(lines.filter((l) => l.includes('unauthorized')).length).toBeGreaterThanOrEqual(2);
  for (const t of [good, bad]) {
    expect(lines.filter((l) => l.includes(t.split('.')[2]))).toEqual([]);
  }
});
