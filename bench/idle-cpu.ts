/**
 * Benchmark: what idle joined connections cost the server in CPU, side by side. --conns idle
 * connections (authenticated, joined, nothing relayed) and the server's CPU time over --seconds,
 * as a share of one core. Variants (one server process each, in turn):
 *   - sluice, pong only: the client sends nothing of its own, it only answers the server's pings;
 *   - sluice, SDK heartbeats: a Phoenix heartbeat every client.heartbeatIntervalMs (the sluice SDK);
 *   - sluice, phoenix.js heartbeats: every 30 s (the official Phoenix client's default);
 *   - Socket.IO 4.8: answers Engine.IO pings ("2" -> "3"), its default 25 s interval;
 *   - plain ws relay: no heartbeat at all;
 * and, at sluice's 15 s detection bounds (the same-bounds peers):
 *   - Socket.IO 4.8 with pingInterval = sluice's first ping (8.25 s) and pingTimeout = the rest of the
 *     15 s idle limit (6.75 s): a ping round per connection as often as sluice's pong-only clients get one;
 *   - plain ws relay pinging on sluice's schedule (bench/peers/ws-pinger.ts, pong-only clients): the
 *     floor of Node + ws for the same rounds.
 * Per variant: the server's CPU split into user and system time (/proc/<pid>/stat utime, stime; on
 * loopback a write also runs the receiver's TCP input, in the writer's system time), the liveness
 * rounds (sluice's counters; the pings the load generators received for the others) and CPU per round.
 * The window is at least one 30 s heartbeat round and three sluice ping intervals.
 *
 * Run: npx tsx bench/idle-cpu.ts [--conns 10000] [--seconds 32] [--variants sluice,ws-ping,socketio-15s,sluice-sdk,sluice-phx,socketio,ws]
 *      [--cpu-prof DIR] [--baseline DIR (another checkout's sluice, run before each sluice variant; its SDK
 *      variant heartbeats at that checkout's contract interval)] [--sdk-interval MS (this checkout's SDK
 *      variant heartbeats this often instead of the contract's: the same rounds as a baseline's, to
 *      compare the cost of one round)]
 */
import './lib/help'; // first: --help prints the comment above and exits
import { benchArgs, opt } from './lib/args';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultTimeouts, livenessSchedule, Timeouts } from '../app/contract/timeouts';
import { LoadGen, sourceAddresses } from './lib/loadgen-handle';
import { goalsAndFigures, machine, run, sleep, writeResults } from './lib/report';
import { startSystem, SystemName } from './lib/systems';

const VARIANT_NAMES = ['sluice', 'ws-ping', 'socketio-15s', 'sluice-sdk', 'sluice-phx', 'socketio', 'ws'] as const;
const opts = benchArgs({
  conns: opt.int(10_000, { min: 2 }),
  seconds: opt.int(32),
  variants: opt.choices(VARIANT_NAMES, VARIANT_NAMES),
  'cpu-prof': opt.path(),
  baseline: opt.path(),
  'sdk-interval': opt.maybeInt(),
});
const CONNS = opts.conns;
const SECONDS = opts.seconds;
const PROF = opts['cpu-prof'];
const PHOENIX_JS_HEARTBEAT_MS = 30_000;
const GENERATORS = 2;
const LIVE = livenessSchedule(defaultTimeouts);

