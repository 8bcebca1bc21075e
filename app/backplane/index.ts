/** Picks the backplane from config: in-memory unless SLUICE_REDIS_URL is set. */
import type { Logger } from 'pino';
import type { ServerConfig } from '../server/config';
import { MemoryBackplane } from './memory';
import type { Backplane } from './types';

export function createBackplane(config: ServerConfig, _log: Logger): Backplane {
  return new MemoryBackplane(config.timeouts.resume);
}
