/**
 * Benchmark: two servers and one Redis, side by side. 100 pairs, each pair split across the two
 * servers (peer a on server 1, peer b on server 2), so every signal crosses Redis: sluice's Redis
 * backplane (one Lua script per signal: dedupe, seq, history, inbox; the owner acks back) vs
 * Socket.IO with `@socket.io/redis-streams-adapter` (on ioredis) on the same redis-server.
 * Relay p99 at fixed rates (interleaved rounds, medians), then the ceiling (p99 < 500 ms).
 *
 * Run: npx tsx bench/redis.ts [--rounds 2] [--rates 2000,5000]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRedis } from '../app/local/region/redis';
import { LoadGen, measureRelay, RelayFigures } from './lib/loadgen-handle';
import { machine, median, ms, ratio, run, table, writeResults } from './lib/report';
import { RunningSystem, startSystem, SYSTEM_LABEL } from './lib/systems';

type Name = 'sluice' | 'socketio';
const args = process.argv.slice(2);
const ROUNDS = (() => {
  const i = args.indexOf('--rounds');
  return i >= 0 ? Number(args[i + 1]) : 2;
})();
const PAIRS = 100;
const RATES = (() => {
  const i = args.indexOf('--rates');
  return i >= 0 ? args[i + 1].split(',').map(Number) : [2_000, 5_000];
})();
const CEILING_RATES = [5_000, 10_000, 15_000, 20_000];
const CEILING_P99_MS = 500;
const SYSTEMS: Name[] = ['sluice', 'socketio'];

async function session(
  name: Name,
  redisUrl: string,
  fn: (measure: (rate: number, durationMs?: number) => Promise<RelayFigures>) => Promise<void>,
): Promise<void> {
  const servers: RunningSystem[] = [];
  const gens: LoadGen[] = [];
  try {
    // Fresh server ids per session: a server id that a stopped server held stays claimed on the
    // shared Redis until its liveness expires, and a new process with it is refused (by design).
    const run = `${name}-${Date.now().toString(36)}`;
    servers.push(await startSystem(name, { redisUrl, serverId: `${run}-a` }), await startSystem(name, { redisUrl, serverId: `${run}-b` }));
    gens.push(await LoadGen.start(), await LoadGen.start());
    const pairsByGen: Array<Array<[string, string]>> = [[], []];
    for (let k = 0; k < PAIRS; k++) pairsByGen[k % 2].push([`${run}-a${k}`, `${run}-b${k}`]);
    for (const [g, pairs] of pairsByGen.entries()) {
      for (const [side, srv] of servers.entries()) {
        const o = await gens[g].open(
          name,
          srv.port,
          pairs.map((p) => p[side]),
        );
        if (o.failed > 0) throw new Error(`${name}: ${o.failed} connections failed: ${o.firstError}`);
      }
    }
    await fn((rate, durationMs = 4_000) => measureRelay(servers, gens, pairsByGen, { rate, warmupMs: 1_500, durationMs }));
  } finally {
    await Promise.all(gens.map((g) => g.stop()));
    await Promise.all(servers.map((s) => s.stop()));
  }
}

async function main(): Promise<void> {
  const m = machine();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-redis-'));
  const redis = await startRedis(dir);
  const runs: Record<string, RelayFigures[]> = {};
  const ceiling: Record<Name, { ceiling: number; steps: RelayFigures[] }> = {
    sluice: { ceiling: 0, steps: [] },
    socketio: { ceiling: 0, steps: [] },
  };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const name of round % 2 ? [...SYSTEMS].reverse() : SYSTEMS) {
        await session(name, redis.url, async (measure) => {
          for (const rate of RATES) {
            const r = await measure(rate);
            (runs[`${name}@${rate}`] ??= []).push(r);
            process.stderr.write(
              `redis round ${round + 1} ${name} ${rate}/s: p99 ${ms(r.p99Ms)} ack p99 ${ms(r.ackP99Ms)} cpu/signal ${r.cpuUsPerSignal.toFixed(0)} us missing ${r.missing}\n`,
            );
          }
        });
      }
    }
    for (const name of SYSTEMS) {
      await session(name, redis.url, async (measure) => {
        for (const rate of CEILING_RATES) {
          const r = await measure(rate, 3_000);
          ceiling[name].steps.push(r);
          process.stderr.write(`redis ceiling ${name} ${rate}/s: p99 ${ms(r.p99Ms)} delivered ${r.delivered}/${r.sent}\n`);
          if (!(r.p99Ms < CEILING_P99_MS) || r.missing > r.sent * 0.01) break;
          ceiling[name].ceiling = rate;
        }
      });
    }
  } finally {
    await redis.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const med = (n: Name, rate: number, f: (r: RelayFigures) => number) => median((runs[`${n}@${rate}`] ?? []).map(f));
  const us = (x: number) => (Number.isFinite(x) ? `${x.toFixed(0)} us` : 'n/a');
  const rate = (x: number) => (x > 0 ? `${x / 1000}k/s` : `< ${CEILING_RATES[0] / 1000}k/s`);
  const rows: Array<Array<string | number>> = [];
  for (const r of RATES) {
    for (const [label, f, fmt] of [
      ['delivery p50', (x: RelayFigures) => x.p50Ms, (v: number) => ms(v, 2)],
      ['delivery p99', (x: RelayFigures) => x.p99Ms, (v: number) => ms(v, 2)],
      ['ack p99', (x: RelayFigures) => x.ackP99Ms, (v: number) => ms(v, 2)],
      ['CPU per signal (both servers)', (x: RelayFigures) => x.cpuUsPerSignal, us],
      ['not delivered (worst run)', (x: RelayFigures) => x.missing, String],
    ] as Array<[string, (x: RelayFigures) => number, (v: number) => string]>) {
      const worst = label.startsWith('not');
      const v = (n: Name) => (worst ? Math.max(...(runs[`${n}@${r}`] ?? []).map(f)) : med(n, r, f));
      rows.push([`${label} at ${r / 1000}k msg/s`, fmt(v('sluice')), fmt(v('socketio')), worst ? '' : ratio(v('sluice'), v('socketio'))]);
    }
  }
  rows.push([
    `highest offered rate with p99 < ${CEILING_P99_MS} ms`,
    rate(ceiling.sluice.ceiling),
    rate(ceiling.socketio.ceiling),
    ratio(ceiling.sluice.ceiling, ceiling.socketio.ceiling),
  ]);
  const md = [
    '# Two servers + Redis benchmark',
    '',
    `${PAIRS} pairs, each split across two servers in their own processes (every signal crosses Redis), one redis-server (${'loopback'}, no persistence);`,
    `~120 B signals both ways, open loop, 2 load-generator processes; ${ROUNDS} interleaved round(s) of 1.5 s warm-up + 4 s measured per rate; medians.`,
    'sluice: its Redis backplane (dedupe, seq, history and routing in one Lua script per signal; the ack waits for the owning server).',
    'Socket.IO: `@socket.io/redis-streams-adapter` on ioredis, acked by the sending server once emitted (no delivery guarantee behind it).',
    'Reproduce: `npx tsx bench/redis.ts`.',
    '',
    table(['figure', 'sluice (Redis backplane)', `${SYSTEM_LABEL.socketio} + redis-streams-adapter`, 'sluice / Socket.IO'], rows),
    '',
    '## Ceiling steps',
    '',
    table(
      ['system', ...CEILING_RATES.map((r) => `${r / 1000}k/s p99 (server CPU, both)`)],
      SYSTEMS.map((n) => [
        n,
        ...CEILING_RATES.map((r) => {
          const st = ceiling[n].steps.find((x) => x.rate === r);
          return st ? `${ms(st.p99Ms)} (${(st.serverCpu * 100).toFixed(0)} %)` : '-';
        }),
      ]),
    ),
  ].join('\n');
  writeResults('redis', m, md, { settings: { pairs: PAIRS, rates: RATES, ceilingRates: CEILING_RATES, rounds: ROUNDS }, runs, ceiling });
}

run(main);
