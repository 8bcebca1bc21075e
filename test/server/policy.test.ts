/**
 * Who may signal whom (app/auth/policy.ts), on one server and the memory backplane, with the
 * production default policy (across kinds only): accounts isolate peers with the same sub, same-kind
 * and unknown targets get the same `forbidden`, a `sig` list narrows to peers and groups, presence
 * is listed per account, production refuses a token without `acct`, and readiness gates upgrades.
 */
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { AUTH_TOKEN_SUBPROTOCOL_PREFIX, PHOENIX_SUBPROTOCOL } from '../../app/protocol/phoenix';
import { signToken, TokenSubject } from '../../app/auth/token';
import { DEFAULT_SIGNAL_POLICY } from '../../app/auth/policy';
import { MemoryBackplane } from '../../app/backplane/memory';
import type { BackplaneHealth } from '../../app/backplane/types';
import { defaultTimeouts } from '../../app/contract/timeouts';
import { RawPeer } from '../backplane/helpers';
import { openRaw, SECRET, startServer, TestServer } from '../helpers/server';

let ts: TestServer;
const url = async (id: TokenSubject) => `${ts.socketUrl}?vsn=2.0.0&token=${await signToken(SECRET, id)}`;
const join = async (id: TokenSubject) => (await RawPeer.join(await url(id), id.sub)).peer;
const forbiddenCount = async () =>
  Number(/sluice_signals_failed_total\{reason="forbidden"\} (\d+)/.exec(await ts.server.metrics.registry.metrics())?.[1] ?? 0);

beforeAll(async () => {
  ts = await startServer({ signalPolicy: DEFAULT_SIGNAL_POLICY });
});
afterAll(async () => {
  await ts.server.shutdown();
});

test('a client reaches a gateway of its own account only; same-kind and absent targets get the same forbidden', async () => {
  const c1 = await join({ sub: 'c1', kind: 'client', account: 'acme' });
  const c2 = await join({ sub: 'c2', kind: 'client', account: 'acme' });
  const g1 = await join({ sub: 'g1', kind: 'gateway', account: 'acme' });
  // Another account has a gateway with the same sub: a different peer.
  const otherG1 = await join({ sub: 'g1', kind: 'gateway', account: 'globex' });
  const x = await join({ sub: 'x', kind: 'client', account: 'globex' });
  try {
    expect(await c1.signal('g1', 'a1', { hi: 1 })).toMatchObject({ status: 'ok', response: { status: 'delivered' } });
    await g1.waitFor(1);
    expect(g1.received[0]).toMatchObject({ from: 'c1', id: 'a1' });
    expect(await g1.signal('c1', 'a2', 'back')).toMatchObject({ status: 'ok', response: { status: 'delivered' } });

    const before = await forbiddenCount();
    const sameKind = await c1.signal('c2', 'b1', 'client to client');
    const absent = await c1.signal('nobody', 'b2', 'to no one');
    const gwToGw = await g1.signal('g1-other', 'b3', 'x');
    expect(sameKind).toMatchObject({ status: 'error', response: { reason: 'forbidden' } });
    // No presence oracle: the absent peer's answer is the refused peer's, word for word.
    expect(absent).toEqual(sameKind);
    expect(gwToGw).toEqual(sameKind);
    expect(String(sameKind.response.detail)).toMatch(/same account; client<->gateway/);
    expect(await forbiddenCount()).toBe(before + 3);

    // globex's client reaches globex's g1, never acme's.
    expect(await x.signal('g1', 'x1', 'hello')).toMatchObject({ status: 'ok', response: { status: 'delivered' } });
    await otherG1.waitFor(1);
    expect(otherG1.received[0]).toMatchObject({ from: 'x', id: 'x1' });
    expect(g1.received).toHaveLength(1);
    expect(c2.received).toHaveLength(0);
    // Itself: allowed (a fleet without gateways echoes).
    expect(await c2.signal('c2', 'self', 1)).toMatchObject({ status: 'ok' });

    // Presence listed per account: sub as peerId, the account beside it.
    const acme = (await (await fetch(`${ts.adminUrl}/presence?account=acme`)).json()) as {
      peers: Array<{ peerId: string; account: string }>;
    };
    expect(acme.peers.map((p) => p.peerId).sort()).toEqual(['c1', 'c2', 'g1']);
    expect(new Set(acme.peers.map((p) => p.account))).toEqual(new Set(['acme']));
    expect((await fetch(`${ts.adminUrl}/presence?account=a%2Fb`)).status).toBe(400);
  } finally {
    await Promise.all([c1, c2, g1, otherG1, x].map((p) => p.close()));
  }
});

