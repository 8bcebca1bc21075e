/**
 * A whole region on one machine: N sluice servers on one backplane (in-memory in this process, or
 * Redis with the servers as child processes), a load balancer in front (built-in or HAProxy), a
 * fleet of drill peers exchanging numbered signals through it, and a monitor sampling all of it.
 *
 *   const region = await startRegion({ servers: 3, peers: 60 });
 *   await region.rollout();          // every server replaced, one by one, each with a drain
 *   const summary = await region.stop();
 *
 * A rollout is the MIG's rolling update with maxSurge 1, maxUnavailable 0: start a new server
 * (a fresh id), wait until the LB has it up, then take the old one out of the LB (connection
 * draining) and drain it (what the lifecycle watcher starts within one poll on GCP).
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MemoryBackplane } from '../../backplane/memory';
import type { Timeouts } from '../../contract/timeouts';
import { SOCKET_PATH } from '../../protocol/endpoints';
import type { FleetController, FleetSummary } from '../../peer/fleet';
import type { PeerSpec } from '../../peer/peer';
import { DEV_TOKEN_SECRET } from '../../auth/token';
import type { LoadBalancer, LocalBalancerKind } from '../lb/load-balancer';
import { resolveLbKind, startLoadBalancer } from '../lb/start';
import { Monitor } from './monitor';
import { NetworkHost, startNetworkHost } from '../network/network-host';
import { LocalRedis, freePort, redisAvailable, startRedis } from './redis';
import { clusterMissing, LOCAL_CLUSTER, RedisCluster } from './redis-cluster';
import { DrainAnswer, killChildrenNow, LocalServer, startLocalServer } from './servers';
import { startRampedFleet, withTimeout } from './fleet-join';

export { withTimeout };

export type BackplaneKind = 'memory' | 'redis' | 'redis-cluster';

/** The release the region's first servers run. */
export const INITIAL_RELEASE = 'initial';

export interface RegionOptions {
  servers: number;
  peers: number;
  timeouts: Timeouts;
  /** The peers' contract (default: the region's). */
  clientTimeouts?: Timeouts;
  lb?: LocalBalancerKind | 'auto';
  backplane?: BackplaneKind | 'auto';
  /** LB port on 127.0.0.1 (0: a free one). */
  port?: number;
  intervalMs?: number;
  tokenSecret?: string;
  logLevel?: string;
  /** Server log lines as pino's JSON instead of one readable line each. */
  jsonLogs?: boolean;
  seed?: number;
  sampleEveryMs?: number;
  /** Server id prefix (ids are `<prefix>-1`, `-2`, ... and never reused). */
  idPrefix?: string;
  /**
   * Several regions (regions.ts): this region's Redis (a URL) or Redis Cluster (seed nodes), started
   * and stopped by the caller (the region starts none), and the variables that give its servers every
   * region's backplane.
   */
  external?: { redisUrl?: string; redisCluster?: string; serverEnv: Record<string, string> };
}

export type BreakMode = 'silence' | 'delete' | 'restore';

/** Regions started and not stopped yet: what a Ctrl-C of the drill has to stop (drill-cli.ts). */
export const runningRegions = new Set<Region>();

export class Region extends EventEmitter {
  readonly servers: LocalServer[] = [];
  readonly monitor: Monitor;
  readonly silent = new Set<string>();
  fleet?: FleetController;
  lb!: LoadBalancer;
  backplaneKind!: BackplaneKind;
  rolling: { step: number; of: number; current?: string } | null = null;
  /** The release each server runs (app/local/region/replace-servers.ts rolls a named release out). */
  readonly releases = new Map<string, string>();
  private memory?: MemoryBackplane;
  private redis?: LocalRedis;
  /** The local Redis Cluster (--backplane redis-cluster without `external`). */
  cluster?: RedisCluster;
  /** The servers' VM networks, in a child process (network-host.ts: off this process's event loop). */
  private networks?: NetworkHost;
  private nextId = 1;
  private dir: string;
  private stopping?: Promise<FleetSummary | undefined>;
  /** The fleet's summary once `stop()` has stopped it (kept even when a later stop step fails). */
  summary?: FleetSummary;

