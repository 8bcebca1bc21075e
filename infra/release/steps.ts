/**
 * The rollout of one release over a stack's regions, as an ordered list of config changes (pure).
 *
 *   canary   the canary region (sluice:rollout.canaryRegion) gets a second MIG version: canaryTargetSize
 *            VMs on the release (regions[i].canary), the rest stays on its pin
 *   promote  the canary region's pin becomes the release (regions[i].image) and its canary is removed
 *   wave-N   each wave's regions are pinned to the release (sluice:rollout.waves)
 *   finalize sluice:image becomes the release and the per-region pins go: no resource changes
 *
 * Every step names its exact `pulumi config set --path` commands and the region pins before it, which
 * is the rollback of that step. A gate (gates.ts) is passed after each step but finalize.
 */
import { Canary, CONFIG_NAMESPACE, RegionConfig, RegionRelease, regionReleases, StackConfig } from '../config';

export type ConfigChange = { op: 'set'; path: string; value: string } | { op: 'rm'; path: string };

export interface ReleaseStep {
  /** 1-based position in the plan. */
  index: number;
  kind: 'canary' | 'promote' | 'wave' | 'finalize';
  /** The approval unit (one GitHub environment each): canary (canary + promote), wave-1..n, finalize. */
  wave: string;
  title: string;
  /** Regions whose VMs this step replaces (none for finalize). */
  regions: string[];
  changes: ConfigChange[];
  /** The releases of `regions` before this step: what a rollback restores. */
  previous: RegionRelease[];
  /** The releases of `regions` after it. */
  target: RegionRelease[];
}

export interface ReleaseSteps {
  stack: string;
  release: string;
  steps: ReleaseStep[];
  /** Waves in order (unique `wave` values of the steps). */
  waves: string[];
}

export class RolloutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RolloutError';
  }
}

type Cfg = Pick<StackConfig, 'regions' | 'image' | 'canary' | 'rollout'>;

const regionPath = (i: number, field: string) => `${CONFIG_NAMESPACE}:regions[${i}].${field}`;

/** The steps that take every region of `cfg` to `release`, skipping regions already on it. */
export function releaseSteps(stack: string, cfg: Cfg, release: string): ReleaseSteps {
  if (cfg.canary) {
    throw new RolloutError(
      `${CONFIG_NAMESPACE}:canary is set: a release rolls out region by region with per-region pins; remove it (pulumi config rm ${CONFIG_NAMESPACE}:canary) or finish that canary first`,
    );
  }
  const index = new Map(cfg.regions.map((r, i) => [r.region, i]));
  const current = regionReleases(cfg);
  const releaseOf = (region: string) => current[index.get(region)!];
  const onRelease = (region: string) => releaseOf(region).image === release && !releaseOf(region).canary;
  const steps: ReleaseStep[] = [];
  const add = (s: Omit<ReleaseStep, 'index'>) => steps.push({ ...s, index: steps.length + 1 });

  const canaryRegion = cfg.rollout.canaryRegion;
  const ci = index.get(canaryRegion)!;
  const cr: RegionConfig = cfg.regions[ci];
  if (!onRelease(canaryRegion)) {
    const size = cfg.rollout.canaryTargetSize;
    // A one-VM region has no room for a second version: it is pinned directly.
    if (cr.replicas > 1 && releaseOf(canaryRegion).image !== release) {
      const canary: Canary = { image: release, targetSize: Math.min(size, cr.replicas - 1) };
      add({
        kind: 'canary',
        wave: 'canary',
        regions: [canaryRegion],
        title: `canary: ${canary.targetSize} of ${cr.replicas} VMs of ${canaryRegion} on the release`,
        changes: [
          { op: 'set', path: regionPath(ci, 'canary.image'), value: canary.image },
          { op: 'set', path: regionPath(ci, 'canary.targetSize'), value: String(canary.targetSize) },
        ],
        previous: [releaseOf(canaryRegion)],
        target: [{ region: canaryRegion, image: releaseOf(canaryRegion).image, canary }],
      });
    }
    add({
      kind: 'promote',
      wave: 'canary',
      regions: [canaryRegion],
      title: `promote: every VM of ${canaryRegion} on the release`,
      changes: [
        { op: 'set', path: regionPath(ci, 'image'), value: release },
        ...(steps.length > 0 || releaseOf(canaryRegion).canary ? [{ op: 'rm' as const, path: regionPath(ci, 'canary') }] : []),
      ],
      previous: steps.length > 0 ? steps[steps.length - 1].target : [releaseOf(canaryRegion)],
      target: [{ region: canaryRegion, image: release }],
    });
  }

  cfg.rollout.waves.forEach((wave, w) => {
    const todo = wave.filter((r) => !onRelease(r));
    if (todo.length === 0) return;
    add({
      kind: 'wave',
      wave: `wave-${w + 1}`,
      regions: todo,
      title: `wave ${w + 1}: ${todo.join(', ')} on the release`,
      changes: todo.flatMap((r): ConfigChange[] => [
        { op: 'set', path: regionPath(index.get(r)!, 'image'), value: release },
        ...(releaseOf(r).canary ? [{ op: 'rm' as const, path: regionPath(index.get(r)!, 'canary') }] : []),
      ]),
      previous: todo.map(releaseOf),
      target: todo.map((r) => ({ region: r, image: release })),
    });
  });

  // Every region now runs the release: make it the stack default and drop the pins (the plan does not change).
  const pinned = cfg.regions.map((r, i) => [r, i] as const).filter(([r]) => r.image !== undefined || r.canary !== undefined);
  if (cfg.image !== release || pinned.length > 0 || steps.length > 0) {
    const willPin = new Set(
      steps
        .flatMap((s) => s.changes)
        .filter((c) => c.op === 'set' && c.path.endsWith('].image'))
        .map((c) => c.path),
    );
    const pins = new Set([...pinned.map(([, i]) => regionPath(i, 'image')), ...willPin]);
    add({
      kind: 'finalize',
      wave: 'finalize',
      regions: [],
      title: `finalize: ${CONFIG_NAMESPACE}:image is the release, no per-region pins (no resource changes)`,
      changes: [
        { op: 'set', path: `${CONFIG_NAMESPACE}:image`, value: release },
        ...[...pins].sort().map((path): ConfigChange => ({ op: 'rm', path })),
        ...pinned.filter(([r]) => r.canary !== undefined).map(([, i]): ConfigChange => ({ op: 'rm', path: regionPath(i, 'canary') })),
      ],
      previous: [],
      target: [],
    });
  }
  return { stack, release, steps, waves: [...new Set(steps.map((s) => s.wave))] };
}

