/**
 * Bad input: each kind gets its documented answer (HTTP status, close code or error reply), and a
 * healthy neighbour on the same server keeps working through all of it.
 */
import WebSocket from 'ws';
import { closed, openRaw, Reply, request, SECRET, startServer, TestServer, token, until } from '../helpers/server';

let refs = 0;
const ref = () => String(++refs);

describe('bad input', () => {
  let ts: TestServer;
  let neighbour: WebSocket;

  beforeAll(async () => {
    ts = await startServer({ limits: { ratePerSec: 20, rateBurst: 40 } });
    neighbour = await openRaw(await ts.urlFor('neighbour'));
    const joined = await request(neighbour, ['1', ref(), 'peer:neighbour', 'phx_join', {}]);
    expect(joined[4].status).toBe('ok');
  });
  afterEach(async () => {
    // After every kind of abuse the neighbour still gets heartbeat replies and signals.
    const hb = await request(neighbour, [null, ref(), 'phoenix', 'heartbeat', {}]);
    expect(hb[4]).toEqual({ status: 'ok', response: {} });
    expect(neighbour.readyState).toBe(WebSocket.OPEN);
  });
  afterAll(async () => {
    neighbour.terminate();
    await ts.server.shutdown();
  });

  const base = () => `${ts.socketUrl}?vsn=2.0.0&token=`;

  it.each([
    ['missing', async () => ''],
    ['garbage', async () => 'not-a-jwt'],
    ['wrong secret', async () => token('x', 'client', 'another-secret-of-at-least-32-characters')],
    ['expired', async () => token('x', 'client', SECRET, -10)],
  ])('refuses a %s token with HTTP 401 and no upgrade', async (_name, make) => {
    await expect(openRaw(base() + (await make()))).rejects.toMatchObject({ status: 401 });
  });

  it('refuses wrong paths with 404 and a wrong protocol version with 400', async () => {
    const tok = await token('x');
    await expect(openRaw(`ws://127.0.0.1:${ts.port}/other?token=${tok}`)).rejects.toMatchObject({ status: 404 });
    await expect(openRaw(`${ts.socketUrl}?vsn=1.0.0&token=${tok}`)).rejects.toMatchObject({ status: 400 });
  });

  it('closes with 1009 on a frame over 64 KiB', async () => {
    const ws = await openRaw(await ts.urlFor('big'));
    const c = closed(ws);
    ws.send(JSON.stringify([null, '1', 'phoenix', 'heartbeat', { pad: 'x'.repeat(65 * 1024) }]));
    expect((await c)[0]).toBe(1009);
  });

  it('closes with 1007 on malformed JSON and on a frame that is not a 5-array', async () => {
    for (const text of ['{not json', '{"a":1}', '[1,2,3]', '[null,"1","phoenix","heartbeat",[]]']) {
      const ws = await openRaw(await ts.urlFor('garbled'));
      const c = closed(ws);
      ws.send(text);
      expect((await c)[0]).toBe(1007);
    }
  });

  it('closes with 1003 on a binary frame', async () => {
    const ws = await openRaw(await ts.urlFor('binary'));
    const c = closed(ws);
    ws.send(Buffer.from([1, 2, 3]));
    expect((await c)[0]).toBe(1003);
  });

  it('answers unknown topics, unknown events and bad payloads with error replies, keeping the connection', async () => {
    const ws = await openRaw(await ts.urlFor('curious'));
    expect((await request(ws, [null, ref(), 'rooms:lobby', 'shout', {}]))[4]).toEqual({
      status: 'error',
      response: { reason: 'unmatched topic' },
    });
    expect((await request(ws, ['7', ref(), 'peer:curious', 'phx_join', { last_seq: -1 }]))[4]).toMatchObject({
      status: 'error',
      response: { reason: 'invalid_payload', field: 'last_seq' },
    });
    expect((await request(ws, ['8', ref(), 'peer:curious', 'phx_join', {}]))[4].status).toBe('ok');
    expect((await request(ws, ['8', ref(), 'peer:curious', 'dance', {}]))[4]).toEqual({
      status: 'error',
      response: { reason: 'unknown_event', event: 'dance' },
    });
    expect((await request(ws, ['8', ref(), 'peer:curious', 'signal', { to: '../etc', id: '1', data: 1 }]))[4]).toMatchObject({
      status: 'error',
      response: { reason: 'invalid_payload', field: 'to' },
    });
    expect((await request(ws, ['8', ref(), 'peer:curious', 'signal', { to: 'neighbour', id: 'x'.repeat(200), data: 1 }]))[4]).toMatchObject(
      { status: 'error', response: { reason: 'invalid_payload', field: 'id' } },
    );
    expect((await request(ws, ['8', ref(), 'peer:curious', 'signal', { to: 'neighbour', id: '1' }]))[4]).toMatchObject({
      status: 'error',
      response: { reason: 'invalid_payload', field: 'data' },
    });
    // Signals to another peer's topic are not a way to impersonate it.
    expect((await request(ws, ['8', ref(), 'peer:neighbour', 'signal', { to: 'neighbour', id: '2', data: 1 }]))[4]).toEqual({
      status: 'error',
      response: { reason: 'unmatched topic' },
    });
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.terminate();
  });

  it('closes a flooding connection with 1008', async () => {
    const ws = await openRaw(await ts.urlFor('flood'));
    const c = closed(ws);
    for (let i = 0; i < 200; i++) ws.send(JSON.stringify([null, String(i), 'phoenix', 'heartbeat', {}]));
    expect((await c)[0]).toBe(1008);
    const metrics = await (await fetch(`${ts.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/sluice_connections_closed_total\{reason="rate_limited"\} 1/);
  });

  it('keeps the admin endpoints off the public port', async () => {
    for (const p of ['/status', '/metrics', '/presence']) expect((await fetch(`http://127.0.0.1:${ts.port}${p}`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${ts.port}/drain`, { method: 'POST' })).status).toBe(404);
    expect(ts.server.state).toBe('serving');
    expect((await fetch(`http://127.0.0.1:${ts.port}/healthz`)).status).toBe(200);
  });
});

describe('slow consumer', () => {
  it('is disconnected instead of growing the send buffer; signals for it are kept for resume', async () => {
    // History large enough for every 60 KiB signal sent here (the byte budget has its own tests).
    const ts = await startServer({
      limits: { ratePerSec: 10_000, rateBurst: 10_000, maxBufferedBytes: 256 * 1024, historyMaxBytesPerPeer: 256 * 1024 * 1024 },
    });
    try {
      const slow = await openRaw(await ts.urlFor('slow'));
      expect((await request(slow, ['1', '1', 'peer:slow', 'phx_join', {}]))[4].status).toBe('ok');
      // Stop reading: the kernel buffers fill, then the server's own buffer would grow.
      (slow as unknown as { _socket: { pause(): void } })._socket.pause();
      const sender = await openRaw(await ts.urlFor('sender'));
      expect((await request(sender, ['1', '1', 'peer:sender', 'phx_join', {}]))[4].status).toBe('ok');
      const data = 'y'.repeat(60 * 1024);
      const statuses: string[] = [];
      for (let i = 0; i < 600 && !statuses.includes('stored'); i++) {
        const r = await request(sender, ['1', `s${i}`, 'peer:sender', 'signal', { to: 'slow', id: `m${i}`, data }]);
        statuses.push(String(r[4].response.status));
      }
      expect(statuses).toContain('stored');
      const metrics = await (await fetch(`${ts.adminUrl}/metrics`)).text();
      expect(metrics).toMatch(/sluice_connections_closed_total\{reason="slow_consumer"\} 1/);
      slow.terminate();
      // Nothing accepted was lost: the peer resumes from seq 0 and gets every signal, in order.
      const back = await openRaw(await ts.urlFor('slow'));
      const seqs: number[] = [];
      back.on('message', (d) => {
        const m = JSON.parse(d.toString()) as Reply;
        if (m[3] === 'signal') seqs.push((m[4] as unknown as { seq: number }).seq);
      });
      const joined = await request(back, ['2', '2', 'peer:slow', 'phx_join', { last_seq: 0 }]);
      expect(joined[4].response).toMatchObject({ last_seq: statuses.length, replayed: statuses.length, gap: null });
      await until(() => seqs.length === statuses.length, 5_000, 'replay');
      expect(seqs).toEqual(statuses.map((_, i) => i + 1));
      back.terminate();
      sender.terminate();
    } finally {
      await ts.server.shutdown();
    }
  });
});