  constructor(readonly opts: RegionOptions) {
    super();
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-region-'));
    runningRegions.add(this);
    this.monitor = new Monitor(
      {
        servers: () => this.servers,
        fleet: () => this.fleet,
        silent: () => this.silent,
      },
      opts.sampleEveryMs ?? 1_000,
    );
  }

  get secret(): string {
    return this.opts.tokenSecret ?? DEV_TOKEN_SECRET;
  }
  get lbUrl(): string {
    return `ws://127.0.0.1:${this.lb.port}${SOCKET_PATH}`;
  }
  live(): LocalServer[] {
    return this.servers.filter((s) => !s.gone);
  }

  /** Resolves once start() has settled: a stop asked for meanwhile (Ctrl-C) waits for it. */
  private starting?: Promise<void>;

  start(): Promise<void> {
    this.starting ??= this.startParts();
    return this.starting;
  }

  private async startParts(): Promise<void> {
    const ext = this.opts.external;
    const asked = ext ? (ext.redisCluster ? 'redis-cluster' : 'redis') : (this.opts.backplane ?? 'auto');
    if (asked === 'redis' && !redisAvailable())
      throw new Error('--backplane redis: redis-server is not on PATH (apt-get install redis-server)');
    const noCluster = asked === 'redis-cluster' && !ext ? clusterMissing() : undefined;
    if (noCluster) throw new Error(`--backplane redis-cluster: ${noCluster} (apt-get install redis-server)`);
    this.backplaneKind = asked === 'auto' ? (redisAvailable() ? 'redis' : 'memory') : asked;
    this.networks = await startNetworkHost();
    // With `external` the caller's Redis or cluster serves the region.
    if (this.backplaneKind === 'memory') this.memory = new MemoryBackplane(this.opts.timeouts.resume);
    else if (!ext && this.backplaneKind === 'redis') this.redis = await startRedis(this.dir);
    else if (!ext) this.cluster = await RedisCluster.start({ ...LOCAL_CLUSTER, detached: true, dir: this.dir });
    const kind = resolveLbKind(this.opts.lb ?? 'auto');
    const port = this.opts.port || (kind === 'haproxy' ? await freePort() : 0);
    this.lb = await startLoadBalancer(kind, { port, dir: this.dir, timeouts: this.opts.timeouts });
    await Promise.all(Array.from({ length: this.opts.servers }, () => this.addServer()));
    this.monitor.start();
  }

  /**
   * Start the fleet through the LB; resolves once every peer has joined. `urlsFor`: each peer's own
   * endpoints instead (several regions, regions.ts: the global front of the peer's region).
   */
  async startFleet(urlsFor?: (peer: PeerSpec, index: number) => string[]): Promise<FleetController> {
    if (this.opts.peers < 1) throw new Error('no peers configured');
    const { fleet, joined } = startRampedFleet(
      {
        peers: this.opts.peers,
        secret: this.secret,
        lbUrl: this.lbUrl,
        urlsFor,
        timeouts: this.opts.timeouts,
        clientTimeouts: this.opts.clientTimeouts,
        intervalMs: this.opts.intervalMs,
        seed: this.opts.seed,
      },
      this.lb,
    );
    this.fleet = fleet;
    return joined;
  }

  /** A new server with a fresh id, added to the LB; resolves once the LB has it up. */
  async addServer(release = INITIAL_RELEASE): Promise<LocalServer> {
    const id = `${this.opts.idPrefix ?? 'local'}-${this.nextId++}`;
    this.releases.set(id, release);
    const s = await startLocalServer({
      id,
      timeouts: this.opts.timeouts,
      tokenSecret: this.secret,
      logLevel: this.opts.logLevel ?? 'warn',
      jsonLogs: this.opts.jsonLogs,
      memory: this.memory,
      redisUrl: this.opts.external?.redisUrl ?? this.redis?.url,
      redisCluster: this.opts.external?.redisCluster ?? this.cluster?.seedText,
      env: this.opts.external?.serverEnv,
      network: (p) => this.networks!.open(p),
    });
    this.servers.push(s);
    // Up at the LB and ready by its own account (a server on Redis reports ready once it has
    // restored its backplane state), as a MIG waits for a healthy VM before replacing the next.
    await this.lb.add(id, s.port);
    await this.lb.whenUp(id, 15_000);
    await withTimeout(
      (async () => {
        while (
          !(await s.status().then(
            (st) => st.ready?.ok === true,
            () => false,
          ))
        )
          await new Promise((r) => setTimeout(r, 50));
      })(),
      15_000,
      `${id} ready`,
    );
    this.emit('change');
    return s;
  }

