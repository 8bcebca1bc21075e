/**
 * Issuer keys (app/auth/keys.ts, app/auth/issuer.ts) on a Redis region of two servers verifying
 * EdDSA and ES256 tokens from a loopback JWKS server:
 *   - the issuer rotates its key under a running fleet of 200 peers: old key, old + new (overlap),
 *     new only. No peer is disconnected; after the overlap a token of the retired key is refused
 *     (`token_unknown_key`) and one of the new key accepted, on both servers;
 *   - the JWKS server goes away: servers keep the last good keys (new upgrades still work), count
 *     the failures, and no serving peer notices.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { DEFAULT_SIGNAL_POLICY } from '../../app/auth/policy';
import { generateIssuerKey, IssuerKeyPair, jwks, signWithKey } from '../../app/auth/issuer';
import type { TokenSubject } from '../../app/auth/token';
import { until } from '../helpers/server';
import { FAST, RawPeer, RedisProc, RedisTestServer, startAll, startRedis, startRedisServer, untilPresenceSettled } from './helpers';

const FLEET = 200;
const REFRESH_MS = 300;
let redis: RedisProc;
let servers: RedisTestServer[] = [];
let jwksServer: http.Server;
let published: { keys: unknown[] } = { keys: [] };

beforeAll(async () => {
  redis = await startRedis();
  jwksServer = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(published));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', () => resolve()));
}, 30_000);
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  jwksServer.closeAllConnections();
  await new Promise((r) => jwksServer.close(r));
  await redis?.destroy();
});

const tokenFor = (key: IssuerKeyPair, id: TokenSubject) => signWithKey(key.privateJwk, id, 3600);
/** The HTTP status of an upgrade (101 when it opened). */
function upgrade(s: RedisTestServer, token: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${s.socketUrl}?vsn=2.0.0&token=${token}`);
    ws.once('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.once('unexpected-response', (_q, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', () => resolve(0));
  });
}

test('rotation under a running fleet of 200: nobody disconnected; the retired key refused after the overlap; an unreachable JWKS keeps the last good keys', async () => {
  const k1 = await generateIssuerKey('EdDSA', 'k1');
  const k2 = await generateIssuerKey('ES256', 'k2');
  published = jwks([k1]);
  const url = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/.well-known/jwks.json`;
  servers = await startAll(
    ['jw-a', 'jw-b'].map(
      (id) => () =>
        startRedisServer(redis.url, id, FAST, undefined, {
          signalPolicy: DEFAULT_SIGNAL_POLICY,
          jwks: { url, refreshMs: REFRESH_MS, maxStaleMs: 3_600_000 },
        }),
    ),
    (s) => s.stop(),
  );
  await untilPresenceSettled(servers[0].backplane);

  // The fleet: 100 client/gateway pairs, spread over both servers, tokens of k1.
  const fleet: RawPeer[] = [];
  for (let i = 0; i < FLEET; i += 20) {
    fleet.push(
      ...(await Promise.all(
        Array.from({ length: 20 }, async (_, j) => {
          const n = i + j;
          const id: TokenSubject = { sub: n % 2 ? `gw-${n >> 1}` : `c-${n >> 1}`, kind: n % 2 ? 'gateway' : 'client', account: 'acme' };
          const { peer, reply } = await RawPeer.join(`${servers[n % 2].socketUrl}?vsn=2.0.0&token=${await tokenFor(k1, id)}`, id.sub);
          expect(reply.status).toBe('ok');
          return peer;
        }),
      )),
    );
  }
  const probe = { sub: 'probe', kind: 'client' as const, account: 'acme' };
  expect(await upgrade(servers[0], await tokenFor(k2, probe))).toBe(401); // not published yet

  // Overlap: both keys. A k2 token is accepted at once (an unknown kid refreshes early), k1 still.
  published = jwks([k1, k2]);
  for (const s of servers) {
    await until(async () => (await upgrade(s, await tokenFor(k2, probe))) === 101, 5_000, `${s.server.config.serverId} accepting k2`);
    expect(await upgrade(s, await tokenFor(k1, probe))).toBe(101);
  }
  // Retire k1: after the next refresh its tokens are refused everywhere; k2 works.
  published = jwks([k2]);
  const retiredAt = Date.now();
  for (const s of servers) {
    await until(async () => (await upgrade(s, await tokenFor(k1, probe))) === 401, 5_000, `${s.server.config.serverId} refusing k1`);
    expect(await upgrade(s, await tokenFor(k2, probe))).toBe(101);
  }
  console.log(`k1 refused on both servers ${Date.now() - retiredAt} ms after it left the JWKS (refresh every ${REFRESH_MS} ms)`);
  expect(await servers[0].server.metrics.registry.metrics()).toMatch(/sluice_upgrades_rejected_total\{reason="token_unknown_key"\} [1-9]/);

  // The JWKS server goes away: refreshes fail, the last good keys stay.
  const failuresBefore = servers.map((s) => s.server.keys!.failures);
  jwksServer.closeAllConnections();
  await new Promise((r) => jwksServer.close(r));
  for (const [i, s] of servers.entries()) await until(() => s.server.keys!.failures > failuresBefore[i], 5_000, 'a failed refresh');
  for (const s of servers) expect(await upgrade(s, await tokenFor(k2, probe))).toBe(101);
  expect(await servers[1].server.metrics.registry.metrics()).toMatch(/sluice_jwks_refresh_failures_total [1-9]/);

  // Nobody was disconnected, and the fleet still signals across servers.
  expect(fleet.filter((p) => p.closedWith !== undefined)).toHaveLength(0);
  expect(await fleet[0].signal('gw-0', 'after-rotation', 1)).toMatchObject({ status: 'ok', response: { status: 'delivered' } });
  await Promise.all(fleet.map((p) => p.close()));
}, 120_000);
