/**
 * Tokens out of URLs: the token in `Sec-WebSocket-Protocol`, as the official `phoenix` client (1.8)
 * sends it with `authToken`, the `phoenix` subprotocol chosen in the answer, the query parameter
 * accepted only while SLUICE_TOKEN_IN_QUERY allows it, and no token ever in the server's logs:
 * every server here logs at trace level into a buffer that the last test searches.
 */
import http from 'node:http';
import { Writable } from 'node:stream';
import { Socket } from 'phoenix';
import pino from 'pino';
import WebSocket from 'ws';
import { TokenError, tokenFromProtocols, upgradeToken } from '../../app/auth/token';
import { SluiceClient } from '../../app/client/index';
import { AUTH_TOKEN_SUBPROTOCOL_PREFIX, authTokenSubprotocols } from '../../app/protocol/phoenix';
import { loadConfig, tokenInQueryAllowed } from '../../app/server/config';
import { SluiceServer } from '../../app/server/server';
import { fastTimeouts } from '../client/helpers';
import { closed, openRaw, request, SECRET, testConfig, token } from '../helpers/server';
import { join } from '../helpers/phoenix';

/** Every log line of every server in this file, and every secret that must never appear in one. */
const logLines: string[] = [];
const secrets = new Set<string>();

async function tok(sub: string, kind: 'client' | 'gateway' = 'client', secret = SECRET, ttlSec?: number): Promise<string> {
  const t = await token(sub, kind, secret, ttlSec);
  secrets.add(t);
  secrets.add(authTokenSubprotocols(t)[1]);
  return t;
}

interface Srv {
  server: SluiceServer;
  port: number;
  url: string;
  rejected(reason: string): Promise<number>;
}

