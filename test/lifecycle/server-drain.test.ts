/**
 * The watcher wired to a real server: a MIG action drains the server (readiness off at once, 1012 to
 * peers that answer, RST at the deadline for those that do not), and the `npm run server` process
 * (app/server/main.ts with SLUICE_GCE_WATCHER=on) drains and exits 0 on DELETING.
 */
import { LifecycleWatcher } from '../../app/lifecycle';
import { spawnServer } from '../helpers/process';
import { closed, openRaw, startServer, TestServer } from '../helpers/server';
import { GceDouble, ListCall } from './gce-double';

const FAST_DRAIN = {
  drain: { windowMs: 200, deadlineMs: 1_500, marginMs: 100 },
  gce: { watcherPollIntervalMs: 200, watcherRequestTimeoutMs: 150 },
};

let double: GceDouble;
beforeEach(async () => {
  double = await new GceDouble().start();
});
afterEach(() => double.close());

function onList(n: number, fn: () => void): Promise<void> {
  return new Promise((resolve) => {
    const h = (call: ListCall) => {
      if (call.n < n) return;
      double.off('list', h);
      fn();
      resolve();
    };
    double.on('list', h);
  });
}

describe('watcher + server', () => {
  let ts: TestServer;
  afterEach(() => ts.server.shutdown());

  it('DELETING drains the server: /readyz 503 at once, 1012 to a live peer, RST to a silent one at the deadline', async () => {
    ts = await startServer({ timeouts: FAST_DRAIN });
    const live = await openRaw(await ts.urlFor('gw-live', 'gateway'));
    const silent = await openRaw(await ts.urlFor('gw-silent', 'gateway'));
    // The silent peer stops reading: it never sees (or answers) its close frame.
    silent.pause();
    const liveClosed = closed(live);
    const silentClosed = closed(silent);
    expect((await fetch(`http://127.0.0.1:${ts.port}/readyz`)).status).toBe(200);

    const readyzWhileDraining = new Promise<number>((resolve) => {
      ts.server.drainer.once('state', () => void fetch(`http://127.0.0.1:${ts.port}/readyz`).then((r) => resolve(r.status)));
    });
    const watcher = new LifecycleWatcher({
      pollIntervalMs: FAST_DRAIN.gce.watcherPollIntervalMs,
      requestTimeoutMs: FAST_DRAIN.gce.watcherRequestTimeoutMs,
      metadataUrl: double.metadataUrl,
      computeUrl: double.computeUrl,
      onDrain: (action) => void ts.server.drain(`gce-lifecycle:${action}`),
    });
    const changed = onList(1, () => (double.action = 'DELETING'));
    watcher.start();
    await changed;

    expect(await readyzWhileDraining).toBe(503);
    expect((await liveClosed)[0]).toBe(1012);
    // The drain ends at its deadline (the silent peer never answered), with an RST for that peer.
    const report = await ts.server.drained();
    silent.resume();
    await silentClosed; // it reads the 1012 that reached its buffer, then finds the connection reset
    expect(report.reason).toBe('gce-lifecycle:DELETING');
    expect(report.total).toBe(2);
    expect(report.closeSent).toBe(2);
    expect(report.reset).toBe(1);
    expect(report.finishedAt - report.startedAt).toBeGreaterThanOrEqual(FAST_DRAIN.drain.deadlineMs - 5);
    await watcher.stop();
  });
});

describe('npm run server with SLUICE_GCE_WATCHER=on (one shutdown controller, issue 10 defect 4)', () => {
  const env = () => ({
    SLUICE_GCE_WATCHER: 'on',
    SLUICE_TIMEOUTS: JSON.stringify(FAST_DRAIN),
    GCE_METADATA_HOST: `127.0.0.1:${double.port}`,
    SLUICE_GCE_COMPUTE_URL: double.computeUrl,
  });

  it('on DELETING it drains once and stays up drained (no exit, so no systemd restart and no second drain); SIGTERM then exits 0', async () => {
    const srv = await spawnServer(env());
    const killer = setTimeout(() => srv.proc.kill('SIGKILL'), 30_000);
    try {
      const status = (await (await fetch(`http://127.0.0.1:${srv.adminPort}/status`)).json()) as Record<string, any>;
      expect(status.lifecycleWatcher).toMatchObject({ lastResult: expect.any(String), polls: expect.any(Number) });
      await onList(2, () => (double.action = 'DELETING'));
      await srv.waitForLog('drained: staying up, unready, until the VM stops (no restart)', 10_000);
      // Still alive a full drain deadline later: the old code exited 0 here and systemd restarted it.
      const early = await Promise.race([
        srv.exited,
        new Promise<'alive'>((r) => setTimeout(() => r('alive'), FAST_DRAIN.drain.deadlineMs)),
      ]);
      expect(early).toBe('alive');
      // Unready: the public listener is closed, so the LB's /readyz probe fails.
      await expect(fetch(`http://127.0.0.1:${srv.port}/readyz`)).rejects.toThrow();
      srv.proc.kill('SIGTERM');
      expect(await srv.exited).toEqual({ code: 0, signal: null });
    } finally {
      clearTimeout(killer);
    }
    const drains = srv.logs.filter((l) => l.msg === 'drain finished');
    expect(drains).toHaveLength(1);
    expect(drains[0]).toMatchObject({ reason: 'watcher:DELETING' });
    expect(srv.logs).toContainEqual(expect.objectContaining({ msg: 'lifecycle watcher: DELETING, starting the drain' }));
    expect(srv.logs).toContainEqual(
      expect.objectContaining({ msg: 'exiting after drain', reason: 'watcher', why: 'sigterm after watcher drain' }),
    );
  });

  it('an admin drain is adopted (not drained twice) and exits 0; the watcher reports a 403 in /status and the metric', async () => {
    double.listFaults.push('forbidden', 'forbidden', 'forbidden', 'forbidden', 'forbidden', 'forbidden');
    const srv = await spawnServer(env());
    const killer = setTimeout(() => srv.proc.kill('SIGKILL'), 30_000);
    try {
      await onList(2, () => undefined);
      const status = (await (await fetch(`http://127.0.0.1:${srv.adminPort}/status`)).json()) as Record<string, any>;
      expect(status.lifecycleWatcher).toMatchObject({ up: false, lastResult: 'error', lastStatus: 403 });
      const metrics = await (await fetch(`http://127.0.0.1:${srv.adminPort}/metrics`)).text();
      expect(metrics).toMatch(/^sluice_lifecycle_watcher_up 0$/m);
      const r = await fetch(`http://127.0.0.1:${srv.adminPort}/drain?wait=1`, { method: 'POST' });
      expect(r.status).toBe(200);
      expect(await srv.exited).toEqual({ code: 0, signal: null });
    } finally {
      clearTimeout(killer);
    }
    expect(srv.logs.filter((l) => l.msg === 'drain finished')).toHaveLength(1);
    expect(srv.logs).toContainEqual(expect.objectContaining({ msg: 'exiting after drain', reason: 'admin' }));
  });
});