interface Variant {
  name: string;
  label: string;
  system: SystemName;
  heartbeatMs?: number;
  root?: string;
  /** The server's environment (the peers' ping settings). */
  env?: Record<string, string>;
  /** Longest a dead peer goes unnoticed by the server, ms (undefined: never). */
  detectionMs?: number;
}
const SDK_MS = opts['sdk-interval'] ?? defaultTimeouts.client.heartbeatIntervalMs;
const sdkVariant = (everyMs: number): Variant => ({
  name: 'sluice-sdk',
  label: `sluice, SDK heartbeats every ${everyMs / 1000} s`,
  system: 'sluice',
  heartbeatMs: everyMs,
  detectionMs: LIVE.idleLimitMs,
});
const sec = (ms: number) => `${ms / 1000} s`;
/** Socket.IO at sluice's bounds: a ping round as often as sluice's pong-only clients get one, the rest of the idle limit to answer. */
const SIO_INTERVAL_MS = LIVE.firstPingMs;
const SIO_TIMEOUT_MS = LIVE.idleLimitMs - LIVE.firstPingMs;
const VARIANTS: Variant[] = [
  { name: 'sluice', label: 'sluice, clients answer pings only', system: 'sluice', detectionMs: LIVE.idleLimitMs },
  {
    name: 'ws-ping',
    label: `plain ws, pings on sluice's schedule (${sec(LIVE.firstPingMs)} + ${sec(LIVE.secondPingMs - LIVE.firstPingMs)}, idle limit ${sec(LIVE.idleLimitMs)}), clients answer pings only`,
    system: 'ws',
    env: { BENCH_PING: '1' },
    detectionMs: LIVE.idleLimitMs,
  },
  {
    name: 'socketio-15s',
    label: `Socket.IO 4.8 at sluice's bounds (pingInterval ${sec(SIO_INTERVAL_MS)} + pingTimeout ${sec(SIO_TIMEOUT_MS)})`,
    system: 'socketio',
    env: { BENCH_PING_INTERVAL_MS: String(SIO_INTERVAL_MS), BENCH_PING_TIMEOUT_MS: String(SIO_TIMEOUT_MS) },
    detectionMs: SIO_INTERVAL_MS + SIO_TIMEOUT_MS,
  },
  sdkVariant(SDK_MS),
  {
    name: 'sluice-phx',
    label: 'sluice, phoenix.js heartbeats every 30 s',
    system: 'sluice',
    heartbeatMs: PHOENIX_JS_HEARTBEAT_MS,
    detectionMs: LIVE.idleLimitMs,
  },
  { name: 'socketio', label: 'Socket.IO 4.8 (pings every 25 s)', system: 'socketio', detectionMs: 45_000 },
  { name: 'ws', label: 'plain ws relay (no heartbeat)', system: 'ws' },
];
/**
 * --baseline DIR: the same three sluice variants run from another checkout too, alternating with
 * this one; its SDK variant heartbeats at the interval of that checkout's own contract.
 */
const BASELINE = opts.baseline;
if (BASELINE) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const base = require(path.resolve(BASELINE, 'app/contract/timeouts')) as { defaultTimeouts: Timeouts };
  for (const v of VARIANTS.filter((x) => x.system === 'sluice')) {
    const like = v.name === 'sluice-sdk' ? sdkVariant(base.defaultTimeouts.client.heartbeatIntervalMs) : v;
    VARIANTS.splice(VARIANTS.indexOf(v), 0, { ...like, name: `${v.name}@base`, label: `${like.label} (baseline)`, root: BASELINE });
  }
}
const chosen: readonly string[] = opts.variants;

interface Figure {
  variant: string;
  label: string;
  conns: number;
  cpuShare: number;
  seconds: number;
  loadavg: number;
  /** The 1-minute load average when the window began. */
  loadavgStart: number;
  /** The server's user and system time (/proc/<pid>/stat) as shares of a core. */
  userShare: number;
  systemShare: number;
  detectionMs?: number;
  /** Liveness rounds in the window: sluice's counters, or for the peers the pings their clients received. */
  pingsPerSec?: number;
  heartbeatsPerSec?: number;
  /** Server CPU per round (ping + pong, or heartbeat + reply), microseconds; and its user / system parts. */
  usPerRound?: number;
  userUsPerRound?: number;
  systemUsPerRound?: number;
}

/** Clock ticks per second of /proc/<pid>/stat's times. */
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

/** A process's user and system CPU time so far, microseconds (/proc/<pid>/stat fields 14 and 15, man 5 proc). */
function procTimes(pid: number): { user: number; system: number } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // from field 3 (state) on
  return { user: (Number(f[11]) * 1e6) / CLK_TCK, system: (Number(f[12]) * 1e6) / CLK_TCK };
}

/** Liveness pings every load generator has received so far. */
async function pingsReceived(gens: LoadGen[]): Promise<number> {
  return (await Promise.all(gens.map((g) => g.count()))).reduce((s, c) => s + c.pings, 0);
}

/** Admin token of the bench's sluice servers (they listen on loopback only): to read /metrics. */
const ADMIN_TOKEN = 'idle-cpu-bench-admin-token-0123456789abcdef';

