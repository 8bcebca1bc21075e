/**
 * The stack config's cross-checks: rules that involve several `sluice:*` keys (regions and zones,
 * MIG surge, canaries, per-region releases, subnet overlaps, the rollout order, the image repository,
 * a Redis-less fleet). The contract's own rules are checked by validate(); the schema's by zod
 * (config-schema.ts). Pure; infra/config.ts (the public face) calls it.
 */
import { cidrsOverlap, validCidr } from './cidr';
import { rolloutChecks } from './config-rollout';
import type { RawStackConfig } from './config-schema';
import { CONFIG_NAMESPACE, ConfigIssue } from './config-types';

/** Rules that involve several keys (the contract's own rules are checked by validate()). */
export function crossChecks(c: RawStackConfig): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const seen = new Set<string>();
  c.regions.forEach((r, i) => {
    const key = `${CONFIG_NAMESPACE}:regions[${i}]`;
    if (seen.has(r.region)) out.push({ key: `${key}.region`, message: `${r.region} is listed twice (one MIG per region)` });
    seen.add(r.region);
    r.zones.forEach((z, j) => {
      if (!z.startsWith(`${r.region}-`)) out.push({ key: `${key}.zones[${j}]`, message: `${z} is not a zone of ${r.region}` });
    });
    if (new Set(r.zones).size !== r.zones.length) out.push({ key: `${key}.zones`, message: 'lists a zone twice' });
    const surge = r.maxSurge ?? r.zones.length;
    // MIG surge rules (GCE only; a GKE Deployment's surge is sluice:gke.maxSurge).
    if (c.platform === 'gce' && surge < r.zones.length)
      out.push({
        key: `${key}.maxSurge`,
        message: `${surge} is below the zone count ${r.zones.length} (a regional MIG's fixed surge must be 0 or >= its zones)`,
      });
    if (c.platform === 'gce' && r.replicas > 1 && surge >= r.replicas) {
      out.push({
        key: r.maxSurge === undefined ? `${key}.replicas` : `${key}.maxSurge`,
        message: `surge ${surge} would replace all ${r.replicas} VMs of ${r.region} in one wave: use more replicas than zones (${r.zones.length}) and a surge below the replicas`,
      });
    }
    if (c.canary && c.canary.targetSize >= r.replicas)
      out.push({
        key: `${CONFIG_NAMESPACE}:canary.targetSize`,
        message: `${c.canary.targetSize} must be below ${r.region}'s replicas (${r.replicas})`,
      });
    if (r.canary && r.canary.targetSize >= r.replicas)
      out.push({
        key: `${key}.canary.targetSize`,
        message: `${r.canary.targetSize} must be below the region's replicas (${r.replicas}): a canary is part of a region`,
      });
    if (r.canary && c.canary)
      out.push({
        key: `${key}.canary`,
        message: `${CONFIG_NAMESPACE}:canary is set too: express the canary one way, stack-wide (${CONFIG_NAMESPACE}:canary) or per region (regions[i].canary)`,
      });
    if (c.platform === 'gke' && (r.image !== undefined || r.canary !== undefined)) {
      out.push({
        key: `${key}.${r.image !== undefined ? 'image' : 'canary'}`,
        message: `per-region releases are MIG versions (platform gce); on gke the workload runs ${CONFIG_NAMESPACE}:image`,
      });
    }
    if (!validCidr(r.subnetCidr))
      out.push({ key: `${key}.subnetCidr`, message: `${r.subnetCidr} is not a valid private range (/8 to /29, host bits zero)` });
  });
  for (let i = 0; i < c.regions.length; i++) {
    for (let j = i + 1; j < c.regions.length; j++) {
      if (
        validCidr(c.regions[i].subnetCidr) &&
        validCidr(c.regions[j].subnetCidr) &&
        cidrsOverlap(c.regions[i].subnetCidr, c.regions[j].subnetCidr)
      ) {
        out.push({
          key: `${CONFIG_NAMESPACE}:regions[${j}].subnetCidr`,
          message: `${c.regions[j].subnetCidr} overlaps regions[${i}] (${c.regions[i].subnetCidr})`,
        });
      }
    }
  }
  out.push(...rolloutChecks(c));
  // The servers may read sluice:image's repository only (ServerIdentity grants the reader role there).
  const repoOf = (image: string) => image.replace(/[:@][^/]*$/, '').replace(/\/[^/]+$/, '');
  const releases: Array<[string, string | undefined]> = [
    [`${CONFIG_NAMESPACE}:canary.image`, c.canary?.image],
    ...c.regions.flatMap((r, i): Array<[string, string | undefined]> => [
      [`${CONFIG_NAMESPACE}:regions[${i}].image`, r.image],
      [`${CONFIG_NAMESPACE}:regions[${i}].canary.image`, r.canary?.image],
    ]),
  ];
  for (const [key, image] of releases) {
    if (image !== undefined && repoOf(image) !== repoOf(c.image)) {
      out.push({
        key,
        message: `${image} is not in ${repoOf(c.image)}, the repository of ${CONFIG_NAMESPACE}:image (the servers may read only that one)`,
      });
    }
  }
  const total = c.regions.reduce((n, r) => n + r.replicas, 0);
  if (c.redisTier === 'none' && total > 1) {
    out.push({
      key: `${CONFIG_NAMESPACE}:redisTier`,
      message: `none needs a single server; ${total} servers must share the Redis backplane to reach each other's peers`,
    });
  }
  return out;
}
