/**
 * The rollout, in one process: 200 peers exchange numbered signals on server A while A drains
 * (close 1012 spread over the drain window, RST at the deadline) and server B, sharing A's
 * backplane, takes over. Every timeout is the contract's default. Nothing may be lost or
 * duplicated; the reconnect gap (session lost -> joined again) is reported.
 *
 * The gap is wall-clock time in this one process, which also runs both servers, all 200 clients
 * and their senders (about 1,000 signals/s): whenever the process does not run (other processes on
 * a loaded machine, GC), every gap that is open then grows by as much. Logged beside the gaps, over
 * the drain: the event-loop delay, the CPU this process used, and the time its main thread spent
 * runnable but waiting for a CPU (/proc/self/schedstat, "time spent waiting on a runqueue", Linux
 * sched-stats). A gap over its bound with a large run-queue wait is the machine, not the code: on
 * 2026-12-07 at load 13-17 (other work on the 2 cores) the process used 3.1 s of CPU in a 13.7 s
 * drain and the gaps reached 4.5 s; with the servers moved to child processes the clients' process
 * used 1.9 s and the gaps were no shorter (4.8 s), so the servers sharing this process are not the
 * cause at that load (issue 24).
 */
import fs from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { MemoryBackplane } from '../../app/backplane/memory';
import { defaultTimeouts } from '../../app/contract/timeouts';
import { runFleet } from '../../app/peer/fleet';
import { freePort } from '../backplane/helpers';
import { SECRET, seeded, startServer, TestServer, until } from '../helpers/server';
import { expectExactlyOnce } from '../helpers/fleet';

const PEERS = 200;

/** ms this process's main thread (the event loop) has waited on a run queue: /proc/self/schedstat field 2 (ns). */
function runQueueWaitMs(): number {
  try {
    return Number(fs.readFileSync('/proc/self/schedstat', 'utf8').split(' ')[1]) / 1e6;
  } catch {
    return NaN;
  }
}

test(`${PEERS} peers survive a drain with nothing lost or duplicated`, async () => {
  const backplane = new MemoryBackplane(defaultTimeouts.resume);
  const a = await startServer({ serverId: 'a', backplane, random: seeded(1) });
  // Everyone starts on A; on its 1012 each peer moves on to the next URL, B. B starts once all
  // are on A: a first attempt that times out on a busy machine would otherwise fail over to B.
  const bPort = await freePort();
  let b: TestServer | undefined;
  const fleet = runFleet({
    urls: [a.socketUrl, `ws://127.0.0.1:${bPort}/socket/websocket`],
    count: PEERS,
    tokenSecret: SECRET,
    spread: false,
    intervalMs: 200,
    seed: 42,
  });
  try {
    await fleet.ready();
    expect(a.server.connectionCount).toBe(PEERS);
    b = await startServer({ serverId: 'b', backplane, random: seeded(2), port: bPort });
    await until(() => fleet.peers.every((p) => p.stats.acked >= 3), 10_000, 'every peer exchanging');

    const stalls = monitorEventLoopDelay({ resolution: 10 });
    stalls.enable();
    const cpu = process.cpuUsage();
    const waited = runQueueWaitMs();
    const wall = performance.now();
    const report = await a.server.drain('rollout drill');
    expect(report).toMatchObject({ total: PEERS, closeSent: PEERS, reset: 0 });
    await until(() => fleet.peers.every((p) => p.client.state === 'joined'), 10_000, 'every peer joined again');
    const used = process.cpuUsage(cpu);
    const drain = {
      wallMs: Math.round(performance.now() - wall),
      cpuMs: Math.round((used.user + used.system) / 1e3),
      runQueueMs: Math.round(runQueueWaitMs() - waited),
    };
    expect(b.server.connectionCount).toBe(PEERS);
    // Keep exchanging on B for a while, then stop and let in-flight signals settle.
    const before = fleet.snapshot().delivered;
    await until(() => fleet.snapshot().delivered >= before + 3 * PEERS, 10_000, 'exchange continuing on B');
    const s = await fleet.stop();
    stalls.disable();

    console.log(
      `drain of ${PEERS} peers over ${defaultTimeouts.drain.windowMs} ms: sent ${s.sent}, delivered ${s.delivered}, ` +
        `lost ${s.lost}, duplicated ${s.duplicated}, replayed ${s.replayed}, reconnects ${s.reconnects}, ` +
        `reconnect gap p50 ${s.gapMs.p50} ms, p90 ${s.gapMs.p90} ms, p99 ${s.gapMs.p99} ms, max ${s.gapMs.max} ms; ` +
        `event-loop delay over the drain p99 ${Math.round(stalls.percentile(99) / 1e6)} ms, max ${Math.round(stalls.max / 1e6)} ms; ` +
        `this process over the drain: CPU ${drain.cpuMs} ms, waiting for a CPU ${drain.runQueueMs} ms, in ${drain.wallMs} ms`,
    );
    expectExactlyOnce(s);
    expect(s.reconnects).toBe(PEERS);
    expect(s.gapMs.count).toBe(PEERS);
    expect(s.historyGaps).toBe(0);
    // A 1012 means "reconnect promptly": within the restart jitter plus a connect and join.
    expect(s.gapMs.max).toBeLessThanOrEqual(defaultTimeouts.client.restartJitterMs + 1_000);
  } finally {
    await fleet.stop();
    await a.server.shutdown();
    await b?.server.shutdown();
    await backplane.close();
  }
}, 60_000);
