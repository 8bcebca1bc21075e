/**
 * Descriptor exhaustion never takes /healthz down: a server started under `ulimit -n 256` derives
 * its caps from the limit (WebSockets 128, public sockets 160), is flooded with more idle TCP
 * connections than it has descriptors, then filled with WebSockets to its cap, and still answers
 * /healthz, its admin listener, and a real peer once the flood is gone.
 */
import net from 'node:net';
import WebSocket from 'ws';
import { FD_RESERVE } from '../../app/server/config';
import { spawnServer, ServerProcess } from '../helpers/process';
import { openRaw, request, token, until } from '../helpers/server';

const FD_LIMIT = 256;
const SECRET = 'fd-exhaustion-test-secret-at-least-32-chars';
const FLOOD = 600; // more than the process has descriptors

function idle(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** GET over a fresh connection (no pooling: each check needs its own descriptor on the server). */
function get(port: number, path: string, timeoutMs = 3_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`GET ${path}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    s.on('connect', () => s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    s.on('data', (d) => {
      got += d.toString();
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(got)?.[1] ?? 0));
    });
  });
}

describe(`a server under ulimit -n ${FD_LIMIT}`, () => {
  let srv: ServerProcess;
  let cap: number;
  const sockets: net.Socket[] = [];
  beforeAll(async () => {
    srv = await spawnServer({ SLUICE_TOKEN_SECRET: SECRET, SLUICE_LOG_LEVEL: 'info' }, { openFileLimit: FD_LIMIT });
    cap = srv.logs.find((l) => l.msg === 'server listening')!.maxConnections as number;
  }, 30_000);
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    srv.proc.kill('SIGKILL');
    await srv.exited;
  });

  it('derives its caps from the limit', () => {
    const reserved = FD_RESERVE.publicHttp + FD_RESERVE.admin + FD_RESERVE.process;
    expect(cap).toBe(FD_LIMIT - reserved);
    expect(srv.logs.find((l) => l.msg === 'server listening')).toMatchObject({
      publicSocketBudget: cap + FD_RESERVE.publicHttp,
      adminSocketBudget: FD_RESERVE.admin,
    });
  });

  it(`answers /healthz through a flood of ${FLOOD} idle TCP connections`, async () => {
    const t0 = performance.now();
    const flood = await Promise.allSettled(Array.from({ length: FLOOD }, () => idle(srv.port)));
    for (const r of flood) if (r.status === 'fulfilled') sockets.push(r.value);
    expect(sockets.length).toBeGreaterThan(FD_LIMIT); // the kernel accepted more than the server can hold
    const checks: number[] = [];
    for (let i = 0; i < 5; i++) {
      checks.push(await get(srv.port, '/healthz'));
      sockets.push(await idle(srv.port)); // and the flood goes on
    }
    expect(checks).toEqual([200, 200, 200, 200, 200]);
    expect(await get(srv.port, '/readyz')).toBe(200);
    expect(await get(srv.adminPort, '/status')).toBe(200);
    expect(srv.proc.exitCode).toBeNull();
    const alive = sockets.filter((s) => !s.destroyed).length;
    console.log(
      `flood of ${sockets.length} idle connections under ulimit -n ${FD_LIMIT}: /healthz 5/5 answered within ${(performance.now() - t0).toFixed(0)} ms; ${sockets.length - alive} shed so far`,
    );
    expect(srv.logs.filter((l) => l.msg === 'listener error')).toEqual([]); // never reached EMFILE
    for (const s of sockets.splice(0)) s.destroy();
  });

  it('fills to the WebSocket cap, refuses more with 503, and still answers /healthz', async () => {
    const urls = await Promise.all(
      Array.from(
        { length: cap + 10 },
        async (_, i) => `ws://127.0.0.1:${srv.port}/socket/websocket?vsn=2.0.0&token=${await token(`w${i}`, 'client', SECRET)}`,
      ),
    );
    const results = await Promise.allSettled(urls.map((u) => openRaw(u)));
    const open = results.filter((r): r is PromiseFulfilledResult<WebSocket> => r.status === 'fulfilled').map((r) => r.value);
    const refused = results
      .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      .map((r) => (r.reason as { status?: number }).status);
    expect(open.length).toBe(cap);
    expect(refused).toEqual(Array(10).fill(503));
    expect(await get(srv.port, '/healthz')).toBe(200);
    expect(await get(srv.port, '/readyz')).toBe(200);
    console.log(`WebSockets at the cap: ${open.length} open, ${refused.length} refused with 503; /healthz 200`);
    for (const ws of open) ws.terminate();
    // Once they are gone a real peer joins and signals another.
    const deadline = Date.now() + 10_000;
    let a: WebSocket | undefined;
    while (!a) {
      a = await openRaw(`ws://127.0.0.1:${srv.port}/socket/websocket?vsn=2.0.0&token=${await token('alice', 'client', SECRET)}`).catch(
        (err: { status?: number }) => {
          if (err.status !== 503 || Date.now() > deadline) throw err;
          return undefined;
        },
      );
    }
    const b = await openRaw(`ws://127.0.0.1:${srv.port}/socket/websocket?vsn=2.0.0&token=${await token('bob', 'gateway', SECRET)}`);
    expect((await request(a, ['1', '1', 'peer:alice', 'phx_join', {}]))[4].status).toBe('ok');
    expect((await request(b, ['1', '1', 'peer:bob', 'phx_join', {}]))[4].status).toBe('ok');
    expect((await request(a, ['1', '2', 'peer:alice', 'signal', { to: 'bob', id: 's1', data: { hi: 1 } }]))[4]).toEqual({
      status: 'ok',
      response: { status: 'delivered' },
    });
    a.terminate();
    b.terminate();
  });
});

describe('a server whose descriptors run out beneath it (limit lowered with prlimit after start)', () => {
  // libuv meets EMFILE on accept by closing the pending connections it cannot take (its reserve-fd
  // trick); any accept error that still reaches the listener is logged ('listener error'), never fatal.
  it('drops the connections it cannot accept (EMFILE), stays up, and serves again once descriptors free up', async () => {
    const { execFileSync } = await import('node:child_process');
    const { readdirSync } = await import('node:fs');
    const srv = await spawnServer({ SLUICE_TOKEN_SECRET: SECRET });
    const flood: net.Socket[] = [];
    const idleTracked = async (port: number) => {
      const s = await idle(port);
      s.on('error', () => undefined);
      s.on('close', () => undefined);
      return s;
    };
    try {
      const pid = srv.proc.pid!;
      const used = readdirSync(`/proc/${pid}/fd`).length;
      execFileSync('prlimit', ['--pid', String(pid), `--nofile=${used + 10}:`]);
      const made = await Promise.allSettled(Array.from({ length: 60 }, () => idleTracked(srv.port)));
      for (const r of made) if (r.status === 'fulfilled') flood.push(r.value);
      // Past the limit the server closes what it cannot accept: wait for those closes.
      await until(() => flood.filter((s) => s.destroyed).length >= 30, 10_000, 'the server to drop connections it cannot accept');
      expect(srv.proc.exitCode).toBeNull();
      for (const s of flood.splice(0)) s.destroy();
      // The server sees the flood's FINs and frees its descriptors; /healthz answers again.
      let answer = 0;
      for (const t0 = Date.now(); answer !== 200 && Date.now() - t0 < 10_000;) answer = await get(srv.port, '/healthz').catch(() => 0);
      expect(answer).toBe(200);
      expect(srv.proc.exitCode).toBeNull();
    } finally {
      for (const s of flood) s.destroy();
      srv.proc.kill('SIGKILL');
      await srv.exited;
    }
  });
});
