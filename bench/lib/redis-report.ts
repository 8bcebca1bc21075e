/**
 * bench/redis.ts's report: the goal table, the side-by-side figures (medians over rounds), the
 * ceiling steps and the per-process Redis figures. Pure: steps in, Markdown and goal rows out.
 */
import { goalsAndFigures, median, ms, ratio, table } from './report';
import type { RelayFigures } from './loadgen-handle';

export type BenchSystem = 'sluice' | 'sluice-c1' | 'sluice-c3' | 'socketio' | 'one-server';
export const SYSTEMS: BenchSystem[] = ['sluice', 'sluice-c1', 'sluice-c3', 'socketio', 'one-server'];
const LABEL: Record<BenchSystem, string> = {
  sluice: 'sluice, 1 Redis primary',
  'sluice-c1': 'sluice, cluster of 1 primary',
  'sluice-c3': 'sluice, cluster 3 primaries + 3 replicas',
  socketio: 'Socket.IO 4.8 + redis-streams-adapter, 1 Redis',
  'one-server': 'sluice, one server, no Redis',
};

export interface NodeFigures {
  port: number;
  role: 'primary' | 'replica';
  cpuUs: number;
  calls: number;
}

export interface Step extends RelayFigures {
  system: BenchSystem;
  round: number;
  /** Wall time of the step (warm-up + window + settle): the denominator of the % of a core. */
  wallMs: number;
  /** CPU of every redis-server process of the system's backend, per signal offered. */
  redisCpuUsPerSignal: number;
  /** The same, primaries only (a cluster's replicas replay the primaries' writes). */
  redisPrimaryCpuUsPerSignal: number;
  /** Commands executed on the primaries per signal offered, those run inside scripts included. */
  commandsPerSignal: number;
  /** EVAL/EVALSHA per signal offered: client round trips that run a script. */
  scriptsPerSignal: number;
  nodes: NodeFigures[];
  /** The load generator ran > 100 ms behind its schedule: the step measured it, not the system. */
  generatorBound: boolean;
}

export interface ReportInput {
  steps: Step[];
  rounds: number;
  pairs: number;
  stepRates: number[];
  tableRates: number[];
  warm: Record<string, number[]>;
  /** Sessions that failed (the system is then missing from the figures). */
  failures: string[];
  p99LimitMs: number;
  warmupMs: number;
  durationMs: number;
}

const us = (x: number) => (Number.isFinite(x) ? `${x.toFixed(0)} us` : 'n/a');
const num = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
const k = (r: number) => `${r / 1000}k/s`;

