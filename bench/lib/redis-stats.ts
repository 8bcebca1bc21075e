/**
 * What a benchmark reads from the redis-server processes behind a system: each process's CPU time
 * (from /proc/<pid>/stat, the pid from `INFO server` `process_id`) and the commands it executed
 * (`INFO commandstats`, summed over commands). A snapshot before and after a measurement gives
 * Redis CPU and commands per signal; per process, so a cluster's spread over shards shows.
 */
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import Redis from 'ioredis';

/** Kernel clock ticks per second (utime/stime unit in /proc/<pid>/stat); 100 on Linux/x86 unless told otherwise. */
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface RedisNode {
  port: number;
  /** 'primary' or 'replica', as the node says (`INFO replication`), read once when attached. */
  role: 'primary' | 'replica';
  pid: number;
  conn: Redis;
}

export interface NodeSample {
  port: number;
  role: 'primary' | 'replica';
  cpuUs: number;
  /** Every command executed, those a script runs included. */
  calls: number;
  /** EVAL/EVALSHA/FCALL: one client round trip each. */
  scripts: number;
}

/** user + system CPU time of `pid`, microseconds (fields 14 and 15 after the `(comm)` field). */
export function procCpuUs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state): utime is field 14 -> f[11], stime field 15 -> f[12].
  return ((Number(f[11]) + Number(f[12])) * 1e6) / CLK_TCK;
}

/** Sum of `calls=` over every command of `INFO commandstats`, and over the script-running ones. */
export function countCalls(info: string): { calls: number; scripts: number } {
  let calls = 0;
  let scripts = 0;
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    calls += Number(m[2]);
    if (/^(eval|evalsha|eval_ro|evalsha_ro|fcall|fcall_ro)$/.test(m[1])) scripts += Number(m[2]);
  }
  return { calls, scripts };
}

export async function attachNodes(ports: number[]): Promise<RedisNode[]> {
  return Promise.all(
    ports.map(async (port) => {
      const conn = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1, enableOfflineQueue: true });
      const server = await conn.info('server');
      const repl = await conn.info('replication');
      const pid = Number(/process_id:(\d+)/.exec(server)?.[1]);
      if (!Number.isInteger(pid) || pid <= 0) throw new Error(`redis :${port}: no process_id in INFO server`);
      return { port, pid, conn, role: /role:master/.test(repl) ? 'primary' : 'replica' } as RedisNode;
    }),
  );
}

export async function sample(nodes: RedisNode[]): Promise<NodeSample[]> {
  return Promise.all(
    nodes.map(async (n) => ({
      port: n.port,
      role: n.role,
      cpuUs: procCpuUs(n.pid),
      // Our own INFO calls count once per sample: 2 of thousands, left in.
      ...countCalls(await n.conn.info('commandstats')),
    })),
  );
}

/** after - before, per node (same order). */
export function delta(before: NodeSample[], after: NodeSample[]): NodeSample[] {
  return after.map((a, i) => ({
    ...a,
    cpuUs: a.cpuUs - before[i].cpuUs,
    calls: a.calls - before[i].calls,
    scripts: a.scripts - before[i].scripts,
  }));
}

export async function detach(nodes: RedisNode[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.conn.quit().catch(() => n.conn.disconnect())));
}
