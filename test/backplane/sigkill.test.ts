/**
 * A server dies without a word (SIGKILL): its peers leave presence within presence.ttlMs (here
 * 3 s; the contract caps it at 60 s), a signal sent to them meanwhile is stored, not lost, and
 * they reappear (and get it) when they reconnect elsewhere. Servers are separate processes.
 */
import { until } from '../helpers/server';
import {
  FAST,
  presenceOf,
  presenceStream,
  RawPeer,
  RedisProc,
  ServerProc,
  spawnServer,
  startAll,
  startRedis,
  untilServerPublishes,
} from './helpers';

const TTL_MS = FAST.presence!.ttlMs!;
const PEERS = 20;

let redis: RedisProc;
let procs: ServerProc[] = [];
const peers: RawPeer[] = [];

beforeAll(async () => {
  redis = await startRedis();
  procs = await startAll(
    ['k1', 'k2', 'k3'].map((id) => () => spawnServer(redis.url, id)),
    (p) => p.kill(),
  );
  // A fresh Redis is a "new Redis process": publishes wait for the short restore window to pass.
  await untilServerPublishes((sub) => procs[0].urlFor(sub));
}, 60_000);
afterAll(async () => {
  for (const p of peers) p.terminate();
  await Promise.all(procs.map((p) => p.kill('SIGKILL')));
  await redis?.destroy();
});

/** First `offline` event time per peer, from an admin presence stream. */
function offlineEvents(url: string): { offline: Map<string, number>; ready: Promise<void>; stop(): void } {
  const offline = new Map<string, number>();
  const stream = presenceStream(url, (ev, at) => {
    if (ev.type === 'offline' && !offline.has(ev.peerId)) offline.set(ev.peerId, at);
  });
  return { offline, ready: stream.ready, stop: stream.stop };
}

test('SIGKILL: peers leave presence within the TTL, then reappear when they reconnect elsewhere', async () => {
  const [k1, k2, k3] = procs;
  const ids = Array.from({ length: PEERS }, (_, i) => `victim-${i}`);
  for (const id of ids) {
    const { peer, reply } = await RawPeer.join(await k3.urlFor(id), id);
    expect(reply.status).toBe('ok');
    peers.push(peer);
  }
  const { peer: sender } = await RawPeer.join(await k1.urlFor('killer-sender'), 'killer-sender');
  peers.push(sender);
  expect((await sender.signal('victim-0', 'before', 0)).response).toEqual({ status: 'delivered' });
  const onK3 = async (admin: string) => (await presenceOf(admin)).filter((e) => e.serverId === 'k3' && e.state === 'online').length;
  expect(await onK3(k1.adminUrl)).toBe(PEERS);
  expect(await onK3(k2.adminUrl)).toBe(PEERS);

  const events = offlineEvents(`${k2.adminUrl}/presence/stream`);
  await events.ready;
  const killedAt = Date.now();
  await k3.kill('SIGKILL');

  // Dead but not yet expired: the signal cannot be handed over, so it is stored for the resume.
  const during = await sender.signal('victim-1', 'during', 1);
  const duringAt = Date.now() - killedAt;

  await until(async () => (await onK3(k1.adminUrl)) === 0, TTL_MS + 2_000, 'k3 peers gone from presence');
  const goneFromListMs = Date.now() - killedAt;
  await until(() => ids.every((id) => events.offline.has(id)), TTL_MS + 2_000, 'offline events for every k3 peer');
  const lastEventMs = Math.max(...ids.map((id) => events.offline.get(id)!)) - killedAt;
  events.stop();
  console.log(
    `SIGKILL: signal during the window answered ${JSON.stringify(during.response)} after ${duringAt} ms; ` +
      `peers gone from GET /presence after ${goneFromListMs} ms, last offline event after ${lastEventMs} ms (ttl ${TTL_MS} ms)`,
  );
  expect(during).toEqual({ status: 'ok', response: { status: 'stored' } });
  expect(goneFromListMs).toBeLessThanOrEqual(TTL_MS + 500);
  expect(lastEventMs).toBeLessThanOrEqual(TTL_MS + 500);
  expect(await onK3(k2.adminUrl)).toBe(0);
  // Offline everywhere now: the sender is told so.
  expect((await sender.signal('victim-2', 'after', 2)).response).toEqual({ reason: 'unknown_peer' });

  // They reconnect to the survivors, resume, and are online again with their new server.
  for (const [i, id] of ids.entries()) {
    const target = i % 2 === 0 ? k1 : k2;
    const old = peers.find((p) => p.id === id)!;
    const { peer, reply } = await RawPeer.join(await target.urlFor(id), id, old.lastSeq);
    expect(reply.status).toBe('ok');
    peers.push(peer);
    if (id === 'victim-1') {
      await peer.waitFor(1);
      expect(peer.received.map((r) => [r.id, r.replayed])).toEqual([['during', true]]);
    }
  }
  const view = await presenceOf(k1.adminUrl);
  expect(
    view
      .filter((e) => ids.includes(e.peerId))
      .map((e) => [e.serverId, e.state])
      .sort(),
  ).toEqual(ids.map((_, i) => [i % 2 === 0 ? 'k1' : 'k2', 'online']).sort());
  expect(await presenceOf(k2.adminUrl)).toEqual(view);
}, 60_000);
