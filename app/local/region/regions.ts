/**
 * Several regions on one machine (`npm start -- --regions 2`, docs/regions.md): each region its own
 * Redis, servers and load balancer; every server reaches every region's Redis (its own directly,
 * the others through a delay relay: the inter-region link) and routes each call by the peer's home
 * region (app/backplane/regions.ts). Each region has a global front, the local model of the global
 * load balancer's entry point nearest to the peer: it sends new connections to its own region while
 * that region has capacity, else to another region across the link (capacityScaler 0 evacuates a
 * region, `sluice:capacity` in production). The fleet's client/gateway pairs are split across
 * regions: client k connects through region k's front, gateway k through the next region's.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { redisTiming } from '../../backplane/redis/clients';
import type { Timeouts } from '../../contract/timeouts';
import { SOCKET_PATH } from '../../protocol/endpoints';
import type { FleetController, FleetSummary } from '../../peer/fleet';
import type { PeerSpec } from '../../peer/peer';
import { Relay, startRelay } from '../network/relay';
import type { Sample } from './monitor';
import { LocalRedis, redisAvailable, startRedis } from './redis';
import { clusterMissing, LOCAL_CLUSTER, RedisCluster } from './redis-cluster';
import { Region, RegionOptions, startOrCleanUp, startRegion } from './region';

/**
 * The largest inter-region round trip the backplane's Redis timing tolerates: a quarter of its
 * command timeout (clients.ts redisTiming, from the contract's client.joinTimeoutMs), leaving three
 * round trips of room for a busy event loop. Past it, calls into another region's Redis time out
 * (presence renewals first). 312 ms with the contract's defaults, 62 ms with --quick.
 */
export function maxRegionRttMs(t: Timeouts): number {
  return Math.floor(redisTiming(t).commandTimeoutMs / 4);
}

export interface RegionsOptions extends Omit<RegionOptions, 'backplane' | 'external' | 'idPrefix' | 'port'> {
  /** How many regions (2 or more). */
  regions: number;
  /** Added round-trip time between two regions (each direction gets half). */
  regionDelayMs: number;
  /** Each region's backplane: one Redis (default) or a local Redis Cluster (3 primaries + 3 replicas). */
  backplane?: 'redis' | 'redis-cluster';
}

/** Local region names: r1, r2, ... (lower case: the home rule's region names, regions-config.ts). */
export const regionName = (i: number): string => `r${i + 1}`;

/** Region index of fleet peer `spec`: client k in region k, gateway k in region k + 1 (mod n). */
export function peerRegionIndex(spec: PeerSpec, regions: number): number {
  const k = Number(/-(\d+)$/.exec(spec.id)?.[1] ?? 0);
  return (k + (spec.kind === 'gateway' ? 1 : 0)) % regions;
}

export interface RegionView {
  name: string;
  capacity: number;
  servers: string[];
  /** Signals this region's live servers published into another region's backplane (their counters). */
  crossRegion: number;
}

export class Regions {
  readonly regions: Region[] = [];
  readonly capacity: number[];
  fleet?: FleetController;
  private readonly redis: LocalRedis[] = [];
  /** Each region's local Redis Cluster (--backplane redis-cluster). */
  readonly clusters: RedisCluster[] = [];
  private readonly links: Relay[] = [];
  private readonly fronts: Relay[] = [];
  private readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-regions-'));
  private stopping?: Promise<FleetSummary | undefined>;
  /** Last cross-region count seen per server id (a server that is gone keeps its count). */
  private readonly crossSeen = new Map<string, number>();

  constructor(readonly opts: RegionsOptions) {
    if (!Number.isInteger(opts.regions) || opts.regions < 2) throw new Error(`--regions: expected an integer >= 2, got ${opts.regions}`);
    if (!(opts.regionDelayMs >= 0)) throw new Error(`--region-delay-ms: expected a number >= 0, got ${opts.regionDelayMs}`);
    const max = maxRegionRttMs(opts.timeouts);
    if (opts.regionDelayMs > max)
      throw new Error(
        `--region-delay-ms ${opts.regionDelayMs}: at most ${max} ms with this contract (a quarter of the backplane's Redis command timeout, ` +
          `client.joinTimeoutMs / 16); calls into another region's Redis would time out. Use a smaller delay${opts.timeouts.client.joinTimeoutMs < 5_000 ? ' or drop --quick' : ''}.`,
      );
    this.capacity = Array.from({ length: opts.regions }, () => 1);
  }

  get names(): string[] {
    return this.regions.map((_, i) => regionName(i));
  }

  /** The URL a peer in region i connects to (its global front). */
  frontUrl(i: number): string {
    return `ws://127.0.0.1:${this.fronts[i].port}${SOCKET_PATH}`;
  }