test('a sig list narrows to the peers and groups it names', async () => {
  const c = await join({ sub: 'narrow-c', kind: 'client', account: 'acme', allow: ['gw-named', 'group:site-a'] });
  const named = await join({ sub: 'gw-named', kind: 'gateway', account: 'acme' });
  const inA = await join({ sub: 'gw-a', kind: 'gateway', account: 'acme', groups: ['site-a'] });
  const inB = await join({ sub: 'gw-b', kind: 'gateway', account: 'acme', groups: ['site-b'] });
  try {
    expect(await c.signal('gw-named', 'n1', 1)).toMatchObject({ status: 'ok' });
    expect(await c.signal('gw-a', 'n2', 1)).toMatchObject({ status: 'ok' });
    const refused = await c.signal('gw-b', 'n3', 1);
    expect(refused).toMatchObject({ status: 'error', response: { reason: 'forbidden' } });
    expect(await c.signal('gw-none', 'n4', 1)).toEqual(refused);
    expect(inB.received).toHaveLength(0);
  } finally {
    await Promise.all([c, named, inA, inB].map((p) => p.close()));
  }
});

test('production refuses a token without acct (401)', async () => {
  const prod = await startServer({ env: 'production', signalPolicy: DEFAULT_SIGNAL_POLICY });
  try {
    const now = Math.floor(Date.now() / 1000);
    const tok = await new SignJWT({ kind: 'client' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('c')
      .setIssuer('sluice')
      .setAudience('sluice')
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(new TextEncoder().encode(SECRET));
    // Production: the token travels in Sec-WebSocket-Protocol (never in the URL).
    const ws = new WebSocket(`${prod.socketUrl}?vsn=2.0.0`, [
      PHOENIX_SUBPROTOCOL,
      `${AUTH_TOKEN_SUBPROTOCOL_PREFIX}${Buffer.from(tok).toString('base64url')}`,
    ]);
    const status = await new Promise<number>((resolve) => {
      ws.once('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0));
      ws.once('open', () => resolve(101));
      ws.once('error', () => undefined);
    });
    ws.terminate();
    expect(status).toBe(401);
    expect(await prod.server.metrics.registry.metrics()).toMatch(/sluice_upgrades_rejected_total\{reason="token_no_account"\} 1/);
  } finally {
    await prod.server.shutdown();
  }
});

test('no upgrade while the server is not ready: 503 with Retry-After, never 101', async () => {
  class Unready extends MemoryBackplane {
    override health(): BackplaneHealth {
      return { ok: false, detail: 'not registered yet' };
    }
  }
  const bp = new Unready(defaultTimeouts.resume);
  const s = await startServer({ backplane: bp });
  try {
    expect((await fetch(`http://127.0.0.1:${s.port}/readyz`)).status).toBe(503);
    const err = await openRaw(await s.urlFor('c-unready')).then(
      () => undefined,
      (e: { status?: number; headers?: Record<string, string> }) => e,
    );
    expect(err).toMatchObject({ status: 503, headers: { 'retry-after': '1' } });
    expect(await s.server.metrics.registry.metrics()).toMatch(/sluice_upgrades_rejected_total\{reason="not_ready"\} 1/);
  } finally {
    await s.server.shutdown();
    await bp.close();
  }
});
