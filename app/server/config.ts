/**
 * Server configuration: environment variables, validated once with zod. A bad value fails start-up
 * with the variable's name and what was expected; timeouts come only from the contract
 * (`SLUICE_TIMEOUTS` holds JSON overrides, validated against every rule).
 */
import net from 'node:net';
import os from 'node:os';
import { z } from 'zod';
import type { SignalPolicy } from '../auth/policy';
import { DEFAULT_AUDIENCE, DEFAULT_ISSUER, DEFAULT_TOKEN_MAX_TTL_SEC, DEV_TOKEN_SECRET } from '../auth/token';
import { CLUSTER_SLOTS, DEFAULT_BUCKETS } from '../backplane/redis/keys';
import { ClusterNode, NatMap, parseNatMap, redisTarget } from '../backplane/redis/target';
import { DEFAULT_BUDGET } from '../backplane/budget';
import { MIN_MEMORY_BUDGET_BYTES } from '../contract/memory';
import { RecipientQuota, recipientQuotaErrors } from '../contract/recipient-quota';
import { resolveTimeouts, Timeouts, TimeoutsContractError, TimeoutsOverrides } from '../contract/timeouts';
import { ADMIN_PORT, SERVER_PORT } from '../protocol/endpoints';
import type { RegionsConfig } from '../backplane';
import { regionsFromEnv } from './regions-config';
import { DEFAULT_MAX_CONNECTIONS, FD_RESERVED, Limits, openFileLimit } from './limits';

// The limits and the listeners' deadlines live in their own files; importers keep reading them here.
export * from './limits';
export { httpTimeouts, joinDeadlineMs } from './http-timeouts';

/** SLUICE_ADMIN_TOKEN length floor: a bearer token is a password that is never typed. */
export const ADMIN_TOKEN_MIN_LENGTH = 32;

const port = (def: number) => z.coerce.number().int().min(0).max(65535).default(def);

const envSchema = z.object({
  SLUICE_ENV: z.enum(['development', 'production']).default('development'),
  /** Default: 127.0.0.1 in development (nothing faces a network unless asked), 0.0.0.0 in production. */
  SLUICE_HOST: z.string().min(1).optional(),
  SLUICE_PORT: port(SERVER_PORT),
  SLUICE_ADMIN_HOST: z.string().min(1).default('127.0.0.1'),
  SLUICE_ADMIN_PORT: port(ADMIN_PORT),
  SLUICE_TOKEN_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  SLUICE_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SLUICE_SERVER_ID: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,128}$/)
    .default(os.hostname()),
  SLUICE_REDIS_URL: z.string().url().optional(),
  /** Seed nodes of a Redis Cluster, `host:port[,host:port...]` (instead of SLUICE_REDIS_URL; app/backplane/redis/target.ts). */
  SLUICE_REDIS_CLUSTER: z.string().min(1).optional(),
  /** Buckets of the Redis key layout (app/backplane/redis/keys.ts): fixed per deployment. */
  SLUICE_REDIS_BUCKETS: z.coerce.number().int().min(1).max(CLUSTER_SLOTS).default(DEFAULT_BUCKETS),
  /** Announced Redis Cluster node address -> the address to reach it at, JSON (app/backplane/redis/target.ts parseNatMap). */
  SLUICE_REDIS_NAT_MAP: z.string().min(1).optional(),
  /** WAIT for this many replicas after a signal's script, before its `ok` (0: off; docs/backplane.md, durability). */
  SLUICE_REDIS_WAIT_REPLICAS: z.coerce.number().int().min(0).max(16).default(0),
  /** Several regions (regions-config.ts, docs/regions.md). */
  SLUICE_REGION: z.string().optional(),
  SLUICE_REGION_REDIS_URLS: z.string().optional(),
  SLUICE_ACCOUNT_HOMES: z.string().optional(),
  SLUICE_TIMEOUTS: z.string().optional(),
  SLUICE_MAX_FRAME_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(16 * 1024 * 1024)
    .default(64 * 1024),
  SLUICE_RATE_PER_SEC: z.coerce.number().positive().default(50),
  SLUICE_RATE_BURST: z.coerce.number().int().positive().default(100),
  SLUICE_BYTES_PER_SEC: z.coerce
    .number()
    .int()
    .min(1024)
    .default(256 * 1024),
  SLUICE_BYTES_BURST: z.coerce
    .number()
    .int()
    .min(1024)
    .default(512 * 1024),
  SLUICE_MAX_BUFFERED_BYTES: z.coerce
    .number()
    .int()
    .min(16 * 1024)
    .default(1024 * 1024),
  SLUICE_HISTORY_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(64 * 1024)
    .default(DEFAULT_BUDGET.historyMaxBytesPerPeer),
  SLUICE_MEMORY_BUDGET_BYTES: z.coerce.number().int().min(MIN_MEMORY_BUDGET_BYTES).default(DEFAULT_BUDGET.memoryBudgetBytes),
  SLUICE_GCE_WATCHER: z.enum(['on', 'off']).default('off'),
  SLUICE_TOKEN_IN_QUERY: z.enum(['on', 'off']).optional(),
  SLUICE_ADMIN_TOKEN: z.string().min(ADMIN_TOKEN_MIN_LENGTH, `must be at least ${ADMIN_TOKEN_MIN_LENGTH} characters`).optional(),
  SLUICE_MAX_CONNECTIONS: z.coerce.number().int().min(1).optional(),
  SLUICE_MAX_CONNECTIONS_PER_PEER: z.coerce.number().int().min(1).max(1000).default(4),
  SLUICE_TOKEN_MAX_TTL_SEC: z.coerce
    .number()
    .int()
    .min(60)
    .max(365 * 24 * 3600)
    .default(DEFAULT_TOKEN_MAX_TTL_SEC),
  SLUICE_TOKEN_ISSUER: z.string().min(1).max(256).default(DEFAULT_ISSUER),
  SLUICE_TOKEN_AUDIENCE: z.string().min(1).max(256).default(DEFAULT_AUDIENCE),
  SLUICE_SIGNAL_SAME_KIND: z.enum(['on', 'off']).default('off'),
  SLUICE_JWKS_URL: z.string().url().optional(),
  SLUICE_JWKS_FILE: z.string().min(1).optional(),
  SLUICE_JWKS_REFRESH_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(24 * 3600_000)
    .default(60_000),
  SLUICE_JWKS_MAX_STALE_MS: z.coerce
    .number()
    .int()
    .min(60_000)
    .max(30 * 24 * 3600_000)
    .default(24 * 3600_000),
  SLUICE_RECIPIENT_SIGNALS_PER_SEC: z.coerce.number().default(DEFAULT_BUDGET.recipientSignalsPerSec),
  SLUICE_RECIPIENT_BYTES_PER_SEC: z.coerce.number().default(DEFAULT_BUDGET.recipientBytesPerSec),
  SLUICE_SENDER_HISTORY_SHARE: z.coerce.number().default(DEFAULT_BUDGET.senderHistoryShare),
});