export function renderRedisReport(o: ReportInput): {
  markdown: string;
  goals: Array<Array<string | number>>;
  ceilings: Record<string, number>;
} {
  const at = (s: BenchSystem, rate: number) => o.steps.filter((x) => x.system === s && x.rate === rate);
  const med = (s: BenchSystem, rate: number, f: (x: Step) => number) => median(at(s, rate).map(f));
  const passed = (x: Step) => x.p99Ms < o.p99LimitMs && x.missing <= x.sent * 0.01;
  // Highest rate every step up to which passed in every round (a step not reached in a round failed there).
  const ceiling = (s: BenchSystem): number => {
    let best = 0;
    for (const rate of o.stepRates) {
      const st = at(s, rate);
      if (st.length < o.rounds || !st.every(passed)) break;
      best = rate;
    }
    return best;
  };
  const ceilings = Object.fromEntries(SYSTEMS.filter((s) => s !== 'one-server').map((s) => [s, ceiling(s)]));
  const cText = (r: number) => (r > 0 ? k(r) : `< ${k(o.stepRates[0])}`);

  // Goals.
  const goals: Array<Array<string | number>> = [];
  const cs = ceilings.sluice;
  const cio = ceilings.socketio;
  goals.push([
    'cross-server ceiling (p99 < 500 ms) >= 2x Socket.IO redis-streams on the same Redis',
    `${cText(cs)} vs ${cText(cio)}`,
    cio === 0 && cs === 0
      ? 'undetermined (both below the first step)'
      : cio === 0
        ? 'met (Socket.IO below the first step)'
        : cs >= 2 * cio
          ? 'met'
          : 'not met',
  ]);
  for (const rate of o.tableRates) {
    const r = med('sluice', rate, (x) => x.cpuUsPerSignal) / med('one-server', rate, (x) => x.cpuUsPerSignal);
    goals.push([
      `server CPU per cross-server signal within 2x one server's, ${k(rate)}`,
      `${us(med('sluice', rate, (x) => x.cpuUsPerSignal))} vs ${us(med('one-server', rate, (x) => x.cpuUsPerSignal))} (${ratio(r, 1)})`,
      Number.isFinite(r) ? (r <= 2 ? 'met' : 'not met') : 'n/a',
    ]);
  }
  for (const rate of o.tableRates) {
    const f = (x: Step) => x.cpuUsPerSignal + x.redisCpuUsPerSignal;
    const r = med('sluice-c1', rate, f) / med('sluice', rate, f);
    goals.push([
      `a cluster of one costs nothing measurable: server + Redis CPU per signal within 10 %, ${k(rate)}`,
      `${us(med('sluice-c1', rate, f))} vs ${us(med('sluice', rate, f))} (${ratio(r, 1)})`,
      Number.isFinite(r) ? (r <= 1.1 ? 'met' : 'not met') : 'n/a',
    ]);
  }
  goals.push([
    'a cluster of one: same ceiling as one primary',
    `${cText(ceilings['sluice-c1'])} vs ${cText(cs)}`,
    ceilings['sluice-c1'] >= cs ? 'met' : 'not met',
  ]);
  goals.push([
    '3 primaries lift the ceiling (informational: 2 cores)',
    `${cText(ceilings['sluice-c3'])} vs ${cText(cs)}`,
    ceilings['sluice-c3'] > cs ? 'lifted' : 'not lifted (see the per-process table)',
  ]);

  // Side by side at the table rates.
  const cols: BenchSystem[] = SYSTEMS;
  const rows: Array<Array<string | number>> = [];
  for (const rate of o.tableRates) {
    const figs: Array<[string, (x: Step) => number, (v: number) => string]> = [
      ['delivery p50', (x) => x.p50Ms, (v) => ms(v, 2)],
      ['delivery p99', (x) => x.p99Ms, (v) => ms(v, 2)],
      ['ack p99', (x) => x.ackP99Ms, (v) => ms(v, 2)],
      ['server CPU per signal (all servers)', (x) => x.cpuUsPerSignal, us],
      ['Redis CPU per signal (all redis-server processes)', (x) => x.redisCpuUsPerSignal, us],
      ['Redis CPU per signal (primaries)', (x) => x.redisPrimaryCpuUsPerSignal, us],
      ['Redis commands per signal (primaries, in scripts too)', (x) => x.commandsPerSignal, num],
      ['script calls (round trips) per signal', (x) => x.scriptsPerSignal, num],
    ];
    for (const [label, f, fmt] of figs) {
      const v = (s: BenchSystem) => med(s, rate, f);
      rows.push([
        `${label} at ${k(rate)}`,
        ...cols.map((s) => fmt(v(s))),
        ratio(v('sluice-c1'), v('sluice')),
        ratio(v('sluice-c3'), v('sluice')),
        ratio(v('sluice'), v('socketio')),
      ]);
    }
    const worst = (s: BenchSystem) => {
      const st = at(s, rate);
      return st.length ? `${Math.max(...st.map((x) => x.missing))} / ${Math.max(...st.map((x) => x.nacked))}` : 'n/a';
    };
    rows.push([`not delivered / refused (worst round) at ${k(rate)}`, ...cols.map(worst), '', '', '']);
  }
  rows.push([
    `highest offered rate with p99 < ${o.p99LimitMs} ms`,
    ...cols.map((s) => (s === 'one-server' ? '(not stepped)' : cText(ceilings[s]))),
    ratio(ceilings['sluice-c1'], cs),
    ratio(ceilings['sluice-c3'], cs),
    ratio(cs, cio),
  ]);

  // Every step (round 1 and on), server and Redis load.
  const stepRows = o.steps.map((x) => [
    `${x.system} r${x.round + 1}`,
    k(x.rate),
    ms(x.p99Ms),
    `${((x.serverCpu ?? 0) * 100).toFixed(0)} %`,
    `${((x.nodes.reduce((a, n) => a + n.cpuUs, 0) / 1000 / x.wallMs) * 100).toFixed(0)} %`,
    `${x.missing} / ${x.nacked}`,
    `${x.loadgenLagMaxMs.toFixed(0)} ms${x.generatorBound ? ' (generator-bound)' : ''}`,
  ]);

  // Per redis-server process at each system's highest step of round 1: the spread over shards.
  const procRows: Array<Array<string | number>> = [];
  for (const s of ['sluice', 'sluice-c1', 'sluice-c3'] as BenchSystem[]) {
    const st = o.steps.filter((x) => x.system === s && x.round === 0).pop();
    if (!st) continue;
    const calls = st.nodes.reduce((a, n) => a + (n.role === 'primary' ? n.calls : 0), 0);
    for (const n of st.nodes)
      procRows.push([
        `${s} at ${k(st.rate)}`,
        `:${n.port} ${n.role}`,
        `${((n.cpuUs / 1000 / st.wallMs) * 100).toFixed(1)} %`,
        us(n.cpuUs / ((st.rate * (o.warmupMs + o.durationMs)) / 1000)),
        n.role === 'primary' && calls > 0 ? `${((n.calls / calls) * 100).toFixed(0)} %` : '-',
      ]);
  }

  const warmText = Object.entries(o.warm)
    .map(([s, v]) => `${s} ${v.map((x) => (x / 1000).toFixed(1)).join('/')} s`)
    .join(', ');
  const markdown = [
    '# Two servers + Redis benchmark',
    '',
    `${o.pairs} pairs, each split across two servers in their own processes (every signal crosses Redis); redis-servers on loopback, no persistence;`,
    `~120 B signals both ways, open loop, 2 load-generator processes; ${o.rounds} interleaved round(s). Each session warms up until a`,
    'whole 1 s pass at 1k/s has nothing refused (a fresh Redis holds the backplane in its recovery window), then steps up',
    `the rate (${o.warmupMs / 1000} s warm-up + ${o.durationMs / 1000} s measured each) until p99 passes ${o.p99LimitMs} ms: the table's rows and the ceiling are the same steps.`,
    `Warm-up took: ${warmText}. CPU and commands per signal divide by the signals offered (warm-up of the step included).`,
    'Reproduce: `npx tsx bench/redis.ts`.',
    '',
    ...(o.failures.length ? ['**Failed sessions** (missing from the figures):', '', ...o.failures.map((f) => `- ${f}`), ''] : []),
    goalsAndFigures(
      goals,
      'Side by side (medians over rounds)',
      ['figure', ...cols.map((s) => LABEL[s]), 'cluster of 1 / 1 primary', '3 primaries / 1 primary', 'sluice / Socket.IO'],
      rows,
    ),
    '',
    '## Steps (servers and redis-servers as % of one core; not delivered / refused)',
    '',
    table(['system, round', 'rate', 'p99', 'servers', 'redis-servers', 'not delivered / refused', 'generator lag'], stepRows),
    '',
    "## Per redis-server process at each system's highest step (round 1): % of one core, CPU per signal, share of the primaries' commands",
    '',
    table(['system', 'process', 'CPU', 'CPU per signal', 'commands'], procRows),
  ].join('\n');
  return { markdown, goals, ceilings };
}
