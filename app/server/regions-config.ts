/**
 * The server's regions (docs/regions.md), from three variables, validated with the rest of the
 * config (config.ts) so a bad value stops start-up with the variable's name:
 *
 *   SLUICE_REGION              this server's region, e.g. `us-central1`
 *   SLUICE_REGION_REDIS_URLS   JSON {"<region>": "redis://..." | "redis-cluster://host:port[,host:port]"}: every
 *                              region's backplane (one Redis, or a Redis Cluster's seed nodes), this one's included
 *   SLUICE_ACCOUNT_HOMES       JSON {"<account>": "<region>"} (optional): accounts pinned to a home region
 *
 * All three unset: one region (SLUICE_REDIS_URL, or in memory). The home rule (app/backplane/regions.ts)
 * must give every server the same answer, so every server of a deployment gets the same URL map keys
 * and the same account homes (infra/components/server-env.ts renders them once for all regions).
 */
import { z } from 'zod';
import { CLUSTER_SCHEME, RegionsConfig } from '../backplane';
import { parseClusterNodes } from '../backplane/redis/target';

const REGION_NAME = /^[a-z][a-z0-9-]{0,62}$/;

/** A Redis URL, or a cluster's seed nodes as `redis-cluster://host:port[,host:port]`. */
const backplaneSpec = z.string().superRefine((v, ctx) => {
  if (v.startsWith(CLUSTER_SCHEME)) {
    try {
      parseClusterNodes(v.slice(CLUSTER_SCHEME.length), 'seed nodes');
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  } else if (!z.string().url().safeParse(v).success)
    ctx.addIssue({ code: 'custom', message: `${v} is not a redis:// URL or ${CLUSTER_SCHEME}host:port[,host:port]` });
});

const urls = z
  .record(z.string().regex(REGION_NAME, 'region names are lower-case letters, digits and -'), backplaneSpec)
  .refine((m) => Object.keys(m).length >= 1, 'at least one region');
const homes = z.record(z.string().min(1), z.string().regex(REGION_NAME));

export interface RegionsEnv {
  SLUICE_REGION?: string;
  SLUICE_REGION_REDIS_URLS?: string;
  SLUICE_ACCOUNT_HOMES?: string;
  SLUICE_REDIS_URL?: string;
}

/** The regions config, undefined for a one-region server; a list of problems (`VAR: what`) when invalid. */
export function regionsFromEnv(e: RegionsEnv): { regions?: RegionsConfig; problems: string[] } {
  const problems: string[] = [];
  if (e.SLUICE_REGION_REDIS_URLS === undefined) {
    if (e.SLUICE_ACCOUNT_HOMES !== undefined) problems.push('SLUICE_ACCOUNT_HOMES: only with SLUICE_REGION_REDIS_URLS');
    return { problems };
  }
  const json = (name: string, text: string): unknown => {
    try {
      return JSON.parse(text);
    } catch {
      problems.push(`${name}: must be a JSON object`);
      return undefined;
    }
  };
  const u = urls.safeParse(json('SLUICE_REGION_REDIS_URLS', e.SLUICE_REGION_REDIS_URLS));
  const h = homes.safeParse(e.SLUICE_ACCOUNT_HOMES === undefined ? {} : json('SLUICE_ACCOUNT_HOMES', e.SLUICE_ACCOUNT_HOMES));
  if (!u.success)
    problems.push(`SLUICE_REGION_REDIS_URLS: ${u.error.issues.map((i) => `${i.path.join('.') || 'value'} ${i.message}`).join(', ')}`);
  if (!h.success)
    problems.push(`SLUICE_ACCOUNT_HOMES: ${h.error.issues.map((i) => `${i.path.join('.') || 'value'} ${i.message}`).join(', ')}`);
  if (!u.success || !h.success) return { problems };
  const names = Object.keys(u.data);
  const region = e.SLUICE_REGION;
  if (!region) problems.push(`SLUICE_REGION: required with SLUICE_REGION_REDIS_URLS (one of ${names.join(', ')})`);
  else if (!names.includes(region)) problems.push(`SLUICE_REGION: ${region} is not in SLUICE_REGION_REDIS_URLS (${names.join(', ')})`);
  for (const [acct, r] of Object.entries(h.data))
    if (!names.includes(r)) problems.push(`SLUICE_ACCOUNT_HOMES: account ${acct} is homed in ${r}, not one of ${names.join(', ')}`);
  if (region && e.SLUICE_REDIS_URL !== undefined && e.SLUICE_REDIS_URL !== u.data[region])
    problems.push(`SLUICE_REDIS_URL: differs from SLUICE_REGION_REDIS_URLS.${region}; set one of them (the map wins for regions)`);
  if (problems.length > 0) return { problems };
  return { regions: { region: region!, redisUrls: u.data, accountHomes: h.data }, problems };
}