  /** Take a server out of the LB (connection draining) and drain it; resolves once it is gone. */
  async retire(s: LocalServer, observe?: (answer: DrainAnswer) => void): Promise<void> {
    await this.lb.remove(s.id);
    await s.drain(observe);
    this.emit('change');
  }

  /** Show a rollout's progress (the status page); null when none runs. */
  setRolling(r: Region['rolling']): void {
    this.rolling = r;
    this.emit('change');
  }

  /** Replace every live server, one at a time, each with a drain. */
  async rollout(): Promise<void> {
    if (this.rolling) throw new Error('a rollout is already running');
    const old = this.live();
    this.rolling = { step: 0, of: old.length };
    this.emit('change');
    try {
      for (const s of old) {
        this.rolling = { step: this.rolling.step + 1, of: old.length, current: s.id };
        this.emit('change');
        await this.addServer();
        await this.retire(s);
      }
    } finally {
      this.rolling = null;
      this.emit('change');
    }
  }

  /**
   * The drill's failure modes on one server: `silence` black-holes its network (no FIN, no RST;
   * the process keeps running), `delete` is its VM's deletion (a final RST on every connection, no
   * drain), `restore` undoes a silence.
   */
  async breakServer(mode: BreakMode, id: string): Promise<void> {
    const s = this.live().find((x) => x.id === id);
    if (!s) throw new Error(`no live server ${id}`);
    if (mode === 'silence') {
      await s.network.blackhole();
      this.silent.add(id);
    } else if (mode === 'restore') {
      await s.network.restore();
      this.silent.delete(id);
    } else {
      this.silent.delete(id);
      await this.lb.remove(id);
      await s.destroy();
    }
    this.emit('change');
  }

  /**
   * Stop: the fleet first (its summary: every signal accounted for), then every server drains
   * (nothing is left to close, so this is quick), then the LB and the backplane. Idempotent.
   */
  stop(): Promise<FleetSummary | undefined> {
    this.stopping ??= (async () => {
      // Parts still starting would come up after this stop and outlive it.
      await this.starting?.catch(() => undefined);
      // Every step runs whatever an earlier one ran into (a part that died first must not leave the
      // rest running or the temp dir behind); the first error is reported once all are done.
      const errors: Error[] = [];
      const step = async <T>(f: () => Promise<T> | T | undefined): Promise<T | undefined> => {
        try {
          return await f();
        } catch (err) {
          errors.push(err as Error);
          return undefined;
        }
      };
      const summary = await step(() => this.fleet?.stop());
      this.summary = summary;
      this.monitor.stop();
      await Promise.all(
        this.live().map((s) =>
          step(async () => {
            await Promise.resolve()
              .then(() => this.lb?.remove(s.id))
              .catch(() => undefined);
            await s.drain().catch(async (err: Error) => {
              await s.destroy().catch(() => undefined);
              throw new Error(`${s.id}: drain failed (${err.message}); its process was killed`);
            });
          }),
        ),
      );
      await step(() => this.lb?.close());
      await step(() => this.networks?.close());
      await step(() => this.memory?.close());
      await step(() => this.redis?.stop());
      await step(() => this.cluster?.stop());
      fs.rmSync(this.dir, { recursive: true, force: true });
      runningRegions.delete(this);
      if (errors.length > 0) throw errors[0];
      return summary;
    })();
    return this.stopping;
  }

  /** Synchronous last resort (process 'exit'): no child process outlives `npm start`. */
  killNow(): void {
    killChildrenNow();
    this.lb?.killNow();
    this.networks?.killNow();
    this.redis?.killNow();
    this.cluster?.killNow();
  }
}

export function startRegion(opts: RegionOptions): Promise<Region> {
  return startOrCleanUp(new Region(opts));
}

/** Start `r`; if that fails, kill what it started, stop the rest, and rethrow (a region, or several: regions.ts). */
export async function startOrCleanUp<T extends { start(): Promise<void>; killNow(): void; stop(): Promise<unknown> }>(r: T): Promise<T> {
  try {
    await r.start();
  } catch (err) {
    r.killNow();
    await r.stop().catch(() => undefined);
    throw err;
  }
  return r;
}
