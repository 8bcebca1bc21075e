/**
 * The watcher wired to a real server: a MIG action drains the server (readiness off at once, 1012 to
 * peers that answer, RST at the deadline for those that do not), and the `npm run server` process
 * (app/server/main.ts with SLUICE_GCE_WATCHER=on) drains and exits 0 on DELETING.
 */
import { LifecycleWatcher } from '../../app/lifecycle';
import { spawnServer } from '../helpers/process';
import { closed, openRaw, startServer, TestServer } from '../helpers/server';
import { GceDouble, ListCall } from './gce-double';

const FAST_DRAIN = { drain: { windowMs: 200, deadlineMs: 1_500, marginMs: 100 }, gce: { watcherPollIntervalMs: 25 } };

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

describe('npm run server with SLUICE_GCE_WATCHER=on', () => {
  it('drains and exits 0 when its MIG starts DELETING it', async () => {
    const srv = await spawnServer({
      SLUICE_GCE_WATCHER: 'on',
      SLUICE_TIMEOUTS: JSON.stringify(FAST_DRAIN),
      GCE_METADATA_HOST: `127.0.0.1:${double.port}`,
      SLUICE_GCE_COMPUTE_URL: double.computeUrl,
    });
    const killer = setTimeout(() => srv.proc.kill('SIGKILL'), 30_000);
    try {
      // Two polls answered NONE: the server keeps serving. Then the MIG schedules the deletion.
      await onList(2, () => (double.action = 'DELETING'));
      expect(await srv.exited).toEqual({ code: 0, signal: null });
    } finally {
      clearTimeout(killer);
    }
    expect(srv.logs).toContainEqual(expect.objectContaining({ msg: 'drain finished', reason: 'gce-lifecycle:DELETING' }));
    expect(srv.logs).toContainEqual(expect.objectContaining({ msg: 'lifecycle watcher: DELETING, starting the drain' }));
    expect(double.listCalls.length).toBeGreaterThanOrEqual(3);
  });
});
