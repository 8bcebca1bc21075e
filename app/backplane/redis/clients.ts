/**
 * The ioredis connections a server keeps, and the timing they share. With a single Redis they are
 * three `Redis` connections; with a Redis Cluster (`SLUICE_REDIS_CLUSTER`) each is an ioredis
 * `Cluster`, which follows the slot map through MOVED/ASK redirections and failovers.
 *
 *   command: scripts and plain commands. No offline queue and no retries per request: while Redis
 *            is unreachable a command fails at once (-> `backplane_unavailable`) instead of queueing
 *            behind a reconnect the client is not waiting for; `commandTimeout` turns a hung Redis
 *            into the same error.
 *   readers: the blocking XREAD on this server's inboxes (a blocked connection can run nothing
 *            else). One Redis: one reader for every bucket's inbox in one XREAD. A Cluster refuses a
 *            command over keys of several slots ("CROSSSLOT", even on one node), so there each
 *            bucket's inbox has a reader of its own (an ioredis Cluster that connects only to the
 *            node holding the bucket's slot, and follows it when the slot moves or fails over).
 *   sub:     pub/sub (presence events, delivery acks); it queues its SUBSCRIBEs until connected and
 *            resubscribes after every reconnect.
 *
 * All three reconnect forever with a short capped backoff, so the backplane recovers by itself.
 * With TLS or IAM AUTH configured (security.ts) every connection takes the CA, and every (re)connect
 * the current IAM access token (iam-token.ts); with IAM the connections open once the first token is in.
 */
import Redis, { Cluster, ClusterOptions, RedisOptions } from 'ioredis';
import { backplaneCommandTimeoutMs, type Timeouts } from '../../contract/timeouts';
import { MetadataTokenSource } from './iam-token';
import type { RedisLike } from './lua';
import { guardTlsSockets, redisSecurityFromEnv, type RedisSecurity } from './security';
import type { RedisTarget } from './target';

export interface RedisTiming {
  /** A command (script) that has no answer after this fails with backplane_unavailable. */
  commandTimeoutMs: number;
  /** How long a publisher waits for the owner to say it handed a signal to the socket. */
  ackTimeoutMs: number;
  /** XREAD BLOCK on the inbox; also how long a shutdown may wait for the reader. */
  readBlockMs: number;
  /** Reconnect backoff cap. */
  reconnectCapMs: number;
  /** After (re)connecting, do not reap other servers for this long: give them time to renew. */
  reapGraceMs: number;
  /**
   * After a new Redis process is first seen, publishes answer backplane_unavailable for this long:
   * every live server reconnects within one backoff cap and then renews and restores its peers
   * (records and seq floors) within a few commands.
   */
  rebuildMs: number;
  /**
   * WAIT's timeout after a signal's script (SLUICE_REDIS_WAIT_REPLICAS): half the command timeout, so
   * the reply of the pipeline [script, WAIT] still comes before ioredis gives the command up.
   */
  replicaWaitMs: number;
}

/**
 * Derived from the contract. A signal's reply is what the client waits for: command + ack must
 * fit well inside `client.joinTimeoutMs` (the client's bound for a reply from the server); with the
 * defaults 1.25 s + 1 s against 5 s. Reconnects are capped at a quarter of the renew interval so
 * a server that lost Redis renews its presence within `reapGraceMs` (one renew interval) of Redis
 * coming back, before anyone may reap it.
 */
export function redisTiming(t: Timeouts): RedisTiming {
  const commandTimeoutMs = backplaneCommandTimeoutMs(t);
  const reconnectCapMs = Math.max(50, Math.min(1_000, Math.floor(t.presence.renewIntervalMs / 4)));
  return {
    commandTimeoutMs,
    ackTimeoutMs: Math.max(100, Math.floor(t.client.joinTimeoutMs / 5)),
    readBlockMs: Math.max(100, Math.min(2_000, t.presence.renewIntervalMs)),
    reconnectCapMs,
    reapGraceMs: t.presence.renewIntervalMs,
    rebuildMs: 2 * reconnectCapMs + commandTimeoutMs,
    replicaWaitMs: Math.max(10, Math.floor(commandTimeoutMs / 2)),
  };
}

export interface InboxReaderClient {
  conn: RedisLike;
  /** The buckets whose inboxes this connection reads. */
  buckets: number[];
}

export interface RedisClients {
  command: RedisLike;
  readers: InboxReaderClient[];
  sub: RedisLike;
  /** True when the target is a Redis Cluster. */
  cluster: boolean;
  /** With IAM AUTH: the token source (stopped by closeClients). */
  tokens?: MetadataTokenSource;
}

