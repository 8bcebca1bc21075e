/**
 * Private redis-server processes for the local region and the tests (one implementation for both):
 * loopback, a free port, no persistence unless asked (a region's state lives as long as
 * `npm start`), `noeviction` as the backplane requires. `npm start` runs them in their own process
 * group, so a terminal's Ctrl-C does not stop them before the drain, and under a lifeline, so they
 * die with it (lifeline.ts).
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { withLifeline } from '../lifeline';

export function redisAvailable(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** `redis-cli` (Debian's redis-tools, a dependency of redis-server): what creates a local cluster. */
export function redisCliAvailable(): boolean {
  return spawnSync('redis-cli', ['--version'], { stdio: 'ignore' }).status === 0;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** The arguments every private redis-server gets, then `extra` (persistence, cluster mode). */
export function redisServerArgs(port: number, dir: string, extra: string[] = []): string[] {
  return [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--daemonize', 'no', '--protected-mode', 'no',
    '--save', '', '--maxmemory-policy', 'noeviction', '--loglevel', 'warning', ...extra,
  ]; // prettier-ignore
}

/** Polls `cond` every `everyMs` until it holds; rejects after `timeoutMs` naming `what` (and the last error). */
export async function pollUntil(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await cond()) return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const cause = last === undefined ? '' : ` (last error: ${last instanceof Error ? last.message : String(last)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface RedisChild {
  proc: ChildProcess;
  exited: Promise<void>;
  /** The last 4,000 characters it wrote (its error when it exits at start). */
  output(): string;
}

/**
 * Spawn redis-server with `args` and resolve once it answers PING with PONG (not `-LOADING` while it
 * reads its AOF). `detached`: its own process group (a terminal's Ctrl-C reaches only `npm start`,
 * which stops it after the drain), and a lifeline. `lifeline`: SIGKILLed if this process dies.
 */
export async function spawnRedis(port: number, args: string[], opts: { detached?: boolean; lifeline?: boolean } = {}): Promise<RedisChild> {
  const [cmd, argv] = opts.detached || opts.lifeline ? withLifeline('redis-server', args) : ['redis-server', args];
  const proc = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], detached: opts.detached ?? false });
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-4000);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const gone = () => proc.exitCode !== null || proc.signalCode !== null;
  try {
    await pollUntil(async () => gone() || (await ping(port)), 10_000, `redis-server :${port} to answer PING`);
  } catch (err) {
    proc.kill('SIGKILL');
    throw new Error(`${(err as Error).message}: ${out}`);
  }
  if (gone()) throw new Error(`redis-server :${port} exited (${proc.exitCode ?? proc.signalCode}): ${out}`);
  return { proc, exited, output: () => out };
}

export interface LocalRedis {
  url: string;
  stop(): Promise<void>;
  killNow(): void;
}

export async function startRedis(dir: string): Promise<LocalRedis> {
  const port = await freePort();
  const { proc, exited } = await spawnRedis(port, redisServerArgs(port, dir, ['--appendonly', 'no']), { detached: true });
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
    killNow: () => {
      if (proc.exitCode === null) proc.kill('SIGKILL');
    },
  };
}

/** True when a redis-server on `port` answers PING with PONG within a second. */
export function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.setTimeout(1_000, () => {
      s.destroy();
      resolve(false);
    });
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (d) => {
      s.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    s.once('error', () => {
      s.destroy();
      resolve(false);
    });
  });
}