async function start(serverId: string, tokenInQuery: boolean | undefined, env: 'development' | 'production' = 'development'): Promise<Srv> {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const config = { ...testConfig({ serverId, timeouts: { client: fastTimeouts().client } }), env, tokenInQuery, logLevel: 'trace' };
  const server = new SluiceServer({ config, logger: pino({ level: 'trace', base: { server: serverId } }, sink) });
  const { port } = await server.start();
  return {
    server,
    port,
    url: `ws://127.0.0.1:${port}/socket/websocket`,
    rejected: async (reason) => (await server.metrics.upgradesRejected.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0,
  };
}

/** A hand-written upgrade request: the status and headers of the answer (101 or a refusal). */
function upgrade(
  port: number,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      path,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
        ...headers,
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
    });
    req.on('response', (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Open with the token in the header only (the URL carries `vsn`, nothing else). */
function openWithHeader(url: string, t: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}?vsn=2.0.0`, authTokenSubprotocols(t));
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
  });
}

function phoenixSocket(url: string, authToken: string): Socket {
  return new Socket(url.replace(/\/websocket$/, ''), {
    transport: WebSocket as unknown as typeof globalThis.WebSocket,
    authToken,
    reconnectAfterMs: () => 60_000, // a refusal must show, not be retried away
  });
}

let queryOff: Srv;
let queryOn: Srv;
const sockets: WebSocket[] = [];
const phxSockets: Socket[] = [];

beforeAll(async () => {
  queryOff = await start('query-off', false);
  queryOn = await start('query-on', true);
});
afterAll(async () => {
  for (const ws of sockets) ws.terminate();
  await Promise.all(phxSockets.map((s) => new Promise<void>((resolve) => s.disconnect(() => resolve()))));
  await Promise.all([queryOff.server.shutdown(), queryOn.server.shutdown()]);
});

describe('the official phoenix client with authToken (no token in the URL)', () => {
  it('joins, relays a signal both ways with our SDK, and negotiates the phoenix subprotocol', async () => {
    const gw = phoenixSocket(queryOff.url, await tok('gw-phx', 'gateway'));
    phxSockets.push(gw);
    const opened = new Promise<void>((resolve, reject) => {
      gw.onOpen(() => resolve());
      gw.onError(() => reject(new Error('phoenix socket error')));
    });
    gw.connect();
    await opened;
    // phoenix.js keeps its transport in `conn`: the ws socket, with the subprotocol the server chose.
    const conn = (gw as unknown as { conn: WebSocket }).conn;
    expect(conn.protocol).toBe('phoenix');
    expect(conn.url).toBe(`${queryOff.url}?vsn=2.0.0`);

    const channel = gw.channel('peer:gw-phx', {});
    const got = new Promise<Record<string, unknown>>((resolve) => channel.on('signal', resolve));
    expect(await join(channel)).toMatchObject({ status: 'ok', response: { last_seq: 0 } });

    // Our SDK, header by default, to the same server.
    const ours = new SluiceClient({ url: queryOff.url, token: await tok('c-sdk'), timeouts: fastTimeouts() });
    try {
      ours.connect();
      await ours.ready();
      expect(await ours.send('gw-phx', { sdp: 'offer' }, 'o-1')).toBe('delivered');
      expect(await got).toEqual({ from: 'c-sdk', id: 'o-1', seq: 1, data: { sdp: 'offer' }, replayed: false });
      const back = new Promise<unknown>((resolve) => ours.once('signal', (s) => resolve(s.data)));
      const ack = await new Promise<unknown>((resolve) =>
        channel.push('signal', { to: 'c-sdk', id: 'a-1', data: { sdp: 'answer' } }).receive('ok', resolve),
      );
      expect(ack).toEqual({ status: 'delivered' });
      expect(await back).toEqual({ sdp: 'answer' });
    } finally {
      await ours.close();
    }
  });

  it('a phoenix client whose token is refused gets 401 and no connection', async () => {
    const s = phoenixSocket(queryOff.url, await tok('gw-bad', 'gateway', 'another-secret-of-at-least-32-characters'));
    phxSockets.push(s);
    const before = await queryOff.rejected('token_invalid');
    const errored = new Promise<void>((resolve) => s.onError(() => resolve()));
    s.connect();
    await errored;
    expect(s.isConnected()).toBe(false);
    expect(await queryOff.rejected('token_invalid')).toBe(before + 1);
  });
});

describe('the token in Sec-WebSocket-Protocol', () => {
  it('is accepted, and the server answers with exactly `phoenix` (never the token entry)', async () => {
    const t = await tok('c-header');
    const ws = await openWithHeader(queryOff.url, t);
    sockets.push(ws);
    expect(ws.protocol).toBe('phoenix');
    const joined = await request(ws, ['1', '1', 'peer:c-header', 'phx_join', {}]);
    expect(joined[4].status).toBe('ok');

    const answer = await upgrade(queryOff.port, '/socket/websocket?vsn=2.0.0', {
      'Sec-WebSocket-Protocol': authTokenSubprotocols(await tok('c-raw')).join(', '),
    });
    expect(answer.status).toBe(101);
    expect(answer.headers['sec-websocket-protocol']).toBe('phoenix');
  });

  it('without `phoenix` offered the answer names no subprotocol (the token entry is never echoed)', async () => {
    const entry = authTokenSubprotocols(await tok('c-only-token'))[1];
    const answer = await upgrade(queryOff.port, '/socket/websocket?vsn=2.0.0', { 'Sec-WebSocket-Protocol': entry });
    expect(answer.status).toBe(101);
    expect(answer.headers['sec-websocket-protocol']).toBeUndefined();
  });

  it.each([
    [
      'signed with another secret',
      async () => authTokenSubprotocols(await tok('x', 'client', 'another-secret-of-at-least-32-characters')).join(', '),
      'token_invalid',
    ],
    ['expired', async () => authTokenSubprotocols(await tok('x', 'client', SECRET, -10)).join(', '), 'token_expired'],
    ['not base64', async () => `phoenix, ${AUTH_TOKEN_SUBPROTOCOL_PREFIX}!!not~base64`, 'token_invalid'],
    [
      'base64 of something that is not a token',
      async () => `phoenix, ${AUTH_TOKEN_SUBPROTOCOL_PREFIX}${Buffer.from('a b\u0000').toString('base64url')}`,
      'token_invalid',
    ],
    [
      'given twice',
      async () => [...authTokenSubprotocols(await tok('x')), authTokenSubprotocols(await tok('y'))[1]].join(', '),
      'token_invalid',
    ],
    ['empty', async () => `phoenix, ${AUTH_TOKEN_SUBPROTOCOL_PREFIX}`, 'token_invalid'],
    ['absent (phoenix alone)', async () => 'phoenix', 'token_missing'],
  ])('%s: 401', async (_name, header, reason) => {
    const before = await queryOff.rejected(reason);
    const answer = await upgrade(queryOff.port, '/socket/websocket?vsn=2.0.0', { 'Sec-WebSocket-Protocol': await header() });
    expect(answer.status).toBe(401);
    expect(answer.headers['sec-websocket-protocol']).toBeUndefined();
    expect(await queryOff.rejected(reason)).toBe(before + 1);
  });

  it('a bad header token through the ws client: 401, and our SDK stops with unauthorized instead of retrying', async () => {
    await expect(openWithHeader(queryOff.url, await tok('x', 'client', 'another-secret-of-at-least-32-characters'))).rejects.toMatchObject({
      status: 401,
    });
    const c = new SluiceClient({
      url: queryOff.url,
      token: await tok('c-refused', 'client', 'another-secret-of-at-least-32-characters'),
      timeouts: fastTimeouts(),
    });
    c.on('error', () => undefined);
    c.connect();
    await expect(c.ready()).rejects.toMatchObject({ code: 'unauthorized' });
    expect(c.state).toBe('stopped');
    await c.close();
  });
});

describe('the token in the query (SLUICE_TOKEN_IN_QUERY)', () => {
  it('off: a query token is refused with 401 token_in_query_disabled, even beside a valid header token', async () => {
    const t = await tok('c-query');
    const before = await queryOff.rejected('token_in_query_disabled');
    await expect(openRaw(`${queryOff.url}?vsn=2.0.0&token=${t}`)).rejects.toMatchObject({ status: 401 });
    const both = await upgrade(queryOff.port, `/socket/websocket?vsn=2.0.0&token=${t}`, {
      'Sec-WebSocket-Protocol': authTokenSubprotocols(t).join(', '),
    });
    expect(both.status).toBe(401);
    expect(await queryOff.rejected('token_in_query_disabled')).toBe(before + 2);
    const refused = logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.server === 'query-off' && l.msg === 'upgrade refused: token' && l.reason === 'in_query_disabled');
    expect(refused.length).toBeGreaterThanOrEqual(2);
    expect(refused[0]).toMatchObject({ carrier: 'query' });
  });

  it('off: our SDK asked for tokenInQuery (an old-server option) is refused and stops', async () => {
    const c = new SluiceClient({ url: queryOff.url, token: await tok('c-legacy'), timeouts: fastTimeouts(), tokenInQuery: true });
    c.on('error', () => undefined);
    c.connect();
    await expect(c.ready()).rejects.toMatchObject({ code: 'unauthorized' });
    await c.close();
  });

  it('on: a query token is accepted (no subprotocol offered, none chosen), and our SDK with tokenInQuery joins', async () => {
    const ws = await openRaw(`${queryOn.url}?vsn=2.0.0&token=${await tok('c-old')}`);
    sockets.push(ws);
    expect(ws.protocol).toBe('');
    expect((await request(ws, ['1', '1', 'peer:c-old', 'phx_join', {}]))[4].status).toBe('ok');

    const c = new SluiceClient({ url: queryOn.url, token: await tok('c-legacy-ok'), timeouts: fastTimeouts(), tokenInQuery: true });
    c.connect();
    await c.ready();
    await c.close();
  });

  it('on: a bad query token is still 401', async () => {
    await expect(openRaw(`${queryOn.url}?vsn=2.0.0&token=${await tok('x', 'client', SECRET, -10)}`)).rejects.toMatchObject({ status: 401 });
  });

  it('on: with a header token too, the header decides who the peer is', async () => {
    const ws = await new Promise<WebSocket>((resolve, reject) => {
      void (async () => {
        const w = new WebSocket(
          `${queryOn.url}?vsn=2.0.0&token=${await tok('c-in-query')}`,
          authTokenSubprotocols(await tok('c-in-header')),
        );
        w.once('open', () => resolve(w));
        w.once('error', reject);
      })();
    });
    sockets.push(ws);
    expect(ws.protocol).toBe('phoenix');
    expect((await request(ws, ['1', '1', 'peer:c-in-header', 'phx_join', {}]))[4].status).toBe('ok');
    const other = await request(ws, ['2', '2', 'peer:c-in-query', 'phx_join', {}]);
    expect(other[4]).toEqual({ status: 'error', response: { reason: 'unauthorized' } });
  });

  it('defaults: off in production, on in development; SLUICE_TOKEN_IN_QUERY overrides either way', () => {
    const prod = { SLUICE_ENV: 'production', SLUICE_TOKEN_SECRET: SECRET, SLUICE_ADMIN_TOKEN: 'a'.repeat(40) };
    const load = (env: Record<string, string>) => loadConfig(env, { fdLimit: 65_536 });
    expect(load(prod).tokenInQuery).toBe(false);
    expect(load({}).tokenInQuery).toBe(true);
    expect(load({ ...prod, SLUICE_TOKEN_IN_QUERY: 'on' }).tokenInQuery).toBe(true);
    expect(load({ SLUICE_TOKEN_IN_QUERY: 'off' }).tokenInQuery).toBe(false);
    expect(() => load({ SLUICE_TOKEN_IN_QUERY: 'yes' })).toThrow(/SLUICE_TOKEN_IN_QUERY/);
    // A config built in code without the field follows its env.
    expect(tokenInQueryAllowed({ env: 'production' })).toBe(false);
    expect(tokenInQueryAllowed({ env: 'development' })).toBe(true);
  });

  it('a server started in production without SLUICE_TOKEN_IN_QUERY refuses a query token', async () => {
    const prod = await start('prod-default', undefined, 'production');
    try {
      const t = await tok('c-prod');
      await expect(openRaw(`${prod.url}?vsn=2.0.0&token=${t}`)).rejects.toMatchObject({ status: 401 });
      expect(await prod.rejected('token_in_query_disabled')).toBe(1);
      const ws = await openWithHeader(prod.url, t);
      const gone = closed(ws);
      ws.close();
      await gone;
    } finally {
      await prod.server.shutdown();
    }
  });
});

describe('tokenFromProtocols / upgradeToken', () => {
  it('reads the phoenix.js encoding (standard base64, padding stripped) and base64url alike', () => {
    const t = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln';
    expect(tokenFromProtocols(`phoenix, ${AUTH_TOKEN_SUBPROTOCOL_PREFIX}${btoa(t).replace(/=/g, '')}`)).toBe(t);
    expect(tokenFromProtocols(authTokenSubprotocols(t).join(','))).toBe(t);
    expect(tokenFromProtocols(undefined)).toBeUndefined();
    expect(tokenFromProtocols('phoenix, other')).toBeUndefined();
  });

  it('refuses a query token while the query is off, prefers the header, and never quotes a token in its errors', () => {
    const t = 'header.token.value';
    const header = authTokenSubprotocols(t).join(', ');
    expect(() => upgradeToken(header, 'query.token.value', { queryAllowed: false })).toThrow(TokenError);
    expect(upgradeToken(header, 'query.token.value', { queryAllowed: true })).toEqual({ token: t, carrier: 'header' });
    expect(upgradeToken(undefined, 'query.token.value', { queryAllowed: true })).toEqual({ token: 'query.token.value', carrier: 'query' });
    expect(upgradeToken(undefined, null, { queryAllowed: false })).toEqual({});
    for (const bad of [
      `${AUTH_TOKEN_SUBPROTOCOL_PREFIX}${Buffer.from('secret value').toString('base64url')}`,
      `${AUTH_TOKEN_SUBPROTOCOL_PREFIX}secret!`,
    ]) {
      let message = '';
      try {
        tokenFromProtocols(bad);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).not.toBe('');
      expect(message).not.toMatch(/secret/);
    }
  });
});

describe('server logs', () => {
  it('never contain a token, in any accepted or refused path above', () => {
    // Not vacuous: the refusals and joins above were logged, at trace level.
    const entries = logLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const refusedReasons = new Set(entries.filter((e) => e.msg === 'upgrade refused: token').map((e) => e.reason));
    for (const r of ['invalid', 'expired', 'missing', 'in_query_disabled']) expect(refusedReasons).toContain(r);
    expect(entries.filter((e) => e.msg === 'joined').length).toBeGreaterThanOrEqual(5);
    expect(secrets.size).toBeGreaterThan(20);
    const leaks = [...secrets].filter((s) => logLines.some((l) => l.includes(s)));
    expect(leaks).toEqual([]);
    // Nor any piece of one: the signature alone is what makes a JWT a credential.
    const signatures = [...secrets].filter((s) => s.split('.').length === 3).map((s) => s.split('.')[2]);
    expect(signatures.filter((sig) => logLines.some((l) => l.includes(sig)))).toEqual([]);
  });
});
