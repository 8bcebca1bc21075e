/**
 * Revocation on the in-process backplane (two servers sharing one MemoryBackplane), and what the
 * SDK does with it: the admin API revokes a `jti` or a `sub` or disconnects a peer; the peer is
 * closed with CLOSE.revoked (4403) on whichever server holds it, the SDK stops with a `revoked`
 * error instead of retrying, and a revoked token is refused 403 at the upgrade until it expires.
 * The Redis backplane with three servers: test/backplane/revocation.test.ts.
 */
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { decodeRevocation, encodeRevocation, Revocation, RevocationList } from '../../app/auth/revocation';
import { signToken, TokenSubject } from '../../app/auth/token';
import { MemoryBackplane } from '../../app/backplane/memory';
import { SluiceClient, SluiceClientError } from '../../app/client/index';
import { defaultTimeouts, revocationBoundMs } from '../../app/contract/timeouts';
import { CLOSE } from '../../app/protocol/phoenix';
import { parseRevocation } from '../../app/server/revoke';
import { closed, openRaw, request, SECRET, startServer, TestServer } from '../helpers/server';
import { fastTimeouts } from '../client/helpers';

const ADMIN_TOKEN = 'admin-token-0123456789-abcdefghijklmnop';
const auth = { Authorization: `Bearer ${ADMIN_TOKEN}` };

describe('RevocationList', () => {
  const now = 1_800_000_000_000;
  const at = (kind: Revocation['kind'], value: string, untilIn = 60_000): Revocation => ({ kind, value, at: now, until: now + untilIn });

  it('a jti refuses that token only; a sub refuses the tokens issued up to the revocation; both end at until', () => {
    const list = new RevocationList();
    expect(list.add(at('jti', 'j-1'), now)).toBe(true);
    expect(list.add(at('sub', 'acme/c-1'), now)).toBe(true);
    expect(list.add(at('jti', 'j-1'), now)).toBe(false); // nothing new
    expect(list.add(at('peer', 'acme/c-2'), now)).toBe(false); // a disconnect is never kept
    expect(list.match({ address: 'acme/x', jti: 'j-1' }, now)?.kind).toBe('jti');
    expect(list.match({ address: 'acme/x', jti: 'j-2' }, now)).toBeUndefined();
    expect(list.match({ address: 'acme/c-1', iat: now / 1000 - 10 }, now)?.kind).toBe('sub');
    expect(list.match({ address: 'acme/c-1' }, now)?.kind).toBe('sub'); // no iat: issued before
    expect(list.match({ address: 'acme/c-1', iat: now / 1000 + 1 }, now)).toBeUndefined(); // minted after
    expect(list.match({ address: 'other/c-1', iat: now / 1000 - 10 }, now)).toBeUndefined(); // another account
    expect(list.match({ address: 'acme/x', jti: 'j-1' }, now + 60_000)).toBeUndefined();
    list.prune(now + 60_000);
    expect(list.size).toBe(0);
  });

  it('round-trips its wire line and refuses anything else', () => {
    const r = at('sub', 'acme/c-1');
    expect(decodeRevocation(encodeRevocation(r))).toEqual(r);
    for (const bad of ['', 'sub 1 2', 'nope 1 2 x', 'jti 1 2 a b', `jti 1 2 ${'x'.repeat(300)}`])
      expect(decodeRevocation(bad)).toBeUndefined();
  });

  it('admin parameters: which field is wrong and what was expected; exp is cut to the longest token lifetime', () => {
    const q = (s: string) => new URLSearchParams(s);
    const now = 1_800_000_000_000;
    expect(parseRevocation(q('sub=c-1'), false, 3600, now)).toMatchObject({ field: 'account' });
    expect(parseRevocation(q('account=acme'), false, 3600, now)).toMatchObject({ field: 'sub' });
    expect(parseRevocation(q('jti=a b'), false, 3600, now)).toMatchObject({ field: 'jti' });
    expect(parseRevocation(q('jti=j&sub=c-1'), false, 3600, now)).toMatchObject({ field: 'jti' });
    expect(parseRevocation(q(`jti=j&exp=${now / 1000 - 1}`), false, 3600, now)).toMatchObject({ field: 'exp' });
    expect(parseRevocation(q('jti=j&exp=soon'), false, 3600, now)).toMatchObject({ field: 'exp' });
    expect(parseRevocation(q(`jti=j&exp=${now / 1000 + 60}`), false, 3600, now)).toEqual({
      kind: 'jti',
      value: 'j',
      at: now,
      until: now + 60_000,
    });
    // Without exp, or with a later one: the longest lifetime plus the tolerated clock skew.
    expect(parseRevocation(q('account=acme&sub=c-1'), false, 3600, now)).toMatchObject({
      kind: 'sub',
      value: 'acme/c-1',
      until: now + 3_660_000,
    });
    expect(parseRevocation(q(`account=acme&sub=c-1&exp=${now / 1000 + 10 ** 7}`), false, 3600, now)).toMatchObject({
      until: now + 3_660_000,
    });
    expect(parseRevocation(q('account=acme&sub=c-1'), true, 3600, now)).toMatchObject({ kind: 'peer', until: now });
  });
});

