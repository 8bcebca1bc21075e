/**
 * Failure modes found in review: a signal racing a first join, payloads that cannot be re-serialised,
 * frames piling up behind a stuck backplane, refused upgrades that are never closed by the peer.
 */
import net from 'node:net';
import WebSocket from 'ws';
import { MemoryBackplane } from '../../app/backplane/memory';
import type { AttachOptions, PeerSession, PublishOutcome, SignalEnvelope } from '../../app/backplane/types';
import type { PeerKind } from '../../app/auth/token';
import { defaultTimeouts } from '../../app/contract/timeouts';
import { closed, openRaw, replyTo, request, startServer, until, upgradeRequest } from '../helpers/server';

type Msg = [string | null, string | null, string, string, Record<string, unknown>];

function collect(ws: WebSocket): Msg[] {
  const got: Msg[] = [];
  ws.on('message', (d) => got.push(JSON.parse(d.toString()) as Msg));
  return got;
}
/**
 * A backplane whose routed deliveries arrive late (as through a Redis inbox), and where a signal
 * for the peer is published right after it attaches: the race a first join must survive.
 */
class LateInboxBackplane extends MemoryBackplane {
  /** Resolves once a late copy has been handed to the server. */
  lateHandled: Promise<void>;
  private handled!: () => void;
  constructor(...args: ConstructorParameters<typeof MemoryBackplane>) {
    super(...args);
    this.lateHandled = new Promise((resolve) => (this.handled = resolve));
  }
  override async attach(peer: { id: string; kind: PeerKind }, serverId: string, opts: AttachOptions): Promise<PeerSession> {
    const late: AttachOptions = {
      ...opts,
      deliver: (d) => {
        setTimeout(() => {
          opts.deliver(d);
          this.handled();
        }, 100);
        return true;
      },
    };
    const session = await super.attach(peer, serverId, late);
    if (peer.id === 'default/fresh' && serverId !== 'elsewhere')
      await this.publish({ from: 'default/racer', to: 'default/fresh', id: 'r1', data: JSON.stringify('between attach and replay') });
    return session;
  }
}

describe('a signal published between attach and the first join reply', () => {
  it('reaches the freshly joined peer exactly once', async () => {
    const bp = new LateInboxBackplane(defaultTimeouts.resume);
    // 'fresh' must be addressable before it joins, as a peer coming back within its grace is.
    // Backplane ids are addresses `<account>/<sub>` (app/auth/policy.ts); test tokens are of the default account.
    const pre = await bp.attach({ id: 'default/fresh', kind: 'client' }, 'elsewhere', { deliver: () => false, onEvicted: () => undefined });
    await pre.close();
    const ts = await startServer({ backplane: bp });
    try {
      const ws = await openRaw(await ts.urlFor('fresh'));
      const got = collect(ws);
      const joined = await request(ws, ['1', '1', 'peer:fresh', 'phx_join', {}]);
      expect(joined[4]).toMatchObject({ status: 'ok', response: { last_seq: 0 } });
      await until(() => got.some((m) => m[3] === 'signal'), 2_000, 'the racing signal');
      // Once the late (inbox) copy has been handled, a heartbeat reply flushes anything it sent.
      await bp.lateHandled;
      await request(ws, [null, 'hb', 'phoenix', 'heartbeat', {}]);
      const signals = got.filter((m) => m[3] === 'signal').map((m) => m[4].seq);
      expect(signals).toEqual([1]);
      ws.terminate();
    } finally {
      await ts.server.shutdown();
      await bp.close();
    }
  });
});

describe('signal data that cannot be serialised again', () => {
  it("is refused as invalid_payload and never reaches the recipient's history", async () => {
    const ts = await startServer();
    try {
      const victim = await openRaw(await ts.urlFor('victim'));
      const vg = collect(victim);
      expect((await request(victim, ['1', '1', 'peer:victim', 'phx_join', {}]))[4].status).toBe('ok');
      const sender = await openRaw(await ts.urlFor('nester'));
      expect((await request(sender, ['1', '1', 'peer:nester', 'phx_join', {}]))[4].status).toBe('ok');
      const deep = `${'['.repeat(5_000)}${']'.repeat(5_000)}`; // ~10 KB, parses, cannot be stringified
      const refused = replyTo(sender, '2');
      sender.send(`["1","2","peer:nester","signal",{"to":"victim","id":"deep","data":${deep}}]`);
      expect((await refused)[4]).toMatchObject({ status: 'error', response: { reason: 'invalid_payload', field: 'data' } });
      // A reasonable payload still goes through, and the victim's stream is intact.
      expect(
        (await request(sender, ['1', '3', 'peer:nester', 'signal', { to: 'victim', id: 'ok', data: { a: [1, { b: 2 }] } }]))[4],
      ).toEqual({ status: 'ok', response: { status: 'delivered' } });
      await until(() => vg.some((m) => m[3] === 'signal'), 2_000, 'delivery');
      expect(vg.filter((m) => m[3] === 'signal').map((m) => m[4].seq)).toEqual([1]);
      victim.terminate();
      sender.terminate();
    } finally {
      await ts.server.shutdown();
    }
  });
});

describe('frames waiting on a stuck backplane', () => {
  it('are bounded: past the burst the connection is closed with 1008, not queued forever', async () => {
    class StuckBackplane extends MemoryBackplane {
      constructor(resume: typeof defaultTimeouts.resume) {
        super(resume);
        // Like Redis, no in-process publish: the relay path takes `publish`, which hangs.
        Object.defineProperty(this, 'publishNow', { value: undefined });
      }
      override publish(_s: SignalEnvelope): Promise<PublishOutcome> {
        return new Promise(() => undefined); // Redis hanging
      }
    }
    const ts = await startServer({
      backplane: new StuckBackplane(defaultTimeouts.resume),
      limits: { ratePerSec: 1_000_000, rateBurst: 20 },
    });
    try {
      const ws = await openRaw(await ts.urlFor('pusher'));
      collect(ws);
      expect((await request(ws, ['1', '1', 'peer:pusher', 'phx_join', {}]))[4].status).toBe('ok');
      const c = closed(ws);
      // Batches of 10 with a heartbeat round trip between them: the token bucket (1e6/s) is full
      // again each time, so only the queue bound can stop the third batch.
      for (let batch = 0; batch < 3; batch++) {
        for (let i = 0; i < 10; i++)
          ws.send(JSON.stringify(['1', `s${batch}-${i}`, 'peer:pusher', 'signal', { to: 'x', id: `m${batch}-${i}`, data: i }]));
        if (batch < 2) await request(ws, [null, `hb${batch}`, 'phoenix', 'heartbeat', {}]);
      }
      expect(await c).toEqual([1008, 'too many frames in flight']);
    } finally {
      await ts.server.shutdown();
    }
  });
});

describe('a refused upgrade whose client never closes', () => {
  it('is closed by the server, so it cannot hold a socket (or the shutdown) forever', async () => {
    const ts = await startServer();
    const socket = net.connect(ts.port, '127.0.0.1');
    socket.on('error', () => undefined);
    const ended = new Promise<string>((resolve) => {
      let head = '';
      socket.on('data', (d) => {
        head += d.toString();
      });
      socket.once('end', () => resolve(head)); // the server's FIN, though we never end our side
    });
    socket.write(upgradeRequest('/socket/websocket?vsn=2.0.0&token=bad'));
    expect(await ended).toMatch(/^HTTP\/1\.1 401 /);
    await ts.server.shutdown(); // resolves: no socket left behind
    socket.destroy();
  });
});
