/**
 * A private Redis Cluster on loopback from Debian's `redis-server`, created with
 * `redis-cli --cluster create ... --cluster-replicas R`: the local region's cluster backplane
 * (`npm start -- --backplane redis-cluster`) and the tests' (conformance, cluster faults). One
 * implementation for both; the tests add nothing but what they break.
 *
 * Ports: each node needs its port and its cluster bus port (port + 10000, "the cluster bus port is
 * obtained by adding 10000 to the data port" in redis.conf), so a port is picked at random and
 * kept only when both bind on 127.0.0.1.
 *
 * `cluster-require-full-coverage no`: while one shard has no primary (between a SIGKILL and its
 * replica's promotion) the other shards keep serving their slots; with the default `yes` the whole
 * cluster would answer CLUSTERDOWN. `cluster-node-timeout` is short so a failover takes ~2 s.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Redis from 'ioredis';
import { pollUntil, redisAvailable, RedisChild, redisCliAvailable, redisServerArgs, spawnRedis } from './redis';

const run = promisify(execFile);

export const CLUSTER_NODE_TIMEOUT_MS = 1_500;

/** `npm start -- --backplane redis-cluster`: 3 primaries, one replica each, per region. */
export const LOCAL_CLUSTER = { primaries: 3, replicas: 1 } as const;

/** Why a local Redis Cluster cannot start here, or undefined when it can. */
export function clusterMissing(): string | undefined {
  if (!redisAvailable()) return 'redis-server is not on PATH';
  if (!redisCliAvailable()) return 'redis-cli is not on PATH (it creates the cluster)';
  return undefined;
}

export interface ClusterNodeProc extends RedisChild {
  port: number;
}

export interface NodeRow {
  id: string;
  port: number;
  role: 'master' | 'slave';
  masterId: string;
  failed: boolean;
  slots: Array<[number, number]>;
}

export interface RedisClusterOptions {
  primaries?: number;
  /** Replicas per primary. */
  replicas?: number;
  /** Own process groups and lifelines (`npm start`: Ctrl-C reaches only the region, which stops them). */
  detached?: boolean;
  /** Parent of the cluster's temp dir (default: the OS temp dir). */
  dir?: string;
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A random port whose cluster bus port (port + 10000) is free too. */
async function clusterPort(taken: Set<number>): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const p = 20_000 + Math.floor(Math.random() * 35_000);
    if (taken.has(p) || taken.has(p + 10_000) || taken.has(p - 10_000)) continue;
    if ((await bindable(p)) && (await bindable(p + 10_000))) return p;
  }
  throw new Error('no free port pair for a redis cluster node');
}

