/**
 * Benchmark: relay latency, server CPU per signal and the ceiling, side by side.
 * 100 pairs (200 connections, every one authenticated and joined) on one server; each peer sends
 * ~120 B signals to its partner, open loop at a fixed total rate; latency is from when a signal was
 * due to when its recipient got it (both in the load-generator process, a separate process from the
 * server). Systems run interleaved (A B C D, B C D A, ...), 3 rounds; the figures are medians.
 * Then the ceiling: rising rates until p99 passes 500 ms (one round).
 *
 * Run: npx tsx bench/relay.ts [--rounds 3] [--quick]
 */
import { LoadGen, measureRelay, pairNames, RelayFigures } from './lib/loadgen-handle';
import { goalsAndFigures, machine, median, ms, ratio, run, table, writeResults } from './lib/report';
import { startSystem, SYSTEM_LABEL, SystemName } from './lib/systems';

const args = process.argv.slice(2);
const arg = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const QUICK = args.includes('--quick');
const ROUNDS = arg('rounds', QUICK ? 1 : 3);
const PAIRS = 100;
/** Load-generator processes (pairs split between them; each pair lives in one). */
const GENERATORS = 2;
const RATES = [5_000, 10_000];
const CEILING_RATES = [10_000, 20_000, 30_000, 40_000];
const CEILING_P99_MS = 500;
const WARMUP_MS = QUICK ? 1_000 : 1_000;
const DURATION_MS = QUICK ? 2_000 : 3_000;
const SYSTEMS: SystemName[] = ['sluice', 'socketio', 'ws', 'ws-ack'];

interface Ceiling {
  system: SystemName;
  ceiling: number;
  steps: RelayFigures[];
}

async function session(
  name: SystemName,
  fn: (m: (rate: number, warmupMs?: number, durationMs?: number) => Promise<RelayFigures>) => Promise<void>,
): Promise<void> {
  const sys = await startSystem(name);
  const gens = await Promise.all(Array.from({ length: GENERATORS }, () => LoadGen.start()));
  try {
    const pairs = pairNames(`${name}-p`, PAIRS, GENERATORS);
    for (const [i, g] of gens.entries()) {
      const o = await g.open(name, sys.port, pairs[i].flat());
      if (o.failed > 0) throw new Error(`${name}: ${o.failed} connections failed: ${o.firstError}`);
    }
    await fn((rate, warmupMs = WARMUP_MS, durationMs = DURATION_MS) => measureRelay(sys, gens, pairs, { rate, warmupMs, durationMs }));
  } finally {
    await Promise.all(gens.map((g) => g.stop()));
    await sys.stop();
  }
}

