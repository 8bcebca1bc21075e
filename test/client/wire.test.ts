/**
 * The wire, frame by frame: against a scripted WebSocket server the client must send exactly what
 * the official `phoenix` client sends (URL, join, heartbeat frames), time out a silent connect or
 * join, and recover from a skipped seq or garbage by reconnecting with `last_seq`. Last, the real
 * thing: our client and the official phoenix client exchange signals through a sluice server.
 */
import http from 'node:http';
import net from 'node:net';
import { Channel, Socket } from 'phoenix';
import WebSocket, { WebSocketServer } from 'ws';
import { SluiceClient } from '../../app/client/index';
import type { ReceivedSignal } from '../../app/client/index';
import { seeded, startServer, token, until } from '../helpers/server';
import { closeClients, client, fastTimeouts, next } from './helpers';

type Frame = [string | null, string | null, string, string, Record<string, unknown>];

interface Script {
  url: string;
  /** Every connection: its request URL, Sec-WebSocket-Protocol header and the frames it sent. */
  conns: Array<{ url: string; protocols?: string; frames: Frame[]; ws: WebSocket }>;
  close(): Promise<void>;
}

/** A WebSocket server on 127.0.0.1 that hands each frame to `onFrame` (answer with `reply`). */
async function scripted(onFrame: (f: Frame, ws: WebSocket, conn: number) => void): Promise<Script> {
  const httpServer = http.createServer();
  const wss = new WebSocketServer({ server: httpServer });
  const conns: Script['conns'] = [];
  wss.on('connection', (ws, req) => {
    const entry = { url: req.url ?? '', protocols: req.headers['sec-websocket-protocol'], frames: [] as Frame[], ws };
    const i = conns.push(entry) - 1;
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString()) as Frame;
      entry.frames.push(f);
      onFrame(f, ws, i);
    });
  });
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const { port } = httpServer.address() as net.AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/socket/websocket`,
    conns,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    },
  };
}

const reply = (ws: WebSocket, f: Frame, status: string, response: Record<string, unknown>) =>
  ws.send(JSON.stringify([f[0], f[1], f[2], 'phx_reply', { status, response }]));
const joinOk = (ws: WebSocket, f: Frame, lastSeq = 0) => reply(ws, f, 'ok', { last_seq: lastSeq, replayed: 0, gap: null });
const heartbeat = (ws: WebSocket, f: Frame) => f[3] === 'heartbeat' && reply(ws, f, 'ok', {});

afterEach(closeClients);

test('the client opens the same URL and header and sends the same join and heartbeat frames as the phoenix client with authToken', async () => {
  const script = await scripted((f, ws) => {
    if (f[3] === 'phx_join') joinOk(ws, f);
    heartbeat(ws, f);
  });
  try {
    const tok = await token('gw-wire', 'gateway');
    const ours = new SluiceClient({ url: script.url, token: tok, timeouts: fastTimeouts() });
    ours.connect();
    await ours.ready();
    await next(ours, 'heartbeat');
    await ours.close();

    const phx = new Socket(script.url.replace(/\/websocket$/, ''), {
      transport: WebSocket as unknown as typeof globalThis.WebSocket,
      authToken: tok,
      heartbeatIntervalMs: 200,
    });
    phx.connect();
    const channel: Channel = phx.channel('peer:gw-wire', {});
    await new Promise<void>((resolve) => channel.join().receive('ok', () => resolve()));
    await until(() => script.conns[1]?.frames.some((f) => f[3] === 'heartbeat') ?? false, 2_000, 'a phoenix heartbeat');
    await new Promise<void>((resolve) => phx.disconnect(() => resolve()));

    const [a, b] = script.conns;
    const query = (u: string) => Object.fromEntries(new URL(u, 'http://x').searchParams);
    expect(query(a.url)).toEqual(query(b.url));
    expect(query(a.url)).toEqual({ vsn: '2.0.0' });
    expect(a.url).not.toContain(tok);
    // The token rides in the header, byte for byte as phoenix.js encodes it.
    expect(a.protocols).toBe(b.protocols);
    expect(a.protocols).toBe(`phoenix,base64url.bearer.phx.${Buffer.from(tok).toString('base64url')}`);
    expect(new URL(a.url, 'http://x').pathname).toBe(new URL(b.url, 'http://x').pathname);
    const shape = (f: Frame) => [f[0] === null ? null : f[0] === f[1] ? 'ref' : 'join_ref', typeof f[1], f[2], f[3], f[4]];
    const join = (c: Script['conns'][number]) => shape(c.frames.find((f) => f[3] === 'phx_join')!);
    const beat = (c: Script['conns'][number]) => shape(c.frames.find((f) => f[3] === 'heartbeat')!);
    expect(join(a)).toEqual(join(b));
    expect(join(a)).toEqual(['ref', 'string', 'peer:gw-wire', 'phx_join', {}]);
    expect(beat(a)).toEqual(beat(b));
    expect(beat(a)).toEqual([null, 'string', 'phoenix', 'heartbeat', {}]);
  } finally {
    await script.close();
  }
});

test('tokenInQuery (servers older than the header): the token in the query as phoenix `params` sends it, no subprotocols', async () => {
  const script = await scripted((f, ws) => {
    if (f[3] === 'phx_join') joinOk(ws, f);
  });
  try {
    const tok = await token('gw-legacy', 'gateway');
    const ours = new SluiceClient({ url: `${script.url}?token=stale&region=x`, token: tok, timeouts: fastTimeouts(), tokenInQuery: true });
    ours.connect();
    await ours.ready();
    await ours.close();
    const phx = new Socket(script.url.replace(/\/websocket$/, ''), {
      transport: WebSocket as unknown as typeof globalThis.WebSocket,
      params: { token: tok },
    });
    phx.connect();
    await new Promise<void>((resolve) =>
      phx
        .channel('peer:gw-legacy', {})
        .join()
        .receive('ok', () => resolve()),
    );
    await new Promise<void>((resolve) => phx.disconnect(() => resolve()));
    const [a, b] = script.conns;
    const query = (u: string) => Object.fromEntries(new URL(u, 'http://x').searchParams);
    expect(query(a.url)).toEqual({ ...query(b.url), region: 'x' });
    expect(query(a.url)).toEqual({ vsn: '2.0.0', token: tok, region: 'x' });
    expect(a.protocols).toBeUndefined();
    expect(b.protocols).toBeUndefined();
  } finally {
    await script.close();
  }
});

test('by default a token in the configured URL is dropped: the header carries the token, other parameters stay', async () => {
  const script = await scripted((f, ws) => {
    if (f[3] === 'phx_join') joinOk(ws, f);
  });
  try {
    const tok = await token('gw-strip', 'gateway');
    const c = new SluiceClient({ url: `${script.url}?token=${tok}&region=x`, token: tok, timeouts: fastTimeouts() });
    const connected = next(c, 'connected');
    c.connect();
    await c.ready();
    expect((await connected)[0].url).toBe(script.url);
    expect(c.currentUrl).toBe(script.url);
    await c.close();
    const [a] = script.conns;
    expect(Object.fromEntries(new URL(a.url, 'http://x').searchParams)).toEqual({ vsn: '2.0.0', region: 'x' });
    expect(a.protocols).toBe(`phoenix,base64url.bearer.phx.${Buffer.from(tok).toString('base64url')}`);
  } finally {
    await script.close();
  }
});

test('a server that accepts TCP and never answers the upgrade hits the connect timeout', async () => {
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((s) => sockets.add(s.on('error', () => undefined)));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const url = `ws://127.0.0.1:${(silent.address() as net.AddressInfo).port}/socket/websocket`;
  try {
    const timeouts = fastTimeouts();
    const c = await client(url, 'c-silent', { timeouts });
    const lost = next(c, 'disconnected');
    const t0 = Date.now();
    c.connect();
    expect((await lost)[0]).toMatchObject({ reason: 'connect_timeout', wasJoined: false, willReconnect: true });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(timeouts.client.connectTimeoutMs - 5);
    expect(Date.now() - t0).toBeLessThan(timeouts.client.connectTimeoutMs + 500);
  } finally {
    await closeClients();
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }
});

