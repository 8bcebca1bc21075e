/**
 * Server identity and readiness on a real Redis:
 *   - a server id belongs to one live process (a claim with a per-process token and the presence
 *     TTL): a second process with the same id refuses, without touching the first one's peers;
 *     a claim left by a dead process is taken once it runs out; a server whose claim was taken
 *     over stops serving (drains) and leaves the other's records alone;
 *   - readiness through a Redis that hangs (SIGSTOP) and answers again (SIGCONT): every server
 *     stays ready through the grace, turns unready after it, and is back within one renew
 *     interval (plus one command timeout) of Redis answering, not only the first one to notice.
 */
import Redis from 'ioredis';
import pino from 'pino';
import { RedisBackplane, ServerIdConflictError } from '../../app/backplane/redis/backplane';
import { backplaneReadinessGraceMs, resolveTimeouts } from '../../app/contract/timeouts';
import { redisTiming } from '../../app/backplane/redis/clients';
import { keys } from '../../app/backplane/redis/keys';
import { EXIT_SERVER_ID_CONFLICT } from '../../app/server/shutdown';
import { spawnServer as spawnServerProcess } from '../helpers/process';
import { SECRET, until } from '../helpers/server';
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

const timeouts = resolveTimeouts(FAST);
const quiet = pino({ level: process.env.SLUICE_TEST_LOG ?? 'silent' });
const readyz = async (s: { port: number }) => (await fetch(`http://127.0.0.1:${s.port}/readyz`)).status;
const backplaneUp = async (s: { adminUrl: string }) => /^sluice_backplane_up 1$/m.test(await (await fetch(`${s.adminUrl}/metrics`)).text());

let redis: RedisProc;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.destroy();
});

describe('server id claim', () => {
  test('a second live process with the same id refuses to start; the first keeps its peers', async () => {
    const first = await startRedisServer(redis.url, 'dup-1');
    let second: RedisBackplane | undefined;
    try {
      await untilPresenceSettled(first.backplane); // a new Redis process: past its restore window
      const { peer: a } = await RawPeer.join(await first.urlFor('claim-a'), 'claim-a');
      const { peer: b } = await RawPeer.join(await first.urlFor('claim-b'), 'claim-b');
      const started = Date.now();
      second = new RedisBackplane({ url: redis.url, serverId: 'dup-1', timeouts, log: quiet });
      const err = await second.whenReady(15_000).then(
        () => undefined,
        (e: Error) => e,
      );
      const took = Date.now() - started;
      console.log(`duplicate server id refused after ${took} ms`);
      expect(err).toBeInstanceOf(ServerIdConflictError);
      expect(err!.message).toMatch(/dup-1 is in use by another live process/);
      expect(second.health()).toMatchObject({ ok: false, fatal: true });
      // Decided within one renew interval of the first look (plus a reconnect cap and command time).
      expect(took).toBeLessThan(timeouts.presence.renewIntervalMs + 3 * redisTiming(timeouts).commandTimeoutMs);
      // The first server never noticed: still ready, its peers still reachable through it.
      await second.close();
      second = undefined;
      expect(await readyz(first)).toBe(200);
      const r = await a.signal('claim-b', 'after-dup', { ok: true });
      expect(r).toMatchObject({ status: 'ok', response: { status: 'delivered' } });
      await b.waitFor(1);
      await Promise.all([a.close(), b.close()]);
    } finally {
      await second?.close();
      await first.stop();
    }
  });

  test(`a second server process with the same id exits ${EXIT_SERVER_ID_CONFLICT}; the first keeps serving`, async () => {
    const first = await spawnServer(redis.url, 'proc-dup');
    try {
      const second = await spawnServerProcess({
        SLUICE_REDIS_URL: redis.url,
        SLUICE_SERVER_ID: 'proc-dup',
        SLUICE_TIMEOUTS: JSON.stringify(FAST),
        SLUICE_TOKEN_SECRET: SECRET,
      });
      const { code } = await second.exited;
      expect(code).toBe(EXIT_SERVER_ID_CONFLICT);
      expect(second.logs.some((l) => /in use by another live process/.test(String(l.msg)))).toBe(true);
      expect((await fetch(`http://127.0.0.1:${first.port}/readyz`)).status).toBe(200);
    } finally {
      await first.kill('SIGTERM');
    }
  }, 30_000);

  test('a claim left by a process that died is taken once it runs out (at most presence.ttlMs)', async () => {
    // A process that died: its claim is there and nobody renews it.
    const r = new Redis(redis.url);
    try {
      await r.set('sluice:srv:dead-1:claim', 'token-of-a-dead-process', 'PX', timeouts.presence.ttlMs);
      const started = Date.now();
      const s = await startRedisServer(redis.url, 'dead-1');
      const took = Date.now() - started;
      console.log(`id of a dead process taken after ${took} ms`);
      try {
        expect(await readyz(s)).toBe(200);
        expect(took).toBeLessThan(timeouts.presence.ttlMs + timeouts.presence.renewIntervalMs + 2_000);
        expect(await r.get('sluice:srv:dead-1:claim')).not.toBe('token-of-a-dead-process');
      } finally {
        await s.stop();
      }
      expect(await r.exists('sluice:srv:dead-1:claim')).toBe(0); // a clean stop gives the id back
    } finally {
      r.disconnect();
    }
  });

  test("a server whose claim was taken over stops serving and leaves the new owner's records", async () => {
    const old = await startRedisServer(redis.url, 'taken-1');
    const r = new Redis(redis.url);
    try {
      const { peer } = await RawPeer.join(await old.urlFor('taken-peer'), 'taken-peer');
      // Another process took the id (as after this one was cut off for a whole TTL).
      // (It renews; here the claim simply outlasts the test.)
      await r.set('sluice:srv:taken-1:claim', 'the-new-owner', 'PX', 120_000);
      // The takeover's peer set in the bucket of its peer (keys.ts): the old process must leave it alone.
      const theirs = keys().serverPeers('taken-1', keys().bucketOf('someone-else'));
      await r.hset(theirs, 'someone-else', 'client 999999 1');
      await until(() => old.server.state !== 'serving', timeouts.presence.renewIntervalMs * 3, 'old server drains');
      expect(old.backplane.health()).toMatchObject({ ok: false, fatal: true });
      expect(await readyz(old)).toBe(503);
      await peer.closed; // moved off by the drain (1012)
      expect(peer.closedWith).toBe(1012);
      await old.stop();
      expect(await r.get('sluice:srv:taken-1:claim')).toBe('the-new-owner');
      expect(await r.hget(theirs, 'someone-else')).toBe('client 999999 1');
    } finally {
      r.disconnect();
      await old.stop();
    }
  });
});