/** The server's ping and heartbeat counters (sluice_pings_sent_total, sluice_heartbeats_answered_total). */
async function rounds(adminPort: number | undefined): Promise<{ pings: number; beats: number } | undefined> {
  if (!adminPort) return undefined;
  const res = await fetch(`http://127.0.0.1:${adminPort}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  if (!res.ok) throw new Error(`GET /metrics: ${res.status}`);
  const text = await res.text();
  const read = (name: string) => {
    const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const pings = read('sluice_pings_sent_total');
  const beats = read('sluice_heartbeats_answered_total');
  return pings === undefined || beats === undefined ? undefined : { pings, beats };
}

async function one(v: Variant): Promise<Figure> {
  const sys = await startSystem(v.system, {
    maxConnections: CONNS + 100,
    root: v.root,
    env: { SLUICE_ADMIN_TOKEN: ADMIN_TOKEN, ...v.env },
    ...(PROF ? { cpuProfDir: `${PROF}/${v.name}` } : {}),
  });
  const gens = await Promise.all(Array.from({ length: GENERATORS }, () => LoadGen.start()));
  try {
    const results = await Promise.all(
      gens.map((g, gi) =>
        g.open(
          v.system,
          sys.port,
          Array.from({ length: CONNS / GENERATORS }, (_, k) => `${v.name.replace('@', '-')}-i${gi}-${k}`),
          sourceAddresses(8),
          48,
          v.heartbeatMs,
        ),
      ),
    );
    const failed = results.reduce((s, r) => s + r.failed, 0);
    if (failed > 0) throw new Error(`${v.name}: ${failed} connections failed: ${results.find((r) => r.firstError)?.firstError}`);
    // Settle: the opening burst's garbage collected, every connection's first heartbeat or ping out.
    await sleep(5_000);
    const loadavgStart = Number(os.loadavg()[0].toFixed(2));
    const r0 = await rounds(sys.adminPort);
    const p0 = await pingsReceived(gens);
    const cpu0 = await sys.cpuUs();
    const proc0 = procTimes(sys.pid);
    const t0 = Date.now();
    await sleep(SECONDS * 1000);
    const cpu1 = await sys.cpuUs();
    const proc1 = procTimes(sys.pid);
    const wall = Date.now() - t0;
    const p1 = await pingsReceived(gens);
    const r1 = await rounds(sys.adminPort);
    // sluice counts its own rounds; for the peers every round is a ping their clients received.
    const counted =
      r0 && r1
        ? { pings: r1.pings - r0.pings, beats: r1.beats - r0.beats }
        : v.system === 'sluice'
          ? undefined
          : { pings: p1 - p0, beats: 0 };
    const user = proc1.user - proc0.user;
    const system = proc1.system - proc0.system;
    const n = counted ? counted.pings + counted.beats : 0;
    const f: Figure = {
      variant: v.name,
      label: v.label,
      conns: CONNS,
      cpuShare: (cpu1 - cpu0) / 1000 / wall,
      seconds: wall / 1000,
      loadavg: Number(os.loadavg()[0].toFixed(2)),
      loadavgStart,
      userShare: user / 1000 / wall,
      systemShare: system / 1000 / wall,
      detectionMs: v.detectionMs,
      ...(counted
        ? {
            pingsPerSec: (counted.pings * 1000) / wall,
            heartbeatsPerSec: (counted.beats * 1000) / wall,
            ...(n > 0 ? { usPerRound: (cpu1 - cpu0) / n, userUsPerRound: user / n, systemUsPerRound: system / n } : {}),
          }
        : {}),
    };
    process.stderr.write(
      `idle-cpu ${v.name}: ${CONNS} conns, server CPU ${(f.cpuShare * 100).toFixed(2)} % of a core (user ${(f.userShare * 100).toFixed(2)} %, system ${(f.systemShare * 100).toFixed(2)} %) over ${f.seconds.toFixed(0)} s (load ${f.loadavgStart} -> ${f.loadavg})` +
        (counted && n > 0
          ? `; ${f.pingsPerSec!.toFixed(0)} pings/s, ${f.heartbeatsPerSec!.toFixed(0)} heartbeats/s, ${f.usPerRound?.toFixed(1)} us per round (user ${f.userUsPerRound?.toFixed(1)}, system ${f.systemUsPerRound?.toFixed(1)})`
          : '') +
        '\n',
    );
    return f;
  } finally {
    await Promise.all(gens.map((g) => g.stop()));
    await sys.stop();
  }
}

async function main(): Promise<void> {
  const m = machine();
  const figures: Figure[] = [];
  for (const v of VARIANTS.filter((x) => chosen.includes(x.name.replace('@base', '')))) figures.push(await one(v));
  const pct = (x: number) => `${(x * 100).toFixed(2)} %`;
  const live = livenessSchedule(defaultTimeouts);
  const by = (n: string) => figures.find((f) => f.variant === n);
  const goals = ['sluice', 'sluice-sdk', 'sluice-phx']
    .filter((n) => by(n))
    .map((n) => [
      `${by(n)!.label}: server CPU at ${CONNS / 1000}k idle <= 2 % of a core`,
      pct(by(n)!.cpuShare),
      by(n)!.cpuShare <= 0.02 ? 'met' : 'not met',
    ]);
  const us = (x: number | undefined) => (x !== undefined ? `${x.toFixed(1)} us` : 'n/a');
  const floor = by('ws-ping');
  const sameBounds = figures.filter((f) => f.detectionMs !== undefined && f.detectionMs <= live.idleLimitMs);
  const sameBoundsTable = [
    `### Same bounds: every server below notices a dead peer within ${live.idleLimitMs / 1000} s`,
    '',
    '| variant | detection | server CPU | user | system | rounds / s | CPU per round | user / system per round | per round vs plain ws |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...sameBounds
      .map((f) =>
        [
          f.label,
          `${f.detectionMs! / 1000} s`,
          pct(f.cpuShare),
          pct(f.userShare),
          pct(f.systemShare),
          f.pingsPerSec !== undefined ? ((f.pingsPerSec ?? 0) + (f.heartbeatsPerSec ?? 0)).toFixed(0) : 'n/a',
          us(f.usPerRound),
          `${us(f.userUsPerRound)} / ${us(f.systemUsPerRound)}`,
          f.usPerRound !== undefined && floor?.usPerRound ? `${(f.usPerRound / floor.usPerRound).toFixed(2)}x` : 'n/a',
        ].join(' | '),
      )
      .map((row) => `| ${row} |`),
  ];
  // The verdict on "2 % of a core with 15 s bounds", from this run: what 2 % leaves per round at the rounds the bounds need.
  const floorRounds = floor?.pingsPerSec;
  const verdict =
    floor && floorRounds && floor.usPerRound
      ? `Verdict (this run): the 15 s bounds need ${floorRounds.toFixed(0)} rounds / s at ${CONNS / 1000}k (one per connection every ${live.firstPingMs / 1000} s of silence); ` +
        `2 % of a core leaves ${((0.02 * 1e6) / floorRounds).toFixed(1)} us per round. Plain ws on the same schedule costs ${us(floor.usPerRound)} per round, ` +
        `${pct(floor.cpuShare)} of a core (${pct(floor.systemShare)} of it system time): ` +
        (floor.cpuShare <= 0.02
          ? '2 % is within reach of Node + ws at these bounds.'
          : '2 % is out of reach of Node + ws at these bounds, before any work of sluice.')
      : 'Verdict: needs the ws-ping variant in the run.';
  const md = [
    '# Idle CPU benchmark',
    '',
    `${CONNS.toLocaleString('en')} idle connections (authenticated and joined, nothing relayed) from ${GENERATORS} load-generator processes;`,
    `server CPU time (user + system) over ${SECONDS} s after a 5 s settle, as a share of one core. One server process per variant, in turn.`,
    `sluice's detection bounds: client ${live.clientDetectionMs / 1000} s (heartbeat ${live.heartbeatIntervalMs / 1000} s + reply timeout ${live.heartbeatTimeoutMs / 1000} s), server idle limit ${live.idleLimitMs / 1000} s; a silent connection is pinged at ${live.firstPingMs / 1000} s and ${live.secondPingMs / 1000} s of silence (livenessSchedule).`,
    ...(BASELINE ? [`Baseline: ${BASELINE}, run before each sluice variant of this checkout.`] : []),
    'Reproduce: `npx tsx bench/idle-cpu.ts`.',
    '',
    goalsAndFigures(
      goals,
      'Side by side',
      [
        'variant',
        'server CPU (share of a core)',
        'pings / s',
        'heartbeats / s',
        'CPU per round',
        'window',
        'load average (1 min), start -> end',
      ],
      figures.map((f) => [
        f.label,
        pct(f.cpuShare),
        f.pingsPerSec?.toFixed(0) ?? 'n/a',
        f.heartbeatsPerSec?.toFixed(0) ?? 'n/a',
        f.usPerRound !== undefined ? `${f.usPerRound.toFixed(1)} us` : 'n/a',
        `${f.seconds.toFixed(0)} s`,
        `${f.loadavgStart} -> ${f.loadavg}`,
      ]),
    ),
    '',
    ...sameBoundsTable,
    '',
    verdict,
  ].join('\n');
  writeResults('idle-cpu', m, md, { settings: { conns: CONNS, seconds: SECONDS }, figures, verdict });
}

run(main);