test('a join nobody answers hits the join timeout; the next attempt joins', async () => {
  const script = await scripted((f, ws, conn) => {
    heartbeat(ws, f);
    if (f[3] === 'phx_join' && conn > 0) joinOk(ws, f);
  });
  try {
    const timeouts = fastTimeouts();
    const c = await client(script.url, 'c-nojoin', { timeouts });
    const lost = next(c, 'disconnected');
    c.connect();
    expect((await lost)[0]).toMatchObject({ reason: 'join_timeout', wasJoined: false, code: 1006 });
    await c.ready();
    expect(script.conns).toHaveLength(2);
  } finally {
    await script.close();
  }
});

test('a skipped seq makes the client rejoin with last_seq, and the replay fills the hole', async () => {
  const script = await scripted((f, ws, conn) => {
    heartbeat(ws, f);
    if (f[3] !== 'phx_join') return;
    const push = (seq: number, replayed = false) =>
      ws.send(JSON.stringify([f[0], null, f[2], 'signal', { from: 'x', id: `i${seq}`, seq, data: seq, replayed }]));
    if (conn === 0) {
      joinOk(ws, f);
      push(1);
      push(3); // 2 went missing
    } else {
      reply(ws, f, 'ok', { last_seq: 3, replayed: 2, gap: null });
      push(2, true);
      push(3, true);
    }
  });
  try {
    const c = await client(script.url, 'gw-hole', { timeouts: fastTimeouts() });
    const got: ReceivedSignal[] = [];
    c.on('signal', (s) => got.push(s));
    const lost = next(c, 'disconnected');
    const resumed = next(c, 'resumed');
    c.connect();
    expect((await lost)[0]).toMatchObject({ reason: 'seq_hole', wasJoined: true });
    expect((await resumed)[0]).toEqual({ fromSeq: 1, lastSeq: 3, replayed: 2 });
    await new Promise<void>((resolve) => (got.length >= 3 ? resolve() : c.on('signal', () => got.length >= 3 && resolve())));
    expect(got.map((s) => s.seq)).toEqual([1, 2, 3]);
    expect(script.conns[1].frames.find((f) => f[3] === 'phx_join')![4]).toEqual({ last_seq: 1 });
  } finally {
    await script.close();
  }
});

