/**
 * Three sluice servers sharing one Redis (in this process, each with its own RedisBackplane and
 * connections): signals across every pair, presence that agrees everywhere, presence events on
 * the admin SSE stream, the newest attachment winning across servers, resume on another server,
 * and dedupe across servers.
 */
import { until } from '../helpers/server';
import {
  presenceOf,
  presenceStream,
  RawPeer,
  RedisProc,
  RedisTestServer,
  startAll,
  startRedis,
  startRedisServer,
  untilPresenceSettled,
} from './helpers';
import { CLOSE } from '../../app/protocol/phoenix';

let redis: RedisProc;
let servers: RedisTestServer[] = [];
const peers: RawPeer[] = [];

beforeAll(async () => {
  redis = await startRedis();
  servers = await startAll(
    ['s1', 's2', 's3'].map((id) => () => startRedisServer(redis.url, id)),
    (s) => s.stop(),
  );
  // These tests expect unknown_peer right away: let the post-start rebuild window pass.
  await untilPresenceSettled(servers[0].backplane);
});
afterAll(async () => {
  for (const p of peers) p.terminate();
  await Promise.all(servers.map((s) => s.stop()));
  await redis?.destroy();
});

async function join(server: RedisTestServer, id: string, lastSeq?: number, kind: 'client' | 'gateway' = 'client'): Promise<RawPeer> {
  const { peer, reply } = await RawPeer.join(await server.urlFor(id, kind), id, lastSeq);
  expect(reply.status).toBe('ok');
  peers.push(peer);
  return peer;
}

test('signals cross every pair of servers; the sender gets ok/delivered; presence agrees on all three', async () => {
  const stream = presenceStream(`${servers[0].adminUrl}/presence/stream`);
  await stream.ready;
  const ps = await Promise.all(servers.map((s, i) => join(s, `pair-${i + 1}`, undefined, i === 0 ? 'gateway' : 'client')));
  let sent = 0;
  for (const [i, from] of ps.entries()) {
    for (const [j, to] of ps.entries()) {
      if (i === j) continue;
      const reply = await from.signal(to.id, `from-${i}-to-${j}`, { i, j });
      expect(reply).toEqual({ status: 'ok', response: { status: 'delivered' } });
      sent++;
    }
  }
  expect(sent).toBe(6);
  for (const [j, to] of ps.entries()) {
    await to.waitFor(2);
    expect(to.received.map((r) => r.seq)).toEqual([1, 2]);
    expect(to.received.map((r) => r.id).sort()).toEqual(
      ps
        .map((_, i) => i)
        .filter((i) => i !== j)
        .map((i) => `from-${i}-to-${j}`)
        .sort(),
    );
  }

  const views = await Promise.all(servers.map((s) => presenceOf(s.adminUrl)));
  const mine = views.map((v) => v.filter((e) => e.peerId.startsWith('pair-')).map((e) => [e.peerId, e.kind, e.serverId, e.state]));
  expect(mine[0]).toEqual([
    ['pair-1', 'gateway', 's1', 'online'],
    ['pair-2', 'client', 's2', 'online'],
    ['pair-3', 'client', 's3', 'online'],
  ]);
  expect(mine[1]).toEqual(mine[0]);
  expect(mine[2]).toEqual(mine[0]);

  // The SSE stream on s1 saw the peers that attached to s2 and s3.
  await until(() => ps.every((p) => stream.events.some((e) => e.type === 'online' && e.entry.peerId === p.id)), 2_000, 'online events');
  await ps[2].close();
  await until(
    () => stream.events.some((e) => e.type === 'away' && e.entry.peerId === 'pair-3' && e.entry.serverId === 's3'),
    2_000,
    'away event',
  );
  stream.stop();
});

test('unknown_peer only for a peer that is offline everywhere', async () => {
  const a = await join(servers[0], 'lonely');
  expect(await a.signal('nobody-anywhere', 'u1', 1)).toEqual({ status: 'error', response: { reason: 'unknown_peer' } });
});

test('newest attachment wins across servers; the stale connection is closed', async () => {
  const old = await join(servers[0], 'mover');
  const sender = await join(servers[2], 'mover-sender');
  expect((await sender.signal('mover', 'mv1', 1)).response).toEqual({ status: 'delivered' });
  await old.waitFor(1);
  const fresh = await join(servers[1], 'mover', old.lastSeq);
  expect(await old.closed).toBe(CLOSE.evicted);
  expect((await sender.signal('mover', 'mv2', 2)).response).toEqual({ status: 'delivered' });
  await fresh.waitFor(1);
  expect(fresh.received.map((r) => [r.id, r.seq])).toEqual([['mv2', 2]]);
  const view = (await presenceOf(servers[0].adminUrl)).find((e) => e.peerId === 'mover');
  expect(view).toMatchObject({ serverId: 's2', state: 'online' });
});

test('resume on another server: stored signals replayed once, in order, none repeated; dedupe across servers', async () => {
  const sender = await join(servers[0], 'res-sender');
  const r1 = await join(servers[1], 'res-recv');
  for (let i = 1; i <= 3; i++) expect((await sender.signal('res-recv', `m${i}`, i)).response).toEqual({ status: 'delivered' });
  await r1.waitFor(3);
  await r1.close();
  // Away: signals are stored for its resume.
  await until(
    async () => (await presenceOf(servers[0].adminUrl)).some((e) => e.peerId === 'res-recv' && e.state === 'away'),
    2_000,
    'away',
  );
  for (let i = 4; i <= 6; i++) expect((await sender.signal('res-recv', `m${i}`, i)).response).toEqual({ status: 'stored' });

  // The sender reconnects to another server and resends m6 (its reply was "lost"): duplicate.
  await sender.close();
  const sender2 = await join(servers[1], 'res-sender');
  expect((await sender2.signal('res-recv', 'm6', 6)).response).toEqual({ status: 'duplicate' });

  const r2 = await join(servers[2], 'res-recv', r1.lastSeq);
  await r2.waitFor(3);
  expect((await sender2.signal('res-recv', 'm7', 7)).response).toEqual({ status: 'delivered' });
  await r2.waitFor(4);
  expect(r2.received.map((r) => [r.id, r.seq, r.replayed])).toEqual([
    ['m4', 4, true],
    ['m5', 5, true],
    ['m6', 6, true],
    ['m7', 7, false],
  ]);
});

test('/readyz and sluice_backplane_up report a healthy backplane', async () => {
  for (const s of servers) {
    expect((await fetch(`http://127.0.0.1:${s.port}/readyz`)).status).toBe(200);
    expect(await (await fetch(`${s.adminUrl}/metrics`)).text()).toMatch(/^sluice_backplane_up 1$/m);
    const status = (await (await fetch(`${s.adminUrl}/status`)).json()) as { backplane: { kind: string; ok: boolean } };
    expect(status.backplane).toEqual({ kind: 'redis', ok: true });
  }
});
