/**
 * What bench/drain.ts reads around a drain besides the fleets' counts: the kernel's listen-queue
 * counters (machine-wide: /proc/net/netstat TcpExt ListenOverflows and ListenDrops, so another
 * process's overflows count too), and the CPU time of any process by pid (/proc/<pid>/stat utime
 * + stime), so the receiving server, the draining one, the load generators and redis-server are
 * compared on one clock.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

export interface ListenCounters {
  listenOverflows: number;
  listenDrops: number;
}

/** TcpExt ListenOverflows / ListenDrops now (null when /proc/net/netstat is not readable). */
export function listenCounters(): ListenCounters | null {
  let text: string;
  try {
    text = fs.readFileSync('/proc/net/netstat', 'utf8');
  } catch {
    return null;
  }
  const lines = text.split('\n').filter((l) => l.startsWith('TcpExt:'));
  if (lines.length < 2) return null;
  const names = lines[0].trim().split(/\s+/);
  const values = lines[1].trim().split(/\s+/).map(Number);
  const at = (k: string) => values[names.indexOf(k)] ?? 0;
  return { listenOverflows: at('ListenOverflows'), listenDrops: at('ListenDrops') };
}

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ: 100 on Linux everywhere in practice). */
const TICKS_PER_SEC = 100;

/** User + system CPU time of `pid` so far, ms (null once it is gone). */
export function procCpuMs(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(rest[11]) + Number(rest[12])) * 1000) / TICKS_PER_SEC;
  } catch {
    return null;
  }
}

/** The pid of the redis-server behind `url` (its INFO server process_id), or null. */
export function redisPid(url: string): number | null {
  try {
    const port = new URL(url).port;
    const out = execFileSync('redis-cli', ['-p', port, 'info', 'server'], { encoding: 'utf8', timeout: 5_000 });
    const m = /process_id:(\d+)/.exec(out);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** CPU used by each named process between two readings, ms. */
export function cpuBetween(before: Record<string, number | null>, after: Record<string, number | null>): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const [k, v] of Object.entries(before)) {
    const w = after[k];
    out[k] = v === null || w === null || w === undefined ? null : Math.round(w - v);
  }
  return out;
}

/**
 * Connections waiting in the accept queue of the TCP listener on `port` now (`ss -ltn`: for a
 * listening socket Recv-Q is the accept queue's length and Send-Q its limit), or null without `ss`.
 */
export function acceptQueue(port: number): { queued: number; limit: number } | null {
  try {
    const out = execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8', timeout: 2_000 });
    const f = out.trim().split(/\s+/);
    return f.length >= 3 ? { queued: Number(f[1]), limit: Number(f[2]) } : null;
  } catch {
    return null;
  }
}
