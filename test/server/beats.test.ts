/**
 * The idle connection's two frames built without the general machinery (app/server/beats.ts): the
 * heartbeat reply assembled from the incoming bytes must be exactly the frame the general path
 * (decode + reply + ws) would send, every other shape must fall through to that path, and a real
 * server must answer both shapes and send its pre-built ping.
 */
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { heartbeatReplyFrame, MAX_FAST_REF, PING_FRAME } from '../../app/server/beats';
import { decode, reply } from '../../app/protocol/phoenix';
import { request, startServer, TestServer } from '../helpers/server';

/** ws's frame parser (exported at runtime, not in its type declarations). */
const { Receiver } = WebSocket as unknown as {
  Receiver: new (opts: { isServer: boolean }) => EventEmitter & { write(b: Buffer): void };
};

/** The text and opcode of one server frame, read by ws's own receiver (what every client does). */
function parseFrame(frame: Buffer): Promise<{ opcode: 'text' | 'ping'; text: string }> {
  return new Promise((resolve, reject) => {
    const r = new Receiver({ isServer: false });
    r.on('message', (data: Buffer) => resolve({ opcode: 'text', text: data.toString() }));
    r.on('ping', (data: Buffer) => resolve({ opcode: 'ping', text: data.toString() }));
    r.on('error', reject);
    r.write(frame);
  });
}

const beat = (ref: string) => Buffer.from(JSON.stringify([null, ref, 'phoenix', 'heartbeat', {}]));

describe('pre-built idle frames', () => {
  it('answers a plain heartbeat with the exact reply of the general path', async () => {
    for (const ref of ['1', 'h0', '42', 'abc-_.~!', 'x'.repeat(MAX_FAST_REF)]) {
      const frame = heartbeatReplyFrame(beat(ref));
      expect(frame).toBeDefined();
      const parsed = await parseFrame(frame!);
      expect(parsed.opcode).toBe('text');
      expect(parsed.text).toBe(reply(decode(beat(ref).toString()), 'ok', {}));
    }
  });

  it('leaves every other shape to the general path', () => {
    const other = [
      JSON.stringify(['1', '5', 'phoenix', 'heartbeat', {}]), // a join_ref
      JSON.stringify([null, 'a"b', 'phoenix', 'heartbeat', {}]), // an escaped ref
      JSON.stringify([null, 'é', 'phoenix', 'heartbeat', {}]), // non-ASCII
      JSON.stringify([null, '', 'phoenix', 'heartbeat', {}]), // empty ref
      JSON.stringify([null, 'x'.repeat(MAX_FAST_REF + 1), 'phoenix', 'heartbeat', {}]), // too long for a 7-bit length
      JSON.stringify([null, '5', 'phoenix', 'heartbeat', { a: 1 }]),
      JSON.stringify([null, '5', 'peer:a', 'heartbeat', {}]),
      '[null, "5", "phoenix", "heartbeat", {}]',
    ];
    for (const text of other) expect(heartbeatReplyFrame(Buffer.from(text))).toBeUndefined();
  });

  it('builds an empty ping', async () => {
    expect(await parseFrame(PING_FRAME)).toEqual({ opcode: 'ping', text: '' });
  });

  describe('on a real server', () => {
    let ts: TestServer;
    beforeAll(async () => {
      // Short intervals (the contract's rules hold: see ping-schedule.test.ts) so the ping comes soon.
      ts = await startServer({
        timeouts: {
          client: { heartbeatIntervalMs: 500, heartbeatTimeoutMs: 1_000, deadPeerDetectionMs: 1_500 },
          server: { pingIntervalMs: 500, idleTimeoutMs: 2_000 },
        },
      });
    });
    afterAll(async () => {
      await ts.server.shutdown();
    });

    it('answers both heartbeat shapes in order with other replies, and pings a silent peer', async () => {
      const ws = new WebSocket(await ts.urlFor('beater'));
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      const ping = new Promise<void>((resolve) => ws.once('ping', () => resolve()));
      const texts: string[] = [];
      ws.on('message', (d: Buffer) => texts.push(d.toString()));
      // Fast path, general path, a join, fast path again. Heartbeats are answered at once (the join
      // waits for the backplane), so the heartbeat replies come back in the order asked, both paths alike.
      const fast = request(ws, [null, 'f1', 'phoenix', 'heartbeat', {}]);
      const general = request(ws, ['9', 'g1', 'phoenix', 'heartbeat', {}]);
      const join = request(ws, ['1', 'j1', 'peer:beater', 'phx_join', {}]);
      const fast2 = request(ws, [null, 'f2', 'phoenix', 'heartbeat', {}]);
      expect((await fast)[4]).toEqual({ status: 'ok', response: {} });
      expect((await general)[4]).toEqual({ status: 'ok', response: {} });
      expect((await join)[4].status).toBe('ok');
      expect(await fast2).toEqual([null, 'f2', 'phoenix', 'phx_reply', { status: 'ok', response: {} }]);
      const refs = texts.map((t) => (JSON.parse(t) as unknown[])[1]);
      expect(refs.filter((r) => r !== 'j1')).toEqual(['f1', 'g1', 'f2']);
      await ping; // silent after its frames: the pre-built ping arrives and ws reads it as one
      ws.terminate();
    });
  });
});
