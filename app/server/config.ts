/**
 * Server configuration: environment variables, validated once with zod. A bad value fails start-up
 * with the variable's name and what was expected; timeouts come only from the contract
 * (`SLUICE_TIMEOUTS` holds JSON overrides, validated against every rule).
 */
import os from 'node:os';
import { z } from 'zod';
import { resolveTimeouts, Timeouts, TimeoutsContractError, TimeoutsOverrides } from '../contract/timeouts';

/** Used only when SLUICE_ENV=development (the default) and no secret is set. Never in production. */
export const DEV_TOKEN_SECRET = 'sluice-development-secret-do-not-use-in-production';

const port = (def: number) => z.coerce.number().int().min(0).max(65535).default(def);

const envSchema = z.object({
  SLUICE_ENV: z.enum(['development', 'production']).default('development'),
  SLUICE_HOST: z.string().min(1).default('0.0.0.0'),
  SLUICE_PORT: port(4000),
  SLUICE_ADMIN_HOST: z.string().min(1).default('127.0.0.1'),
  SLUICE_ADMIN_PORT: port(9090),
  SLUICE_TOKEN_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  SLUICE_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SLUICE_SERVER_ID: z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/).default(os.hostname()),
  SLUICE_REDIS_URL: z.string().url().optional(),
  SLUICE_TIMEOUTS: z.string().optional(),
  SLUICE_MAX_FRAME_BYTES: z.coerce.number().int().min(1024).max(16 * 1024 * 1024).default(64 * 1024),
  SLUICE_RATE_PER_SEC: z.coerce.number().positive().default(50),
  SLUICE_RATE_BURST: z.coerce.number().int().positive().default(100),
  SLUICE_MAX_BUFFERED_BYTES: z.coerce.number().int().min(16 * 1024).default(1024 * 1024),
  SLUICE_GCE_WATCHER: z.enum(['on', 'off']).default('off'),
});

export interface ServerConfig {
  env: 'development' | 'production';
  host: string;
  port: number;
  adminHost: string;
  adminPort: number;
  tokenSecret: string;
  logLevel: string;
  serverId: string;
  redisUrl?: string;
  gceWatcher: boolean;
  timeouts: Timeouts;
  limits: Limits;
}

export interface Limits {
  /** Largest accepted WebSocket message; larger ones close the connection with 1009. */
  maxFrameBytes: number;
  /** Token bucket per connection: sustained messages per second ... */
  ratePerSec: number;
  /** ... and burst size. Exceeding it closes with 1008. */
  rateBurst: number;
  /** A connection whose unsent bytes exceed this is a slow consumer and is disconnected. */
  maxBufferedBytes: number;
}

export const defaultLimits: Limits = { maxFrameBytes: 64 * 1024, ratePerSec: 50, rateBurst: 100, maxBufferedBytes: 1024 * 1024 };

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  - ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  if (e.SLUICE_ENV === 'production' && !e.SLUICE_TOKEN_SECRET) {
    throw new ConfigError('invalid configuration:\n  - SLUICE_TOKEN_SECRET: required when SLUICE_ENV=production');
  }
  if (e.SLUICE_PORT !== 0 && e.SLUICE_PORT === e.SLUICE_ADMIN_PORT) {
    throw new ConfigError('invalid configuration:\n  - SLUICE_ADMIN_PORT: must differ from SLUICE_PORT (the admin listener is never on the public port)');
  }
  let overrides: TimeoutsOverrides = {};
  if (e.SLUICE_TIMEOUTS) {
    try {
      overrides = JSON.parse(e.SLUICE_TIMEOUTS) as TimeoutsOverrides;
    } catch {
      throw new ConfigError('invalid configuration:\n  - SLUICE_TIMEOUTS: must be a JSON object of timeouts overrides');
    }
  }
  let timeouts: Timeouts;
  try {
    timeouts = resolveTimeouts(overrides);
  } catch (err) {
    if (err instanceof TimeoutsContractError) throw new ConfigError(`invalid configuration: SLUICE_TIMEOUTS: ${err.message}`);
    throw err;
  }
  return {
    env: e.SLUICE_ENV,
    host: e.SLUICE_HOST,
    port: e.SLUICE_PORT,
    adminHost: e.SLUICE_ADMIN_HOST,
    adminPort: e.SLUICE_ADMIN_PORT,
    tokenSecret: e.SLUICE_TOKEN_SECRET ?? DEV_TOKEN_SECRET,
    logLevel: e.SLUICE_LOG_LEVEL,
    serverId: e.SLUICE_SERVER_ID,
    redisUrl: e.SLUICE_REDIS_URL,
    gceWatcher: e.SLUICE_GCE_WATCHER === 'on',
    timeouts,
    limits: {
      maxFrameBytes: e.SLUICE_MAX_FRAME_BYTES,
      ratePerSec: e.SLUICE_RATE_PER_SEC,
      rateBurst: e.SLUICE_RATE_BURST,
      maxBufferedBytes: e.SLUICE_MAX_BUFFERED_BYTES,
    },
  };
}