  async start(): Promise<void> {
    const cluster = this.opts.backplane === 'redis-cluster';
    const missing = cluster ? clusterMissing() : redisAvailable() ? undefined : 'redis-server is not on PATH';
    if (missing)
      throw new Error(
        `--regions needs ${cluster ? 'a local Redis Cluster' : 'a Redis'} per region: ${missing} (apt-get install redis-server)`,
      );
    const n = this.opts.regions;
    for (let i = 0; i < n; i++) {
      if (cluster) this.clusters.push(await RedisCluster.start({ ...LOCAL_CLUSTER, detached: true, dir: this.dir }));
      else this.redis.push(await startRedis(this.dir));
    }
    for (let i = 0; i < n; i++) {
      // Region i's view of every backplane: its own directly, the others across the link.
      const urls: Record<string, string> = {};
      const nat: Record<string, string> = {};
      for (let j = 0; j < n; j++)
        urls[regionName(j)] = cluster ? await this.clusterSpec(j, j !== i, nat) : await this.redisSpec(j, j !== i);
      const env = { SLUICE_REGION: regionName(i), SLUICE_REGION_REDIS_URLS: JSON.stringify(urls) };
      const region = await startRegion({
        ...this.opts,
        backplane: undefined,
        peers: i === 0 ? this.opts.peers : 0,
        idPrefix: regionName(i),
        external: cluster
          ? { redisCluster: this.clusters[i].seedText, serverEnv: { ...env, SLUICE_REDIS_NAT_MAP: JSON.stringify(nat) } }
          : { redisUrl: this.redis[i].url, serverEnv: env },
      });
      this.regions.push(region);
    }
    for (let i = 0; i < n; i++) this.fronts.push(await startRelay(() => this.route(i)));
    // Every sample keeps each server's count: a drained server's signals stay counted.
    for (const r of this.regions)
      r.monitor.on('sample', (sample: Sample) => {
        for (const v of sample.servers) if (v.crossRegion !== undefined) this.crossSeen.set(v.id, v.crossRegion);
      });
  }

  /** A delay relay to port (the inter-region link; half the round trip each way). */
  private async link(port: number): Promise<number> {
    const l = await startRelay(() => ({ port, delayMs: this.opts.regionDelayMs / 2 }));
    this.links.push(l);
    return l.port;
  }

  /** Region j's Redis URL, across the link when `remote`. */
  private async redisSpec(j: number, remote: boolean): Promise<string> {
    const port = Number(new URL(this.redis[j].url).port);
    return `redis://127.0.0.1:${remote ? await this.link(port) : port}`;
  }

  /**
   * Region j's cluster as `redis-cluster://` seeds. Across the link, every node gets a relay of its
   * own, and `nat` (the server's SLUICE_REDIS_NAT_MAP, ioredis natMap) maps the address the node
   * announces (CLUSTER SLOTS, MOVED, ASK) to its relay: else the servers would follow the slot map
   * straight to the nodes and skip the delay.
   */
  private async clusterSpec(j: number, remote: boolean, nat: Record<string, string>): Promise<string> {
    const seeds: string[] = [];
    for (const node of this.clusters[j].nodes) {
      const port = remote ? await this.link(node.port) : node.port;
      if (remote) nat[`127.0.0.1:${node.port}`] = `127.0.0.1:${port}`;
      seeds.push(`127.0.0.1:${port}`);
    }
    return `redis-cluster://${seeds.join(',')}`;
  }

  /** The global front of region i: its own balancer while it has capacity, else the next region's that has. */
  private route(i: number): { port: number; delayMs: number } | null {
    const n = this.regions.length;
    for (let d = 0; d < n; d++) {
      const j = (i + d) % n;
      if (this.capacity[j] > 0) return { port: this.regions[j].lb.port, delayMs: j === i ? 0 : this.opts.regionDelayMs / 2 };
    }
    return null;
  }

  /** One fleet for every region: pairs split across regions, each peer through its region's front. */
  async startFleet(): Promise<FleetController> {
    const n = this.regions.length;
    this.fleet = await this.regions[0].startFleet((spec) => [this.frontUrl(peerRegionIndex(spec, n))]);
    for (const r of this.regions.slice(1)) r.fleet = this.fleet;
    return this.fleet;
  }

  /**
   * Evacuate region i: capacity 0 at every front (new connections go elsewhere), then every server of
   * the region leaves its balancer and drains (1012 spread over the drain window; the peers reconnect
   * through their front into another region). Resolves when the region has no server left.
   */
  async evacuate(i: number): Promise<void> {
    if (this.capacity.every((c, j) => j === i || c === 0))
      throw new Error('no other region has capacity: evacuating would leave nowhere to go');
    this.capacity[i] = 0;
    const r = this.regions[i];
    await Promise.all(r.live().map((s) => r.retire(s)));
  }

  /** Give region i its capacity back with `servers` fresh servers. */
  async restore(i: number, servers: number): Promise<void> {
    const r = this.regions[i];
    await Promise.all(Array.from({ length: servers }, () => r.addServer()));
    this.capacity[i] = 1;
  }

  view(): RegionView[] {
    return this.regions.map((r, i) => {
      const prefix = `${regionName(i)}-`;
      return {
        name: regionName(i),
        capacity: this.capacity[i],
        servers: r.live().map((s) => s.id),
        crossRegion: [...this.crossSeen].reduce((acc, [id, c]) => acc + (id.startsWith(prefix) ? c : 0), 0),
      };
    });
  }

  /** Stop the fleet (its summary), then every region, the links, the fronts and the Redis servers. */
  stop(): Promise<FleetSummary | undefined> {
    this.stopping ??= (async () => {
      const summary = await this.fleet?.stop();
      const results = await Promise.allSettled(this.regions.map((r) => r.stop()));
      await Promise.all([...this.fronts, ...this.links].map((l) => l.close()));
      await Promise.all([...this.redis, ...this.clusters].map((r) => r.stop()));
      fs.rmSync(this.dir, { recursive: true, force: true });
      const failed = results.find((x): x is PromiseRejectedResult => x.status === 'rejected');
      if (failed) throw failed.reason;
      return summary;
    })();
    return this.stopping;
  }

  killNow(): void {
    for (const r of this.regions) r.killNow();
    for (const r of [...this.redis, ...this.clusters]) r.killNow();
  }
}

export function startRegions(opts: RegionsOptions): Promise<Regions> {
  return startOrCleanUp(new Regions(opts));
}