/** The shell command of one change (what an operator would type; what the executor does). */
export function commandOf(stack: string, c: ConfigChange): string {
  return c.op === 'set'
    ? `pulumi config set --stack ${stack} --path '${c.path}' ${c.value}`
    : `pulumi config rm --stack ${stack} --path '${c.path}'`;
}

/**
 * Apply changes to raw stack config (full keys to strings; structured values JSON), as
 * `pulumi config set/rm --path` would: `sluice:regions[0].canary.targetSize` edits the JSON of
 * `sluice:regions`. Values stay strings, like the CLI writes them (config.ts coerces numbers).
 */
export function applyChanges(config: Record<string, string>, changes: ConfigChange[]): Record<string, string> {
  const out = { ...config };
  for (const c of changes) {
    const m = /^([^:]+:[A-Za-z0-9_]+)((?:\[\d+\]|\.[A-Za-z0-9_]+)*)$/.exec(c.path);
    if (!m) throw new RolloutError(`cannot apply config path ${c.path}`);
    const [, key, rest] = m;
    const segs = [...rest.matchAll(/\[(\d+)\]|\.([A-Za-z0-9_]+)/g)].map((s) => (s[1] !== undefined ? Number(s[1]) : s[2]));
    if (segs.length === 0) {
      if (c.op === 'set') out[key] = c.value;
      else delete out[key];
      continue;
    }
    const root: unknown = out[key] === undefined ? (typeof segs[0] === 'number' ? [] : {}) : JSON.parse(out[key]);
    let node = root as Record<string | number, unknown>;
    for (const [j, seg] of segs.slice(0, -1).entries()) {
      if (node[seg] === undefined || node[seg] === null) {
        if (c.op === 'rm') break;
        node[seg] = typeof segs[j + 1] === 'number' ? [] : {};
      }
      node = node[seg] as Record<string | number, unknown>;
    }
    const last = segs[segs.length - 1];
    if (c.op === 'set') node[last] = c.value;
    else if (node && typeof node === 'object') delete node[last];
    out[key] = JSON.stringify(root);
  }
  return out;
}

/** Config after every change of steps 1..n (the state a wave's job deploys). */
export function configThrough(config: Record<string, string>, plan: ReleaseSteps, n: number): Record<string, string> {
  return plan.steps.filter((s) => s.index <= n).reduce((c, s) => applyChanges(c, s.changes), config);
}

/** The commands that put `previous` back for a halted step, then deploy. */
export function rollbackCommands(stack: string, cfg: Pick<StackConfig, 'regions'>, step: ReleaseStep): string[] {
  // A cancelled `pulumi up` leaves the MIG's proactive update running: stop it first ("changes the
  // update type of the managed instance group to opportunistic", gcloud ... rolling-action stop-proactive-update).
  const cmds: string[] = step.regions.map(
    (r) =>
      `gcloud compute instance-groups managed rolling-action stop-proactive-update "$(pulumi stack output --stack ${stack} migs --json | jq -r '.["${r}"]')" --region ${r}`,
  );
  for (const p of step.previous) {
    const i = cfg.regions.findIndex((r) => r.region === p.region);
    cmds.push(commandOf(stack, { op: 'set', path: regionPath(i, 'image'), value: p.image }));
    if (p.canary) {
      cmds.push(commandOf(stack, { op: 'set', path: regionPath(i, 'canary.image'), value: p.canary.image }));
      cmds.push(commandOf(stack, { op: 'set', path: regionPath(i, 'canary.targetSize'), value: String(p.canary.targetSize) }));
    } else if (step.target.find((t) => t.region === p.region)?.canary) {
      cmds.push(commandOf(stack, { op: 'rm', path: regionPath(i, 'canary') }));
    }
  }
  // --refresh: the stopped update left the MIG opportunistic; refresh sees it and up restores PROACTIVE with the old template.
  cmds.push(`pulumi up --stack ${stack} --refresh   # the MIG rolls ${step.regions.join(', ')} back with the same drains`);
  return cmds;
}
