/**
 * The release side of the stack config: what each region runs (regionReleases), and `sluice:rollout`
 * (the order `npm run rollout` takes, infra/release) checked against the regions and resolved with
 * its defaults. Pure; infra/config.ts (the public face) calls it.
 */
import type { RawStackConfig } from './config-schema';
import { CONFIG_NAMESPACE, ConfigIssue, RegionRelease, RolloutConfig, StackConfig } from './config-types';

/** The release of every region, in config order: the region's own pin, else the stack's image and canary. */
export function regionReleases(cfg: Pick<StackConfig, 'regions' | 'image' | 'canary'>): RegionRelease[] {
  return cfg.regions.map((r) => {
    const canary = r.canary ?? cfg.canary;
    return canary ? { region: r.region, image: r.image ?? cfg.image, canary } : { region: r.region, image: r.image ?? cfg.image };
  });
}

/** sluice:rollout names configured regions, each at most once, and a canary size below the canary region's replicas. */
export function rolloutChecks(c: RawStackConfig): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const key = `${CONFIG_NAMESPACE}:rollout`;
  const names = c.regions.map((r) => r.region);
  const known = (r: string) => names.includes(r);
  const canary = c.rollout.canaryRegion ?? names[0];
  if (!known(canary)) out.push({ key: `${key}.canaryRegion`, message: `${canary} is not one of sluice:regions (${names.join(', ')})` });
  const replicas = c.regions.find((r) => r.region === canary)?.replicas;
  const size = c.rollout.canaryTargetSize;
  // Unset: 1 VM, or no canary version at all in a one-VM region (the rollout then pins the region directly).
  if (replicas !== undefined && size !== undefined && size >= replicas)
    out.push({ key: `${key}.canaryTargetSize`, message: `${size} must be below ${canary}'s replicas (${replicas})` });
  if (c.rollout.waves) {
    const seen = new Set<string>([canary]);
    c.rollout.waves.forEach((wave, w) =>
      wave.forEach((r, j) => {
        if (!known(r)) out.push({ key: `${key}.waves[${w}][${j}]`, message: `${r} is not one of sluice:regions (${names.join(', ')})` });
        else if (seen.has(r))
          out.push({
            key: `${key}.waves[${w}][${j}]`,
            message: `${r} is ${r === canary ? 'the canary region' : 'in an earlier wave'}: each region rolls once`,
          });
        seen.add(r);
      }),
    );
    const missing = names.filter((r) => !seen.has(r));
    if (missing.length > 0)
      out.push({ key: `${key}.waves`, message: `must list every region but the canary; missing: ${missing.join(', ')}` });
  }
  return out;
}

/** sluice:rollout with its defaults: the first region as canary, one VM, one region per wave. */
export function resolveRollout(c: RawStackConfig): RolloutConfig {
  const canaryRegion = c.rollout.canaryRegion ?? c.regions[0].region;
  return {
    canaryRegion,
    canaryTargetSize: c.rollout.canaryTargetSize ?? 1,
    waves: c.rollout.waves ?? c.regions.filter((r) => r.region !== canaryRegion).map((r) => [r.region]),
    ...(c.rollout.gates ? { gates: c.rollout.gates as RolloutConfig['gates'] } : {}),
  };
}