export interface ServerConfig {
  env: 'development' | 'production';
  host: string;
  port: number;
  adminHost: string;
  adminPort: number;
  tokenSecret: string;
  /** Required `iss` and `aud` of peer tokens (SLUICE_TOKEN_ISSUER, SLUICE_TOKEN_AUDIENCE; default `sluice`). */
  tokenIssuer?: string;
  tokenAudience?: string;
  /**
   * Verify EdDSA / ES256 tokens with the issuer's JWKS (app/auth/keys.ts) instead of the HS256
   * secret: SLUICE_JWKS_URL or SLUICE_JWKS_FILE, SLUICE_JWKS_REFRESH_MS, SLUICE_JWKS_MAX_STALE_MS.
   */
  jwks?: { url?: string; file?: string; refreshMs: number; maxStaleMs: number };
  /** Who may signal whom beyond the account (app/auth/policy.ts): SLUICE_SIGNAL_SAME_KIND; default DEFAULT_SIGNAL_POLICY (across kinds only). */
  signalPolicy?: SignalPolicy;
  logLevel: string;
  serverId: string;
  redisUrl?: string;
  /** SLUICE_REDIS_CLUSTER, parsed: a Redis Cluster backplane (never together with redisUrl). */
  redisCluster?: ClusterNode[];
  /** SLUICE_REDIS_BUCKETS (default DEFAULT_BUCKETS). */
  redisBuckets?: number;
  /** SLUICE_REDIS_NAT_MAP, parsed: cluster node addresses this server reaches elsewhere (a relay, a NAT). */
  redisNatMap?: NatMap;
  /** SLUICE_REDIS_WAIT_REPLICAS: replicas that must have a signal's writes before its `ok` (0: none). */
  redisWaitReplicas?: number;
  /** Every region's backplane and this server's region (regions-config.ts); unset: one region. */
  regions?: RegionsConfig;
  gceWatcher: boolean;
  /**
   * Accept the token from the `token` query parameter (older clients) besides the
   * Sec-WebSocket-Protocol header. SLUICE_TOKEN_IN_QUERY; unset: `tokenInQueryDefault(env)`.
   * Off, a query token is refused with 401 (`token_in_query_disabled`).
   */
  tokenInQuery?: boolean;
  /**
   * Bearer token for the admin listener (every route but GET /metrics). Required in production and
   * whenever the admin host is not a loopback address; when set it is always enforced.
   */
  adminToken?: string;
  timeouts: Timeouts;
  limits: Limits;
}