export function createClients(
  target: RedisTarget,
  buckets: number,
  timing: RedisTiming,
  name: string,
  onError: (which: string, err: Error) => void,
  security: RedisSecurity = redisSecurityFromEnv(process.env),
): RedisClients {
  const iam = security.iamMetadataUrl !== undefined;
  // With TLS or IAM the connections open after their guard is in place / the first token is in.
  const lazy = iam || security.tlsCa !== undefined;
  const base: RedisOptions = {
    ...(security.tlsCa !== undefined ? { tls: { ca: security.tlsCa } } : {}),
    connectionName: name,
    connectTimeout: Math.max(1_000, timing.commandTimeoutMs),
    // Full jitter would slow recovery for no gain here: a handful of connections per server.
    retryStrategy: (attempt) => Math.min(timing.reconnectCapMs, 25 * 2 ** Math.min(attempt, 10)),
    enableReadyCheck: true, // after a restart, wait until Redis has loaded its AOF (no LOADING errors)
    lazyConnect: lazy,
  };
  const commandOptions: RedisOptions = {
    ...base,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // A script whose connection dropped may or may not have run: fail it, never replay it blindly
    // (the client resends with the same id and dedupe sorts it out).
    autoResendUnfulfilledCommands: false,
    commandTimeout: timing.commandTimeoutMs,
  };
  const readerOptions: RedisOptions = {
    ...base,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // Safety net for a hung Redis: the XREAD gives up BLOCK + grace after it was sent.
    blockingTimeout: timing.readBlockMs + timing.commandTimeoutMs,
  };
  const subOptions: RedisOptions = { ...base, enableOfflineQueue: true, maxRetriesPerRequest: null, autoResubscribe: true };
  let clients: RedisClients;
  if ('url' in target) {
    const all = Array.from({ length: buckets }, (_, b) => b);
    clients = {
      command: new Redis(target.url, commandOptions),
      readers: [{ conn: new Redis(target.url, readerOptions), buckets: all }],
      sub: new Redis(target.url, subOptions),
      cluster: false,
    };
  } else {
    const cluster = (redisOptions: RedisOptions, offline: boolean) =>
      new Cluster(target.cluster, { ...clusterOptions(timing, redisOptions, offline), natMap: target.natMap, lazyConnect: lazy });
    clients = {
      command: cluster(commandOptions, false),
      readers: Array.from({ length: buckets }, (_, b) => ({ conn: cluster(readerOptions, false), buckets: [b] })),
      sub: cluster(subOptions, true),
      cluster: true,
    };
  }
  clients.command.on('error', (err: Error) => onError('command', err));
  for (const r of clients.readers) r.conn.on('error', (err: Error) => onError('reader', err));
  clients.sub.on('error', (err: Error) => onError('sub', err));
  if (security.tlsCa !== undefined)
    for (const conn of [clients.command, clients.sub, ...clients.readers.map((r) => r.conn)]) guardTlsSockets(conn as Redis | Cluster);
  if (iam) clients.tokens = startTokens(clients, security.iamMetadataUrl!, onError);
  else if (lazy) connectWaiting(clients);
  return clients;
}

/**
 * IAM AUTH: every new token becomes the password of every connection's next (re)connect (ioredis
 * reads `options.password` at each connect; a Cluster copies its `redisOptions` into each node's
 * connection, so those are updated too). Open connections stay as they are (see iam-token.ts).
 */
function startTokens(c: RedisClients, baseUrl: string, onError: (which: string, err: Error) => void): MetadataTokenSource {
  const all = [c.command, c.sub, ...c.readers.map((r) => r.conn)] as Array<Redis | Cluster>;
  const setPassword = (token: string) => {
    for (const conn of all) {
      if (conn instanceof Cluster) {
        (conn.options.redisOptions ??= {}).password = token;
        for (const node of conn.nodes('all')) node.options.password = token;
      } else conn.options.password = token;
    }
  };
  const tokens = new MetadataTokenSource({ baseUrl, onToken: setPassword, onError: (err) => onError('iam-token', err) });
  tokens.start().then(
    () => connectWaiting(c),
    () => undefined, // stopped before the first token (closeClients)
  );
  return tokens;
}

/**
 * ioredis Cluster options. Redirections (MOVED after a failover or a finished migration, ASK and
 * TRYAGAIN while a slot migrates, CLUSTERDOWN while a shard has no primary) are retried after a
 * short pause, within the command timeout; a command whose connection dropped fails (as above).
 */
function clusterOptions(timing: RedisTiming, redisOptions: RedisOptions, offlineQueue: boolean): ClusterOptions {
  const pause = Math.max(20, Math.floor(timing.reconnectCapMs / 5));
  return {
    redisOptions,
    enableOfflineQueue: offlineQueue,
    enableReadyCheck: true,
    clusterRetryStrategy: (attempt) => Math.min(timing.reconnectCapMs, 25 * 2 ** Math.min(attempt, 10)),
    retryDelayOnFailover: pause,
    retryDelayOnClusterDown: pause,
    retryDelayOnTryAgain: pause,
    retryDelayOnMoved: 0,
    maxRedirections: 16,
    slotsRefreshTimeout: Math.max(1_000, timing.commandTimeoutMs),
    // Each bucket reader only needs the node of its slot; the slot map is read from any node.
    lazyConnect: false,
  };
}

/** Opens the connections made with lazyConnect (errors reach onError; each retries by itself). */
function connectWaiting(c: RedisClients): void {
  for (const conn of [c.command, c.sub, ...c.readers.map((r) => r.conn)] as Array<Redis | Cluster>)
    if (conn.status === 'wait') conn.connect().catch(() => undefined);
}

/** Close every connection, politely if Redis answers, and never wait more than `ms`. */
export async function closeClients(c: RedisClients, ms: number): Promise<void> {
  c.tokens?.stop();
  const quit = async (r: RedisLike) => {
    if (r.status !== 'ready') return r.disconnect();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      r.quit().then(
        () => undefined,
        () => undefined,
      ),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))),
    ]);
    clearTimeout(timer);
    if ((r.status as string) !== 'end') r.disconnect(); // QUIT timed out
  };
  await Promise.all([quit(c.command), quit(c.sub), ...c.readers.map((r) => quit(r.conn))]);
}

/** Redis errors that mean "the backplane cannot be reached or cannot accept writes right now". */
export function describeRedisError(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.length > 200 ? `${msg.slice(0, 200)}...` : msg;
}
