/**
 * `sluice:redisCluster`: a Memorystore for Redis Cluster per region instead of one Memorystore
 * instance per region, with every server reaching every region's cluster (docs/regions.md: the home
 * region design). Its schema shape joins config-schema.ts; its cross-checks run with the others in
 * config.ts. No Pulumi here.
 *
 *   sluice:redisCluster  {shards, replicas, persistence, nodeType?, pscSubnets: {<region>: <cidr>},
 *                         iamAuth? (default false), transitEncryption? (default false)}
 */
import { z } from 'zod';
import { cidrsOverlap, validCidr } from './cidr';

const NS = 'sluice';

export const REDIS_CLUSTER_SCHEMA_SHAPE = {
  redisCluster: z
    .object({
      /** Primaries per region (each owns a share of the 16384 slots). */
      shards: z.coerce.number().int().min(1).max(250),
      /** Replicas per primary, each in another zone: 0 leaves a primary's failure to persistence. */
      replicas: z.coerce.number().int().min(0).max(2),
      /** aof: every write appended and fsynced once a second; rdb: hourly snapshots; none. */
      persistence: z.enum(['aof', 'rdb', 'none']),
      nodeType: z.enum(['REDIS_SHARED_CORE_NANO', 'REDIS_STANDARD_SMALL', 'REDIS_HIGHMEM_MEDIUM', 'REDIS_HIGHMEM_XLARGE']).optional(),
      /** A dedicated regular subnet per region for the cluster's Private Service Connect endpoints. */
      pscSubnets: z.record(z.string(), z.string()),
      /**
       * AUTH with an IAM access token (AUTH_MODE_IAM_AUTH). Default off until the server side
       * (SLUICE_REDIS_IAM_AUTH) has run against a real cluster (docs/backplane.md "Memorystore Cluster security").
       */
      iamAuth: z.boolean().default(false),
      /** TLS with server authentication (fixed at creation). Default off, same reason as iamAuth. */
      transitEncryption: z.boolean().default(false),
    })
    .strict()
    .optional(),
};

export type RedisClusterConfig = NonNullable<z.infer<z.ZodObject<typeof REDIS_CLUSTER_SCHEMA_SHAPE>>['redisCluster']>;

/** Memorystore's own default node type (what an unset nodeType gets): named so the plan shows it. */
export const DEFAULT_NODE_TYPE = 'REDIS_HIGHMEM_MEDIUM';

/**
 * Region i's weekly maintenance hour: region 0 at `hour`, each next region 4 hours later, so one
 * maintenance event never touches two regions' backplanes at once (the window is one hour).
 */
export function staggeredHour(hour: number, regionIndex: number): number {
  return (hour + 4 * regionIndex) % 24;
}

interface Inputs {
  redisCluster?: RedisClusterConfig;
  redisTier: string;
  regions: Array<{ region: string; subnetCidr: string }>;
  platform: string;
}

/** The cross-checks of sluice:redisCluster: a subnet per region, no overlap, no second backplane kind. */
export function redisClusterIssues(c: Inputs, setKeys: readonly string[]): Array<{ key: string; message: string }> {
  const rc = c.redisCluster;
  if (!rc) return [];
  const key = `${NS}:redisCluster`;
  const out: Array<{ key: string; message: string }> = [];
  if (c.platform !== 'gce') out.push({ key, message: `only on platform gce (it is ${c.platform})` });
  for (const k of ['redisTier', 'redisMemoryGb'])
    if (setKeys.includes(k))
      out.push({ key: `${NS}:${k}`, message: `set ${key} or ${NS}:${k}, not both (a cluster replaces the instance)` });
  const names = c.regions.map((r) => r.region);
  for (const r of Object.keys(rc.pscSubnets))
    if (!names.includes(r)) out.push({ key: `${key}.pscSubnets.${r}`, message: `${r} is not a configured region (${names.join(', ')})` });
  const ranges: Array<[string, string]> = c.regions.map((r, i) => [`${NS}:regions[${i}].subnetCidr`, r.subnetCidr]);
  for (const r of names) {
    const cidr = rc.pscSubnets[r];
    const k = `${key}.pscSubnets.${r}`;
    if (cidr === undefined) {
      out.push({ key: k, message: `missing: every region needs a subnet for its cluster's Private Service Connect endpoints` });
      continue;
    }
    if (!validCidr(cidr)) {
      out.push({ key: k, message: `${cidr} is not a valid private range (/8 to /29, host bits zero)` });
      continue;
    }
    const clash = ranges.find(([, other]) => validCidr(other) && cidrsOverlap(cidr, other));
    if (clash) out.push({ key: k, message: `${cidr} overlaps ${clash[0]} (${clash[1]})` });
    ranges.push([k, cidr]);
  }
  if (rc.persistence === 'none' && rc.replicas === 0)
    out.push({
      key,
      message: 'replicas 0 and persistence none: a failed node loses its shard for good; set replicas >= 1 or a persistence',
    });
  return out;
}
