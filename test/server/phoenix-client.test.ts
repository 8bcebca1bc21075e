/**
 * The official `phoenix` npm client, with `ws` as its transport, against a real sluice server:
 * the wire protocol is Phoenix Channels V2 exactly, not something that merely looks like it.
 */
import { Socket, Channel } from 'phoenix';
import WebSocket from 'ws';
import { startServer, TestServer, token } from '../helpers/server';
import { join } from '../helpers/phoenix';

// Short heartbeats so "a while" is many heartbeats and the server's idle limit (1 s) is far
// shorter than the test: only working heartbeats keep the connection open.
const timeouts = {
  client: { heartbeatIntervalMs: 200, heartbeatTimeoutMs: 400, deadPeerDetectionMs: 600 },
  server: { pingIntervalMs: 300, idleTimeoutMs: 1_000 },
};

function phoenixSocket(ts: TestServer, tok: string, onClose?: (code: number) => void): Socket {
  const socket = new Socket(ts.socketUrl.replace(/\/websocket$/, ''), {
    transport: WebSocket as unknown as typeof globalThis.WebSocket,
    params: { token: tok },
    heartbeatIntervalMs: timeouts.client.heartbeatIntervalMs,
    reconnectAfterMs: () => 60_000, // a reconnect would hide a close: make it visible instead
  });
  if (onClose) socket.onClose((ev: { code: number }) => onClose(ev.code));
  return socket;
}

function pushAndWait(channel: Channel, event: string, payload: object): Promise<{ status: string; response: Record<string, unknown> }> {
  return new Promise((resolve) => {
    channel
      .push(event, payload)
      .receive('ok', (response: Record<string, unknown>) => resolve({ status: 'ok', response }))
      .receive('error', (response: Record<string, unknown>) => resolve({ status: 'error', response }))
      .receive('timeout', () => resolve({ status: 'timeout', response: {} }));
  });
}

describe('official phoenix client', () => {
  let ts: TestServer;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    ts = await startServer({ timeouts });
  });
  afterAll(async () => {
    await Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.disconnect(() => resolve()))));
    await ts.server.shutdown();
  });

  async function connect(sub: string, kind: 'client' | 'gateway' = 'client', onClose?: (code: number) => void): Promise<Socket> {
    const socket = phoenixSocket(ts, await token(sub, kind), onClose);
    sockets.push(socket);
    await new Promise<void>((resolve, reject) => {
      socket.onOpen(() => resolve());
      socket.onError((e: unknown) => reject(new Error(`socket error ${String(e)}`)));
      socket.connect();
    });
    return socket;
  }

  it("joins its own topic and is refused another peer's", async () => {
    const socket = await connect('alice');
    const own = await join(socket.channel('peer:alice'));
    expect(own.status).toBe('ok');
    expect(own.response).toMatchObject({ last_seq: 0, replayed: 0, gap: null });

    const bobs = socket.channel('peer:bob');
    const other = await join(bobs);
    expect(other).toEqual({ status: 'error', response: { reason: 'unauthorized' } });
    bobs.leave(); // the phoenix client would otherwise keep retrying the refused join
  });

  it('relays a signal from a client to a gateway, with sender, id and seq', async () => {
    const gw = await connect('gw-1', 'gateway');
    const gwChannel = gw.channel('peer:gw-1');
    const received = new Promise<Record<string, unknown>>((resolve) => gwChannel.on('signal', resolve));
    expect((await join(gwChannel)).status).toBe('ok');

    const cl = await connect('client-1');
    const clChannel = cl.channel('peer:client-1');
    expect((await join(clChannel)).status).toBe('ok');
    const ack = await pushAndWait(clChannel, 'signal', { to: 'gw-1', id: 'offer-1', data: { sdp: 'v=0' } });
    expect(ack).toEqual({ status: 'ok', response: { status: 'delivered' } });
    expect(await received).toEqual({ from: 'client-1', id: 'offer-1', seq: 1, data: { sdp: 'v=0' }, replayed: false });

    const unknown = await pushAndWait(clChannel, 'signal', { to: 'nobody', id: 'x', data: 1 });
    expect(unknown).toEqual({ status: 'error', response: { reason: 'unknown_peer' } });
    const invalid = await pushAndWait(clChannel, 'signal', { to: 'gw-1', data: 1 });
    expect(invalid.status).toBe('error');
    expect(invalid.response).toMatchObject({ reason: 'invalid_payload', field: 'id' });
  });

  it('heartbeats for many idle limits without being closed', async () => {
    const closes: number[] = [];
    const socket = await connect('steady', 'client', (code) => closes.push(code));
    expect((await join(socket.channel('peer:steady'))).status).toBe('ok');
    // Count heartbeat replies as they arrive; wait for 15 of them (3 s, three idle limits).
    let replies = 0;
    await new Promise<void>((resolve) => {
      socket.onMessage((message: object) => {
        const msg = message as { topic: string; event: string };
        if (msg.topic === 'phoenix' && msg.event === 'phx_reply' && ++replies === 15) resolve();
      });
    });
    expect(closes).toEqual([]);
    expect(socket.isConnected()).toBe(true);
  });
});
