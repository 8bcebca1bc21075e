/**
 * Benchmark: drain 10k connections to a second server. 10,000 peers (in two load-generator
 * processes) exchange numbered signals on server A; A drains (POST /drain: 1012s spread over the
 * 10 s window) and every peer moves to server B (same Redis backplane). Counts lost and duplicated
 * signals, the reconnect gap (loss of the joined session to the next join), how long A takes to
 * close them all, and the reconnect rate B sees, once with the client's restart jitter at the
 * contract's value (100 ms) and once at 1 s: the outage it adds against the spike it spares B.
 *
 * Peers: by default the light fleet (bench/lib/light-fleet-worker.ts: raw ws peers speaking Phoenix
 * V2 with join/resume/acks and an outbox); `--sdk` runs SluiceClient drill fleets instead
 * (bench/lib/fleet-worker.ts), which at 10k saturate both cores of a 2-core machine by themselves.
 *
 * Around each drain it also reads where the reconnect gap goes: the kernel's listen-queue counters
 * (TcpExt ListenOverflows / ListenDrops, machine-wide), B's event-loop delay, and the CPU time of B,
 * A, each load generator and redis-server over the drain (bench/lib/drain-probe.ts). `--cpu-prof DIR`
 * writes server B's V8 CPU profile there (B serves nothing before the drain: the profile is the
 * reconnects).
 *
 * `--baseline DIR` runs each variant a second time with server B (the receiver) from another checkout
 * (DIR: `git archive <commit> | tar -x -C DIR` plus node_modules), alternating with this one,
 * `--rounds N` times: before/after in one run, under the same load.
 *
 * Run: npx tsx bench/drain.ts [--peers 10000] [--sdk] [--jitters 100,1000] [--cpu-prof DIR] [--baseline DIR] [--rounds 1]
 */
import './lib/help'; // first: --help prints the comment above and exits
import { benchArgs, opt } from './lib/args';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultTimeouts } from '../app/contract/timeouts';
import { SOCKET_PATH } from '../app/protocol/endpoints';
import type { DrainReport } from '../app/server/drain';
import { startRedis } from '../app/local/region/redis';
import type { FleetSummary } from '../app/peer/fleet';
import { ask, fleetWorker } from './lib/fleet-ipc';
import { acceptQueue, cpuBetween, listenCounters, procCpuMs, redisPid } from './lib/drain-probe';
import { machine, run, sleep } from './lib/report';
import { type DrainSettings, type Variant, writeDrainResults } from './lib/drain-report';
import { SECRET, startSystem } from './lib/systems';

const opts = benchArgs({
  peers: opt.int(10_000, { min: 2 }),
  sdk: opt.flag(),
  /** The contract's restart jitter (first: the goals are about it) and 1 s, its value before 2026-12-02. */
  jitters: opt.ints([defaultTimeouts.client.restartJitterMs, 1_000], { min: 0 }),
  'cpu-prof': opt.path(),
  baseline: opt.path(),
  rounds: opt.int(1),
});
const PEERS = opts.peers;
const SDK = opts.sdk;
const BASELINE = opts.baseline;
const ROUNDS = opts.rounds;
const CPU_PROF_DIR = opts['cpu-prof'];
const JITTERS = opts.jitters;
const WORKERS = 2;
const INTERVAL_MS = 5_000;

async function status(adminPort: number): Promise<{ connections: number }> {
  const r = await fetch(`http://127.0.0.1:${adminPort}/status`);
  return (await r.json()) as { connections: number };
}

