/**
 * The region's sluice servers: in this process on a shared in-memory backplane, or as child
 * processes (`app/server/main.ts`, the production entry point) on a real Redis. Either way each
 * server sits behind its own "VM network", a black-hole proxy the load balancer connects to, so
 * the drill can make a server go silent (traffic black-holed, no FIN, no RST) or "delete its VM"
 * (a final RST on every connection), as in the incident. Everything is driven over the admin
 * HTTP listener (`POST /drain`, `GET /status`, `GET /presence`), the same way on both kinds.
 */
import { ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import readline from 'node:readline';
import pino from 'pino';
import type { MemoryBackplane } from '../../backplane/memory';
import type { PresenceEntry } from '../../backplane/types';
import { serverHeapFlags } from '../../contract/memory';
import type { Timeouts } from '../../contract/timeouts';
import { defaultLimits } from '../../server/config';
import { SluiceServer } from '../../server/server';
import { BlackholeProxy, startBlackholeProxy } from '../network/blackhole-proxy';
import { withLifeline } from '../lifeline';

export interface ServerStatus {
  serverId: string;
  state: 'serving' | 'draining' | 'drained';
  ready?: { ok: boolean; reason?: string };
  connections: number;
  drain: { total: number; closeSent: number; reset: number; startedAt: number; finishedAt: number } | null;
  /** Several regions: the server's region and the signals it published into each home region. */
  regions?: { region: string; publishedTo: Record<string, number>; crossRegion: number } | null;
}

/** An admin answer about a drain: `POST /drain` (the status, drain started) or `?wait=1` (state + final report). */
export type DrainAnswer = Partial<ServerStatus> & Pick<ServerStatus, 'state' | 'drain'>;

export interface LocalServer {
  readonly id: string;
  /** The port the LB connects to (the VM network in front of the server). */
  readonly port: number;
  /** The server's own public port (behind its VM network). */
  readonly publicPort: number;
  readonly adminPort: number;
  readonly network: BlackholeProxy;
  /** Set once the server is gone (drained and stopped, or deleted). */
  gone: boolean;
  status(): Promise<ServerStatus>;
  presence(): Promise<PresenceEntry[]>;
  /**
   * POST /drain, then POST /drain?wait=1: resolves when the drain has finished and the server is
   * stopped. `observe` gets both admin answers (the drain started, then its final report): a child
   * server exits right after its drain, and a gate source must not miss what it reported.
   */
  drain(observe?: (answer: DrainAnswer) => void): Promise<void>;
  /** The VM is deleted: RST on every connection, the process ends. */
  destroy(): Promise<void>;
}

export interface ServerSpawnOptions {
  id: string;
  timeouts: Timeouts;
  tokenSecret: string;
  logLevel: string;
  /** Server log lines as pino's JSON (default: one human-readable line each). */
  jsonLogs?: boolean;
  /** Shared in-memory backplane (servers in this process) ... */
  memory?: MemoryBackplane;
  /** ... or a Redis URL (servers as child processes) ... */
  redisUrl?: string;
  /** ... or a Redis Cluster's seed nodes, `host:port[,host:port]` (servers as child processes). */
  redisCluster?: string;
  /** More variables for a child server (several regions: SLUICE_REGION, SLUICE_REGION_REDIS_URLS). */
  env?: Record<string, string>;
  /** Where its VM network runs (default: a black-hole proxy in this process; the region's: network-host.ts). */
  network?: (targetPort: number) => Promise<BlackholeProxy>;
}

const ROOT = path.resolve(__dirname, '../../..');

export async function startLocalServer(o: ServerSpawnOptions): Promise<LocalServer> {
  if (o.redisUrl) return startChild(o, { SLUICE_REDIS_URL: o.redisUrl });
  return o.redisCluster ? startChild(o, { SLUICE_REDIS_CLUSTER: o.redisCluster }) : startInProcess(o);
}

async function startInProcess(o: ServerSpawnOptions): Promise<LocalServer> {
  if (!o.memory) throw new Error('an in-process server needs the shared memory backplane');
  const server = new SluiceServer({
    config: {
      env: 'development',
      host: '127.0.0.1',
      port: 0,
      adminHost: '127.0.0.1',
      adminPort: 0,
      tokenSecret: o.tokenSecret,
      logLevel: o.logLevel,
      serverId: o.id,
      gceWatcher: false,
      timeouts: o.timeouts,
      limits: defaultLimits,
    },
    backplane: o.memory,
    logger: pino(
      { level: o.logLevel, base: { server: o.id } },
      o.jsonLogs ? pino.destination(2) : { write: (line: string) => void process.stderr.write(`${humanLogLine(line)}\n`) },
    ),
  });
  const { port, adminPort } = await server.start();
  const network = await (o.network ?? startBlackholeProxy)(port);
  return wrap(
    o.id,
    network,
    port,
    adminPort,
    async () => {
      await network.resetAll();
      await server.shutdown();
    },
    () => false,
  );
}

async function startChild(o: ServerSpawnOptions, backplaneEnv: Record<string, string>): Promise<LocalServer> {
  // SIGKILLed by the kernel if this process dies (lifeline.ts), whatever kills it.
  // With the V8 heap flags production derives from the memory budget (app/contract/memory.ts).
  const node = [...serverHeapFlags(o.env), '--import', 'tsx', path.join(ROOT, 'app/server/main.ts')];
  const [cmd, args] = withLifeline(process.execPath, node);
  const proc = spawn(cmd, args, {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      SLUICE_ENV: 'development',
      SLUICE_HOST: '127.0.0.1',
      SLUICE_PORT: '0',
      SLUICE_ADMIN_HOST: '127.0.0.1',
      SLUICE_ADMIN_PORT: '0',
      SLUICE_SERVER_ID: o.id,
      ...backplaneEnv,
      SLUICE_TOKEN_SECRET: o.tokenSecret,
      SLUICE_TIMEOUTS: JSON.stringify(o.timeouts),
      // Info level on stdout is how this process learns the ports; the region forwards warnings and up.
      SLUICE_LOG_LEVEL: 'info',
      ...o.env,
    },
    // Own process group: a terminal's Ctrl-C reaches only `npm start`, which drains the servers itself.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  // The server logs its drain report ('drain finished') before it exits: a drain whose process ended
  // before `POST /drain?wait=1` was answered still has its report (read once stdout has closed).
  let drainReport: ServerStatus['drain'] | undefined;
  const stdoutClosed = new Promise<void>((resolve) => proc.stdout!.once('close', () => resolve()));
  const listening = await new Promise<{ port: number; adminPort: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server ${o.id} did not start within 30 s: ${stderr}`)), 30_000);
    readline.createInterface({ input: proc.stdout! }).on('line', (line) => {
      let entry: { msg?: string; level?: number; port?: number; adminPort?: number };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        return;
      }
      if (entry.msg === 'drain finished') {
        const r = entry as { startedAt?: number; finishedAt?: number; total?: number; closeSent?: number; reset?: number };
        drainReport = {
          startedAt: r.startedAt ?? 0,
          finishedAt: r.finishedAt ?? 0,
          total: r.total ?? 0,
          closeSent: r.closeSent ?? 0,
          reset: r.reset ?? 0,
        };
      } else if (entry.msg === 'server listening') {
        clearTimeout(timer);
        resolve({ port: entry.port!, adminPort: entry.adminPort! });
      } else if ((entry.level ?? 0) >= (LEVELS[o.logLevel] ?? 40)) {
        process.stderr.write(`${o.jsonLogs ? line : humanLogLine(line)}\n`);
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server ${o.id} exited (${code}) before listening: ${stderr}`));
    });
  }).catch(async (err: Error) => {
    proc.kill('SIGKILL');
    await exited;
    throw err;
  });
  const network = await (o.network ?? startBlackholeProxy)(listening.port);
  return wrap(
    o.id,
    network,
    listening.port,
    listening.adminPort,
    async () => {
      await network.resetAll();
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
    () => proc.exitCode !== null || proc.signalCode !== null,
    async () => {
      await stdoutClosed;
      return drainReport;
    },
  );
}

