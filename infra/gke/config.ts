/**
 * The `sluice:gke` stack key (only with `sluice:platform: gke`), read and validated with zod, and the
 * GKE rules of the timeouts contract (validateGke) run against the resolved contract. Called from
 * infra/config.ts, so a GKE stack that breaks a rule fails before any resource is declared.
 *
 *   sluice:gke:
 *     cluster:                       # one of
 *       create: autopilot            #   autopilot (default) | standard: a regional cluster in regions[0]
 *       machineType: e2-standard-2   #   standard only: node machine type
 *       nodesPerZone: {min: 1, max: 3}
 *       existing: {name, location, project?}   # or an existing VPC-native cluster (Gateway API on)
 *     namespace: sluice
 *     maxSurge: 1                    # rolling update surge (maxUnavailable is always 0)
 *     maxReplicas: 12                # HPA ceiling; the floor is regions[0].replicas
 *     targetCpuUtilization: 60       # HPA target, percent of the CPU request
 *     resources: {cpu: 500m, memory: 512Mi}
 *     timeouts: {terminationGracePeriodSec: 35, hpaScaleDownStabilizationSec: 300}
 */
import { z } from 'zod';
import { defaultGkeTimeouts, GkeTimeouts, mergeGkeTimeouts, validateGke } from '../../app/contract/gke';
import { budgetForMemory, memoryFitProblem, MIN_MEMORY_BUDGET_BYTES } from '../../app/contract/memory';
import { Timeouts, TimeoutsContractError } from '../../app/contract/timeouts';

export type GkeClusterConfig =
  | { create: 'autopilot' }
  | { create: 'standard'; machineType: string; nodesPerZone: { min: number; max: number } }
  | { existing: { name: string; location: string; project?: string } };

export interface GkeConfig {
  cluster: GkeClusterConfig;
  namespace: string;
  maxSurge: number;
  /** HPA floor (regions[0].replicas) and ceiling. */
  minReplicas: number;
  maxReplicas: number;
  targetCpuUtilization: number;
  resources: { cpu: string; memory: string };
  /** The GKE part of the contract, validated together with the stack's Timeouts. */
  timeouts: GkeTimeouts;
}

/** What the GKE config is checked against (the rest of the stack config, already parsed). */
export interface GkeContext {
  regions: Array<{ region: string; zones: string[]; replicas: number; maxSurge?: number }>;
  lbKind: string;
  timeouts: Timeouts;
  /** The `sluice:*` keys the stack sets (GCE-only ones are refused on GKE). */
  setKeys: string[];
}

/** Keys that configure VMs and MIGs only: set on a GKE stack they would silently do nothing. */
export const GCE_ONLY_KEYS = ['bootImage', 'canary', 'machineType'] as const;

export interface GkeIssue {
  key: string;
  rule?: string;
  message: string;
}

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const CPU = /^([0-9]+m|[0-9]+(\.[0-9]+)?)$/;
const MEMORY = /^[0-9]+(Mi|Gi)$/;

const clusterSchema = z.union(
  [
    z.object({ create: z.literal('autopilot') }).strict(),
    z
      .object({
        create: z.literal('standard'),
        machineType: z
          .string()
          .regex(/^[a-z0-9-]+$/)
          .default('e2-standard-2'),
        nodesPerZone: z
          .object({ min: z.coerce.number().int().min(1), max: z.coerce.number().int().min(1).max(100) })
          .strict()
          .default({ min: 1, max: 3 }),
      })
      .strict(),
    z
      .object({
        existing: z
          .object({
            name: z.string().regex(DNS_LABEL, 'must be a GKE cluster name'),
            location: z.string().regex(/^[a-z]+-[a-z]+[0-9]+(-[a-z])?$/, 'must be a region or zone such as us-central1'),
            project: z
              .string()
              .regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/)
              .optional(),
          })
          .strict(),
      })
      .strict(),
  ],
  { error: 'must be {create: autopilot}, {create: standard, ...} or {existing: {name, location}}' },
);

