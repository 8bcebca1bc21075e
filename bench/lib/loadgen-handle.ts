/**
 * Parent-side handle of load-generator processes (bench/lib/loadgen-worker.ts), and the relay
 * measurement every benchmark shares: open pairs, run an open-loop relay at a rate, and read the
 * server's CPU time over the same window.
 */
import { ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import * as hdr from 'hdr-histogram-js';
import type { OpenCmd, RelayCmd, RelayResult } from './loadgen-worker';
import { ROOT, RunningSystem, SECRET, SystemName } from './systems';

export class LoadGen {
  private nextReq = 1;
  private constructor(readonly proc: ChildProcess) {}

  static async start(): Promise<LoadGen> {
    const proc = fork(path.join(__dirname, 'loadgen-worker.ts'), [], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx', '--max-old-space-size=4096'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await new Promise<void>((resolve, reject) => {
      proc.once('exit', (code) => reject(new Error(`load generator exited (${code})`)));
      proc.once('message', () => resolve());
    });
    return new LoadGen(proc);
  }

  request<T>(cmd: Record<string, unknown>, timeoutMs = 300_000): Promise<T> {
    const reqId = this.nextReq++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.proc.off('message', on);
        reject(new Error(`load generator: ${String(cmd.cmd)} timed out`));
      }, timeoutMs);
      const on = (m: { reqId?: number; result?: T; error?: string }) => {
        if (m?.reqId !== reqId) return;
        clearTimeout(timer);
        this.proc.off('message', on);
        if (m.error) reject(new Error(`load generator: ${m.error}`));
        else resolve(m.result as T);
      };
      this.proc.on('message', on);
      this.proc.send({ ...cmd, reqId });
    });
  }

  open(system: SystemName, port: number, ids: string[], localAddresses = ['127.0.0.1'], concurrency = 64, heartbeatMs?: number) {
    const c: OpenCmd = { cmd: 'open', system, port, ids, secret: SECRET, localAddresses, concurrency, heartbeatMs };
    return this.request<{ opened: number; failed: number; firstError?: string; ms: number }>(c as unknown as Record<string, unknown>);
  }

  relay(c: Omit<RelayCmd, 'cmd'>): Promise<RelayResult> {
    // As long as the relay itself plus its settle time (a 10-minute soak outlasts the default).
    return this.request<RelayResult>({ cmd: 'relay', ...c }, c.warmupMs + c.durationMs + 120_000);
  }

  /** Joined connections, and liveness pings received from the server since the generator started. */
  count(): Promise<{ joined: number; pings: number }> {
    return this.request({ cmd: 'count' });
  }

  closeAll(): Promise<unknown> {
    return this.request({ cmd: 'close' });
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const gone = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.kill('SIGTERM');
    await gone;
  }
}

/** Source addresses for many connections: 127.0.0.2, 127.0.0.3, ... (each has its own ephemeral port range). */
export function sourceAddresses(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `127.0.0.${i + 2}`);
}

export interface RelayFigures {
  rate: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  ackP99Ms: number;
  sent: number;
  delivered: number;
  missing: number;
  nacked: number;
  /** Server CPU time (all servers) over the whole run divided by every signal sent in it. */
  cpuUsPerSignal: number;
  /** Share of one core the server used over the whole run. */
  serverCpu: number;
  /** How late the load generator itself ran behind its schedule at worst (its own saturation). */
  loadgenLagMaxMs: number;
  /** The load generators' own event-loop delay over the measured window, worst generator (loadgen-worker.ts). */
  loadgenLoopP99Ms: number;
  loadgenLoopMaxMs: number;
  /** With `windowMs`: delivery latency per window of the measured run (by due time), all generators merged. */
  windows?: WindowFigures[];
}

