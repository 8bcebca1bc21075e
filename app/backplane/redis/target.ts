/**
 * Where the Redis backplane lives: one Redis (`SLUICE_REDIS_URL`, a `redis://` or `rediss://` URL)
 * or a Redis Cluster (`SLUICE_REDIS_CLUSTER`, comma-separated `host:port` seed nodes; ioredis reads
 * the rest of the cluster from any of them). One parser for both, used by the server's config.
 */
export interface ClusterNode {
  host: string;
  port: number;
}

export type RedisTarget = { url: string } | { cluster: ClusterNode[] };

/** `host:port,host:port`, or throws an error that names the variable and the bad part. */
export function parseClusterNodes(text: string, name = 'SLUICE_REDIS_CLUSTER'): ClusterNode[] {
  const parts = text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (parts.length === 0) throw new Error(`${name}: expected host:port[,host:port...], got "${text}"`);
  return parts.map((p) => {
    const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$/.exec(p);
    const port = m ? Number(m[2]) : NaN;
    if (!m || port < 1 || port > 65_535) throw new Error(`${name}: "${p}" is not host:port (port 1-65535)`);
    return { host: m[1].replace(/^\[|\]$/g, ''), port };
  });
}

/** The target a config describes: at most one of url and cluster (both: an error naming them). */
export function redisTarget(url: string | undefined, cluster: string | undefined): RedisTarget | undefined {
  if (url !== undefined && cluster !== undefined)
    throw new Error('SLUICE_REDIS_URL and SLUICE_REDIS_CLUSTER are both set: choose one Redis (a URL) or one Redis Cluster (seed nodes)');
  if (cluster !== undefined) return { cluster: parseClusterNodes(cluster) };
  return url !== undefined ? { url } : undefined;
}