const schema = z
  .object({
    cluster: clusterSchema.default({ create: 'autopilot' }),
    namespace: z.string().regex(DNS_LABEL, 'must be a Kubernetes namespace name (DNS label)').default('sluice'),
    maxSurge: z.coerce.number().int().min(1).max(100).default(1),
    maxReplicas: z.coerce.number().int().min(1).max(1000).default(12),
    targetCpuUtilization: z.coerce.number().int().min(10).max(95).default(60),
    resources: z
      .object({
        cpu: z.string().regex(CPU, 'must be a CPU quantity such as 500m or 1').default('500m'),
        memory: z.string().regex(MEMORY, 'must be a memory quantity in Mi or Gi such as 512Mi').default('512Mi'),
      })
      .strict()
      .default({ cpu: '500m', memory: '512Mi' }),
    timeouts: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

/** Bytes of a `Mi`/`Gi` quantity. */
export function memoryBytes(q: string): number {
  const m = /^([0-9]+)(Mi|Gi)$/.exec(q);
  if (!m) throw new Error(`not a memory quantity: ${q}`);
  return Number(m[1]) * (m[2] === 'Gi' ? 1024 ** 3 : 1024 ** 2);
}

/**
 * Parse `sluice:gke` (undefined: every default) for the stack described by `ctx`. Returns the config
 * and the problems found (keys as `sluice:gke.<path>`, contract rules by name); `config` is
 * undefined when any problem was found.
 */
export function parseGkeConfig(raw: unknown, ctx: GkeContext): { config?: GkeConfig; issues: GkeIssue[] } {
  const issues: GkeIssue[] = [];
  const key = (path: ReadonlyArray<PropertyKey>) =>
    `sluice:gke${path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}`;
  const parsed = schema.safeParse(raw ?? {});
  if (!parsed.success) {
    for (const i of parsed.error.issues) issues.push({ key: key(i.path), message: i.message });
    return { issues };
  }
  const c = parsed.data;

  if (ctx.regions.length !== 1) {
    issues.push({
      key: 'sluice:regions',
      message: `a GKE stack runs one regional cluster: list exactly one region (got ${ctx.regions.length})`,
    });
  }
  // Gateway API on GKE offers Application LBs only; a proxy Network LB has no GatewayClass.
  if (ctx.lbKind !== 'external-application') {
    issues.push({
      key: 'sluice:lbKind',
      message: `GKE serves through the Gateway API's global external Application LB: lbKind must be external-application (got ${ctx.lbKind})`,
    });
  }
  for (const k of GCE_ONLY_KEYS) {
    if (ctx.setKeys.includes(k))
      issues.push({
        key: `sluice:${k}`,
        message: 'configures GCE VMs only; a GKE stack does not use it (Standard node machine type: sluice:gke.cluster.machineType)',
      });
  }
  if (ctx.regions.some((r) => r.maxSurge !== undefined)) {
    issues.push({ key: 'sluice:regions[0].maxSurge', message: 'is the MIG surge (GCE only); on GKE use sluice:gke.maxSurge' });
  }
  const region = ctx.regions[0];
  if (region && c.maxReplicas < region.replicas) {
    issues.push({ key: key(['maxReplicas']), message: `${c.maxReplicas} is below the HPA floor regions[0].replicas (${region.replicas})` });
  }
  if ('create' in c.cluster && c.cluster.create === 'standard' && c.cluster.nodesPerZone.min > c.cluster.nodesPerZone.max) {
    issues.push({
      key: key(['cluster', 'nodesPerZone']),
      message: `min (${c.cluster.nodesPerZone.min}) must be <= max (${c.cluster.nodesPerZone.max})`,
    });
  }
  if ('existing' in c.cluster && region && !c.cluster.existing.location.startsWith(region.region)) {
    issues.push({
      key: key(['cluster', 'existing', 'location']),
      message: `${c.cluster.existing.location} is not in regions[0] (${region.region}): the Redis backplane and the LB address are created there`,
    });
  }
  // The pod's budget is the largest whose V8 heap limit and native reserve fit the container's limit
  // (app/contract/memory.ts); the server refuses a budget below MIN_MEMORY_BUDGET_BYTES.
  const podMemory = memoryBytes(c.resources.memory);
  if (budgetForMemory(podMemory) < MIN_MEMORY_BUDGET_BYTES) {
    issues.push({
      key: key(['resources', 'memory']),
      message: memoryFitProblem(MIN_MEMORY_BUDGET_BYTES, podMemory, "the server's smallest memory budget", c.resources.memory)!,
    });
  }

  let timeouts: GkeTimeouts = defaultGkeTimeouts;
  try {
    const coerced: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(c.timeouts))
      coerced[k] = typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : v;
    for (const [k, v] of Object.entries(coerced)) {
      if (k in defaultGkeTimeouts && typeof v !== 'number')
        issues.push({ key: key(['timeouts', k]), message: `must be a number, got ${JSON.stringify(v)}` });
    }
    timeouts = mergeGkeTimeouts(coerced);
    for (const v of validateGke(ctx.timeouts, timeouts)) issues.push({ key: 'sluice:gke.timeouts', rule: v.rule, message: v.message });
  } catch (err) {
    if (!(err instanceof TimeoutsContractError)) throw err;
    for (const v of err.violations) issues.push({ key: 'sluice:gke.timeouts', rule: v.rule, message: v.message });
  }
  if (issues.length > 0 || !region) return { issues };
  return {
    issues,
    config: {
      cluster: c.cluster as GkeClusterConfig,
      namespace: c.namespace,
      maxSurge: c.maxSurge,
      minReplicas: region.replicas,
      maxReplicas: c.maxReplicas,
      targetCpuUtilization: c.targetCpuUtilization,
      resources: c.resources,
      timeouts,
    },
  };
}