describe('readiness through a Redis that hangs and comes back', () => {
  let servers: RedisTestServer[] = [];
  afterEach(async () => {
    redis.signal('SIGCONT');
    await Promise.all(servers.map((s) => s.stop()));
    servers = [];
  });

  test('ready through the grace, unready after it, and back within one renew interval on every server', async () => {
    const ids = ['hang-1', 'hang-2'];
    servers = await startAll(
      ids.map((id) => () => startRedisServer(redis.url, id)),
      (s) => s.stop(),
    );
    const grace = backplaneReadinessGraceMs(timeouts);
    redis.signal('SIGSTOP');
    const stopped = Date.now();
    // The servers notice (a command times out) but stay ready: an outage hits every server at once.
    for (const [i, s] of servers.entries()) await until(async () => !(await backplaneUp(s)), 10_000, `${ids[i]} sees redis hang`);
    const noticedAt = Date.now() - stopped;
    if (noticedAt < grace - 500) for (const s of servers) expect(await readyz(s)).toBe(200);
    // Past the grace: unready.
    for (const [i, s] of servers.entries())
      await until(async () => (await readyz(s)) === 503, grace + 10_000, `${ids[i]} unready after the grace`);
    const unreadyAt = Date.now() - stopped;
    expect(unreadyAt).toBeGreaterThanOrEqual(grace);
    // Hung for longer than the presence TTL: every deadline in Redis has passed meanwhile.
    await new Promise((res) => setTimeout(res, Math.max(0, stopped + timeouts.presence.ttlMs + 500 - Date.now())));
    redis.signal('SIGCONT');
    const resumed = Date.now();
    const back = await Promise.all(
      servers.map(async (s, i) => {
        await until(async () => (await readyz(s)) === 200 && (await backplaneUp(s)), 15_000, `${ids[i]} ready again`);
        return Date.now() - resumed;
      }),
    );
    console.log(
      `redis hung: noticed after ${noticedAt} ms, unready after ${unreadyAt} ms (grace ${grace} ms); ready again after ${back.join(' / ')} ms`,
    );
    const bound = timeouts.presence.renewIntervalMs + redisTiming(timeouts).commandTimeoutMs;
    for (const ms of back) expect(ms).toBeLessThan(bound);
    // And routing works across both again.
    const { peer: a } = await RawPeer.join(await servers[0].urlFor('hang-a'), 'hang-a');
    const { peer: b } = await RawPeer.join(await servers[1].urlFor('hang-b'), 'hang-b');
    expect((await a.signal('hang-b', 'x1', 1)).response.status).toBe('delivered');
    await b.waitFor(1);
    await Promise.all([a.close(), b.close()]);
  }, 90_000);
});
