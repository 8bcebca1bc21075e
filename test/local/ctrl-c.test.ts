/**
 * Ctrl-C from a real terminal (issue 25): `npm start` and `npm run drill` run in a pseudo-terminal
 * (util-linux `script`), and the test types ^C into it: the terminal's line discipline sends SIGINT
 * to the whole foreground process group (npm, tsx, the region process, and any child left in that
 * group), as a keyboard does. Signalling one PID, as the other tests do, missed that a child in the
 * group died of the SIGINT before the region could drain through it.
 *
 * Each must print its fleet summary, drain, remove its temp directory (TMPDIR points at a fresh one
 * per run), leave no process behind, and exit 0.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { descendants, untilGone } from '../helpers/procs';

const ROOT = path.resolve(__dirname, '../..');
jest.setTimeout(240_000);

const haveScript = process.platform === 'linux' && spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;

interface Terminal {
  proc: ChildProcess;
  output(): string;
  /** Resolves once the output matches `re`. */
  waitFor(re: RegExp, ms: number): Promise<void>;
  /** Type ^C: the pty sends SIGINT to its foreground process group. */
  ctrlC(): void;
  exited: Promise<number | null>;
}

/** `command` run by `sh -c` in a new pseudo-terminal, as the session's foreground job. */
function inTerminal(command: string, env: Record<string, string>): Terminal {
  // -e: script exits with the command's status; -f: flush each write; -q: no banner.
  const proc = spawn('script', ['-qfec', command, '/dev/null'], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  const waiters: Array<() => void> = [];
  proc.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    for (const w of [...waiters]) w();
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
  return {
    proc,
    output: () => out,
    waitFor: (re, ms) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${re} within ${ms} ms:\n${out}`)), ms);
        const check = () => {
          if (!re.test(out)) return;
          clearTimeout(timer);
          waiters.splice(waiters.indexOf(check), 1);
          resolve();
        };
        waiters.push(check);
        void exited.then(() => {
          clearTimeout(timer);
          reject(new Error(`exited before ${re}:\n${out}`));
        });
        check();
      }),
    ctrlC: () => {
      proc.stdin!.write('\x03');
    },
    exited,
  };
}

/** The regions' temp directories in `dir` (tsx keeps its own `tsx-*` there too). */
const regionDirs = (dir: string) => fs.readdirSync(dir).filter((d) => d.startsWith('sluice-region-'));

(haveScript ? describe : describe.skip)('Ctrl-C in a terminal', () => {
  const strays: number[] = [];
  const dirs: string[] = [];
  afterAll(() => {
    for (const pid of strays) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });
  const tmp = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-ctrl-c-'));
    dirs.push(d);
    return d;
  };
  /** The terminal job's processes now (killed after the suite if any outlives it). */
  const childrenOf = (t: Terminal) => {
    const kids = descendants(t.proc.pid!);
    strays.push(...kids);
    return kids;
  };
  /** Type ^C, wait for the job to end, and return what the terminal showed; anything but exit 0 fails with it. */
  const ctrlCToExit0 = async (t: Terminal) => {
    t.ctrlC();
    const code = await t.exited;
    const out = t.output();
    if (code !== 0) throw new Error(`exit ${code}; the terminal showed:\n${out}`);
    return out;
  };

  test('npm start: fleet summary, drain, temp dir removed, nothing left, exit 0', async () => {
    const dir = tmp();
    // exec: npm is the terminal's foreground job itself, as when typed at an interactive shell.
    const t = inTerminal('exec npm start -- --port 0 --status-port 0 --peers 6 --quick', { TMPDIR: dir });
    await t.waitFor(/Ctrl-C stops the fleet/, 90_000);
    expect(regionDirs(dir)).toHaveLength(1);
    const kids = childrenOf(t);
    // npm, tsx, the region process and the region's children (at least the VM networks' process).
    expect(kids.length).toBeGreaterThanOrEqual(4);
    const out = await ctrlCToExit0(t);
    expect(out).toMatch(/stopping \(SIGINT\): fleet, then a drain of every server/);
    expect(out).toMatch(/fleet: 6 peers, \d+ signals sent, \d+ delivered, 0 lost, 0 duplicated/);
    expect(out).toMatch(/stopped\./);
    expect(out).not.toMatch(/stop failed|exited \(SIGINT\)/);
    expect(regionDirs(dir)).toEqual([]);
    expect(await untilGone(kids, 10_000)).toEqual([]);
  });

  test("npm run drill: the running scenario's region stops the same way, exit 0", async () => {
    const dir = tmp();
    const t = inTerminal(`exec npm run drill -- --quick --scenarios 1 --peers 12 --out ${path.join(dir, 'report')}`, { TMPDIR: dir });
    await t.waitFor(/drill: region up: /, 120_000);
    const kids = childrenOf(t);
    expect(kids.length).toBeGreaterThanOrEqual(4);
    const out = await ctrlCToExit0(t);
    expect(out).toMatch(/interrupted \(SIGINT\): stopping 1 region\(s\)/);
    expect(out).toMatch(/fleet: 12 peers, \d+ signals sent, \d+ delivered, 0 lost, 0 duplicated/);
    expect(out).toMatch(/drill: stopped\./);
    expect(out).not.toMatch(/stop failed|exited \(SIGINT\)|drill: Error/);
    // No report for a cut-short run, and no region directory left.
    expect(fs.readdirSync(dir).filter((d) => d === 'report')).toEqual([]);
    expect(regionDirs(dir)).toEqual([]);
    expect(await untilGone(kids, 10_000)).toEqual([]);
  });
});
