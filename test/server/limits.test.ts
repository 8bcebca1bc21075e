/**
 * Connection limits, measured (docs/security.md "Limits and failure behaviour"): a silent or slowloris TCP
 * connection is closed within 10 s on both listeners; a connection that never joins is closed with
 * 4408 at the join deadline; upgrades beyond SLUICE_MAX_CONNECTIONS get 503 + Retry-After while
 * /readyz stays 200; beyond SLUICE_MAX_CONNECTIONS_PER_PEER a sub's further upgrades get 429.
 */
import net from 'node:net';
import WebSocket from 'ws';
import { httpTimeouts, joinDeadlineMs } from '../../app/server/config';
import { defaultTimeouts } from '../../app/contract/timeouts';
import { CLOSE } from '../../app/protocol/phoenix';
import { closed, openRaw, request, startServer, until } from '../helpers/server';

const BOUND_MS = 10_000;

/** Connect, optionally trickle one header line every `trickleMs`, and resolve with ms until the server closed it. */
function timeToClose(port: number, trickleMs?: number): Promise<{ ms: number; answer: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let t0 = 0;
    let answer = '';
    let timer: NodeJS.Timeout | undefined;
    const guard = setTimeout(() => {
      socket.destroy();
      reject(new Error(`still open after ${2 * BOUND_MS} ms`));
    }, 2 * BOUND_MS);
    socket.on('connect', () => {
      t0 = performance.now();
      if (trickleMs === undefined) return;
      socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
      let i = 0;
      timer = setInterval(() => {
        if (!socket.destroyed) socket.write(`X-Slow-${i++}: ${'a'.repeat(8)}\r\n`);
      }, trickleMs);
    });
    socket.on('data', (d) => {
      answer += d.toString();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(guard);
      clearInterval(timer);
      resolve({ ms: performance.now() - t0, answer: answer.split('\r\n')[0] });
    });
  });
}

describe('idle limits with the contract defaults', () => {
  it('closes silent and slowloris connections within 10 s on both listeners, and an unjoined WebSocket at the join deadline', async () => {
    const ts = await startServer();
    try {
      const url = await ts.urlFor('never-joins');
      // From before the upgrade request: the server's deadline starts later (at the upgrade), so the
      // measured time can only be longer than the server's, never shorter.
      const t0 = performance.now();
      const ws = await openRaw(url);
      const wsClosed = closed(ws).then(([code, reason]) => ({ ms: performance.now() - t0, code, reason }));
      const [silentPublic, silentAdmin, tricklePublic, trickleAdmin, unjoined] = await Promise.all([
        timeToClose(ts.port),
        timeToClose(ts.adminPort),
        timeToClose(ts.port, 500),
        timeToClose(ts.adminPort, 500),
        wsClosed,
      ]);
      const f = (m: { ms: number }) => `${(m.ms / 1000).toFixed(2)} s`;
      console.log(
        `closed: silent public ${f(silentPublic)}, silent admin ${f(silentAdmin)}, slowloris public ${f(tricklePublic)} (${tricklePublic.answer}), slowloris admin ${f(trickleAdmin)}, unjoined WebSocket ${f(unjoined)} (${unjoined.code})`,
      );
      const { headersTimeoutMs, boundMs } = httpTimeouts(defaultTimeouts);
      for (const m of [silentPublic, silentAdmin, tricklePublic, trickleAdmin]) {
        expect(m.ms).toBeLessThanOrEqual(Math.min(boundMs + 500, BOUND_MS));
        expect(m.ms).toBeGreaterThanOrEqual(headersTimeoutMs - 100); // the header timer closed it, nothing earlier
      }
      expect(tricklePublic.answer).toMatch(/^HTTP\/1\.1 408/);
      expect(unjoined).toMatchObject({ code: CLOSE.joinTimeout, reason: 'join timeout' });
      expect(unjoined.ms).toBeGreaterThanOrEqual(joinDeadlineMs(defaultTimeouts) - 100);
      expect(unjoined.ms).toBeLessThanOrEqual(joinDeadlineMs(defaultTimeouts) + 1_000);
      expect((await fetch(`http://127.0.0.1:${ts.port}/healthz`)).status).toBe(200);
    } finally {
      await ts.server.shutdown();
    }
  }, 30_000);
});

describe('join deadline', () => {
  const FAST = { client: { connectTimeoutMs: 300, joinTimeoutMs: 300 } };
  it('closes connections that do not join (heartbeats do not count) with 4408; joined ones stay', async () => {
    const ts = await startServer({ timeouts: FAST });
    try {
      const deadline = joinDeadlineMs(ts.server.config.timeouts);
      expect(deadline).toBe(600);
      const joined = await openRaw(await ts.urlFor('joins'));
      expect((await request(joined, ['1', '1', 'peer:joins', 'phx_join', {}]))[4].status).toBe('ok');
      const t0 = performance.now();
      const silent = await openRaw(await ts.urlFor('silent'));
      const chatty = await openRaw(await ts.urlFor('chatty'));
      const beat = setInterval(() => chatty.send(JSON.stringify([null, 'hb', 'phoenix', 'heartbeat', {}])), 100);
      const [a, b] = await Promise.all([closed(silent), closed(chatty)]);
      clearInterval(beat);
      const ms = performance.now() - t0;
      expect(a).toEqual([CLOSE.joinTimeout, 'join timeout']);
      expect(b).toEqual([CLOSE.joinTimeout, 'join timeout']);
      expect(ms).toBeGreaterThanOrEqual(deadline - 50);
      expect(ms).toBeLessThan(deadline + 1_000);
      // Well past the deadline for `joined` too: it still answers.
      expect((await request(joined, [null, 'hb2', 'phoenix', 'heartbeat', {}]))[4].status).toBe('ok');
      expect(joined.readyState).toBe(WebSocket.OPEN);
      expect(await (await fetch(`${ts.adminUrl}/metrics`)).text()).toMatch(/sluice_connections_closed_total\{reason="join_timeout"\} 2/);
      joined.terminate();
    } finally {
      await ts.server.shutdown();
    }
  });
});

