/**
 * Benchmark: two servers and Redis, side by side in one run. 100 pairs, each pair split across the
 * two servers (peer a on server 1, peer b on server 2), so every signal crosses Redis. Systems:
 *   - sluice on one Redis primary (SLUICE_REDIS_URL);
 *   - sluice on a Redis Cluster of one primary (SLUICE_REDIS_CLUSTER, every slot on one node);
 *   - sluice on a local 3-primary + 3-replica cluster (test/helpers/redis-cluster.ts);
 *   - Socket.IO with `@socket.io/redis-streams-adapter` on the same single Redis;
 *   - sluice on ONE server, both peers of a pair on it, no Redis: the single-server reference.
 * Each session: start the servers, open the pairs, then warm up until a whole pass of signals is
 * answered without `backplane_unavailable` (a fresh Redis holds the backplane in its recovery window,
 * and the load generator does not retry), then rising rates in the same warm session until p99
 * passes 500 ms. The fixed-rate rows of the table and the ceiling are the same measurements, so they
 * cannot disagree. Per step: server CPU (both servers), CPU of every redis-server process
 * (/proc/<pid>/stat) and its commands (INFO commandstats), each divided by the signals offered.
 *
 * Run: npx tsx bench/redis.ts [--rounds 2] [--rates 2000,5000,10000,15000,20000] [--pairs 100]
 */
import './lib/help'; // first: --help prints the comment above and exits
import { benchArgs, opt } from './lib/args';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRedis } from '../app/local/region/redis';
import { RedisCluster } from '../test/helpers/redis-cluster';
import { LoadGen, measureRelay } from './lib/loadgen-handle';
import { READINESS_PATH } from '../app/protocol/endpoints';
import { machine, run, sleep, writeResults } from './lib/report';
import { BenchSystem, Step, SYSTEMS, renderRedisReport } from './lib/redis-report';
import { attachNodes, delta, detach, RedisNode, sample } from './lib/redis-stats';
import { RunningSystem, startSystem } from './lib/systems';

const opts = benchArgs({
  rounds: opt.int(2),
  pairs: opt.int(100),
  rates: opt.ints([2_000, 5_000, 10_000, 15_000, 20_000]),
});
const ROUNDS = opts.rounds;
/**
 * Pairs (each split across the servers). sluice runs a connection's signals one at a time, each
 * waiting for its `ok` (app/server/frame-queue.ts), so at R msg/s each of the 2 x PAIRS senders must
 * get its `ok` within 2 x PAIRS / R (40 ms at 5k/s with 100 pairs) or its queue grows without end:
 * `--pairs` shows how much of a ceiling is that per-connection bound rather than CPU.
 */
const PAIRS = opts.pairs;
const STEP_RATES = opts.rates;
/** The rows of the side-by-side table: the first two steps. The one-server reference runs only these. */
const TABLE_RATES = STEP_RATES.slice(0, 2);
const CEILING_P99_MS = 500;
const WARMUP_MS = 1_000;
const DURATION_MS = 3_000;
/** Warm-up passes: 1 s at 1k/s each, until one has no refusal (bounded). */
const WARM_PASS_RATE = 1_000;
const WARM_LIMIT_MS = 40_000;
/** A step whose load generator ran this late behind its schedule measured the generator, not the system. */
const GENERATOR_LAG_MS = 100;

interface Backend {
  env: Record<string, string>;
  redisUrl?: string;
  nodes: RedisNode[];
}

async function untilReady(port: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}${READINESS_PATH}`);
      if (r.ok) return;
      last = `${r.status} ${await r.text()}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`server :${port} not ready within ${timeoutMs} ms (${last})`);
}

