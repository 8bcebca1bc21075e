/**
 * No process of `npm start` survives it, even when it gets no chance to clean up: SIGKILL the
 * region process and the kernel kills its servers, HAProxy, Redis and the VM networks' process
 * (setpriv --pdeathsig); SIGKILL npm itself and the region notices its launcher gone, stops, and takes everything along.
 */
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { launchers, setprivAvailable } from '../../app/local/lifeline';
import { descendants, untilGone } from '../helpers/procs';

const ROOT = path.resolve(__dirname, '../..');
jest.setTimeout(120_000);

function startedRegion(proc: ChildProcess): Promise<string[]> {
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`region did not start: ${lines.join('\n')}`)), 90_000);
    readline.createInterface({ input: proc.stderr! }).on('line', (l) => {
      lines.push(l);
      if (l.includes('Ctrl-C stops the fleet')) {
        clearTimeout(timer);
        resolve(lines);
      }
    });
    proc.once('exit', (c) => {
      clearTimeout(timer);
      reject(new Error(`exited ${c}: ${lines.join('\n')}`));
    });
  });
}

const ARGS = ['--port', '0', '--status-port', '0', '--peers', '0', '--quick'];
const linux = process.platform === 'linux' && setprivAvailable();

(linux ? describe : describe.skip)('no process outlives npm start', () => {
  const spawned: ChildProcess[] = [];
  const strays: number[] = [];
  afterAll(() => {
    for (const p of spawned) if (p.exitCode === null) p.kill('SIGKILL');
    for (const pid of strays) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  });

  test('launchers: the parent is always watched', () => {
    expect(launchers()[0]).toBe(process.ppid);
  });

  test('region process SIGKILLed: its servers, HAProxy and Redis die with it', async () => {
    const proc = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'app/local/main.ts'), ...ARGS], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    spawned.push(proc);
    const lines = await startedRegion(proc);
    // How to connect is printed without a token: tokens never go in URLs or logs.
    expect(lines.join('\n')).toContain('Sec-WebSocket-Protocol');
    expect(lines.join('\n')).not.toMatch(/token=|eyJ[A-Za-z0-9_-]{10,}/);
    const kids = descendants(proc.pid!);
    strays.push(...kids);
    // Three servers at least (Redis backplane: child processes), or none when it runs in-process.
    const cmds = kids.map((k) => fs.readFileSync(`/proc/${k}/cmdline`, 'utf8').replace(/\0/g, ' '));
    if (cmds.some((c) => c.startsWith('redis-server'))) expect(cmds.filter((c) => c.includes('app/server/main.ts')).length).toBe(3);
    expect(kids.length).toBeGreaterThan(0);
    // The servers' VM networks run in a process of their own: it dies with the region too.
    expect(cmds.filter((c) => c.includes('app/local/network/network-host.ts')).length).toBe(1);
    proc.kill('SIGKILL');
    expect(await untilGone(kids, 10_000)).toEqual([]);
  });

  test('npm itself SIGKILLed: the region stops and leaves nothing behind', async () => {
    const npm = spawn('npm', ['start', '--', ...ARGS], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    spawned.push(npm);
    await startedRegion(npm);
    const kids = descendants(npm.pid!);
    strays.push(...kids);
    expect(kids.length).toBeGreaterThan(2); // sh, tsx, the region, and the region's children
    npm.kill('SIGKILL');
    // The region notices within its poll (0.5 s), drains (no peers: at once) and exits.
    expect(await untilGone(kids, 30_000)).toEqual([]);
  });
});