describe('SLUICE_MAX_CONNECTIONS', () => {
  it('refuses upgrades beyond the cap with 503 + Retry-After, keeps /readyz 200, and admits again once one closes', async () => {
    const CAP = 20;
    const ts = await startServer({ limits: { maxConnections: CAP } });
    try {
      const open = await Promise.all(Array.from({ length: CAP }, async (_, i) => openRaw(await ts.urlFor(`p${i}`))));
      const refused = await Promise.allSettled(Array.from({ length: 5 }, async (_, i) => openRaw(await ts.urlFor(`extra${i}`))));
      for (const r of refused) {
        expect(r.status).toBe('rejected');
        const err = (r as PromiseRejectedResult).reason as { status: number; headers: Record<string, string> };
        expect(err.status).toBe(503);
        expect(err.headers['retry-after']).toBe('1');
      }
      expect(ts.server.connectionCount).toBe(CAP);
      const ready = await fetch(`http://127.0.0.1:${ts.port}/readyz`);
      expect(ready.status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${ts.port}/healthz`)).status).toBe(200);
      expect(await (await fetch(`${ts.adminUrl}/metrics`)).text()).toMatch(/sluice_upgrades_rejected_total\{reason="at_capacity"\} 5/);
      open[0].close();
      await until(() => ts.server.connectionCount < CAP, 5_000, 'a slot to free');
      const again = await openRaw(await ts.urlFor('again'));
      expect((await request(again, ['1', '1', 'peer:again', 'phx_join', {}]))[4].status).toBe('ok');
      for (const ws of [...open, again]) ws.terminate();
    } finally {
      await ts.server.shutdown();
    }
  });

  it('counts upgrades still verifying their token: a burst cannot overshoot the cap', async () => {
    const CAP = 10;
    const ts = await startServer({ limits: { maxConnections: CAP } });
    try {
      const urls = await Promise.all(Array.from({ length: 40 }, (_, i) => ts.urlFor(`burst${i}`)));
      const results = await Promise.allSettled(urls.map((u) => openRaw(u)));
      const ok = results.filter((r) => r.status === 'fulfilled');
      expect(ok.length).toBe(CAP);
      expect(
        results
          .filter((r) => r.status === 'rejected')
          .every((r) => ((r as PromiseRejectedResult).reason as { status: number }).status === 503),
      ).toBe(true);
      for (const r of ok) (r as PromiseFulfilledResult<WebSocket>).value.terminate();
    } finally {
      await ts.server.shutdown();
    }
  });
});

describe('SLUICE_MAX_CONNECTIONS_PER_PEER', () => {
  it("refuses a sub's upgrades beyond the cap with 429 (joined or not), leaves other subs alone, admits once one ends", async () => {
    const ts = await startServer({ limits: { maxConnectionsPerPeer: 3 } });
    try {
      const url = await ts.urlFor('greedy');
      const joined = await openRaw(url);
      expect((await request(joined, ['1', '1', 'peer:greedy', 'phx_join', {}]))[4].status).toBe('ok');
      const others = [await openRaw(url), await openRaw(url)];
      const refused = await openRaw(url).then(
        () => null,
        (err: { status: number }) => err.status,
      );
      expect(refused).toBe(429);
      const neighbour = await openRaw(await ts.urlFor('neighbour'));
      expect((await request(neighbour, ['1', '1', 'peer:neighbour', 'phx_join', {}]))[4].status).toBe('ok');
      const gone = closed(others[0]);
      others[0].close();
      await gone;
      await until(() => ts.server.connectionCount === 3, 5_000, 'the closed one to leave');
      const fresh = await openRaw(url);
      // The newest join wins: the earlier joined connection is evicted, as before.
      const evicted = closed(joined);
      expect((await request(fresh, ['1', '1', 'peer:greedy', 'phx_join', {}]))[4].status).toBe('ok');
      expect(await evicted).toEqual([CLOSE.evicted, 'peer connected elsewhere']);
      expect(await (await fetch(`${ts.adminUrl}/metrics`)).text()).toMatch(
        /sluice_upgrades_rejected_total\{reason="peer_connection_limit"\} 1/,
      );
      for (const ws of [others[1], fresh, neighbour]) ws.terminate();
    } finally {
      await ts.server.shutdown();
    }
  });
});
