/**
 * Benchmark: what one reconnect costs the receiving server. N light peers (bench/lib/light-fleet-worker.ts:
 * raw ws speaking Phoenix V2, token in Sec-WebSocket-Protocol) connect and join one sluice server on
 * Redis at a set rate (by default 1,000/s: a 10k drain into one server over its 10 s window), and
 * the server's CPU time from the first upgrade to the last join reply, divided by N, is the cost of
 * one accept + upgrade + token check + ws handshake + phx_join (claim and replay on Redis). No
 * signals flow, so nothing else is in the figure. `--baseline DIR` runs another checkout's sluice
 * (DIR: `git archive <commit> | tar -x -C DIR` plus node_modules) in alternating rounds in the same
 * run, so both share the machine's load; `--cpu-prof DIR` profiles this checkout's server.
 *
 * Run: npx tsx bench/join-cost.ts [--peers 2000] [--rate 1000] [--rounds 3] [--baseline DIR] [--cpu-prof DIR]
 */
import './lib/help'; // first: --help prints the comment above and exits
import { benchArgs, opt } from './lib/args';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRedis } from '../app/local/region/redis';
import { SOCKET_PATH } from '../app/protocol/endpoints';
import { listenCounters } from './lib/drain-probe';
import { ask, fleetWorker } from './lib/fleet-ipc';
import { machine, median, run, table, writeResults } from './lib/report';
import { RunningSystem, SECRET, startSystem } from './lib/systems';

const opts = benchArgs({
  peers: opt.int(2_000),
  rate: opt.int(1_000),
  rounds: opt.int(3),
  baseline: opt.path(),
  'cpu-prof': opt.path(),
});
const PEERS = opts.peers;
const RATE = opts.rate;
const ROUNDS = opts.rounds;
const BASELINE = opts.baseline;
const CPU_PROF_DIR = opts['cpu-prof'];
/** Peers start in chunks every CHUNK_MS (the drain spreads its closes evenly; this is its arrival rate). */
const CHUNK_MS = 100;

interface Round {
  system: string;
  round: number;
  /** Server CPU per joined peer, us. */
  cpuPerJoinUs: number;
  /** From the first chunk to the last join reply, ms. */
  joinedAfterMs: number;
  loopP99Ms: number;
  loopMaxMs: number;
  listenOverflows: number | null;
  loadavg: number;
}

async function measure(server: RunningSystem, system: string, round: number, tag: string): Promise<Round> {
  const w = await fleetWorker(false);
  try {
    const cpu0 = await server.cpuUs();
    await server.loopDelay(true);
    const l0 = listenCounters();
    const t0 = Date.now();
    await ask(
      w,
      {
        cmd: 'start',
        urls: [`ws://127.0.0.1:${server.port}${SOCKET_PATH}`],
        count: PEERS,
        chunk: Math.max(1, Math.round((RATE * CHUNK_MS) / 1000)),
        rampMs: CHUNK_MS,
        prefix: `jc${tag}r${round}`,
        // No signal within the measurement: the figure is the joins alone.
        intervalMs: 3_600_000,
        secret: SECRET,
        restartJitterMs: 100,
        settleMs: 1_000,
      },
      'ready',
      120_000,
    );
    const joinedAfterMs = Date.now() - t0;
    const cpuUs = (await server.cpuUs()) - cpu0;
    const loop = await server.loopDelay();
    const l1 = listenCounters();
    return {
      system,
      round,
      cpuPerJoinUs: Math.round(cpuUs / PEERS),
      joinedAfterMs,
      loopP99Ms: loop.p99,
      loopMaxMs: loop.max,
      listenOverflows: l0 && l1 ? l1.listenOverflows - l0.listenOverflows : null,
      loadavg: Number(os.loadavg()[0].toFixed(2)),
    };
  } finally {
    w.kill('SIGKILL');
    // The server closes the killed fleet's sockets before the next round.
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && (await status(server)) > 0) await new Promise((r) => setTimeout(r, 200));
  }
}