async function main(): Promise<void> {
  const m = machine();
  const runs: Record<string, RelayFigures[]> = {};
  for (let round = 0; round < ROUNDS; round++) {
    const order = SYSTEMS.map((_, i) => SYSTEMS[(i + round) % SYSTEMS.length]);
    for (const name of order) {
      await session(name, async (measure) => {
        for (const rate of RATES) {
          const r = await measure(rate);
          (runs[`${name}@${rate}`] ??= []).push(r);
          process.stderr.write(
            `relay round ${round + 1} ${name} ${rate}/s: p50 ${ms(r.p50Ms)} p99 ${ms(r.p99Ms)} cpu/signal ${r.cpuUsPerSignal.toFixed(0)} us, missing ${r.missing}\n`,
          );
        }
      });
    }
  }
  const ceilings: Ceiling[] = [];
  for (const name of SYSTEMS) {
    const c: Ceiling = { system: name, ceiling: 0, steps: [] };
    await session(name, async (measure) => {
      for (const rate of CEILING_RATES) {
        const r = await measure(rate, 1_000, 2_000);
        c.steps.push(r);
        process.stderr.write(
          `ceiling ${name} ${rate}/s: p99 ${ms(r.p99Ms)}, delivered ${r.delivered}/${r.sent}, loadgen lag ${ms(r.loadgenLagMaxMs)}\n`,
        );
        if (!(r.p99Ms < CEILING_P99_MS) || r.missing > r.sent * 0.01) break;
        c.ceiling = rate;
      }
    });
    ceilings.push(c);
  }

  const med = (name: SystemName, rate: number, f: (r: RelayFigures) => number) => median((runs[`${name}@${rate}`] ?? []).map(f));
  const summary = Object.fromEntries(
    SYSTEMS.map((s) => [
      s,
      {
        ...Object.fromEntries(
          RATES.flatMap((rate) => [
            [`p50Ms@${rate}`, med(s, rate, (r) => r.p50Ms)],
            [`p99Ms@${rate}`, med(s, rate, (r) => r.p99Ms)],
            [`ackP99Ms@${rate}`, med(s, rate, (r) => r.ackP99Ms)],
            [`cpuUsPerSignal@${rate}`, med(s, rate, (r) => r.cpuUsPerSignal)],
            [`missing@${rate}`, Math.max(...(runs[`${s}@${rate}`] ?? []).map((r) => r.missing))],
          ]),
        ),
        ceiling: ceilings.find((c) => c.system === s)!.ceiling,
      },
    ]),
  ) as unknown as Record<SystemName, Record<string, number>>;
  const cols = SYSTEMS.map((s) => SYSTEM_LABEL[s]);
  const row = (label: string, key: string, f: (x: number) => string) => [
    label,
    ...SYSTEMS.map((s) => f(summary[s][key])),
    ratio(summary.sluice[key], summary.socketio[key]),
    ratio(summary.sluice[key], summary.ws[key]),
  ];
  const us = (x: number) => (Number.isFinite(x) ? `${x.toFixed(0)} us` : 'n/a');
  const rate = (x: number) => (x > 0 ? `${x / 1000}k/s` : `< ${CEILING_RATES[0] / 1000}k/s`);
  const s = summary.sluice;
  const goals = [
    ['relay p99 <= 5 ms at 10k msg/s', ms(s['p99Ms@10000'], 2), s['p99Ms@10000'] <= 5 ? 'met' : 'not met'],
    [
      "ceiling (p99 < 500 ms) >= 2x Socket.IO's",
      `${rate(s.ceiling)} vs ${rate(summary.socketio.ceiling)}`,
      s.ceiling >= 2 * summary.socketio.ceiling && s.ceiling > 0 ? 'met' : 'not met',
    ],
    [
      'CPU per signal below the ws relay with ack',
      `${us(s['cpuUsPerSignal@10000'])} vs ${us(summary['ws-ack']['cpuUsPerSignal@10000'])}`,
      s['cpuUsPerSignal@10000'] < summary['ws-ack']['cpuUsPerSignal@10000'] ? 'met' : 'not met',
    ],
  ];
  const md = [
    '# Relay benchmark',
    '',
    `${PAIRS} pairs (${2 * PAIRS} connections, each authenticated and joined) on one server, driven by ${GENERATORS} load-generator processes; ~120 B signals both ways, open loop;`,
    `latency from due time to delivery (hdr histogram), ${ROUNDS} interleaved round(s) of ${WARMUP_MS / 1000} s warm-up + ${DURATION_MS / 1000} s measured per rate; medians.`,
    "Server and load generator in separate processes on loopback; the same raw-`ws` load generator speaks each system's protocol.",
    'sluice acks every signal after its backplane numbered and stored it (exactly-once); Socket.IO acks with a callback; the ws relay',
    'is measured without and with a per-signal ack. sluice: production defaults but the per-connection rate limit (5000/s, burst 500).',
    `Reproduce: \`npx tsx bench/relay.ts\`.`,
    '',
    goalsAndFigures(
      goals,
      'Side by side',
      ['figure', ...cols, 'sluice / Socket.IO', 'sluice / ws (no ack)'],
      [
        ...RATES.flatMap((r) => [
          row(`delivery p50 at ${r / 1000}k msg/s`, `p50Ms@${r}`, (x) => ms(x, 2)),
          row(`delivery p99 at ${r / 1000}k msg/s`, `p99Ms@${r}`, (x) => ms(x, 2)),
          row(`ack p99 at ${r / 1000}k msg/s`, `ackP99Ms@${r}`, (x) => ms(x, 2)),
          row(`server CPU per signal at ${r / 1000}k msg/s`, `cpuUsPerSignal@${r}`, us),
          row(`signals not delivered at ${r / 1000}k msg/s (worst run)`, `missing@${r}`, String),
        ]),
        row(
          `highest offered rate with p99 < ${CEILING_P99_MS} ms (steps ${CEILING_RATES.map((x) => x / 1000).join(', ')}k)`,
          'ceiling',
          rate,
        ),
      ],
    ),
    '',
    '## Ceiling steps',
    '',
    table(
      ['system', ...CEILING_RATES.map((r) => `${r / 1000}k/s p99 (server CPU, load-generator lag)`)],
      ceilings.map((c) => [
        SYSTEM_LABEL[c.system],
        ...CEILING_RATES.map((r) => {
          const st = c.steps.find((x) => x.rate === r);
          return st ? `${ms(st.p99Ms)} (${(st.serverCpu * 100).toFixed(0)} %, ${ms(st.loadgenLagMaxMs, 0)})` : '-';
        }),
      ]),
    ),
    '',
    'Load-generator lag is how late the generator itself ran behind its schedule: past a few ms the generator (one process, on the',
    'same 2 cores) is saturated too, and the step measures both.',
  ].join('\n');
  writeResults('relay', m, md, {
    settings: { pairs: PAIRS, rates: RATES, ceilingRates: CEILING_RATES, rounds: ROUNDS, warmupMs: WARMUP_MS, durationMs: DURATION_MS },
    summary,
    runs,
    ceilings,
  });
}

run(main);
