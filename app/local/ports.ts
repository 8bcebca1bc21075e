/**
 * `npm start`'s ports, checked before anything starts: a second `npm start` used to fail after Redis
 * and three servers had come up, with HAProxy's raw "cannot bind socket". Here each fixed port is
 * bound and released on 127.0.0.1 first; one that is taken is named with what listens on it (its
 * pid and command line, from /proc on Linux, when this user may see them) and the flag that moves it.
 */
import fs from 'node:fs';
import net from 'node:net';

export interface WantedPort {
  port: number;
  /** What it is for, e.g. "load balancer". */
  what: string;
  /** The option that changes it, e.g. "--port". */
  flag: string;
}

export class PortError extends Error {}

/** Resolves when every non-zero port is free on 127.0.0.1; rejects naming each taken one. */
export async function checkPorts(wanted: WantedPort[]): Promise<void> {
  const fixed = wanted.filter((w) => w.port !== 0);
  const problems: string[] = [];
  const seen = new Map<number, WantedPort>();
  for (const w of fixed) {
    const other = seen.get(w.port);
    if (other) problems.push(`${w.flag} ${w.port} is also the ${other.what}'s port (${other.flag}): give them different ports`);
    seen.set(w.port, w);
  }
  for (const w of [...seen.values()]) {
    const err = await tryBind(w.port);
    if (!err) continue;
    if (err.code === 'EADDRINUSE') {
      const holder = listenerOf(w.port);
      problems.push(
        `port ${w.port} (${w.what}) on 127.0.0.1 is in use${holder ? ` by pid ${holder.pid} (${holder.cmd})` : ''}: ` +
          `stop ${holder ? 'it' : 'what listens there'}, or pick another with ${w.flag} <port> (${w.flag} 0: any free port)`,
      );
    } else if (err.code === 'EACCES') {
      problems.push(`port ${w.port} (${w.what}): not allowed for this user (below 1024?): pick another with ${w.flag} <port>`);
    } else {
      problems.push(`port ${w.port} (${w.what}): ${err.message} (${w.flag} changes it)`);
    }
  }
  if (problems.length) throw new PortError(problems.join('\n'));
}

function tryBind(port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => resolve(err));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(undefined)));
  });
}

/** The process listening on TCP `port` (any address), from /proc/net/tcp{,6} and /proc/<pid>/fd. */
export function listenerOf(port: number): { pid: number; cmd: string } | undefined {
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is ADDR:PORT in hex; state 0A is LISTEN; the inode is the 10th field.
      if (f.length < 10 || f[3] !== '0A') continue;
      if (parseInt(f[1].split(':')[1], 16) === port) inodes.add(f[9]);
    }
  }
  if (inodes.size === 0) return undefined;
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m && inodes.has(m[1])) {
        let cmd = '?';
        try {
          cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ').slice(0, 160);
        } catch {
          // gone meanwhile
        }
        return { pid: Number(pid), cmd };
      }
    }
  }
  return undefined;
}
