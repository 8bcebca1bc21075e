/** Picks the backplane from config: Redis when SLUICE_REDIS_URL is set, in-memory otherwise. */
import type { Logger } from 'pino';
import type { ServerConfig } from '../server/config';
import { MemoryBackplane } from './memory';
import { RedisBackplane } from './redis';
import type { Backplane } from './types';

export function createBackplane(config: ServerConfig, log: Logger): Backplane {
  if (config.redisUrl) {
    return new RedisBackplane({ url: config.redisUrl, serverId: config.serverId, timeouts: config.timeouts, log, budget: config.limits });
  }
  return new MemoryBackplane(config.timeouts.resume, { budget: config.limits });
}
