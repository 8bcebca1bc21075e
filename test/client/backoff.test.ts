/**
 * Reconnect policy: full-jitter exponential backoff (seeded, spread out, capped), prompt return
 * after a polite restart, Retry-After honoured on a 503, and a 401 that stops the client for good.
 */
import net from 'node:net';
import { MemoryBackplane } from '../../app/backplane/memory';
import {
  Backoff,
  backoffCeilingMs,
  fullJitterMs,
  parseRetryAfterMs,
  restartDelayMs,
  retryAfterDelayMs,
  SluiceClient,
} from '../../app/client/index';
import type { DisconnectedInfo } from '../../app/client/index';
import { defaultTimeouts } from '../../app/contract/timeouts';
import { openRaw, SECRET, seeded, startServer, token } from '../helpers/server';
import { client, closeClients, fastTimeouts, next } from './helpers';

afterEach(closeClients);

describe('delays (pure)', () => {
  const t = defaultTimeouts.client;

  test('full jitter stays under min(cap, base * 2^attempt) and spreads over it', () => {
    const random = seeded(1);
    for (let attempt = 0; attempt < 12; attempt++) {
      const ceiling = backoffCeilingMs(attempt, t);
      expect(ceiling).toBe(Math.min(t.reconnectCapMs, t.reconnectBaseMs * 2 ** attempt));
      const samples = Array.from({ length: 500 }, () => fullJitterMs(attempt, t, random));
      expect(Math.min(...samples)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...samples)).toBeLessThan(ceiling);
      // Spread out: the sample covers the range, not a few values.
      expect(Math.min(...samples)).toBeLessThan(ceiling * 0.05);
      expect(Math.max(...samples)).toBeGreaterThan(ceiling * 0.95);
      // ... and evenly: each quarter of [0, ceiling) gets a fair share.
      const quarters = [0, 0, 0, 0];
      for (const d of samples) quarters[Math.floor((d / ceiling) * 4)]++;
      for (const q of quarters) expect(q).toBeGreaterThan(samples.length * 0.15);
    }
    expect(backoffCeilingMs(1_000, t)).toBe(t.reconnectCapMs);
  });

  test('the same seed gives the same delays; another seed does not', () => {
    const run = (seed: number) => {
      const b = new Backoff(t, seeded(seed));
      return Array.from({ length: 20 }, () => b.next());
    };
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
    const delays = run(7);
    delays.forEach((d, i) => expect(d).toBeLessThan(backoffCeilingMs(i, t)));
    // Capped: after enough attempts every delay is below the cap, and the counter stops growing.
    const b = new Backoff(t, seeded(3));
    for (let i = 0; i < 100; i++) expect(b.next()).toBeLessThan(t.reconnectCapMs);
    expect(b.attempts).toBe(Math.ceil(Math.log2(t.reconnectCapMs / t.reconnectBaseMs)));
    b.reset();
    expect(b.attempts).toBe(0);
  });

  test('restart jitter and Retry-After', () => {
    const random = seeded(5);
    for (let i = 0; i < 200; i++) {
      const d = restartDelayMs(t, random);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(t.restartJitterMs);
      const r = retryAfterDelayMs(1_000, t, random);
      expect(r).toBeGreaterThanOrEqual(1_000);
      expect(r).toBeLessThan(1_000 + t.restartJitterMs);
    }
    expect(parseRetryAfterMs('1')).toBe(1_000);
    expect(parseRetryAfterMs(['3'])).toBe(3_000);
    const now = Date.parse('2026-02-19T16:00:00Z');
    expect(parseRetryAfterMs('Thu, 19 Feb 2026 16:00:02 GMT', now)).toBe(2_000);
    expect(parseRetryAfterMs('Thu, 19 Feb 2026 15:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfterMs('soon')).toBeUndefined();
    expect(parseRetryAfterMs(undefined)).toBeUndefined();
  });
});

/** A port on 127.0.0.1 where nothing listens (connections are refused at once). */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** The first `n` disconnected events of `c`. */
function disconnections(c: SluiceClient, n: number): Promise<DisconnectedInfo[]> {
  const seen: DisconnectedInfo[] = [];
  return new Promise((resolve) => {
    c.on('disconnected', (d) => {
      seen.push(d);
      if (seen.length === n) resolve(seen);
    });
  });
}

describe('against real sockets', () => {
  test('refused connections back off with seeded, capped full jitter', async () => {
    const url = `ws://127.0.0.1:${await deadPort()}/socket/websocket`;
    const timeouts = fastTimeouts();
    const runs = await Promise.all(
      [1, 1, 2].map(async (seed) => {
        const c = await client(url, 'c-backoff', { timeouts, random: seeded(seed) });
        const seen = disconnections(c, 8);
        c.connect();
        return (await seen).map((d) => {
          expect(d).toMatchObject({ reason: 'connection_error', wasJoined: false, willReconnect: true });
          return d.delayMs!;
        });
      }),
    );
    const [first, same, other] = runs;
    expect(first).toEqual(same);
    expect(first).not.toEqual(other);
    for (const delays of runs) delays.forEach((d, i) => expect(d).toBeLessThan(backoffCeilingMs(i, timeouts.client)));
    console.log(
      `backoff delays (seed 1, base ${timeouts.client.reconnectBaseMs} ms, cap ${timeouts.client.reconnectCapMs} ms): ${first.join(', ')}`,
    );
  });

  test('401 (bad or expired token) stops the client after one attempt', async () => {
    const srv = await startServer();
    try {
      for (const bad of [
        await token('c-bad', 'client', 'another-secret-that-is-32-characters-long'),
        await token('c-old', 'client', SECRET, -60),
      ]) {
        const c = new SluiceClient({ url: srv.socketUrl, token: bad, timeouts: fastTimeouts(), random: seeded(1) });
        const attempts: string[] = [];
        c.on('state', (s) => s.to === 'connecting' && attempts.push(s.to));
        const error = next(c, 'error');
        const gone = next(c, 'disconnected');
        c.connect();
        await expect(c.ready()).rejects.toMatchObject({ code: 'unauthorized' });
        expect((await error)[0]).toMatchObject({ code: 'unauthorized', detail: { status: 401 } });
        expect((await gone)[0]).toMatchObject({ reason: 'unauthorized', status: 401, willReconnect: false });
        expect(c.state).toBe('stopped');
        expect(attempts).toHaveLength(1);
        await expect(c.send('x', 1)).rejects.toMatchObject({ code: 'unauthorized' });
        await c.close();
      }
      const rejected = await srv.server.metrics.upgradesRejected.get();
      const total = rejected.values.reduce((n, v) => n + v.value, 0);
      expect(total).toBe(2); // one attempt per client, no retry loop
    } finally {
      await srv.server.shutdown();
    }
  });

  test('503 while draining: Retry-After is honoured before the next attempt', async () => {
    // A drains with one peer connected whose 1012 lands late in the window (random ~1), so A keeps
    // refusing upgrades (503, Retry-After: 1) while B serves.
    const a = await startServer({ serverId: 'a', random: () => 0.999 });
    const b = await startServer({ serverId: 'b' });
    const held = await openRaw(await a.urlFor('c-held'));
    held.on('error', () => undefined);
    void a.server.drain('test');
    try {
      const timeouts = fastTimeouts();
      // Single URL: two refusals in a row, spaced by at least Retry-After.
      const c1 = await client(a.socketUrl, 'c-retry-1', { timeouts });
      const refusals: number[] = [];
      c1.on('disconnected', (d) => d.reason === 'server_draining' && refusals.push(Date.now()));
      const two = disconnections(c1, 2);
      c1.connect();
      const seen = await two;
      for (const d of seen) {
        expect(d).toMatchObject({ reason: 'server_draining', status: 503, willReconnect: true });
        expect(d.delayMs).toBeGreaterThanOrEqual(1_000);
        expect(d.delayMs).toBeLessThan(1_000 + timeouts.client.restartJitterMs);
      }
      expect(refusals[1] - refusals[0]).toBeGreaterThanOrEqual(1_000);
      await c1.close();

      // Two URLs: refused by A, then joined on B, no earlier than Retry-After.
      const c2 = await client([a.socketUrl, b.socketUrl], 'c-retry-2', { timeouts });
      const refused = next(c2, 'disconnected');
      const joined = next(c2, 'connected');
      c2.connect();
      const [r] = await refused;
      const refusedAt = Date.now();
      expect(r).toMatchObject({ reason: 'server_draining', status: 503 });
      const [j] = await joined;
      expect(j.url).toBe(b.socketUrl);
      expect(Date.now() - refusedAt).toBeGreaterThanOrEqual(1_000 - 5);
    } finally {
      held.terminate();
      await closeClients();
      await a.server.shutdown();
      await b.server.shutdown();
    }
  });

  test('close 1012 (drain) brings the client back promptly on the next server', async () => {
    const backplane = new MemoryBackplane(defaultTimeouts.resume);
    // random 0: A's single 1012 goes out at the very start of its drain window.
    const a = await startServer({ serverId: 'a', backplane, random: () => 0 });
    const b = await startServer({ serverId: 'b', backplane });
    try {
      const timeouts = fastTimeouts();
      const c = await client([a.socketUrl, b.socketUrl], 'gw-restart', { timeouts });
      c.connect();
      await c.ready();
      const lost = next(c, 'disconnected');
      const back = next(c, 'connected');
      await a.server.drain('restart test');
      const [d] = await lost;
      expect(d).toMatchObject({ reason: 'server_restart', code: 1012, wasJoined: true, willReconnect: true });
      expect(d.delayMs).toBeLessThan(timeouts.client.restartJitterMs);
      expect((await back)[0]).toMatchObject({ url: b.socketUrl, reconnects: 1 });
    } finally {
      await closeClients();
      await a.server.shutdown();
      await b.server.shutdown();
      await backplane.close();
    }
  });
});