async function variant(redisUrl: string, restartJitterMs: number, receiver: Variant['receiver']): Promise<Variant> {
  // Fresh ids per variant (servers and peers): a server id or a peer's history a previous variant
  // left on the shared Redis would be refused or replayed.
  const tag = `${restartJitterMs}-${Date.now().toString(36)}`;
  const a = await startSystem('sluice', { redisUrl, serverId: `drain-a-${tag}`, maxConnections: PEERS + 500 });
  const b = await startSystem('sluice', {
    redisUrl,
    serverId: `drain-b-${tag}`,
    maxConnections: PEERS + 500,
    ...(receiver === 'baseline' ? { root: BASELINE } : { cpuProfDir: CPU_PROF_DIR }),
  });
  const workers = await Promise.all(Array.from({ length: WORKERS }, () => fleetWorker(SDK)));
  try {
    const urls = [a, b].map((s) => `ws://127.0.0.1:${s.port}${SOCKET_PATH}`);
    const t0 = Date.now();
    await Promise.all(
      workers.map((w, i) =>
        ask(
          w,
          {
            cmd: 'start',
            urls,
            count: PEERS / WORKERS,
            chunk: 250,
            rampMs: 500,
            prefix: `dr${tag}w${i}`,
            intervalMs: INTERVAL_MS,
            seed: 11 + i,
            secret: SECRET,
            timeouts: { client: { restartJitterMs } },
            // The light fleet's own fields (the SDK fleet reads the timeouts above).
            restartJitterMs,
            settleMs: 20_000,
          },
          'ready',
          240_000,
        ),
      ),
    );
    const joinedAfterMs = Date.now() - t0;
    await sleep(INTERVAL_MS + 1_000); // every peer has sent and received before the drain
    const samples: Array<[number, number]> = [];
    let sampling = true;
    let emptiedAt: number | null = null;
    let lastCpuA: number | null = null;
    const queue = { max: null as number | null, full: 0, samples: 0 };
    let lastQueueAt = 0;
    const sampler = (async () => {
      while (sampling) {
        // Each answer on its own: a slow (or, once drained, absent) A must not hide B's count.
        const [onA, onB] = await Promise.allSettled([status(a.adminPort!), status(b.adminPort!)]);
        if (onB.status === 'fulfilled') samples.push([Date.now(), onB.value.connections]);
        if (emptiedAt === null && onA.status === 'fulfilled' && onA.value.connections === 0) emptiedAt = Date.now();
        // A exits once drained: keep its last reading.
        const aCpu = procCpuMs(a.pid);
        if (aCpu !== null) lastCpuA = aCpu;
        if (Date.now() - lastQueueAt >= 500) {
          lastQueueAt = Date.now();
          const q = acceptQueue(b.port);
          if (q) {
            queue.samples++;
            queue.max = Math.max(queue.max ?? 0, q.queued);
            if (q.queued >= q.limit) queue.full++;
          }
        }
        await sleep(100);
      }
    })();
    const pids: Record<string, number | null> = { B: b.pid, A: a.pid, redis: redisPid(redisUrl) };
    workers.forEach((w, i) => (pids[`fleet${i}`] = w.pid ?? null));
    const cpuNow = () => Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, pid === null ? null : procCpuMs(pid)]));
    await b.loopDelay(true);
    await b.accepts(true);
    const listen0 = listenCounters();
    const cpu0 = cpuNow();
    const d0 = Date.now();
    const drain = fetch(`http://127.0.0.1:${a.adminPort}/drain?wait=1`, { method: 'POST' })
      .then((r) => r.json() as Promise<Record<string, unknown>>)
      .catch(() => null);
    const deadline = Date.now() + defaultTimeouts.drain.deadlineMs + 60_000;
    while (Date.now() < deadline && (samples.at(-1)?.[1] ?? 0) < PEERS) await sleep(200);
    const movedAfterMs = Date.now() - d0;
    process.stderr.write(`drain: ${samples.at(-1)?.[1] ?? 0} of ${PEERS} on B after ${movedAfterMs} ms\n`);
    // POST /drain?wait=1 answers {state, drain: DrainReport} once the drain has finished.
    const report = ((await drain)?.drain ?? null) as Pick<Partial<DrainReport>, 'reset' | 'firstCloseMs' | 'lastCloseMs' | 'spread'> | null;
    while (emptiedAt === null && Date.now() < deadline) await sleep(200);
    await sleep(3_000);
    sampling = false;
    await sampler;
    const spanMs = Date.now() - d0;
    const cpuMs = cpuBetween(cpu0, { ...cpuNow(), A: lastCpuA });
    const listen1 = listenCounters();
    const bLoopDelay = await b.loopDelay().catch(() => null);
    const bAccepts = await b.accepts().catch(() => null);
    process.stderr.write(
      `drain span ${spanMs} ms: cpu ms ${JSON.stringify(cpuMs)}, B loop delay ${JSON.stringify(bLoopDelay)}, B accepts ${JSON.stringify(bAccepts)}, listen ${JSON.stringify(listen0)} -> ${JSON.stringify(listen1)}\n`,
    );
    const summaries = await Promise.all(workers.map((w) => ask<FleetSummary>(w, { cmd: 'stop' }, 'summary', 120_000)));
    for (const x of summaries as Array<FleetSummary & { connectMs?: unknown; joinMs?: unknown }>)
      if (x.connectMs) process.stderr.write(`gap halves: connect ${JSON.stringify(x.connectMs)}, join ${JSON.stringify(x.joinMs)}\n`);
    let peak = 0;
    let peak100 = 0;
    for (let i = 0; i < samples.length; i++) {
      const [t, n] = samples[i];
      const later = samples.filter(([u]) => u <= t + 1_000).at(-1)!;
      peak = Math.max(peak, later[1] - n);
      if (i > 0) peak100 = Math.max(peak100, ((n - samples[i - 1][1]) * 100) / Math.max(1, t - samples[i - 1][0]));
    }
    const sum = (f: (s: FleetSummary) => number) => summaries.reduce((x, s) => x + f(s), 0);
    const max = (f: (s: FleetSummary) => number) => Math.max(...summaries.map(f));
    const halves = summaries as Array<FleetSummary & { connectMs?: FleetSummary['gapMs']; joinMs?: FleetSummary['gapMs'] }>;
    const half = (f: (s: (typeof halves)[number]) => number | undefined) => {
      const xs = halves.map(f).filter((x): x is number => x !== undefined);
      return xs.length ? Math.max(...xs) : null;
    };
    return {
      receiver,
      restartJitterMs,
      peers: PEERS,
      joinedAfterMs,
      movedAfterMs,
      emptiedAfterMs: emptiedAt === null ? null : (emptiedAt as number) - d0,
      firstCloseMs: report?.firstCloseMs ?? null,
      lastCloseMs: report?.lastCloseMs ?? null,
      closeSpread: report?.spread ?? null,
      sent: sum((s) => s.sent),
      lost: sum((s) => s.lost),
      duplicated: sum((s) => s.duplicated),
      replayed: sum((s) => s.replayed),
      reconnects: sum((s) => s.reconnects),
      // Two fleets: the larger of their percentiles (an upper bound of the merged one).
      gapP50Ms: max((s) => s.gapMs.p50),
      gapP90Ms: max((s) => s.gapMs.p90),
      gapP99Ms: max((s) => s.gapMs.p99),
      gapMaxMs: max((s) => s.gapMs.max),
      peakReconnectsPerSec: peak,
      peakReconnectsPer100Ms: Math.round(peak100),
      drainReset: report?.reset ?? null,
      connectP50Ms: half((s) => s.connectMs?.p50),
      connectP99Ms: half((s) => s.connectMs?.p99),
      joinP50Ms: half((s) => s.joinMs?.p50),
      joinP99Ms: half((s) => s.joinMs?.p99),
      listenOverflows: listen0 && listen1 ? listen1.listenOverflows - listen0.listenOverflows : null,
      listenDrops: listen0 && listen1 ? listen1.listenDrops - listen0.listenDrops : null,
      bLoopDelay,
      bAccepts,
      bQueueMax: queue.max,
      bQueueFullSamples: queue.full,
      bQueueSamples: queue.samples,
      cpuMs,
      spanMs,
    };
  } finally {
    for (const w of workers) w.kill('SIGKILL');
    await a.stop();
    await b.stop();
  }
}