export interface WindowFigures {
  /** Window start, ms after the measured run began. */
  fromMs: number;
  delivered: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface RelayOptions {
  rate: number;
  warmupMs: number;
  durationMs: number;
  payloadBytes?: number;
  /** Also report latency per window of this length (the soak: 10 s). */
  windowMs?: number;
}

let runSeq = 0;

/** One relay measurement over pairs already open in `gens` (pairs[i] live in gens[i % gens.length]). */
export async function measureRelay(
  system: RunningSystem | RunningSystem[],
  gens: LoadGen[],
  pairsByGen: Array<Array<[string, string]>>,
  o: RelayOptions,
): Promise<RelayFigures> {
  const systems = Array.isArray(system) ? system : [system];
  const cpuUs = async () => (await Promise.all(systems.map((x) => x.cpuUs()))).reduce((a, b) => a + b, 0);
  const runId = `r${process.pid}x${++runSeq}x${Date.now().toString(36)}`;
  // CPU over the whole run (warm-up, window and settle) divided by every signal sent in it: robust
  // to a starved load generator or a late probe answer, which a window of a few seconds is not.
  const cpu0 = await cpuUs();
  const t0 = Date.now();
  const results = await Promise.all(
    gens.map((g, i) =>
      g.relay({
        pairs: pairsByGen[i],
        rate: o.rate / gens.length,
        warmupMs: o.warmupMs,
        durationMs: o.durationMs,
        payloadBytes: o.payloadBytes ?? 120,
        runId: `${runId}g${i}`,
        windowMs: o.windowMs,
      }),
    ),
  );
  const cpu1 = await cpuUs();
  const wall = Date.now() - t0;
  const h = hdr.build({ useWebAssembly: false });
  const a = hdr.build({ useWebAssembly: false });
  for (const r of results) {
    h.add(hdr.decodeFromCompressedBase64(r.hist, 'packed', false));
    a.add(hdr.decodeFromCompressedBase64(r.ackHist, 'packed', false));
  }
  const sum = (f: (r: RelayResult) => number) => results.reduce((s, r) => s + f(r), 0);
  const delivered = sum((r) => r.delivered);
  const us = (x: number) => x / 1000;
  return {
    rate: o.rate,
    p50Ms: us(h.getValueAtPercentile(50)),
    p90Ms: us(h.getValueAtPercentile(90)),
    p99Ms: us(h.getValueAtPercentile(99)),
    maxMs: us(h.maxValue),
    ackP99Ms: a.totalCount > 0 ? us(a.getValueAtPercentile(99)) : NaN,
    sent: sum((r) => r.sent),
    delivered,
    missing: sum((r) => r.missing),
    nacked: sum((r) => r.nacked),
    cpuUsPerSignal: sum((r) => r.sentTotal) > 0 ? (cpu1 - cpu0) / sum((r) => r.sentTotal) : NaN,
    serverCpu: (cpu1 - cpu0) / 1000 / wall,
    loadgenLagMaxMs: Math.max(...results.map((r) => r.lagMaxMs)),
    loadgenLoopP99Ms: Math.max(...results.map((r) => r.loopP99Ms)),
    loadgenLoopMaxMs: Math.max(...results.map((r) => r.loopMaxMs)),
    ...(o.windowMs ? { windows: mergeWindows(results, o.windowMs) } : {}),
  };
}

function mergeWindows(results: RelayResult[], windowMs: number): WindowFigures[] {
  const n = Math.max(0, ...results.map((r) => r.windows?.length ?? 0));
  return Array.from({ length: n }, (_, w) => {
    const h = hdr.build({ useWebAssembly: false });
    for (const r of results) {
      const enc = r.windows?.[w];
      if (enc) h.add(hdr.decodeFromCompressedBase64(enc, 'packed', false));
    }
    const ms = (us: number) => us / 1000;
    return {
      fromMs: w * windowMs,
      delivered: h.totalCount,
      p50Ms: ms(h.getValueAtPercentile(50)),
      p99Ms: ms(h.getValueAtPercentile(99)),
      maxMs: ms(h.maxValue),
    };
  });
}

/** `count` pairs named `<prefix>-a<k>` / `<prefix>-b<k>`, split over the generators. */
export function pairNames(prefix: string, count: number, gens: number): Array<Array<[string, string]>> {
  const by: Array<Array<[string, string]>> = Array.from({ length: gens }, () => []);
  for (let k = 0; k < count; k++) by[k % gens].push([`${prefix}-a${k}`, `${prefix}-b${k}`]);
  return by;
}
