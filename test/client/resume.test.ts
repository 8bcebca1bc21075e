/**
 * Resume without loss, through a real server and real sockets: missed signals come back in order
 * and once; beyond the history bound the client surfaces a `gap`; the outbox re-sends what a dead
 * connection swallowed and the server's (sender, id) dedupe keeps it exactly once.
 */
import type { ReceivedSignal, SluiceClient } from '../../app/client/index';
import { startServer, TestServer, until } from '../helpers/server';
import { client, closeClients, fastTimeouts, next } from './helpers';
import { BlackholeProxy, startBlackholeProxy } from '../../app/local/network/blackhole-proxy';

let srv: TestServer;
let proxy: BlackholeProxy;
/** The sluice socket URL through a proxy. */
const via = (p: BlackholeProxy) => `ws://127.0.0.1:${p.port}/socket/websocket`;
beforeAll(async () => {
  srv = await startServer();
});
beforeEach(async () => {
  proxy = await startBlackholeProxy(srv.port);
});
afterEach(async () => {
  await closeClients();
  await proxy.close();
});
afterAll(async () => {
  await srv.server.shutdown();
});

/** The scenario itself: a peer stays unreachable for this long (not a synchronisation sleep). */
const offlineFor = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function collect(c: SluiceClient): ReceivedSignal[] {
  const got: ReceivedSignal[] = [];
  c.on('signal', (s) => got.push(s));
  return got;
}

function receivedAll(c: SluiceClient, got: ReceivedSignal[], n: number): Promise<void> {
  return new Promise((resolve) => {
    if (got.length >= n) return resolve();
    const check = () => {
      if (got.length < n) return;
      c.off('signal', check);
      resolve();
    };
    c.on('signal', check);
  });
}

async function joined(...cs: SluiceClient[]): Promise<void> {
  for (const c of cs) c.connect();
  await Promise.all(cs.map((c) => c.ready()));
}

test('a peer offline for a few seconds gets what it missed, in order, once', async () => {
  const a = await client(srv.socketUrl, 'c-res-a', { timeouts: fastTimeouts() });
  const b = await client(via(proxy), 'gw-res-b', { timeouts: fastTimeouts() });
  await joined(a, b);
  const got = collect(b);
  await a.send('gw-res-b', { n: 0 });
  await receivedAll(b, got, 1);

  const lost = next(b, 'disconnected');
  proxy.cut();
  expect((await lost)[0]).toMatchObject({ reason: 'connection_error', wasJoined: true, willReconnect: true });
  // While B is away its signals are stored for its resume.
  const statuses = [];
  for (let n = 1; n <= 20; n++) statuses.push(await a.send('gw-res-b', { n }));
  expect(new Set(statuses)).toEqual(new Set(['stored']));
  await offlineFor(2_000);
  expect(b.state).not.toBe('joined');

  const resumed = next(b, 'resumed');
  proxy.restore();
  const [info] = await resumed;
  expect(info).toEqual({ fromSeq: 1, lastSeq: 21, replayed: 20 });
  await receivedAll(b, got, 21);
  expect(got.map((s) => (s.data as { n: number }).n)).toEqual([...Array(21).keys()]);
  expect(got.map((s) => s.seq)).toEqual([...Array(21).keys()].map((i) => i + 1));
  expect(got.slice(1).every((s) => s.replayed)).toBe(true);
  expect(b.lastSeq).toBe(21);
  expect(b.stats.gaps).toBe(0);
});

test('signals sent while the sender is offline wait in the outbox and arrive once, in order', async () => {
  const a = await client(via(proxy), 'c-out-a', { timeouts: fastTimeouts() });
  const b = await client(srv.socketUrl, 'gw-out-b', { timeouts: fastTimeouts() });
  await joined(a, b);
  const got = collect(b);
  const lost = next(a, 'disconnected');
  proxy.cut();
  await lost;
  const sends = Array.from({ length: 10 }, (_, n) => a.send('gw-out-b', { n }));
  expect(a.pendingSends).toBe(10);
  await offlineFor(1_000);
  proxy.restore();
  expect(await Promise.all(sends)).toEqual(Array(10).fill('delivered'));
  await receivedAll(b, got, 10);
  expect(got.map((s) => (s.data as { n: number }).n)).toEqual([...Array(10).keys()]);
  expect(a.pendingSends).toBe(0);
});

