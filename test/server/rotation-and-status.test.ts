/** Connection rotation (max lifetime, for the global ALB's timeoutSec) and the admin status/metrics. */
import WebSocket from 'ws';
import { MemoryBackplane } from '../../app/backplane/memory';
import { BackplaneError } from '../../app/backplane/types';
import { defaultTimeouts } from '../../app/contract/timeouts';
import { closed, openRaw, seeded, startServer } from '../helpers/server';

describe('connection rotation', () => {
  it('closes each connection with 1012 before its maximum lifetime, at jittered moments', async () => {
    const timeouts = {
      server: { maxConnectionLifetimeMs: 2_000, lifetimeJitter: 0.5 },
      drain: { windowMs: 300, deadlineMs: 900, marginMs: 300 },
    };
    const ts = await startServer({ timeouts, random: seeded(7) });
    try {
      const t0 = Date.now();
      const clients = await Promise.all(Array.from({ length: 10 }, async (_, i) => openRaw(await ts.urlFor(`r${i}`))));
      const ends = await Promise.all(clients.map((ws) => closed(ws).then(([code, reason]) => ({ code, reason, at: Date.now() - t0 }))));
      for (const e of ends) {
        expect(e).toMatchObject({ code: 1012, reason: 'connection rotation' });
        expect(e.at).toBeGreaterThanOrEqual(1_000 - 50);
        expect(e.at).toBeLessThanOrEqual(2_000 + 200);
      }
      const at = ends.map((e) => e.at).sort((a, b) => a - b);
      expect(at[at.length - 1] - at[0]).toBeGreaterThan(200); // jittered, not in lockstep
    } finally {
      await ts.server.shutdown();
    }
  });
});

describe('admin status and metrics', () => {
  it('reports state, connections and Prometheus metrics', async () => {
    const ts = await startServer({ serverId: 'status-test' });
    try {
      const ws = await openRaw(await ts.urlFor('m1'));
      const status = await (await fetch(`${ts.adminUrl}/status`)).json();
      expect(status).toEqual({
        serverId: 'status-test',
        state: 'serving',
        ready: { ok: true },
        connections: 1,
        drain: null,
        lifecycleWatcher: null,
        backplane: { kind: 'memory', ok: true },
      });
      const metrics = await (await fetch(`${ts.adminUrl}/metrics`)).text();
      for (const name of [
        'sluice_connections 1',
        'sluice_draining 0',
        'sluice_backplane_up 1',
        'sluice_heartbeat_timeouts_total',
        'sluice_signals_relayed_total',
        'sluice_signals_failed_total',
        'sluice_joins_total',
        'sluice_drain_closed',
      ]) {
        expect(metrics).toContain(name);
      }
      expect((await fetch(`${ts.adminUrl}/drain`)).status).toBe(405);
      expect((await fetch(`${ts.adminUrl}/nope`)).status).toBe(404);
      const presence = await (await fetch(`${ts.adminUrl}/presence`)).json();
      expect(presence).toEqual({ peers: [] }); // connected but not joined: not present
      expect(ws.readyState).toBe(WebSocket.OPEN);
      ws.terminate();
    } finally {
      await ts.server.shutdown();
    }
  });
});

describe('admin presence while the backplane is down', () => {
  it('answers 503 backplane_unavailable, not a 500', async () => {
    class DownBackplane extends MemoryBackplane {
      override async presence(): Promise<never> {
        throw new BackplaneError('backplane_unavailable', 'redis unreachable');
      }
    }
    const ts = await startServer({ backplane: new DownBackplane(defaultTimeouts.resume) });
    try {
      const res = await fetch(`${ts.adminUrl}/presence`);
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ error: 'backplane_unavailable' });
    } finally {
      await ts.server.shutdown();
    }
  });
});
