/** Picks the backplane from config: Redis when SLUICE_REDIS_URL or SLUICE_REDIS_CLUSTER is set, in-memory otherwise. */
import type { Logger } from 'pino';
import type { Timeouts } from '../contract/timeouts';
import type { BudgetLimits } from './budget';
import { MemoryBackplane } from './memory';
import { RedisBackplane } from './redis/backplane';
import type { ClusterNode } from './redis/target';
import type { Backplane } from './types';

/** What the backplane needs from the server's config (the server passes it; the backplane never imports the server). */
export interface BackplaneConfig {
  redisUrl?: string;
  /** Seed nodes of a Redis Cluster (instead of redisUrl). */
  redisCluster?: ClusterNode[];
  /** Buckets of the Redis key layout (keys.ts); default DEFAULT_BUCKETS. */
  redisBuckets?: number;
  serverId: string;
  timeouts: Timeouts;
  limits: BudgetLimits;
}

export function createBackplane(config: BackplaneConfig, log: Logger): Backplane {
  if (config.redisUrl || config.redisCluster) {
    return new RedisBackplane({
      url: config.redisUrl,
      cluster: config.redisCluster,
      buckets: config.redisBuckets,
      serverId: config.serverId,
      timeouts: config.timeouts,
      log,
      budget: config.limits,
    });
  }
  return new MemoryBackplane(config.timeouts.resume, { budget: config.limits });
}