test('a signal whose reply was lost is re-sent with its id and delivered exactly once', async () => {
  const a = await client(via(proxy), 'c-dup-a', { timeouts: fastTimeouts() });
  const b = await client(srv.socketUrl, 'gw-dup-b', { timeouts: fastTimeouts() });
  await joined(a, b);
  const got = collect(b);
  proxy.dropReplies();
  const dead = next(a, 'disconnected');
  const sent = a.send('gw-dup-b', 'only once', 'sig-42');
  await receivedAll(b, got, 1); // the server accepted it; A never hears back
  // A's heartbeat replies are swallowed too: it declares the socket dead and reconnects.
  expect((await dead)[0]).toMatchObject({ reason: 'heartbeat_timeout', wasJoined: true });
  proxy.restore();
  await expect(sent).resolves.toBe('duplicate');
  expect(got).toHaveLength(1);
  expect(got[0]).toMatchObject({ from: 'c-dup-a', id: 'sig-42', seq: 1, data: 'only once' });
  // One more round trip on the new connection: nothing else is waiting for B.
  await a.send('gw-dup-b', 'after', 'sig-43');
  await receivedAll(b, got, 2);
  expect(got.map((s) => s.id)).toEqual(['sig-42', 'sig-43']);
});

test('beyond the history bound of an away peer nothing accepted is pushed out: the sender hears recipient_busy, its outbox delivers the rest on resume', async () => {
  // 5 entries, and this one sender may hold all of them (the share is tested in test/backplane/quota.test.ts).
  const small = await startServer({
    serverId: 'small-history',
    timeouts: { resume: { historyMaxMessages: 5 } },
    limits: { senderHistoryShare: 1 },
  });
  const p = await startBlackholeProxy(small.port);
  try {
    const a = await client(small.socketUrl, 'c-gap-a', { timeouts: fastTimeouts() });
    const b = await client(via(p), 'gw-gap-b', { timeouts: fastTimeouts() });
    await joined(a, b);
    const got = collect(b);
    await a.send('gw-gap-b', { n: 1 });
    await a.send('gw-gap-b', { n: 2 });
    await receivedAll(b, got, 2);
    const lost = next(b, 'disconnected');
    p.cut();
    await lost;
    // The away peer's history takes 5 (its delivered 1 and 2 make room); the sixth is refused
    // recipient_busy and waits in a's outbox with everything after it.
    const sends = Array.from({ length: 10 }, (_, i) => a.send('gw-gap-b', { n: i + 3 }));
    await until(
      () => small.server.metrics.registry.metrics().then((m) => /sluice_signals_failed_total\{reason="recipient_busy"\} [1-9]/.test(m)),
      10_000,
      'a recipient_busy refusal',
    );
    const resumed = next(b, 'resumed');
    p.restore();
    expect((await resumed)[0]).toMatchObject({ fromSeq: 2, replayed: 5 });
    await Promise.all(sends);
    await receivedAll(b, got, 12);
    expect(got.map((s) => (s.data as { n: number }).n)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(b.stats.gaps).toBe(0);
  } finally {
    await closeClients();
    await p.close();
    await small.server.shutdown();
  }
});

test('a resume point the server does not know (seq_reset) restarts the numbering without losing what follows', async () => {
  const b = await client(srv.socketUrl, 'gw-reset-b', { timeouts: fastTimeouts(), resumeFrom: 100 });
  const a = await client(srv.socketUrl, 'c-reset-a', { timeouts: fastTimeouts() });
  const gap = next(b, 'gap');
  await joined(a, b);
  expect((await gap)[0]).toEqual({ reason: 'seq_reset', missedFrom: 1, missedTo: 100 });
  expect(b.lastSeq).toBe(0);
  const got = collect(b);
  await a.send('gw-reset-b', 'first after reset');
  await receivedAll(b, got, 1);
  expect(got[0]).toMatchObject({ seq: 1, data: 'first after reset' });
});
