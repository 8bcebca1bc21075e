/** Run `app/server/main.ts` as a real child process (signals, exit codes) on ephemeral ports. */
import { ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { serverHeapFlags } from '../../app/contract/memory';

export interface ServerProcess {
  proc: ChildProcess;
  port: number;
  adminPort: number;
  /** Every JSON log line so far. */
  logs: Array<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first log line whose `msg` equals `msg`. */
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
}

const ROOT = path.resolve(__dirname, '../..');

export interface SpawnOptions {
  /** Start the server under `ulimit -n <this>` (through bash), e.g. to test descriptor exhaustion. */
  openFileLimit?: number;
}

/**
 * Env passes straight through: SLUICE_ADMIN_TOKEN (optional) turns on admin authentication, as
 * in production.
 */
export async function spawnServer(env: Record<string, string>, opts: SpawnOptions = {}): Promise<ServerProcess> {
  // The V8 heap flags production derives from the memory budget (app/contract/memory.ts): the server checks them at start.
  const node = [process.execPath, ...serverHeapFlags(env), '--import', 'tsx', path.join(ROOT, 'app/server/main.ts')];
  const [cmd, ...args] =
    opts.openFileLimit === undefined ? node : ['bash', '-c', `ulimit -n ${Math.floor(opts.openFileLimit)} && exec "$@"`, 'bash', ...node];
  const proc = spawn(cmd, args, {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      SLUICE_PORT: '0',
      SLUICE_ADMIN_PORT: '0',
      SLUICE_HOST: '127.0.0.1',
      SLUICE_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  const waiters: Array<{ msg: string; resolve: (l: Record<string, unknown>) => void }> = [];
  readline.createInterface({ input: proc.stdout! }).on('line', (line) => {
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    logs.push(entry);
    for (const w of [...waiters]) {
      if (entry.msg === w.msg) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(entry);
      }
    }
  });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const waitForLog = (msg: string, timeoutMs = 15_000) => {
    const seen = logs.find((l) => l.msg === msg);
    if (seen) return Promise.resolve(seen);
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "${msg}" log within ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
      waiters.push({
        msg,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
      void exited.then(({ code }) => {
        clearTimeout(timer);
        reject(new Error(`server exited (${code}) before "${msg}"; stderr: ${stderr}`));
      });
    });
  };
  const listening = await waitForLog('server listening').catch(async (err: Error) => {
    proc.kill('SIGKILL'); // never leak a server that did not come up
    await exited;
    throw err;
  });
  return { proc, port: listening.port as number, adminPort: listening.adminPort as number, logs, exited, waitForLog };
}