async function session(sys: BenchSystem, backend: Backend, round: number, steps: Step[]): Promise<{ warmMs: number }> {
  const servers: RunningSystem[] = [];
  const gens: LoadGen[] = [];
  const name = sys === 'socketio' ? 'socketio' : 'sluice';
  try {
    // Fresh server ids per session: a stopped server's id stays claimed on Redis until its liveness expires.
    const run = `${sys}-${round}-${Date.now().toString(36)}`;
    const nServers = sys === 'one-server' ? 1 : 2;
    for (let i = 0; i < nServers; i++)
      servers.push(await startSystem(name, { redisUrl: backend.redisUrl, env: backend.env, serverId: `${run}-${i}` }));
    // A sluice server refuses upgrades (503) until it has reached its backplane: on a cluster that is
    // 18 cluster clients (command, sub, one reader per bucket), so wait for /readyz on each.
    if (name === 'sluice') await Promise.all(servers.map((s) => untilReady(s.port)));
    gens.push(await LoadGen.start(), await LoadGen.start());
    const pairsByGen: Array<Array<[string, string]>> = [[], []];
    for (let k = 0; k < PAIRS; k++) pairsByGen[k % 2].push([`${run}-a${k}`, `${run}-b${k}`]);
    if (pairsByGen.some((p) => p.length % 2)) throw new Error('--pairs must be a multiple of 4 (an even count per generator)');
    for (const [g, pairs] of pairsByGen.entries()) {
      for (const side of [0, 1]) {
        // The generator makes the i-th id of a list a client (even i) or a gateway (odd i), and only
        // client<->gateway may signal (the default policy): side b lists each two pairs swapped
        // (b1 b0 b3 b2 ...), so b_k gets the other kind than a_k.
        const ids = pairs.map((p, i) => (side === 0 ? p[0] : pairs[i ^ 1][1]));
        const o = await gens[g].open(name, servers[side % nServers].port, ids);
        if (o.failed > 0) throw new Error(`${sys}: ${o.failed} connections failed: ${o.firstError}`);
      }
    }
    // Warm-up: the recovery window of a fresh Redis (publishes answered backplane_unavailable, as
    // test/backplane/helpers.ts untilPresenceSettled waits out), JIT, connection buffers.
    const w0 = Date.now();
    for (;;) {
      const r = await measureRelay(servers, gens, pairsByGen, { rate: WARM_PASS_RATE, warmupMs: 0, durationMs: 1_000 });
      // Refusals are the recovery window; "missing" on a loaded machine is only lateness (3 s settle),
      // so a pass with refusals is repeated, one merely late is not.
      if (r.nacked === 0) break;
      if (Date.now() - w0 > WARM_LIMIT_MS)
        throw new Error(`${sys}: still refusing after ${WARM_LIMIT_MS} ms of warm-up (${r.nacked} refused, ${r.missing} missing)`);
    }
    const warmMs = Date.now() - w0;
    for (const rate of sys === 'one-server' ? TABLE_RATES : STEP_RATES) {
      const before = await sample(backend.nodes);
      const t0 = Date.now();
      const r = await measureRelay(servers, gens, pairsByGen, { rate, warmupMs: WARMUP_MS, durationMs: DURATION_MS });
      const nodes = delta(before, await sample(backend.nodes));
      const wallMs = Date.now() - t0;
      const offered = (rate * (WARMUP_MS + DURATION_MS)) / 1000;
      const sum = (f: (n: (typeof nodes)[number]) => number, only?: 'primary') =>
        nodes.filter((n) => !only || n.role === only).reduce((s, n) => s + f(n), 0);
      const step: Step = {
        system: sys,
        round,
        ...r,
        wallMs,
        redisCpuUsPerSignal: nodes.length ? sum((n) => n.cpuUs) / offered : NaN,
        redisPrimaryCpuUsPerSignal: nodes.length ? sum((n) => n.cpuUs, 'primary') / offered : NaN,
        commandsPerSignal: nodes.length ? sum((n) => n.calls, 'primary') / offered : NaN,
        scriptsPerSignal: nodes.length ? sum((n) => n.scripts, 'primary') / offered : NaN,
        nodes: nodes.map((n) => ({ port: n.port, role: n.role, cpuUs: n.cpuUs, calls: n.calls })),
        generatorBound: r.loadgenLagMaxMs > GENERATOR_LAG_MS,
      };
      steps.push(step);
      process.stderr.write(
        `redis r${round + 1} ${sys} ${rate}/s: p99 ${r.p99Ms.toFixed(1)} ms, server ${r.cpuUsPerSignal.toFixed(0)} us/signal, ` +
          `redis ${step.redisCpuUsPerSignal.toFixed(0)} us/signal, ${step.commandsPerSignal.toFixed(1)} cmds/signal, ` +
          `missing ${r.missing}, refused ${r.nacked}, generator lag ${r.loadgenLagMaxMs.toFixed(0)} ms\n`,
      );
      if (!(r.p99Ms < CEILING_P99_MS) || r.missing > r.sent * 0.01) break;
    }
    return { warmMs };
  } finally {
    await Promise.all(gens.map((g) => g.stop()));
    await Promise.all(servers.map((s) => s.stop()));
  }
}

