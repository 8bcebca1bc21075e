/**
 * The systems under test, each started as its own child process (never in the load generator's
 * process) with bench/lib/probe.cjs preloaded: sluice (app/server/main.ts, the real entry point),
 * Socket.IO 4.8 and the plain `ws` relay (ack-less and with-ack).
 */
import { ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { serverHeapFlags } from '../../app/contract/memory';

export type SystemName = 'sluice' | 'socketio' | 'ws' | 'ws-ack';
export const SYSTEM_LABEL: Record<SystemName, string> = {
  sluice: 'sluice',
  socketio: 'Socket.IO 4.8 (acks)',
  ws: 'plain ws relay (no ack)',
  'ws-ack': 'plain ws relay (ack)',
};

export const ROOT = path.resolve(__dirname, '../..');
export const SECRET = 'bench-secret-of-at-least-thirty-two-characters';
const PROBE = path.join(__dirname, 'probe.cjs');

export interface Mem {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

export interface GcKind {
  n: number;
  ms: number;
  maxMs: number;
}

/** probe.cjs 'accepts': the public listener's accepts per event-loop turn and the length of those turns. */
export interface AcceptTurns {
  accepted: number;
  turns: number;
  perTurnMean: number | null;
  perTurnMax: number | null;
  turnsAtMax: number;
  /** Length of a turn between two turns that both accepted (the queue held more), ms. */
  turnMs: { p50: number | null; p90: number | null; p99: number | null; max: number | null };
  /** Accepts per second over those back-to-back turns. */
  burstRatePerSec: number | null;
  burstTurns: number;
}

export interface LoopStats {
  /** GC pauses V8 decided on, by kind (minor = scavenge, major = mark-compact, ...). */
  gc: Record<string, GcKind>;
  /** GCs the probe forced (`mem` without `{ gc: false }`). */
  forced: GcKind;
  loopP99Ms: number;
  loopMaxMs: number;
}

export interface RunningSystem {
  name: SystemName;
  port: number;
  adminPort?: number;
  pid: number;
  proc: ChildProcess;
  /** Memory after two full GCs (`{ gc: false }`: as it is, without them). */
  mem(opts?: { gc?: boolean }): Promise<Mem>;
  /** Event-loop delay and GC pauses since the previous call (probe.cjs 'pauses'; the first call starts counting). */
  pauses(): Promise<LoopStats>;
  /** Writes a V8 heap snapshot (after a full GC) to `file`; resolves to its path. */
  heapSnapshot(file: string): Promise<string>;
  /** CPU time used so far, microseconds (user + system). */
  cpuUs(): Promise<number>;
  /** Event-loop delay since the last `start` (true: restart the histogram now), ms. */
  loopDelay(start?: boolean): Promise<{ p50: number; p99: number; max: number }>;
  /** Connections accepted per event-loop turn on its public port since the last `start` (probe.cjs 'accepts'). */
  accepts(start?: boolean): Promise<AcceptTurns | null>;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Extra environment (sluice: SLUICE_*). */
  env?: Record<string, string>;
  /** Write a V8 CPU profile into this directory when the process exits. */
  cpuProfDir?: string;
  redisUrl?: string;
  /** Connections the server must be able to hold (sluice: SLUICE_MAX_CONNECTIONS). */
  maxConnections?: number;
  serverId?: string;
  /** Extra Node/V8 flags (e.g. --trace-gc: its lines come on the child's stdout). */
  execArgv?: string[];
  /**
   * sluice only: its V8 heap flags. Default: the production ones, derived from its memory budget
   * (app/contract/memory.ts heapFlags, what the image, the GCE unit and the GKE pod run); `[]` runs
   * it with V8's own sizing (no --max-old-space-size: before/after runs).
   */
  heapFlags?: string[];
  /**
   * sluice only: run the server from this checkout instead of this one (an A/B of two commits in
   * one run, e.g. `git archive <commit> app package.json tsconfig.json` unpacked beside a
   * node_modules link). Both sides then share the run's load.
   */
  root?: string;
}

/**
 * Bench settings of sluice: production defaults (log level info: a line per connection open and close,
 * the join at debug, as deployed) but the per-connection rate limit, raised because the relay load
 * sends up to a few hundred signals/s per connection (the limit is still checked on every frame).
 */
export const SLUICE_BENCH_ENV = {
  SLUICE_LOG_LEVEL: 'info',
  SLUICE_RATE_PER_SEC: '5000',
  SLUICE_RATE_BURST: '500',
};

/** A heap snapshot of thousands of sockets takes minutes to write on a loaded machine (bench/heap.ts). */
const HEAPSNAP_TIMEOUT_MS: Record<string, number> = { heapsnap: 300_000 };

export async function startSystem(name: SystemName, opts: StartOptions = {}): Promise<RunningSystem> {
  const execArgv = ['--expose-gc', '--require', PROBE, '--import', 'tsx'];
  if (opts.cpuProfDir) execArgv.push('--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`);
  if (name === 'sluice') {
    execArgv.push(...(opts.heapFlags ?? serverHeapFlags(opts.env)));
  }
  execArgv.push(...(opts.execArgv ?? []));
  const script =
    name === 'sluice' ? 'app/server/main.ts' : name === 'socketio' ? 'bench/peers/socketio-server.ts' : 'bench/peers/ws-relay.ts';
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    NODE_ENV: 'production',
    BENCH_SECRET: SECRET,
    BENCH_PORT: '0',
    BENCH_ACK: name === 'ws-ack' ? '1' : '0',
    ...(opts.redisUrl ? { BENCH_REDIS_URL: opts.redisUrl } : {}),
  };
  if (name === 'sluice') {
    Object.assign(env, SLUICE_BENCH_ENV, {
      SLUICE_HOST: '127.0.0.1',
      SLUICE_PORT: '0',
      SLUICE_ADMIN_PORT: '0',
      SLUICE_TOKEN_SECRET: SECRET,
      SLUICE_SERVER_ID: opts.serverId ?? 'bench-1',
      ...(opts.maxConnections ? { SLUICE_MAX_CONNECTIONS: String(opts.maxConnections) } : {}),
      ...(opts.redisUrl ? { SLUICE_REDIS_URL: opts.redisUrl } : {}),
    });
  }
  Object.assign(env, opts.env ?? {});
  const root = name === 'sluice' && opts.root ? opts.root : ROOT;
  const proc = fork(path.join(root, script), [], { cwd: root, env, execArgv, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const ports = await new Promise<{ port: number; adminPort?: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 30 s: ${stderr}`)), 30_000);
    proc.once('exit', (code) => reject(new Error(`${name} exited (${code}) before listening: ${stderr}`)));
    proc.on('message', (m: { ready?: number }) => {
      if (typeof m?.ready === 'number') {
        clearTimeout(timer);
        resolve({ port: m.ready });
      }
    });
    readline.createInterface({ input: proc.stdout! }).on('line', (line) => {
      if (!line.includes('server listening')) return;
      try {
        const l = JSON.parse(line) as { port: number; adminPort: number };
        clearTimeout(timer);
        resolve({ port: l.port, adminPort: l.adminPort });
      } catch {
        /* not JSON */
      }
    });
  });
  proc.stdout!.resume();
  let nextId = 1;
  const ask = <T>(probe: string, extra: Record<string, unknown> = {}): Promise<T> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        proc.off('message', on);
        reject(new Error(`${name}: no ${probe} answer`));
      }, HEAPSNAP_TIMEOUT_MS[probe] ?? 60_000);
      const on = (m: { probe?: string; id?: number }) => {
        if (m?.probe === probe && m.id === id) {
          clearTimeout(timer);
          proc.off('message', on);
          resolve(m as T);
        }
      };
      proc.on('message', on);
      proc.send({ probe, id, ...extra });
    });
  const exited = new Promise<void>((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) resolve();
    else proc.once('exit', () => resolve());
  });
  return {
    name,
    ...ports,
    pid: proc.pid!,
    proc,
    mem: (o) => ask<Mem>('mem', o?.gc === false ? { gc: false } : {}),
    pauses: () => ask<LoopStats>('pauses'),
    loopDelay: async (start = false) => {
      const { p50, p99, max } = await ask<{ p50: number; p99: number; max: number }>('loop', { start });
      return { p50, p99, max };
    },
    accepts: async (start = false) => (await ask<{ stats: AcceptTurns | null }>('accepts', { start, port: ports.port })).stats,
    heapSnapshot: async (file: string) => (await ask<{ file: string }>('heapsnap', { file })).file,
    cpuUs: async () => {
      const c = await ask<{ user: number; system: number }>('cpu');
      return c.user + c.system;
    },
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.send({ probe: 'exit' });
        const kill = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(kill);
      }
    },
  };
}