describe('two servers sharing one MemoryBackplane', () => {
  let backplane: MemoryBackplane;
  let a: TestServer;
  let b: TestServer;
  beforeAll(async () => {
    backplane = new MemoryBackplane(defaultTimeouts.resume);
    a = await startServer({ backplane, serverId: 'rv-a', adminToken: ADMIN_TOKEN });
    b = await startServer({ backplane, serverId: 'rv-b', adminToken: ADMIN_TOKEN });
  });
  afterAll(async () => {
    await Promise.all([a.server.shutdown(), b.server.shutdown()]);
    await backplane.close();
  });

  const tokenFor = (id: TokenSubject, jti?: string) => signToken(SECRET, id, 600, { jti });
  const join = async (s: TestServer, tok: string, sub: string) => {
    const ws = await openRaw(`${s.socketUrl}?vsn=2.0.0&token=${tok}`);
    const [, , , , payload] = await request(ws, ['1', '1', `peer:${sub}`, 'phx_join', {}]);
    expect(payload.status).toBe('ok');
    return ws;
  };
  const upgradeStatus = (s: TestServer, tok: string) =>
    openRaw(`${s.socketUrl}?vsn=2.0.0&token=${tok}`).then(
      (ws) => {
        ws.terminate();
        return 101;
      },
      (err: { status?: number }) => err.status,
    );
  const admin = (s: TestServer, path: string, headers: Record<string, string> = auth, method = 'POST') =>
    fetch(`${s.adminUrl}${path}`, { method, headers });

  it('revoking a sub on one server closes that peer on the other with 4403, refuses it 403, and leaves its account alone', async () => {
    const victim = { sub: 'rv-c1', kind: 'client' as const, account: 'acme' };
    const tok = await tokenFor(victim);
    const ws = await join(b, tok, 'rv-c1');
    const neighbour = await join(a, await tokenFor({ sub: 'rv-g1', kind: 'gateway', account: 'acme' }), 'rv-g1');
    const sameSubOtherAccount = await join(b, await tokenFor({ sub: 'rv-c1', kind: 'client', account: 'other' }), 'rv-c1');
    const gone = closed(ws);
    const res = await admin(a, '/revoke?account=acme&sub=rv-c1');
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({
      revocation: { kind: 'sub', account: 'acme', sub: 'rv-c1' },
      boundMs: revocationBoundMs(defaultTimeouts),
    });
    expect(await gone).toEqual([CLOSE.revoked, 'token revoked']);
    expect(await upgradeStatus(a, tok)).toBe(403);
    expect(await upgradeStatus(b, tok)).toBe(403);
    expect(neighbour.readyState).toBe(WebSocket.OPEN);
    expect(sameSubOtherAccount.readyState).toBe(WebSocket.OPEN);
    // A token the issuer mints after the revocation (a later iat) is accepted: the peer is re-admitted.
    const later = Math.floor(Date.now() / 1000) + 2;
    const fresh = await new SignJWT({ kind: 'client', acct: 'acme' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('rv-c1')
      .setIssuer('sluice')
      .setAudience('sluice')
      .setIssuedAt(later)
      .setExpirationTime(later + 600)
      .sign(new TextEncoder().encode(SECRET));
    expect(await upgradeStatus(b, fresh)).toBe(101);
    const listed = (await (await admin(a, '/revocations?account=acme', auth, 'GET')).json()) as { revocations: unknown[] };
    expect(listed.revocations).toEqual([expect.objectContaining({ kind: 'sub', account: 'acme', sub: 'rv-c1' })]);
    const metrics = await b.server.metrics.registry.metrics();
    expect(metrics).toMatch(/sluice_connections_closed_total\{reason="revoked"\} 1/);
    expect(await a.server.metrics.registry.metrics()).toMatch(/sluice_upgrades_rejected_total\{reason="token_revoked"\} 1/);
    neighbour.close();
    sameSubOtherAccount.close();
  });

  it('revoking a jti closes that token only; the same sub with another token stays', async () => {
    const id = { sub: 'rv-c2', kind: 'client' as const, account: 'acme' };
    const first = await tokenFor(id, 'jti-first');
    const ws = await join(a, first, 'rv-c2');
    const gone = closed(ws);
    expect((await admin(b, '/revoke?jti=jti-first')).status).toBe(201);
    expect((await gone)[0]).toBe(CLOSE.revoked);
    expect(await upgradeStatus(b, first)).toBe(403);
    expect(await upgradeStatus(b, await tokenFor(id, 'jti-second'))).toBe(101);
  });

  it('an unauthenticated or wrongly authenticated admin call revokes nothing', async () => {
    const tok = await tokenFor({ sub: 'rv-c3', kind: 'client', account: 'acme' });
    const ws = await join(a, tok, 'rv-c3');
    expect((await admin(a, '/revoke?account=acme&sub=rv-c3', {})).status).toBe(401);
    expect((await admin(a, '/revoke?account=acme&sub=rv-c3', { Authorization: 'Bearer wrong' })).status).toBe(403);
    expect((await admin(b, '/disconnect?account=acme&sub=rv-c3', {})).status).toBe(401);
    expect((await admin(a, '/revocations', {}, 'GET')).status).toBe(401);
    expect((await admin(a, '/revoke?sub=rv-c3')).status).toBe(400);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(await upgradeStatus(b, tok)).toBe(101);
    ws.close();
  });

  it('the SDK stops on 4403 with a revoked error, and stops on the 403 of a revoked token, never retrying', async () => {
    const tok = await tokenFor({ sub: 'rv-sdk', kind: 'client', account: 'acme' });
    const c = new SluiceClient({ url: b.socketUrl, token: tok, timeouts: fastTimeouts() });
    const errors: SluiceClientError[] = [];
    c.on('error', (e) => errors.push(e));
    c.connect();
    await c.ready();
    const stopped = new Promise((resolve) => c.on('state', (s) => s.to === 'stopped' && resolve(s.reason)));
    expect((await admin(a, '/disconnect?account=acme&sub=rv-sdk')).status).toBe(202);
    expect(await stopped).toBe('revoked');
    expect(errors.map((e) => e.code)).toEqual(['revoked']);
    await expect(c.send('x', 1)).rejects.toMatchObject({ code: 'revoked' });
    // A disconnect revokes nothing: the same token connects again when the application asks.
    expect(await upgradeStatus(a, tok)).toBe(101);

    expect((await admin(a, '/revoke?account=acme&sub=rv-sdk')).status).toBe(201);
    const again = new SluiceClient({ url: a.socketUrl, token: tok, timeouts: fastTimeouts() });
    const refused = new Promise((resolve) => again.on('disconnected', (d) => resolve(d)));
    const stop = new Promise((resolve) => again.on('state', (s) => s.to === 'stopped' && resolve(s.reason)));
    again.connect();
    expect(await refused).toMatchObject({ reason: 'revoked', status: 403, willReconnect: false });
    expect(await stop).toBe('revoked');
    await Promise.all([c.close(), again.close()]);
  });
});