test('garbage from the server is a protocol error: the socket is dropped and the client reconnects', async () => {
  const script = await scripted((f, ws, conn) => {
    heartbeat(ws, f);
    if (f[3] !== 'phx_join') return;
    if (conn === 0) ws.send('{"not": "a phoenix frame"}');
    else joinOk(ws, f);
  });
  try {
    const c = await client(script.url, 'c-garbage', { timeouts: fastTimeouts() });
    const lost = next(c, 'disconnected');
    c.connect();
    expect((await lost)[0]).toMatchObject({ reason: 'protocol_error', detail: 'malformed_frame' });
    await c.ready();
    expect(script.conns).toHaveLength(2);
  } finally {
    await script.close();
  }
});

test('a token function is asked for a fresh token before every attempt', async () => {
  const script = await scripted((f, ws, conn) => {
    heartbeat(ws, f);
    if (f[3] === 'phx_join') {
      if (conn === 0) ws.close(1012, 'restart');
      else joinOk(ws, f);
    }
  });
  try {
    let calls = 0;
    const c = new SluiceClient({
      url: script.url,
      token: () => token('gw-fresh', 'gateway', undefined, 60 + ++calls),
      timeouts: fastTimeouts(),
      random: seeded(1),
    });
    c.connect();
    await c.ready();
    expect(calls).toBe(2);
    expect(c.peerId).toBe('gw-fresh');
    await c.close();
  } finally {
    await script.close();
  }
});

test('interoperates with the official phoenix client through a sluice server', async () => {
  const srv = await startServer();
  const phx = new Socket(srv.socketUrl.replace(/\/websocket$/, ''), {
    transport: WebSocket as unknown as typeof globalThis.WebSocket,
    params: { token: await token('gw-phx', 'gateway') },
  });
  try {
    phx.connect();
    const channel = phx.channel('peer:gw-phx', {});
    await new Promise<void>((resolve) => channel.join().receive('ok', () => resolve()));
    const phxGot = new Promise<Record<string, unknown>>((resolve) => channel.on('signal', resolve));

    const ours = await client(srv.socketUrl, 'c-ours', { timeouts: fastTimeouts() });
    ours.connect();
    await ours.ready();
    expect(await ours.send('gw-phx', { hello: 'phoenix' }, 'to-phx-1')).toBe('delivered');
    expect(await phxGot).toMatchObject({ from: 'c-ours', id: 'to-phx-1', seq: 1, data: { hello: 'phoenix' } });

    const oursGot = next(ours, 'signal');
    const status = await new Promise<unknown>((resolve) =>
      channel.push('signal', { to: 'c-ours', id: 'to-ours-1', data: { hello: 'sluice' } }).receive('ok', resolve),
    );
    expect(status).toEqual({ status: 'delivered' });
    expect((await oursGot)[0]).toMatchObject({ from: 'gw-phx', id: 'to-ours-1', seq: 1, data: { hello: 'sluice' }, replayed: false });
  } finally {
    await new Promise<void>((resolve) => phx.disconnect(() => resolve()));
    await closeClients();
    await srv.server.shutdown();
  }
});
