/**
 * Load-generator processes for the fleet benchmarks (bench/drain.ts, bench/join-cost.ts): fork one
 * (the light fleet of raw ws peers, or the SDK drill fleet) and ask it a question over IPC.
 */
import { ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './systems';

/** A fleet worker, resolved once it reported up. */
export function fleetWorker(sdk: boolean): Promise<ChildProcess> {
  const proc = fork(path.join(__dirname, sdk ? 'fleet-worker.ts' : 'light-fleet-worker.ts'), [], {
    cwd: ROOT,
    execArgv: ['--import', 'tsx', '--max-old-space-size=4096'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    proc.once('message', () => resolve(proc));
    proc.once('exit', (code) => reject(new Error(`fleet worker exited (${code})`)));
  });
}

/** Send `cmd`, resolve with the answer's `key` (reject on its `error` or after `timeoutMs`). */
export function ask<T>(proc: ChildProcess, cmd: object, key: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fleet worker: no ${key} within ${timeoutMs} ms`)), timeoutMs);
    const on = (m: Record<string, unknown>) => {
      if (m.error) {
        clearTimeout(timer);
        proc.off('message', on);
        reject(new Error(String(m.error)));
      }
      if (key in m) {
        clearTimeout(timer);
        proc.off('message', on);
        resolve(m[key] as T);
      }
    };
    proc.on('message', on);
    proc.send(cmd);
  });
}
