/**
 * No process of the local region outlives it, however it ends.
 *
 *   - Its children (server processes, HAProxy, Redis) are started through util-linux `setpriv
 *     --pdeathsig KILL`: the kernel SIGKILLs each of them when the region process dies, even by
 *     SIGKILL, when no exit handler of ours runs (prctl(2) PR_SET_PDEATHSIG, kept across execve).
 *     Where setpriv is missing (not Linux), children are spawned plainly and only the exit
 *     handler (`Region.killNow`) kills them.
 *   - The region process watches its launchers (`npm start` runs npm -> node; other launchers: sh -c, tsx, npx): when
 *     one of them dies (npm SIGKILLed), the region stops as on SIGTERM (drain, then exit), so the
 *     chain's death reaches it, and with it every child.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

let setprivOk: boolean | undefined;

export function setprivAvailable(): boolean {
  setprivOk ??=
    process.platform === 'linux' && spawnSync('setpriv', ['--pdeathsig', 'KILL', '--', 'true'], { stdio: 'ignore' }).status === 0;
  return setprivOk;
}

/** `[command, args]` to spawn so that the child gets SIGKILL when this process dies. */
export function withLifeline(command: string, args: string[]): [string, string[]] {
  return setprivAvailable() ? ['setpriv', ['--pdeathsig', 'KILL', '--', command, ...args]] : [command, args];
}

/** Parent pid and command line of `pid`, from /proc (Linux); undefined elsewhere or once gone. */
function procInfo(pid: number): { ppid: number; cmd: string } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The comm field is in parentheses and may contain spaces: the fields after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    return { ppid, cmd };
  } catch {
    return undefined;
  }
}

/**
 * The launchers of this process: its parent, and further up while the parent is itself only a
 * launcher (tsx, sh -c, npm / npx), up to and including npm. A shell or terminal above them is not
 * watched.
 */
export function launchers(pid = process.pid): number[] {
  const out: number[] = [];
  let cur = procInfo(pid);
  for (let depth = 0; cur && cur.ppid > 1 && depth < 4; depth++) {
    const parent = procInfo(cur.ppid);
    if (!parent) break;
    out.push(cur.ppid);
    const isNpm = /(^|\/)(npm|npx)(\s|$)|npm-cli\.js|npx-cli\.js|^npm (start|run|exec)/.test(parent.cmd);
    const isLauncher = isNpm || /(^|\/)tsx(\s|$)|\/\.bin\/tsx|^sh -c |^\/bin\/sh -c /.test(parent.cmd);
    if (isNpm || !isLauncher) break;
    cur = parent;
  }
  return out;
}

/**
 * Call `onGone` (once) when one of this process's launchers dies: a launcher that died is no
 * longer our ancestor (this process or one between is reparented). Polled every `everyMs`, unref'd.
 */
export function watchLaunchers(onGone: (pid: number) => void, everyMs = 500): () => void {
  const watched = launchers();
  if (watched.length === 0) return () => undefined;
  const timer = setInterval(() => {
    const now = new Set(launchersChain());
    const gone = watched.find((p) => !now.has(p));
    if (gone !== undefined) {
      clearInterval(timer);
      onGone(gone);
    }
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** Every ancestor pid (up to init), from /proc. */
function launchersChain(): number[] {
  const out: number[] = [];
  let cur = procInfo(process.pid);
  for (let depth = 0; cur && cur.ppid > 1 && depth < 16; depth++) {
    out.push(cur.ppid);
    cur = procInfo(cur.ppid);
  }
  return out;
}