async function main(): Promise<void> {
  const m = machine();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-drain-'));
  const redis = await startRedis(dir);
  const variants: Variant[] = [];
  // A variant that never got its fleet onto A (a starved machine: no 'ready' within the budget) is
  // reported as failed; the ones that ran are still written.
  const failed: DrainSettings['failed'] = [];
  try {
    for (const j of JITTERS)
      for (let r = 0; r < ROUNDS; r++) {
        // With a baseline: alternate which receiver goes first, so neither always meets the same load.
        const order: Array<Variant['receiver']> = !BASELINE ? ['this'] : r % 2 === 0 ? ['this', 'baseline'] : ['baseline', 'this'];
        for (const receiver of order) {
          try {
            variants.push(await variant(redis.url, j, receiver));
            process.stderr.write(`drain jitter ${j} ms, receiver ${receiver}: ${JSON.stringify(variants.at(-1))}\n`);
          } catch (err) {
            failed.push({ receiver, restartJitterMs: j, error: (err as Error).message });
            process.stderr.write(`drain jitter ${j} ms, receiver ${receiver}: failed: ${(err as Error).message}\n`);
          }
        }
      }
  } finally {
    await redis.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  if (!variants.some((v) => v.receiver === 'this')) throw new Error(`no drain of this checkout completed: ${JSON.stringify(failed)}`);
  writeDrainResults(m, variants, {
    failed,
    peers: PEERS,
    sdk: SDK,
    workers: WORKERS,
    intervalMs: INTERVAL_MS,
    jitters: JITTERS,
    rounds: ROUNDS,
    baseline: BASELINE,
  });
}

run(main);
