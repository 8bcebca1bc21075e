/**
 * Picks the backplane from config: Redis when SLUICE_REDIS_URL (one Redis) or SLUICE_REDIS_CLUSTER
 * (a Redis Cluster) is set, in-memory otherwise; one Redis backplane per region behind a
 * RegionalBackplane when SLUICE_REGION_REDIS_URLS is set (regions.ts, docs/regions.md).
 */
import type { Logger } from 'pino';
import type { Timeouts } from '../contract/timeouts';
import type { BudgetLimits } from './budget';
import { MemoryBackplane } from './memory';
import { RedisBackplane } from './redis/backplane';
import { ClusterNode, NatMap, parseClusterNodes } from './redis/target';
import { RegionalBackplane } from './regions';
import type { Backplane } from './types';

/** The scheme of a region whose backplane is a Redis Cluster: `redis-cluster://host:port[,host:port]`. */
export const CLUSTER_SCHEME = 'redis-cluster://';

/** A server's regions: its own, every region's backplane URL, and the pinned account homes. */
export interface RegionsConfig {
  region: string;
  redisUrls: Record<string, string>;
  accountHomes: Record<string, string>;
}

/** What the backplane needs from the server's config (the server passes it; the backplane never imports the server). */
export interface BackplaneConfig {
  redisUrl?: string;
  /** Seed nodes of a Redis Cluster (instead of redisUrl). */
  redisCluster?: ClusterNode[];
  /** Buckets of the Redis key layout (keys.ts); default DEFAULT_BUCKETS. */
  redisBuckets?: number;
  /** Cluster node addresses reached elsewhere (SLUICE_REDIS_NAT_MAP). */
  redisNatMap?: NatMap;
  /** WAIT for this many replicas before a signal's `ok` (SLUICE_REDIS_WAIT_REPLICAS). */
  redisWaitReplicas?: number;
  regions?: RegionsConfig;
  serverId: string;
  timeouts: Timeouts;
  limits: BudgetLimits;
}

export function createBackplane(config: BackplaneConfig, log: Logger): Backplane {
  const common = {
    buckets: config.redisBuckets,
    natMap: config.redisNatMap,
    waitReplicas: config.redisWaitReplicas,
    serverId: config.serverId,
    timeouts: config.timeouts,
    budget: config.limits,
  };
  const redis = (url: string | undefined, region?: string) =>
    new RedisBackplane({ ...common, url, cluster: region ? undefined : config.redisCluster, log: region ? log.child({ region }) : log });
  if (config.regions) {
    const { region, redisUrls, accountHomes } = config.regions;
    // A region's value is a Redis URL, or `redis-cluster://host:port[,host:port]` (its cluster's seed nodes).
    const member = (r: string, spec: string): Backplane =>
      spec.startsWith(CLUSTER_SCHEME)
        ? new RedisBackplane({
            ...common,
            cluster: parseClusterNodes(spec.slice(CLUSTER_SCHEME.length), `SLUICE_REGION_REDIS_URLS.${r}`),
            log: log.child({ region: r }),
          })
        : redis(spec, r);
    const members = new Map(Object.entries(redisUrls).map(([r, spec]) => [r, member(r, spec)] as const));
    return new RegionalBackplane(region, members, { regions: Object.keys(redisUrls), accountHomes });
  }
  if (config.redisUrl || config.redisCluster) return redis(config.redisUrl);
  return new MemoryBackplane(config.timeouts.resume, { budget: config.limits });
}
