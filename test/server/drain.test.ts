/**
 * Drain: readiness flips at once, every connection gets 1012 spread over the window, a peer that
 * ignores the close frame is reset (RST) at the deadline, and the process exits 0 on SIGTERM.
 */
import net from 'node:net';
import WebSocket from 'ws';
import { closed, openRaw, SECRET, seeded, startServer, TestServer, token, upgradeRequest } from '../helpers/server';
import { spawnServer } from '../helpers/process';

const drain = { windowMs: 2_000, deadlineMs: 4_000, marginMs: 1_000 };

/** A WebSocket client that completes the handshake and then ignores everything, close frames included. */
async function deafClient(port: number, sub: string): Promise<net.Socket> {
  const tok = await token(sub);
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.write(upgradeRequest(`/socket/websocket?vsn=2.0.0&token=${tok}`));
    });
    socket.once('data', (d) => (d.toString().startsWith('HTTP/1.1 101') ? resolve() : reject(new Error(d.toString()))));
  });
  return socket;
}

describe('drain', () => {
  let ts: TestServer;
  afterEach(async () => ts?.server.shutdown());

  it('turns unready at once, sends 1012 to all 50 spread over the window, resets the deaf peer at the deadline', async () => {
    ts = await startServer({ timeouts: { drain }, random: seeded(42) });
    const clients = await Promise.all(Array.from({ length: 50 }, async (_, i) => openRaw(await ts.urlFor(`peer-${i}`))));
    const closes = clients.map((ws) => closed(ws).then(([code]) => ({ code, at: Date.now() })));
    const deaf = await deafClient(ts.port, 'deaf');
    const deafEnd = new Promise<{ err?: string; at: number }>((resolve) => {
      deaf.on('error', (err: NodeJS.ErrnoException) => resolve({ err: err.code, at: Date.now() }));
      deaf.on('close', () => resolve({ at: Date.now() }));
    });
    expect(ts.server.connectionCount).toBe(51);
    expect((await fetch(`http://127.0.0.1:${ts.port}/readyz`)).status).toBe(200);

    const t0 = Date.now();
    const res = await fetch(`${ts.adminUrl}/drain`, { method: 'POST' });
    expect(res.status).toBe(202);
    const ready = await fetch(`http://127.0.0.1:${ts.port}/readyz`);
    expect(ready.status).toBe(503);
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(await ready.json()).toEqual({ status: 'draining' });

    // New upgrades are refused with 503 and a Retry-After.
    await expect(openRaw(await ts.urlFor('late'))).rejects.toMatchObject({
      status: 503,
      headers: expect.objectContaining({ 'retry-after': '1' }),
    });

    const results = await Promise.all(closes);
    expect(results.every((r) => r.code === 1012)).toBe(true);
    const times = results.map((r) => r.at - t0).sort((a, b) => a - b);
    const spread = times[times.length - 1] - times[0];
    expect(spread).toBeGreaterThanOrEqual(drain.windowMs / 2);
    expect(times[times.length - 1]).toBeLessThanOrEqual(drain.windowMs + 500);
    // Not all at once: no 200 ms slice holds more than a fifth of the closes.
    for (const t of times) expect(times.filter((u) => u >= t && u < t + 200).length).toBeLessThanOrEqual(10);

    const end = await deafEnd;
    expect(end.err).toBe('ECONNRESET');
    expect(end.at - t0).toBeGreaterThanOrEqual(drain.deadlineMs - 50);
    expect(end.at - t0).toBeLessThanOrEqual(drain.deadlineMs + 1_000);

    const report = await ts.server.drained();
    expect(report).toMatchObject({ total: 51, closeSent: 51, reset: 1 });
    expect(ts.server.state).toBe('drained');
  });

  it('is idempotent: a second POST /drain joins the first drain', async () => {
    ts = await startServer({ timeouts: { drain } });
    const ws = await openRaw(await ts.urlFor('a'));
    const c = closed(ws);
    await fetch(`${ts.adminUrl}/drain`, { method: 'POST' });
    const first = ts.server.drainer.progress()!;
    await fetch(`${ts.adminUrl}/drain`, { method: 'POST' }).catch(() => undefined);
    expect(ts.server.drainer.progress()!.startedAt).toBe(first.startedAt);
    expect((await c)[0]).toBe(1012);
  });

  it('POST /drain?wait=1 answers when the drain has finished (the shutdown script waits on it)', async () => {
    ts = await startServer({ timeouts: { drain } });
    const ws = await openRaw(await ts.urlFor('a'));
    const t0 = Date.now();
    const res = await fetch(`${ts.adminUrl}/drain?wait=1`, { method: 'POST' });
    const body = (await res.json()) as { state: string; drain: { total: number; closeSent: number } };
    expect(res.status).toBe(200);
    expect(body.drain).toMatchObject({ total: 1, closeSent: 1 });
    expect(ws.readyState).toBe(WebSocket.CLOSED);
    expect(Date.now() - t0).toBeLessThan(drain.deadlineMs);
  });
});

describe('drain on SIGTERM (real process)', () => {
  it('closes every connection with 1012 and exits 0', async () => {
    const srv = await spawnServer({ SLUICE_TOKEN_SECRET: SECRET, SLUICE_TIMEOUTS: JSON.stringify({ drain }) });
    const url = `ws://127.0.0.1:${srv.port}/socket/websocket?vsn=2.0.0&token=`;
    const clients = await Promise.all(Array.from({ length: 10 }, async (_, i) => openRaw(url + (await token(`p${i}`)))));
    const closes = Promise.all(clients.map(closed));
    const t0 = Date.now();
    srv.proc.kill('SIGTERM');
    const codes = (await closes).map(([code]) => code);
    expect(codes).toEqual(Array(10).fill(1012));
    expect(await srv.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeLessThan(drain.deadlineMs + 2_000);
    const finished = srv.logs.find((l) => l.msg === 'drain finished')!;
    expect(finished).toMatchObject({ reason: 'sigterm', total: 10, closeSent: 10, reset: 0 });
  });

  it('refuses to start with a config that breaks the contract, naming the rule', async () => {
    await expect(spawnServer({ SLUICE_TIMEOUTS: JSON.stringify({ drain: { windowMs: 30_000 } }) })).rejects.toThrow(
      /drain-window-before-deadline/,
    );
  });
});