async function status(s: RunningSystem): Promise<number> {
  const r = await fetch(`http://127.0.0.1:${s.adminPort}/status`);
  return ((await r.json()) as { connections: number }).connections;
}

async function main(): Promise<void> {
  const m = machine();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-join-'));
  const redis = await startRedis(dir);
  const tag = Date.now().toString(36);
  const systems: Array<{ name: string; server: RunningSystem }> = [];
  const rounds: Round[] = [];
  try {
    const opts = { redisUrl: redis.url, maxConnections: PEERS + 500 };
    systems.push({ name: 'sluice', server: await startSystem('sluice', { ...opts, serverId: `jc-${tag}`, cpuProfDir: CPU_PROF_DIR }) });
    if (BASELINE)
      systems.push({ name: 'baseline', server: await startSystem('sluice', { ...opts, serverId: `jc-base-${tag}`, root: BASELINE }) });
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate which goes first, so neither always meets the same moment of the load.
      const order = r % 2 === 0 ? systems : [...systems].reverse();
      for (const s of order) {
        rounds.push(await measure(s.server, s.name, r, `${s.name[0]}${tag}`));
        process.stderr.write(`join-cost ${JSON.stringify(rounds.at(-1))}\n`);
      }
    }
  } finally {
    for (const s of systems) await s.server.stop();
    await redis.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const of = (name: string, f: (r: Round) => number) => median(rounds.filter((r) => r.system === name).map(f));
  const rows = systems.map(({ name }) => [
    name === 'baseline' ? `baseline (${BASELINE})` : 'sluice (this checkout)',
    `${of(name, (r) => r.cpuPerJoinUs)} us`,
    `${of(name, (r) => r.joinedAfterMs)} ms`,
    `${of(name, (r) => r.loopP99Ms)} / ${of(name, (r) => r.loopMaxMs)} ms`,
    of(name, (r) => r.listenOverflows ?? NaN),
  ]);
  const ratio = BASELINE ? of('sluice', (r) => r.cpuPerJoinUs) / of('baseline', (r) => r.cpuPerJoinUs) : null;
  const md = [
    '# Join cost benchmark',
    '',
    `${PEERS.toLocaleString('en')} light peers connect and join one sluice server (Redis backplane) at ${RATE.toLocaleString('en')}/s, ${ROUNDS} rounds` +
      `${BASELINE ? ', alternating with the baseline' : ''}; medians. Server CPU per join: the server's user + system CPU from the first upgrade`,
    'to the last join reply, divided by the peers (no signals flow). Event-loop delay over the same span; listen overflows are',
    'the machine-wide TcpExt counter (other processes count too).',
    `Reproduce: \`npx tsx bench/join-cost.ts --peers ${PEERS} --rate ${RATE} --rounds ${ROUNDS}${BASELINE ? ' --baseline DIR' : ''}\`.`,
    '',
    table(['server', 'CPU per join', 'all joined after', 'loop delay p99 / max', 'listen overflows'], rows),
    '',
    ratio === null ? '' : `This checkout / baseline, CPU per join: ${ratio.toFixed(2)}.`,
    '',
    '## Rounds',
    '',
    table(
      ['server', 'round', 'CPU per join', 'joined after', 'loop p99', 'loop max', 'listen overflows', 'load'],
      rounds.map((r) => [
        r.system,
        r.round,
        `${r.cpuPerJoinUs} us`,
        `${r.joinedAfterMs} ms`,
        `${r.loopP99Ms} ms`,
        `${r.loopMaxMs} ms`,
        r.listenOverflows ?? 'n/a',
        r.loadavg,
      ]),
    ),
  ].join('\n');
  writeResults('join-cost', m, md, { settings: { peers: PEERS, rate: RATE, rounds: ROUNDS, baseline: BASELINE ?? null }, rounds, ratio });
}

run(main);