async function main(): Promise<void> {
  const m = machine();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-redis-'));
  const single = await startRedis(dir);
  const clusters: RedisCluster[] = [];
  const steps: Step[] = [];
  const warm: Record<string, number[]> = {};
  const failures: string[] = [];
  const allNodes: RedisNode[] = [];
  try {
    const c1 = await RedisCluster.start({ primaries: 1, replicas: 0 });
    clusters.push(c1);
    const c3 = await RedisCluster.start({ primaries: 3, replicas: 1 });
    clusters.push(c3);
    const singleNodes = await attachNodes([Number(new URL(single.url).port)]);
    const c1Nodes = await attachNodes(c1.nodes.map((n) => n.port));
    const c3Nodes = await attachNodes(c3.nodes.map((n) => n.port));
    allNodes.push(...singleNodes, ...c1Nodes, ...c3Nodes);
    const backends: Record<BenchSystem, Backend> = {
      sluice: { env: {}, redisUrl: single.url, nodes: singleNodes },
      'sluice-c1': { env: { SLUICE_REDIS_CLUSTER: c1.seedText }, nodes: c1Nodes },
      'sluice-c3': { env: { SLUICE_REDIS_CLUSTER: c3.seedText }, nodes: c3Nodes },
      socketio: { env: {}, redisUrl: single.url, nodes: singleNodes },
      'one-server': { env: {}, nodes: [] },
    };
    for (let round = 0; round < ROUNDS; round++) {
      // Interleaved: each round starts one system later (A B C D E, B C D E A, ...).
      const order = SYSTEMS.map((_, i) => SYSTEMS[(i + round) % SYSTEMS.length]);
      for (const sys of order) {
        // One system failing (a server that never got ready, a warm-up that never stopped refusing)
        // is reported in the results; the others still run.
        try {
          (warm[sys] ??= []).push((await session(sys, backends[sys], round, steps)).warmMs);
        } catch (err) {
          failures.push(`${sys} round ${round + 1}: ${(err as Error).message}`);
          process.stderr.write(`redis: ${sys} round ${round + 1} failed: ${(err as Error).message}\n`);
        }
      }
    }
  } finally {
    await detach(allNodes);
    await Promise.all(clusters.map((c) => c.destroy()));
    await single.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const md = renderRedisReport({
    steps,
    rounds: ROUNDS,
    pairs: PAIRS,
    stepRates: STEP_RATES,
    tableRates: TABLE_RATES,
    warm,
    failures,
    p99LimitMs: CEILING_P99_MS,
    warmupMs: WARMUP_MS,
    durationMs: DURATION_MS,
  });
  writeResults('redis', m, md.markdown, {
    settings: {
      pairs: PAIRS,
      stepRates: STEP_RATES,
      tableRates: TABLE_RATES,
      rounds: ROUNDS,
      warmupMs: WARMUP_MS,
      durationMs: DURATION_MS,
    },
    goals: md.goals,
    ceilings: md.ceilings,
    warmMs: warm,
    failures,
    steps,
  });
  // Written first, then reported as a failure of the run (npm run bench lists it).
  if (failures.length) throw new Error(`redis: ${failures.length} session(s) failed: ${failures.join('; ')}`);
}

run(main);
