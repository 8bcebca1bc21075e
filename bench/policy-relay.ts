/**
 * Benchmark: does the signalling policy move the relay figures (issue 23: by no more than 5 %)?
 * The real relay path, end to end: sluice's own entry point (app/server/main.ts) in its own process,
 * 100 client<->gateway pairs from two load-generator processes, ~120 B signals open loop at a fixed
 * rate (bench/relay.ts's measurement). Two policies side by side, in ONE run so the machine's load
 * falls on both alike, alternating A B, B A, ... for several rounds:
 *
 *   policy      the production default: client<->gateway only (every relayed signal is checked
 *               against the target's record: the kind test refuses nothing here, but runs);
 *   permissive  SLUICE_SIGNAL_SAME_KIND=on: the same plumbing with nothing to refuse, the cheapest
 *               policy a deployment can run.
 *
 * Per backplane (memory; Redis with one redis-server, where the check runs in the publish script):
 * the median of each figure, and the median over rounds of the ratio policy / permissive (each
 * ratio from one adjacent pair of sessions).
 *
 * Run: npx tsx bench/policy-relay.ts [--rounds 5] [--rate 2000] [--no-redis]
 */
import './lib/help'; // first: --help prints the comment above and exits
import { benchArgs, opt } from './lib/args';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRedis } from '../app/local/region/redis';
import { LoadGen, measureRelay, pairNames, RelayFigures } from './lib/loadgen-handle';
import { machine, median, ms, run, table, writeResults } from './lib/report';
import { startSystem } from './lib/systems';

// --rate 2k/s: below saturation on 2 shared cores, so latency is the relay's and not a queue's (at
// 5k/s beside other work p50 reached seconds, and only CPU per signal meant anything).
const {
  rounds: ROUNDS,
  rate: RATE,
  'no-redis': NO_REDIS,
} = benchArgs({ rounds: opt.int(5), rate: opt.int(2_000), 'no-redis': opt.flag() });
const PAIRS = 100;
const GENERATORS = 2;
const WARMUP_MS = 1_000;
const DURATION_MS = 3_000;

type Policy = 'policy' | 'permissive';
const POLICIES: Policy[] = ['policy', 'permissive'];
const POLICY_ENV: Record<Policy, Record<string, string>> = {
  policy: { SLUICE_SIGNAL_SAME_KIND: 'off' },
  permissive: { SLUICE_SIGNAL_SAME_KIND: 'on' },
};

let sessions = 0;
async function session(policy: Policy, redisUrl: string | undefined): Promise<RelayFigures> {
  const n = ++sessions;
  const sys = await startSystem('sluice', { env: POLICY_ENV[policy], redisUrl, serverId: `bench-policy-${n}` });
  const gens = await Promise.all(Array.from({ length: GENERATORS }, () => LoadGen.start()));
  try {
    // Fresh peer names per session: no history or quota state carries over between sessions.
    const pairs = pairNames(`pol${n}`, PAIRS, GENERATORS);
    for (const [i, g] of gens.entries()) {
      const o = await g.open('sluice', sys.port, pairs[i].flat());
      if (o.failed > 0) throw new Error(`${policy}: ${o.failed} connections failed: ${o.firstError}`);
    }
    return await measureRelay(sys, gens, pairs, { rate: RATE, warmupMs: WARMUP_MS, durationMs: DURATION_MS });
  } finally {
    await Promise.all(gens.map((g) => g.stop()));
    await sys.stop();
  }
}

interface Series {
  backplane: string;
  runs: Record<Policy, RelayFigures[]>;
  /** policy / permissive per round, for each figure. */
  ratios: { cpuUsPerSignal: number[]; p50Ms: number[]; p99Ms: number[] };
}

async function series(backplane: string, redisUrl: string | undefined): Promise<Series> {
  const s: Series = { backplane, runs: { policy: [], permissive: [] }, ratios: { cpuUsPerSignal: [], p50Ms: [], p99Ms: [] } };
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? POLICIES : [...POLICIES].reverse();
    const got = {} as Record<Policy, RelayFigures>;
    for (const p of order) {
      const r = await session(p, redisUrl);
      got[p] = r;
      s.runs[p].push(r);
      process.stderr.write(
        `${backplane} round ${round + 1} ${p}: p50 ${ms(r.p50Ms)} p99 ${ms(r.p99Ms)} cpu/signal ${r.cpuUsPerSignal.toFixed(1)} us, missing ${r.missing}, load ${os.loadavg()[0].toFixed(1)}\n`,
      );
    }
    for (const k of ['cpuUsPerSignal', 'p50Ms', 'p99Ms'] as const) s.ratios[k].push(got.policy[k] / got.permissive[k]);
  }
  return s;
}

async function main(): Promise<void> {
  const m = machine();
  const all: Series[] = [await series('memory', undefined)];
  if (!NO_REDIS) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-policy-'));
    const redis = await startRedis(dir);
    try {
      all.push(await series('redis', redis.url));
    } finally {
      await redis.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  const sum = (xs: RelayFigures[], k: 'missing') => xs.reduce((a, x) => a + x[k], 0);
  const pct = (x: number) => `${x >= 1 ? '+' : ''}${((x - 1) * 100).toFixed(1)} %`;
  const rows = all.flatMap((s) =>
    (['cpuUsPerSignal', 'p50Ms', 'p99Ms'] as const).map((k) => {
      const fmt = (v: number) => (k === 'cpuUsPerSignal' ? `${v.toFixed(1)} us` : ms(v));
      const r = median(s.ratios[k]);
      return [
        s.backplane,
        k === 'cpuUsPerSignal' ? 'server CPU per signal' : k === 'p50Ms' ? 'relay p50' : 'relay p99',
        fmt(median(s.runs.policy.map((x) => x[k]))),
        fmt(median(s.runs.permissive.map((x) => x[k]))),
        `${r.toFixed(3)} (${pct(r)})`,
        s.ratios[k].map((x) => x.toFixed(2)).join(' '),
        `${sum(s.runs.policy, 'missing')} / ${sum(s.runs.permissive, 'missing')}`,
      ];
    }),
  );
  const md = [
    '# Policy cost on the relay path (bench/policy-relay.ts)',
    '',
    `${PAIRS} client<->gateway pairs, ${RATE} signals/s (~120 B) for ${DURATION_MS / 1000} s after ${WARMUP_MS / 1000} s warm-up, one sluice server process, ${GENERATORS} load generators; ${ROUNDS} rounds per backplane, the two policies alternating (A B, B A, ...) in one run. Ratio = policy / permissive, median over rounds (each from an adjacent pair of sessions).`,
    '',
    table(
      [
        'backplane',
        'figure',
        'policy (default)',
        'permissive (same-kind on)',
        'median ratio',
        'ratio per round',
        'missing (policy / permissive)',
      ],
      rows,
    ),
  ].join('\n');
  writeResults('policy-relay', m, md, { rate: RATE, pairs: PAIRS, rounds: ROUNDS, series: all });
}

run(main);