/**
 * Tokens in URLs end up in LB, proxy and browser logs: production refuses them unless
 * SLUICE_TOKEN_IN_QUERY=on; development accepts them (older clients, hand-written URLs).
 */
export function tokenInQueryDefault(env: ServerConfig['env']): boolean {
  return env !== 'production';
}

/** Whether a `token` query parameter is accepted (the config's value, else the env's default). */
export function tokenInQueryAllowed(config: Pick<ServerConfig, 'env' | 'tokenInQuery'>): boolean {
  return config.tokenInQuery ?? tokenInQueryDefault(config.env);
}

/**
 * The WebSocket cap for an open-file limit: SLUICE_MAX_CONNECTIONS if given (refused when it does
 * not fit below the limit), else min(10,000, limit - reserve). Throws ConfigError naming the variable.
 */
export function connectionCap(fdLimit: number, requested?: number): number {
  const room = fdLimit - FD_RESERVED;
  if (requested !== undefined) {
    if (requested > room) {
      throw new ConfigError(
        `invalid configuration:\n  - SLUICE_MAX_CONNECTIONS: ${requested} does not fit the open-file limit (ulimit -n ${fdLimit}): at most ${Math.max(room, 0)} (the limit minus ${FD_RESERVED} descriptors kept for HTTP, admin and the process); raise ulimit -n or lower the cap`,
      );
    }
    return requested;
  }
  if (room < 1) {
    throw new ConfigError(
      `invalid configuration:\n  - SLUICE_MAX_CONNECTIONS: the open-file limit (ulimit -n ${fdLimit}) leaves no room for connections after the ${FD_RESERVED} reserved descriptors; raise ulimit -n`,
    );
  }
  return Math.min(DEFAULT_MAX_CONNECTIONS, room);
}

