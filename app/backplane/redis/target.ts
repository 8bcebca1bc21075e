/**
 * Where the Redis backplane lives: one Redis (`SLUICE_REDIS_URL`, a `redis://` or `rediss://` URL)
 * or a Redis Cluster (`SLUICE_REDIS_CLUSTER`, comma-separated `host:port` seed nodes; ioredis reads
 * the rest of the cluster from any of them). One parser for both, used by the server's config.
 */
export interface ClusterNode {
  host: string;
  port: number;
}

/** One Redis, or a Redis Cluster's seed nodes (and, behind a relay or NAT, how to reach what its nodes announce). */
export type RedisTarget = { url: string } | { cluster: ClusterNode[]; natMap?: NatMap };

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

/**
 * Addresses a Redis Cluster's nodes announce -> the address this server reaches each one at
 * (`SLUICE_REDIS_NAT_MAP`, JSON `{"host:port": "host:port"}`), for ioredis' `natMap`: the cluster
 * tells a client its nodes' addresses (CLUSTER SLOTS, MOVED and ASK replies), and a client behind a
 * NAT or a relay must rewrite them. `npm start -- --regions 2 --backplane redis-cluster` uses it to
 * reach another region's cluster through the inter-region delay relays (app/local/region/regions.ts).
 */
export type NatMap = Record<string, ClusterNode>;

export function parseNatMap(text: string, name = 'SLUICE_REDIS_NAT_MAP'): NatMap {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error(`${name}: expected a JSON object {"host:port": "host:port"}, got "${text.slice(0, 80)}"`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new Error(`${name}: expected a JSON object {"host:port": "host:port"}`);
  const out: NatMap = {};
  for (const [from, to] of Object.entries(raw as Record<string, unknown>)) {
    const [announced] = parseClusterNodes(from, `${name} key`);
    if (typeof to !== 'string') throw new Error(`${name}.${from}: expected "host:port"`);
    out[`${announced.host}:${announced.port}`] = parseClusterNodes(to, `${name}.${from}`)[0];
  }
  return out;
}