const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };
const LEVEL_NAMES: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/**
 * A server's pino JSON line as one line for a person at a terminal:
 * `12:03:04 local-2 WARN backplane unavailable backplane={"ok":false,"detail":"..."}`.
 * Anything that is not a JSON object is passed through as it is.
 */
export function humanLogLine(line: string): string {
  let e: Record<string, unknown>;
  try {
    e = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.trimEnd();
  }
  if (!e || typeof e !== 'object' || Array.isArray(e)) return line.trimEnd();
  const { time, level, msg, server, pid: _pid, hostname: _host, ...rest } = e;
  const at = typeof time === 'number' ? new Date(time).toISOString().slice(11, 19) : '';
  const fields = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return [at, server, LEVEL_NAMES[level as number] ?? String(level ?? ''), msg, ...fields]
    .filter((x) => x !== undefined && x !== '')
    .join(' ');
}

/** Child server processes still running: killed synchronously if `npm start` itself exits. */
const children = new Set<ChildProcess>();
export function killChildrenNow(): void {
  for (const c of children) c.kill('SIGKILL');
}

/**
 * `exitedAlone`: the server's process has ended by itself (an admin drain ends in exit 0);
 * `loggedReport`: then, the drain report it logged on its way out.
 */
function wrap(
  id: string,
  network: BlackholeProxy,
  publicPort: number,
  adminPort: number,
  kill: () => Promise<void>,
  exitedAlone: () => boolean,
  loggedReport: () => Promise<ServerStatus['drain'] | undefined> = async () => undefined,
): LocalServer {
  const s: LocalServer = {
    id,
    port: network.port,
    publicPort,
    adminPort,
    network,
    gone: false,
    status: () => adminJson<ServerStatus>(adminPort, 'GET', '/status'),
    presence: () => adminJson<{ peers: PresenceEntry[] }>(adminPort, 'GET', '/presence').then((r) => r.peers),
    drain: async (observe) => {
      if (observe) observe(await adminJson<DrainAnswer>(adminPort, 'POST', '/drain'));
      try {
        const done = await adminJson<DrainAnswer>(adminPort, 'POST', '/drain?wait=1', 120_000);
        observe?.(done);
      } catch (err) {
        // A drain with nothing to close can end, and its process exit, before the second request.
        if (!(observe && exitedAlone())) throw err;
        const report = await loggedReport();
        if (report) observe({ state: 'drained', drain: report });
      }
      // The server has closed its listeners; the process (or this one's server) is done.
      await kill();
      await network.close();
      s.gone = true;
    },
    destroy: async () => {
      s.gone = true;
      await kill();
      await network.close();
    },
  };
  return s;
}

/** A JSON request to a server's admin listener on 127.0.0.1 (no token: development on loopback). */
export function adminJson<T = unknown>(port: number, method: string, route: string, timeoutMs = 5_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: route, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => {
        if ((res.statusCode ?? 500) >= 400) return reject(new Error(`${method} ${route}: HTTP ${res.statusCode} ${body.slice(0, 200)}`));
        try {
          resolve(JSON.parse(body) as T);
        } catch {
          reject(new Error(`${method} ${route}: not JSON`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${route}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
