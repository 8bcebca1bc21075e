/**
 * Benchmark: what idle joined connections cost the server in CPU, side by side. --conns idle
 * connections (authenticated, joined, nothing relayed) and the server's CPU time over --seconds,
 * as a share of one core. Variants (one server process each, in turn):
 *   - sluice, pong only: the client sends nothing of its own, it only answers the server's pings;
 *   - sluice, SDK heartbeats: a Phoenix heartbeat every client.heartbeatIntervalMs (the sluice SDK);
 *   - sluice, phoenix.js heartbeats: every 30 s (the official Phoenix client's default);
 *   - Socket.IO 4.8: answers Engine.IO pings ("2" -> "3"), its default 25 s interval;
 *   - plain ws relay: no heartbeat at all.
 * The window is at least one 30 s heartbeat round and three sluice ping intervals.
 *
 * Run: npx tsx bench/idle-cpu.ts [--conns 10000] [--seconds 32] [--variants sluice,sluice-sdk,sluice-phx,socketio,ws]
 *      [--cpu-prof DIR] [--baseline DIR (another checkout's sluice, run before each sluice variant; its SDK
 *      variant heartbeats at that checkout's contract interval)] [--sdk-interval MS (this checkout's SDK
 *      variant heartbeats this often instead of the contract's: the same rounds as a baseline's, to
 *      compare the cost of one round)]
 */
import './lib/help'; // first: --help prints the comment above and exits
import path from 'node:path';
import { defaultTimeouts, livenessSchedule, Timeouts } from '../app/contract/timeouts';
import { LoadGen, sourceAddresses } from './lib/loadgen-handle';
import { goalsAndFigures, machine, run, sleep, writeResults } from './lib/report';
import { startSystem, SystemName } from './lib/systems';

const args = process.argv.slice(2);
const argOf = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const CONNS = Number(argOf('conns') ?? 10_000);
const SECONDS = Number(argOf('seconds') ?? 32);
const PROF = argOf('cpu-prof');
const PHOENIX_JS_HEARTBEAT_MS = 30_000;
const GENERATORS = 2;

interface Variant {
  name: string;
  label: string;
  system: SystemName;
  heartbeatMs?: number;
  root?: string;
}
const SDK_MS = Number(argOf('sdk-interval') ?? defaultTimeouts.client.heartbeatIntervalMs);
const sdkVariant = (everyMs: number): Variant => ({
  name: 'sluice-sdk',
  label: `sluice, SDK heartbeats every ${everyMs / 1000} s`,
  system: 'sluice',
  heartbeatMs: everyMs,
});
const VARIANTS: Variant[] = [
  { name: 'sluice', label: 'sluice, clients answer pings only', system: 'sluice' },
  sdkVariant(SDK_MS),
  { name: 'sluice-phx', label: 'sluice, phoenix.js heartbeats every 30 s', system: 'sluice', heartbeatMs: PHOENIX_JS_HEARTBEAT_MS },
  { name: 'socketio', label: 'Socket.IO 4.8 (pings every 25 s)', system: 'socketio' },
  { name: 'ws', label: 'plain ws relay (no heartbeat)', system: 'ws' },
];
/**
 * --baseline DIR: the same three sluice variants run from another checkout too, alternating with
 * this one; its SDK variant heartbeats at the interval of that checkout's own contract.
 */
const BASELINE = argOf('baseline');
if (BASELINE) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const base = require(path.resolve(BASELINE, 'app/contract/timeouts')) as { defaultTimeouts: Timeouts };
  for (const v of VARIANTS.filter((x) => x.system === 'sluice')) {
    const like = v.name === 'sluice-sdk' ? sdkVariant(base.defaultTimeouts.client.heartbeatIntervalMs) : v;
    VARIANTS.splice(VARIANTS.indexOf(v), 0, { ...like, name: `${v.name}@base`, label: `${like.label} (baseline)`, root: BASELINE });
  }
}
const chosen = (argOf('variants') ?? VARIANTS.map((v) => v.name).join(',')).split(',');

interface Figure {
  variant: string;
  label: string;
  conns: number;
  cpuShare: number;
  seconds: number;
  loadavg: number;
  /** Liveness rounds in the window, from the server's counters (a checkout without them: undefined). */
  pingsPerSec?: number;
  heartbeatsPerSec?: number;
  /** Server CPU per round (ping + pong, or heartbeat + reply), microseconds. */
  usPerRound?: number;
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
    env: { SLUICE_ADMIN_TOKEN: ADMIN_TOKEN },
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
    const r0 = await rounds(sys.adminPort);
    const cpu0 = await sys.cpuUs();
    const t0 = Date.now();
    await sleep(SECONDS * 1000);
    const cpu1 = await sys.cpuUs();
    const wall = Date.now() - t0;
    const r1 = await rounds(sys.adminPort);
    const counted = r0 && r1 ? { pings: r1.pings - r0.pings, beats: r1.beats - r0.beats } : undefined;
    const f: Figure = {
      variant: v.name,
      label: v.label,
      conns: CONNS,
      cpuShare: (cpu1 - cpu0) / 1000 / wall,
      seconds: wall / 1000,
      loadavg: Number((await import('node:os')).loadavg()[0].toFixed(2)),
      ...(counted
        ? {
            pingsPerSec: (counted.pings * 1000) / wall,
            heartbeatsPerSec: (counted.beats * 1000) / wall,
            usPerRound: counted.pings + counted.beats > 0 ? (cpu1 - cpu0) / (counted.pings + counted.beats) : undefined,
          }
        : {}),
    };
    process.stderr.write(
      `idle-cpu ${v.name}: ${CONNS} conns, server CPU ${(f.cpuShare * 100).toFixed(2)} % of a core over ${f.seconds.toFixed(0)} s (load ${f.loadavg})` +
        (counted
          ? `; ${f.pingsPerSec!.toFixed(0)} pings/s, ${f.heartbeatsPerSec!.toFixed(0)} heartbeats/s, ${f.usPerRound?.toFixed(1)} us per round`
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
      ['variant', 'server CPU (share of a core)', 'pings / s', 'heartbeats / s', 'CPU per round', 'window', 'load average (1 min) at end'],
      figures.map((f) => [
        f.label,
        pct(f.cpuShare),
        f.pingsPerSec?.toFixed(0) ?? 'n/a',
        f.heartbeatsPerSec?.toFixed(0) ?? 'n/a',
        f.usPerRound !== undefined ? `${f.usPerRound.toFixed(1)} us` : 'n/a',
        `${f.seconds.toFixed(0)} s`,
        f.loadavg,
      ]),
    ),
  ].join('\n');
  writeResults('idle-cpu', m, md, { settings: { conns: CONNS, seconds: SECONDS }, figures });
}

run(main);
