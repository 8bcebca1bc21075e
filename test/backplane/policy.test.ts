/**
 * The signalling policy and readiness on a real Redis with several servers (issue 23):
 *   - cross-account and same-kind signals are refused `forbidden` across servers, word for word
 *     like a signal to an absent peer; the target's kind and groups come from its own route record;
 *   - a process started with a duplicate server id never answers an upgrade with 101 (it is not
 *     ready from its first breath to its exit);
 *   - a forged huge `last_seq` is clamped (seq_reset to Redis' own end): later signals are written,
 *     and `delivered` is never said for a frame that was not.
 */
import { DEFAULT_SIGNAL_POLICY } from '../../app/auth/policy';
import { signToken, TokenSubject } from '../../app/auth/token';
import { EXIT_SERVER_ID_CONFLICT } from '../../app/server/shutdown';
import { spawnServer as spawnServerProcess } from '../helpers/process';
import { SECRET } from '../helpers/server';
import {
  FAST,
  RawPeer,
  RedisProc,
  RedisTestServer,
  spawnServer,
  startAll,
  startRedis,
  startRedisServer,
  untilPresenceSettled,
} from './helpers';
import WebSocket from 'ws';

let redis: RedisProc;
let a: RedisTestServer;
let b: RedisTestServer;
beforeAll(async () => {
  redis = await startRedis();
  [a, b] = await startAll(
    ['pol-a', 'pol-b'].map((id) => () => startRedisServer(redis.url, id, FAST, undefined, { signalPolicy: DEFAULT_SIGNAL_POLICY })),
    (s) => s.stop(),
  );
  await untilPresenceSettled(a.backplane);
}, 60_000);
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await redis.destroy();
});

const join = async (s: RedisTestServer, id: TokenSubject, lastSeq?: number) => {
  const r = await RawPeer.join(`${s.socketUrl}?vsn=2.0.0&token=${await signToken(SECRET, id)}`, id.sub, lastSeq);
  expect(r.reply.status).toBe('ok');
  return r;
};

test('across servers: same account across kinds only; cross-account, same-kind and absent targets all get the same forbidden', async () => {
  const { peer: c } = await join(a, { sub: 'r-c1', kind: 'client', account: 'acme' });
  const { peer: c2 } = await join(b, { sub: 'r-c2', kind: 'client', account: 'acme' });
  const { peer: g } = await join(b, { sub: 'r-g1', kind: 'gateway', account: 'acme', groups: ['site-a'] });
  const { peer: victim } = await join(b, { sub: 'gw-victim', kind: 'gateway', account: 'victim-co' });
  const { peer: attacker } = await join(a, { sub: 'c-attacker', kind: 'client', account: 'evil' });
  const { peer: narrow } = await join(a, { sub: 'r-n', kind: 'client', account: 'acme', allow: ['group:site-b'] });
  try {
    expect(await c.signal('r-g1', 's1', { offer: 1 })).toMatchObject({ status: 'ok', response: { status: 'delivered' } });
    await g.waitFor(1);
    expect(g.received[0]).toMatchObject({ from: 'r-c1', id: 's1' });

    const crossAccount = await attacker.signal('gw-victim', 'x1', 'hi');
    const sameKind = await c.signal('r-c2', 'x2', 'hi');
    const absent = await c.signal('r-nobody', 'x3', 'hi');
    const notInGroup = await narrow.signal('r-g1', 'x4', 'hi');
    expect(crossAccount).toMatchObject({ status: 'error', response: { reason: 'forbidden' } });
    for (const r of [sameKind, absent, notInGroup]) expect(r).toEqual(crossAccount);
    expect(victim.received).toHaveLength(0);
    expect(c2.received).toHaveLength(0);
    const metrics = await a.server.metrics.registry.metrics();
    expect(metrics).toMatch(/sluice_signals_failed_total\{reason="forbidden"\} 4/);
    // Presence from either server, per account.
    const rows = (await (await fetch(`${a.adminUrl}/presence?account=victim-co`)).json()) as {
      peers: Array<{ peerId: string; account: string; serverId: string }>;
    };
    expect(rows.peers).toEqual([expect.objectContaining({ peerId: 'gw-victim', account: 'victim-co', serverId: 'pol-b' })]);
  } finally {
    await Promise.all([c, c2, g, victim, attacker, narrow].map((p) => p.close()));
  }
});

test("a forged huge last_seq is clamped: the peer is told Redis' own end, and what follows is written", async () => {
  const { peer: gw, reply } = await join(b, { sub: 'r-forge', kind: 'gateway', account: 'acme' }, Number.MAX_SAFE_INTEGER);
  expect(reply.response).toMatchObject({ last_seq: 0, gap: { reason: 'seq_reset', missedFrom: 1, missedTo: Number.MAX_SAFE_INTEGER } });
  const { peer: c } = await join(a, { sub: 'r-forge-c', kind: 'client', account: 'acme' });
  try {
    for (let i = 1; i <= 3; i++)
      expect(await c.signal('r-forge', `f${i}`, i)).toMatchObject({ status: 'ok', response: { status: 'delivered' } });
    await gw.waitFor(3);
    expect(gw.received.map((d) => d.seq)).toEqual([1, 2, 3]);
  } finally {
    await Promise.all([gw.close(), c.close()]);
  }
});

test('a process with a duplicate server id never answers an upgrade with 101', async () => {
  const first = await spawnServer(redis.url, 'dup-ws');
  try {
    const second = await spawnServerProcess({
      SLUICE_REDIS_URL: redis.url,
      SLUICE_SERVER_ID: 'dup-ws',
      SLUICE_TIMEOUTS: JSON.stringify(FAST),
      SLUICE_TOKEN_SECRET: SECRET,
    });
    const tok = await signToken(SECRET, { sub: 'dup-peer', kind: 'client' });
    const seen = new Map<string, number>();
    let exited = false;
    void second.exited.then(() => {
      exited = true;
    });
    // Knock until it exits: each attempt is refused (503) or finds nobody listening; none opens.
    while (!exited) {
      const outcome = await new Promise<string>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${second.port}/socket/websocket?vsn=2.0.0&token=${tok}`);
        ws.once('open', () => {
          ws.terminate();
          resolve('101');
        });
        ws.once('unexpected-response', (_q, res) => {
          resolve(String(res.statusCode));
          ws.terminate();
        });
        ws.once('error', () => resolve('refused'));
      });
      seen.set(outcome, (seen.get(outcome) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, 50));
    }
    console.log(`duplicate-id process: upgrade outcomes until its exit ${JSON.stringify(Object.fromEntries(seen))}`);
    expect((await second.exited).code).toBe(EXIT_SERVER_ID_CONFLICT);
    expect(seen.get('101')).toBeUndefined();
    expect(seen.get('503') ?? 0).toBeGreaterThan(0);
    expect((await fetch(`http://127.0.0.1:${first.port}/readyz`)).status).toBe(200);
  } finally {
    await first.kill('SIGTERM');
  }
}, 60_000);