export async function cli(...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', args, { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

export class RedisCluster {
  readonly nodes: ClusterNodeProc[] = [];

  private constructor(
    readonly dir: string,
    private readonly detached: boolean,
  ) {}

  static async start(opts: RedisClusterOptions = {}): Promise<RedisCluster> {
    const primaries = opts.primaries ?? 3;
    const replicas = opts.replicas ?? 1;
    const c = new RedisCluster(fs.mkdtempSync(path.join(opts.dir ?? os.tmpdir(), 'sluice-cluster-')), opts.detached ?? false);
    try {
      const taken = new Set<number>();
      for (let i = 0; i < primaries * (1 + replicas); i++) {
        const port = await clusterPort(taken);
        taken.add(port);
        c.nodes.push({ port, ...(await c.spawnNode(port)) });
      }
      // `redis-cli --cluster create` wants at least 3 primaries; a cluster of one (the bench's
      // "does a cluster cost anything" case, and Memorystore's smallest shape) takes every slot itself.
      if (primaries === 1 && replicas === 0) await cli('-p', String(c.nodes[0].port), 'cluster', 'addslotsrange', '0', '16383');
      else
        await cli(
          '--cluster',
          'create',
          ...c.nodes.map((n) => `127.0.0.1:${n.port}`),
          '--cluster-replicas',
          String(replicas),
          '--cluster-yes',
        );
      await c.untilHealthy();
      return c;
    } catch (err) {
      await c.destroy();
      throw err;
    }
  }

  /** Seed nodes for ioredis / SLUICE_REDIS_CLUSTER. */
  get seeds(): Array<{ host: string; port: number }> {
    return this.nodes.map((n) => ({ host: '127.0.0.1', port: n.port }));
  }

  get seedText(): string {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  }

  private spawnNode(port: number): Promise<RedisChild> {
    const dir = path.join(this.dir, String(port));
    fs.mkdirSync(dir, { recursive: true });
    const cluster = [
      '--appendonly', 'no', '--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, 'nodes.conf'),
      '--cluster-node-timeout', String(CLUSTER_NODE_TIMEOUT_MS),
      '--cluster-require-full-coverage', 'no', '--cluster-replica-validity-factor', '0',
      // A node that never met another (a cluster of one) reports its own address as "" in CLUSTER
      // SLOTS, where ioredis then cannot connect: announce the loopback address.
      '--cluster-announce-ip', '127.0.0.1',
    ]; // prettier-ignore
    // Always under a lifeline: SIGKILLed by the kernel if this process dies (a bench killed at its
    // budget, a test worker replaced) leaves no node behind.
    return spawnRedis(port, redisServerArgs(port, dir, cluster), { detached: this.detached, lifeline: true });
  }

  /** Parsed CLUSTER NODES as one live node sees it. */
  async table(viaPort?: number): Promise<NodeRow[]> {
    const port = viaPort ?? this.live()[0].port;
    const text = await cli('-p', String(port), 'cluster', 'nodes');
    return text
      .trim()
      .split('\n')
      .map((line) => {
        const f = line.split(' ');
        const slots: Array<[number, number]> = [];
        for (const s of f.slice(8)) {
          if (s.startsWith('[')) continue; // migrating/importing markers
          const [a, b] = s.split('-').map(Number);
          slots.push([a, b ?? a]);
        }
        return {
          id: f[0],
          port: Number(f[1].split(':')[1].split('@')[0]),
          role: f[2].includes('master') ? 'master' : 'slave',
          masterId: f[3],
          failed: /fail/.test(f[2]),
          slots,
        } as NodeRow;
      });
  }

  live(): ClusterNodeProc[] {
    return this.nodes.filter((n) => n.proc.exitCode === null && n.proc.signalCode === null);
  }

  /** The primary serving `slot`, as the cluster sees it now. */
  async primaryOf(slot: number): Promise<NodeRow> {
    const rows = await this.table();
    const row = rows.find((r) => r.role === 'master' && !r.failed && r.slots.some(([a, b]) => slot >= a && slot <= b));
    if (!row) throw new Error(`no primary serves slot ${slot}`);
    return row;
  }

  async replicaOf(primaryId: string): Promise<NodeRow> {
    const row = (await this.table()).find((r) => r.role === 'slave' && r.masterId === primaryId && !r.failed);
    if (!row) throw new Error(`primary ${primaryId} has no live replica`);
    return row;
  }

  /** Every live node says cluster_state:ok with all slots served, and agrees on the primaries. */
  async untilHealthy(timeoutMs = 30_000): Promise<void> {
    await pollUntil(
      async () => {
        for (const n of this.live()) {
          const info = await cli('-p', String(n.port), 'cluster', 'info').catch(() => '');
          if (!/cluster_state:ok/.test(info) || !/cluster_slots_ok:16384/.test(info)) return false;
        }
        const views = await Promise.all(this.live().map((n) => this.table(n.port).catch(() => [])));
        const primaries = (rows: NodeRow[]) =>
          rows
            .filter((r) => r.role === 'master' && !r.failed && r.slots.length > 0)
            .map((r) => `${r.port}:${JSON.stringify(r.slots)}`)
            .sort()
            .join('|');
        return views.every((v) => primaries(v) === primaries(views[0]));
      },
      timeoutMs,
      'redis cluster healthy (cluster_state:ok everywhere, one view of the primaries)',
      50,
    );
  }

  /** `CLUSTER FAILOVER` on the replica of the primary serving `slot`; resolves once it is the primary. */
  async failover(slot: number): Promise<{ from: NodeRow; to: NodeRow }> {
    const from = await this.primaryOf(slot);
    const to = await this.replicaOf(from.id);
    await cli('-p', String(to.port), 'cluster', 'failover');
    await pollUntil(async () => (await this.primaryOf(slot)).id === to.id, 30_000, `replica :${to.port} promoted`, 50);
    await this.untilHealthy();
    return { from, to };
  }

  /** SIGKILL the primary serving `slot`; resolves once its replica serves the slot. */
  async killPrimary(slot: number): Promise<{ killed: NodeRow; promoted: NodeRow }> {
    const killed = await this.primaryOf(slot);
    const replica = await this.replicaOf(killed.id);
    const node = this.nodes.find((n) => n.port === killed.port);
    if (!node) throw new Error(`no process for :${killed.port}`);
    node.proc.kill('SIGKILL');
    await node.exited;
    await pollUntil(
      async () => (await this.primaryOf(slot).catch(() => undefined))?.id === replica.id,
      30_000,
      `replica :${replica.port} promoted`,
      50,
    );
    return { killed, promoted: replica };
  }

  /** Move `count` slots from one primary to another with `redis-cli --cluster reshard`. */
  async reshard(fromId: string, toId: string, count: number): Promise<void> {
    const port = this.live()[0].port;
    await cli(
      '--cluster', 'reshard', `127.0.0.1:${port}`, '--cluster-from', fromId, '--cluster-to', toId,
      '--cluster-slots', String(count), '--cluster-yes', '--cluster-pipeline', '10',
    ); // prettier-ignore
  }

  /** An admin connection to one node (INFO, CLUSTER ...). */
  node(port: number): Redis {
    return new Redis(port, '127.0.0.1', { lazyConnect: false, maxRetriesPerRequest: 1 });
  }

  /** A clean stop (SIGTERM to every node; resolves once all have exited), then the temp dir goes. */
  async stop(): Promise<void> {
    await this.end('SIGTERM');
  }

  /** SIGKILL every node, wait for the exits, remove the temp dir. */
  async destroy(): Promise<void> {
    await this.end('SIGKILL');
  }

  /** Synchronous last resort (process 'exit'). */
  killNow(): void {
    for (const n of this.live()) n.proc.kill('SIGKILL');
  }

  private async end(signal: NodeJS.Signals): Promise<void> {
    const nodes = this.live();
    for (const n of nodes) n.proc.kill(signal);
    await Promise.all(nodes.map((n) => n.exited));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
