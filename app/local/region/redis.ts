/**
 * A private redis-server for the local region: loopback, a free port, no persistence (a region's
 * state lives as long as `npm start`), `noeviction` as the backplane requires. Started and stopped
 * with the region; its own process group so a terminal's Ctrl-C does not stop it before the drain.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { withLifeline } from '../lifeline';

export function redisAvailable(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
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

export interface LocalRedis {
  url: string;
  stop(): Promise<void>;
  killNow(): void;
}

export async function startRedis(dir: string): Promise<LocalRedis> {
  const port = await freePort();
  // SIGKILLed by the kernel if this process dies (lifeline.ts).
  const proc: ChildProcess = spawn(
    ...withLifeline('redis-server', [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--protected-mode',
      'yes',
      '--maxmemory-policy',
      'noeviction',
      '--loglevel',
      'warning',
    ]),
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => {
    out = (out + d.toString()).slice(-4000);
  });
  proc.stderr!.on('data', (d: Buffer) => {
    out = (out + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`redis-server exited (${proc.exitCode}): ${out}`);
    if (await ping(port)) break;
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`redis-server did not answer PING within 10 s: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
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

function ping(port: number): Promise<boolean> {
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
