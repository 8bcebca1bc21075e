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
import type { ClusterNode } from './redis/target';
import { RegionalBackplane } from './regions';
import type { Backplane } from './types';

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
  regions?: RegionsConfig;
  serverId: string;
  timeouts: Timeouts;
  limits: BudgetLimits;
}

export function createBackplane(config: BackplaneConfig, log: Logger): Backplane {
  const redis = (url: string | undefined, region?: string) =>
    new RedisBackplane({
      url,
      cluster: region ? undefined : config.redisCluster,
      buckets: config.redisBuckets,
      serverId: config.serverId,
      timeouts: config.timeouts,
      log: region ? log.child({ region }) : log,
      budget: config.limits,
    });
  if (config.regions) {
    const { region, redisUrls, accountHomes } = config.regions;
    const members = new Map(Object.entries(redisUrls).map(([r, url]) => [r, redis(url, r)] as const));
    return new RegionalBackplane(region, members, { regions: Object.keys(redisUrls), accountHomes });
  }
  if (config.redisUrl || config.redisCluster) return redis(config.redisUrl);
  return new MemoryBackplane(config.timeouts.resume, { budget: config.limits });
}