/** 127.0.0.0/8, ::1, their IPv4-mapped forms, and `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost') return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (net.isIPv6(h)) {
    if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
    return mapped !== null && mapped[1].startsWith('127.');
  }
  return false;
}

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, opts: { fdLimit?: number } = {}): ServerConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  - ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const jwksSource = e.SLUICE_JWKS_URL ?? e.SLUICE_JWKS_FILE;
  if (e.SLUICE_JWKS_URL && e.SLUICE_JWKS_FILE)
    throw new ConfigError('invalid configuration:\n  - SLUICE_JWKS_URL / SLUICE_JWKS_FILE: set one, not both');
  if (e.SLUICE_JWKS_URL && !e.SLUICE_JWKS_URL.startsWith('https://') && !isLoopbackHost(new URL(e.SLUICE_JWKS_URL).hostname)) {
    throw new ConfigError(
      'invalid configuration:\n  - SLUICE_JWKS_URL: must be https (http only on a loopback address): the keys decide who may connect',
    );
  }
  if (e.SLUICE_ENV === 'production' && !e.SLUICE_TOKEN_SECRET && !jwksSource) {
    throw new ConfigError(
      "invalid configuration:\n  - SLUICE_TOKEN_SECRET: required when SLUICE_ENV=production, unless tokens are verified with the issuer's keys (SLUICE_JWKS_URL or SLUICE_JWKS_FILE)",
    );
  }
  if (e.SLUICE_BYTES_BURST < e.SLUICE_MAX_FRAME_BYTES) {
    throw new ConfigError(
      `invalid configuration:\n  - SLUICE_BYTES_BURST: must be >= SLUICE_MAX_FRAME_BYTES (${e.SLUICE_MAX_FRAME_BYTES}): one largest frame must fit in a burst`,
    );
  }
  const quota: RecipientQuota = {
    recipientSignalsPerSec: e.SLUICE_RECIPIENT_SIGNALS_PER_SEC,
    recipientBytesPerSec: e.SLUICE_RECIPIENT_BYTES_PER_SEC,
    senderHistoryShare: e.SLUICE_SENDER_HISTORY_SHARE,
  };
  const quotaProblems = recipientQuotaErrors(quota, e.SLUICE_MAX_FRAME_BYTES);
  if (quotaProblems.length > 0) throw new ConfigError(`invalid configuration:\n${quotaProblems.map((p) => `  - ${p}`).join('\n')}`);
  if (e.SLUICE_PORT !== 0 && e.SLUICE_PORT === e.SLUICE_ADMIN_PORT) {
    throw new ConfigError(
      'invalid configuration:\n  - SLUICE_ADMIN_PORT: must differ from SLUICE_PORT (the admin listener is never on the public port)',
    );
  }
  if (!e.SLUICE_ADMIN_TOKEN && e.SLUICE_ENV === 'production') {
    throw new ConfigError(
      'invalid configuration:\n  - SLUICE_ADMIN_TOKEN: required when SLUICE_ENV=production (bearer token for the admin listener)',
    );
  }
  if (!e.SLUICE_ADMIN_TOKEN && !isLoopbackHost(e.SLUICE_ADMIN_HOST)) {
    throw new ConfigError(
      `invalid configuration:\n  - SLUICE_ADMIN_TOKEN: required when SLUICE_ADMIN_HOST (${e.SLUICE_ADMIN_HOST}) is not a loopback address`,
    );
  }
  let redisCluster: ClusterNode[] | undefined;
  let redisNatMap: NatMap | undefined;
  try {
    const target = redisTarget(e.SLUICE_REDIS_URL, e.SLUICE_REDIS_CLUSTER);
    if (target && 'cluster' in target) redisCluster = target.cluster;
    if (e.SLUICE_REDIS_NAT_MAP !== undefined) redisNatMap = parseNatMap(e.SLUICE_REDIS_NAT_MAP);
  } catch (err) {
    throw new ConfigError(`invalid configuration:\n  - ${(err as Error).message}`);
  }
  const regions = regionsFromEnv(e);
  if (regions.problems.length > 0) throw new ConfigError(`invalid configuration:\n${regions.problems.map((p) => `  - ${p}`).join('\n')}`);
  const maxConnections = connectionCap(opts.fdLimit ?? openFileLimit(), e.SLUICE_MAX_CONNECTIONS);
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
    host: e.SLUICE_HOST ?? (e.SLUICE_ENV === 'production' ? '0.0.0.0' : '127.0.0.1'),
    port: e.SLUICE_PORT,
    adminHost: e.SLUICE_ADMIN_HOST,
    adminPort: e.SLUICE_ADMIN_PORT,
    tokenSecret: e.SLUICE_TOKEN_SECRET ?? DEV_TOKEN_SECRET,
    tokenIssuer: e.SLUICE_TOKEN_ISSUER,
    tokenAudience: e.SLUICE_TOKEN_AUDIENCE,
    signalPolicy: { sameKind: e.SLUICE_SIGNAL_SAME_KIND === 'on' },
    jwks: jwksSource
      ? { url: e.SLUICE_JWKS_URL, file: e.SLUICE_JWKS_FILE, refreshMs: e.SLUICE_JWKS_REFRESH_MS, maxStaleMs: e.SLUICE_JWKS_MAX_STALE_MS }
      : undefined,
    logLevel: e.SLUICE_LOG_LEVEL,
    serverId: e.SLUICE_SERVER_ID,
    redisUrl: e.SLUICE_REDIS_URL,
    redisCluster,
    redisBuckets: e.SLUICE_REDIS_BUCKETS,
    redisNatMap,
    redisWaitReplicas: e.SLUICE_REDIS_WAIT_REPLICAS,
    regions: regions.regions,
    gceWatcher: e.SLUICE_GCE_WATCHER === 'on',
    tokenInQuery: e.SLUICE_TOKEN_IN_QUERY === undefined ? tokenInQueryDefault(e.SLUICE_ENV) : e.SLUICE_TOKEN_IN_QUERY === 'on',
    adminToken: e.SLUICE_ADMIN_TOKEN,
    timeouts,
    limits: {
      maxFrameBytes: e.SLUICE_MAX_FRAME_BYTES,
      ratePerSec: e.SLUICE_RATE_PER_SEC,
      rateBurst: e.SLUICE_RATE_BURST,
      maxBufferedBytes: e.SLUICE_MAX_BUFFERED_BYTES,
      bytesPerSec: e.SLUICE_BYTES_PER_SEC,
      bytesBurst: e.SLUICE_BYTES_BURST,
      maxConnections,
      maxConnectionsPerPeer: e.SLUICE_MAX_CONNECTIONS_PER_PEER,
      tokenMaxTtlSec: e.SLUICE_TOKEN_MAX_TTL_SEC,
      historyMaxBytesPerPeer: e.SLUICE_HISTORY_MAX_BYTES,
      memoryBudgetBytes: e.SLUICE_MEMORY_BUDGET_BYTES,
      ...quota,
    },
  };
}
