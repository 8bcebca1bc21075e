/**
 * What an idle joined connection holds beyond Node's and ws's own objects (bench/heap.ts measures the
 * bytes; this suite keeps the shape): no listener closure per socket (the socket budget's 'close'
 * listener is one function for all sockets, the upgrade's error listener is gone once ws owns the
 * socket), no listener at all on the WebSocket (ws's events reach the connection through its
 * PeerSocket class), no ws auto-pong closure, and the pings that ws no longer answers by itself are
 * answered by the connection with their data.
 */
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { PeerSocket } from '../../app/server/connection';
import { request, startServer, TestServer } from '../helpers/server';

/** The server side of each open connection (private fields, read here only to check their shape). */
function serverSides(ts: TestServer): Array<{ socket: Socket; ws: WebSocket & { _autoPongComplete?: unknown } }> {
  const conns = (ts.server as unknown as { connections: Set<{ socket: Socket; ws: WebSocket }> }).connections;
  return [...conns].map((c) => ({ socket: c.socket, ws: c.ws }));
}

async function joined(ts: TestServer, sub: string): Promise<WebSocket> {
  const ws = new WebSocket(await ts.urlFor(sub));
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  expect((await request(ws, ['1', 'j1', `peer:${sub}`, 'phx_join', {}]))[4].status).toBe('ok');
  return ws;
}

describe('an idle joined connection', () => {
  let ts: TestServer;
  beforeAll(async () => {
    ts = await startServer();
  });
  afterAll(async () => {
    await ts.server.shutdown();
  });

  it('holds no listener closure of its own on the socket or the WebSocket', async () => {
    const a = await joined(ts, 'mem-a');
    const b = await joined(ts, 'mem-b');
    const [x, y] = serverSides(ts);
    expect(serverSides(ts)).toHaveLength(2);
    for (const event of ['error', 'close', 'end', 'data'] as const) {
      // The same functions on both sockets: nothing made per connection.
      expect(x.socket.listeners(event)).toEqual(y.socket.listeners(event));
    }
    expect(x.socket.listenerCount('error')).toBe(1); // ws's own: the upgrade's listener was removed
    expect(x.ws).toBeInstanceOf(PeerSocket);
    expect(x.ws.eventNames()).toEqual([]);
    expect(x.ws._autoPongComplete).toBeUndefined();
    a.terminate();
    b.terminate();
  });

  it("answers the peer's ping with a pong of the same data (RFC 6455 5.5.3)", async () => {
    const ws = await joined(ts, 'mem-ping');
    const data = Buffer.from('are you there? 0123456789');
    const pong = new Promise<Buffer>((resolve) => ws.once('pong', resolve));
    ws.ping(data);
    expect((await pong).equals(data)).toBe(true);
    const empty = new Promise<Buffer>((resolve) => ws.once('pong', resolve));
    ws.ping();
    expect((await empty).length).toBe(0);
    ws.terminate();
  });
});
