/**
 * Stack configuration: every `sluice:*` key is read and validated here, once, with zod, and the
 * timeouts are resolved against the contract (app/contract/timeouts.ts). Anything wrong fails the
 * program (and `pulumi preview`, and `npm run plan`) with one line per problem naming the key or the
 * broken contract rule. No resource is declared before the whole config is known to be sound.
 *
 *   sluice:project        GCP project id                                   (required)
 *   sluice:regions        [{region, zones, replicas, subnetCidr, maxSurge?, image?, canary?}], one MIG and one backplane each (required);
 *                         image pins the region's release (default sluice:image), canary {image, targetSize} adds a second MIG version
 *   sluice:canary         {image, targetSize}: the same canary in every region (or per region, never both)
 *   sluice:rollout        {canaryRegion?, canaryTargetSize?, waves?, gates?}: the order of `npm run rollout`
 *                         (infra/rollout) and its gate thresholds over defaultThresholds (app/rollout/gates.ts)
 *   sluice:image          server container image, pinned by tag or digest  (required)
 *   sluice:tokenSecret    token signing secret, >= 32 chars, set with --secret (required)
 *   sluice:adminToken     bearer token of the admin port, >= 32 chars, set with --secret (required)
 *   sluice:bootImage      COS image NAME of an LTS family, e.g. cos-121-18867-90-97 (required; pinned, see ServerFleet)
 *   sluice:machineType    default e2-small
 *   sluice:lbKind         external-application (default) | external-proxy-network
 *   sluice:domain         public hostname: Google-managed certificate, wss:// on 443
 *   sluice:redisTier      BASIC (default) | STANDARD_HA | none (only with a single server)
 *   sluice:redisMemoryGb  default 1
 *   sluice:redisMaintenance  {day, hour} UTC weekly window of region 0; region i starts 4 h later per index
 *   sluice:timeouts       overrides of the timeouts contract (JSON object, same shape as Timeouts)
 *   sluice:platform       gce (default: MIGs of VMs) | gke (one regional GKE cluster, infra/gke)
 *   sluice:gke            GKE settings and the GKE part of the contract (infra/gke/config.ts); gke only
 */
import * as pulumi from '@pulumi/pulumi';
import { z } from 'zod';
import {
  defaultTimeouts,
  LB_KINDS,
  LbKind,
  mergeTimeouts,
  Timeouts,
  TimeoutsContractError,
  TimeoutsOverrides,
  validate,
} from '../app/contract/timeouts';
import { GateThresholds, resolveThresholds } from '../app/rollout/gates';
import { GkeConfig, parseGkeConfig } from './gke/config';
import { OperationsConfig, OPS_SCHEMA_SHAPE, OPS_STRUCTURED, parseOperations } from './ops-config';

export const CONFIG_NAMESPACE = 'sluice';
export const SECRET_KEYS = ['tokenSecret', 'adminToken'] as const;

export interface RegionConfig {
  region: string;
  zones: string[];
  replicas: number;
  subnetCidr: string;
  /** maxSurgeFixed: >= zones (regional MIG), < replicas. Default: the number of zones. */
  maxSurge?: number;
  /** This region's release pin (default: sluice:image). Resolve with regionRelease(). */
  image?: string;
  /** This region's canary: a second MIG version of `targetSize` VMs (default: sluice:canary). */
  canary?: Canary;
}

/** A canary: `targetSize` VMs of a region run `image` (MIG versions[].targetSize), the rest the region's image. */
export interface Canary {
  image: string;
  targetSize: number;
}

/** What one region runs: its image and optional canary, after defaults. */
export interface RegionRelease {
  region: string;
  image: string;
  canary?: Canary;
}

/** The release of every region, in config order: the region's own pin, else the stack's image and canary. */
export function regionReleases(cfg: Pick<StackConfig, 'regions' | 'image' | 'canary'>): RegionRelease[] {
  return cfg.regions.map((r) => {
    const canary = r.canary ?? cfg.canary;
    return canary ? { region: r.region, image: r.image ?? cfg.image, canary } : { region: r.region, image: r.image ?? cfg.image };
  });
}

/** The order `npm run rollout` takes (infra/rollout): the canary region, then waves of the other regions. */
export interface RolloutConfig {
  /** Region that takes a new release first, as a canary (default: regions[0]). */
  canaryRegion: string;
  /** VMs of the canary region on the new release during the canary step (default 1, below its replicas). */
  canaryTargetSize: number;
  /** Later regions, one list per wave (default: one region per wave, config order). Every other region exactly once. */
  waves: string[][];
  /** Gate threshold overrides as set (validated); thresholdsFor() in infra/rollout puts them over the defaults. */
  gates?: Partial<Record<keyof GateThresholds, number | string>>;
}

export interface RedisConfig {
  tier: 'BASIC' | 'STANDARD_HA';
  memorySizeGb: number;
  /** Weekly maintenance window of the first region's backplane (UTC); later regions are staggered. */
  maintenance: { day: string; hour: number };
}

export interface StackConfig {
  project: string;
  regions: RegionConfig[];
  image: string;
  /** Kept as a Pulumi secret from here on; never printed. */
  tokenSecret: pulumi.Output<string>;
  adminToken: pulumi.Output<string>;
  /** Pinned COS image name (resolved with getImage, must belong to a cos-NNN-lts family). GCE only. */
  bootImage?: string;
  canary?: Canary;
  /** Resolved rollout order (defaults filled in). */
  rollout: RolloutConfig;
  machineType: string;
  lbKind: LbKind;
  domain?: string;
  /** Undefined: in-memory backplane (a single server only). One instance per region otherwise. */
  redis?: RedisConfig;
  /** The resolved, validated timeouts contract (overrides merged over the defaults, lb.kind from lbKind). */
  timeouts: Timeouts;
  /** gce: regional MIGs of VMs (infra/program.ts); gke: one regional GKE cluster (infra/gke). */
  platform: 'gce' | 'gke';
  /** Validated `sluice:gke` (platform gke only), the GKE contract rules included. */
  gke?: GkeConfig;
  /** Edge, alerting, autoscaling and capacity (infra/ops-config.ts: sluice:edge, alertEmail, alertChannel, autoscaling, capacity). */
  ops: OperationsConfig;
}

/** One problem: the key (`sluice:regions[0].zones`) or the contract rule, and what is wrong. */
export interface ConfigIssue {
  key: string;
  rule?: string;
  message: string;
}

export class StackConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(`invalid stack config:\n${issues.map((i) => `  - ${i.key}: ${i.rule ? `[${i.rule}] ` : ''}${i.message}`).join('\n')}`);
    this.name = 'StackConfigError';
  }
}

const REGION = /^[a-z]+-[a-z]+[0-9]+$/;
const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
/** registry/path/name followed by :tag or @sha256:digest; `:latest` is refused (a rollout must be a new template). */
const IMAGE = /^[a-z0-9.-]+(:[0-9]+)?(\/[a-z0-9._-]+)+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[a-f0-9]{64})$/;

const imageSchema = z.string()
  .regex(IMAGE, 'must be a container image pinned by tag or digest, e.g. us-docker.pkg.dev/p/repo/sluice:1.4.2')
  .refine((v) => !v.endsWith(':latest'), 'must not be :latest (a new image must be a new instance template, so the MIG rolls it out)');
/** One shape for a canary, stack-wide or per region. */
const canarySchema = z.object({ image: imageSchema, targetSize: z.coerce.number().int().min(1) }).strict();

const regionSchema = z.object({
  region: z.string().regex(REGION, 'must be a GCP region such as us-central1'),
  zones: z.array(z.string().min(1)).min(1, 'must list at least one zone'),
  replicas: z.coerce.number().int().min(1).max(1000),
  subnetCidr: z.string().regex(CIDR, 'must be an IPv4 CIDR such as 10.10.0.0/20'),
  maxSurge: z.coerce.number().int().min(1).optional(),
  image: imageSchema.optional(),
  canary: canarySchema.optional(),
}).strict();

const rolloutSchema = z.object({
  canaryRegion: z.string().optional(),
  canaryTargetSize: z.coerce.number().int().min(1).optional(),
  waves: z.array(z.array(z.string()).min(1, 'a wave lists at least one region')).optional(),
  /** Gate threshold overrides (app/rollout/gates.ts resolveThresholds checks each against the contract). */
  gates: z.record(z.string(), z.unknown()).optional(),
}).strict();

const DAYS = ['MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY', 'SUNDAY'] as const;

const schema = z.object({
  project: z.string().regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, 'must be a GCP project id (6-30 lowercase letters, digits, hyphens)'),
  regions: z.array(regionSchema).min(1, 'must list at least one region'),
  image: imageSchema,
  tokenSecret: z.string().min(32, 'must be at least 32 characters').regex(/^[^\r\n]+$/, 'must be one line'),
  adminToken: z.string().min(32, 'must be at least 32 characters').regex(/^[A-Za-z0-9._~+/=-]+$/, 'must be one line of token characters (e.g. openssl rand -base64 48)'),
  bootImage: z.string().regex(/^cos-[0-9]+-[0-9]+-[0-9]+-[0-9]+$/, 'must be a specific Container-Optimized OS image name such as cos-121-18867-90-97 (not a family: every new VM would get whatever the family points to)'),
  canary: canarySchema.optional(),
  rollout: rolloutSchema.default({}),
  machineType: z.string().regex(/^[a-z0-9-]+$/).default('e2-small'),
  lbKind: z.enum(LB_KINDS as [LbKind, ...LbKind[]]).default('external-application'),
  domain: z.string().regex(HOSTNAME, 'must be a lowercase DNS name such as ws.example.com').optional(),
  redisTier: z.enum(['BASIC', 'STANDARD_HA', 'none']).default('BASIC'),
  redisMemoryGb: z.coerce.number().int().min(1).max(300).default(1),
  redisMaintenance: z.object({ day: z.enum(DAYS), hour: z.coerce.number().int().min(0).max(23) }).strict().default({ day: 'SUNDAY', hour: 3 }),
  timeouts: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
  platform: z.enum(['gce', 'gke']).default('gce'),
  gke: z.record(z.string(), z.unknown()).optional(),
  ...OPS_SCHEMA_SHAPE,
});
/** On GKE there is no VM image to pin: bootImage is not required there (GCE-only keys are refused by parseGkeConfig). */
const gkeSchema = schema.extend({ bootImage: schema.shape.bootImage.optional() });

const STRUCTURED = new Set(['regions', 'timeouts', 'canary', 'rollout', 'redisMaintenance', 'gke']);
for (const k of OPS_STRUCTURED) STRUCTURED.add(k);
export const KNOWN_KEYS = Object.keys(schema.shape);

/**
 * Validate raw Pulumi config values (strings, as the engine hands them over; structured values are
 * JSON) for the `sluice` namespace. `secretKeys` are the keys that were set with `--secret`.
 */
export function parseStackConfig(raw: Record<string, string>, secretKeys: ReadonlySet<string>): StackConfig {
  const issues: ConfigIssue[] = [];
  const values: Record<string, unknown> = {};
  const prefix = `${CONFIG_NAMESPACE}:`;
  for (const [fullKey, value] of Object.entries(raw)) {
    if (!fullKey.startsWith(prefix)) continue;
    const key = fullKey.slice(prefix.length);
    if (!KNOWN_KEYS.includes(key)) {
      issues.push({ key: fullKey, message: `unknown key (known: ${KNOWN_KEYS.join(', ')})` });
      continue;
    }
    values[key] = STRUCTURED.has(key) ? parseJson(value, fullKey, issues) : value;
  }
  for (const key of SECRET_KEYS) {
    if (values[key] !== undefined && !secretKeys.has(`${prefix}${key}`)) {
      issues.push({ key: `${prefix}${key}`, message: `must be a secret: pulumi config set --secret ${prefix}${key} <value>` });
    }
  }

  const parsed = (values.platform === 'gke' ? gkeSchema : schema).safeParse(values);
  if (!parsed.success) {
    for (const i of parsed.error.issues) issues.push({ key: `${prefix}${formatPath(i.path)}`, message: i.message });
    throw new StackConfigError(issues);
  }
  const c = parsed.data;
  issues.push(...crossChecks(c));

  let timeouts: Timeouts | undefined;
  try {
    const overrides = coerceOverrides(c.timeouts, issues);
    if (overrides.lb?.kind !== undefined && overrides.lb.kind !== c.lbKind) {
      issues.push({ key: `${prefix}timeouts.lb.kind`, message: `set the LB kind with ${prefix}lbKind (it is ${c.lbKind}), not in the timeouts` });
    }
    timeouts = mergeTimeouts(defaultTimeouts, { ...overrides, lb: { ...overrides.lb, kind: c.lbKind } });
    for (const v of validate(timeouts)) issues.push({ key: `${prefix}timeouts`, rule: v.rule, message: v.message });
  } catch (err) {
    if (!(err instanceof TimeoutsContractError)) throw err;
    for (const v of err.violations) issues.push({ key: `${prefix}timeouts`, rule: v.rule, message: v.message });
  }
  // GKE: its settings and the GKE contract rules, before any resource is declared.
  let gke: GkeConfig | undefined;
  if (c.platform === 'gke' && timeouts) {
    const r = parseGkeConfig(c.gke, { regions: c.regions, lbKind: c.lbKind, timeouts, setKeys: Object.keys(values) });
    issues.push(...r.issues);
    gke = r.config;
  } else if (c.gke !== undefined) {
    issues.push({ key: `${prefix}gke`, message: `only with ${prefix}platform: gke (it is ${c.platform})` });
  }
  if (timeouts) issues.push(...resolveThresholds(timeouts, c.rollout.gates, `${prefix}rollout.gates`).issues);
  const ops = timeouts && parseOperations(c, { regions: c.regions, lbKind: c.lbKind, platform: c.platform, canary: c.canary, timeouts });
  if (ops) issues.push(...ops.issues);
  if (issues.length > 0 || !timeouts || !ops) throw new StackConfigError(issues);

  const totalReplicas = c.regions.reduce((n, r) => n + r.replicas, 0);
  return {
    project: c.project,
    regions: c.regions,
    image: c.image,
    tokenSecret: pulumi.secret(c.tokenSecret),
    adminToken: pulumi.secret(c.adminToken),
    bootImage: c.bootImage,
    canary: c.canary,
    rollout: resolveRollout(c),
    machineType: c.machineType,
    lbKind: c.lbKind,
    domain: c.domain,
    redis: c.redisTier === 'none' || totalReplicas === 0
      ? undefined
      : { tier: c.redisTier, memorySizeGb: c.redisMemoryGb, maintenance: c.redisMaintenance },
    timeouts,
    platform: c.platform,
    gke,
    ops: ops.config,
  };
}

/** Rules that involve several keys (the contract's own rules are checked by validate()). */
function crossChecks(c: z.infer<typeof gkeSchema>): ConfigIssue[] {
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
    if (c.platform === 'gce' && surge < r.zones.length) out.push({ key: `${key}.maxSurge`, message: `${surge} is below the zone count ${r.zones.length} (a regional MIG's fixed surge must be 0 or >= its zones)` });
    if (c.platform === 'gce' && r.replicas > 1 && surge >= r.replicas) {
      out.push({ key: r.maxSurge === undefined ? `${key}.replicas` : `${key}.maxSurge`, message: `surge ${surge} would replace all ${r.replicas} VMs of ${r.region} in one wave: use more replicas than zones (${r.zones.length}) and a surge below the replicas` });
    }
    if (c.canary && c.canary.targetSize >= r.replicas) out.push({ key: `${CONFIG_NAMESPACE}:canary.targetSize`, message: `${c.canary.targetSize} must be below ${r.region}'s replicas (${r.replicas})` });
    if (r.canary && r.canary.targetSize >= r.replicas) out.push({ key: `${key}.canary.targetSize`, message: `${r.canary.targetSize} must be below the region's replicas (${r.replicas}): a canary is part of a region` });
    if (r.canary && c.canary) out.push({ key: `${key}.canary`, message: `${CONFIG_NAMESPACE}:canary is set too: express the canary one way, stack-wide (${CONFIG_NAMESPACE}:canary) or per region (regions[i].canary)` });
    if (c.platform === 'gke' && (r.image !== undefined || r.canary !== undefined)) {
      out.push({ key: `${key}.${r.image !== undefined ? 'image' : 'canary'}`, message: `per-region releases are MIG versions (platform gce); on gke the workload runs ${CONFIG_NAMESPACE}:image` });
    }
    if (!validCidr(r.subnetCidr)) out.push({ key: `${key}.subnetCidr`, message: `${r.subnetCidr} is not a valid private range (/8 to /29, host bits zero)` });
  });
  for (let i = 0; i < c.regions.length; i++) {
    for (let j = i + 1; j < c.regions.length; j++) {
      if (validCidr(c.regions[i].subnetCidr) && validCidr(c.regions[j].subnetCidr) && overlaps(c.regions[i].subnetCidr, c.regions[j].subnetCidr)) {
        out.push({ key: `${CONFIG_NAMESPACE}:regions[${j}].subnetCidr`, message: `${c.regions[j].subnetCidr} overlaps regions[${i}] (${c.regions[i].subnetCidr})` });
      }
    }
  }
  out.push(...rolloutChecks(c));
  // The servers may read sluice:image's repository only (ServerIdentity grants the reader role there).
  const repoOf = (image: string) => image.replace(/[:@][^/]*$/, '').replace(/\/[^/]+$/, '');
  const releases: Array<[string, string | undefined]> = [
    [`${CONFIG_NAMESPACE}:canary.image`, c.canary?.image],
    ...c.regions.flatMap((r, i): Array<[string, string | undefined]> => [[`${CONFIG_NAMESPACE}:regions[${i}].image`, r.image], [`${CONFIG_NAMESPACE}:regions[${i}].canary.image`, r.canary?.image]]),
  ];
  for (const [key, image] of releases) {
    if (image !== undefined && repoOf(image) !== repoOf(c.image)) {
      out.push({ key, message: `${image} is not in ${repoOf(c.image)}, the repository of ${CONFIG_NAMESPACE}:image (the servers may read only that one)` });
    }
  }
  const total = c.regions.reduce((n, r) => n + r.replicas, 0);
  if (c.redisTier === 'none' && total > 1) {
    out.push({ key: `${CONFIG_NAMESPACE}:redisTier`, message: `none needs a single server; ${total} servers must share the Redis backplane to reach each other's peers` });
  }
  return out;
}

/** sluice:rollout names configured regions, each at most once, and a canary size below the canary region's replicas. */
function rolloutChecks(c: z.infer<typeof gkeSchema>): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const key = `${CONFIG_NAMESPACE}:rollout`;
  const names = c.regions.map((r) => r.region);
  const known = (r: string) => names.includes(r);
  const canary = c.rollout.canaryRegion ?? names[0];
  if (!known(canary)) out.push({ key: `${key}.canaryRegion`, message: `${canary} is not one of sluice:regions (${names.join(', ')})` });
  const replicas = c.regions.find((r) => r.region === canary)?.replicas;
  const size = c.rollout.canaryTargetSize;
  // Unset: 1 VM, or no canary version at all in a one-VM region (the rollout then pins the region directly).
  if (replicas !== undefined && size !== undefined && size >= replicas) out.push({ key: `${key}.canaryTargetSize`, message: `${size} must be below ${canary}'s replicas (${replicas})` });
  if (c.rollout.waves) {
    const seen = new Set<string>([canary]);
    c.rollout.waves.forEach((wave, w) => wave.forEach((r, j) => {
      if (!known(r)) out.push({ key: `${key}.waves[${w}][${j}]`, message: `${r} is not one of sluice:regions (${names.join(', ')})` });
      else if (seen.has(r)) out.push({ key: `${key}.waves[${w}][${j}]`, message: `${r} is ${r === canary ? 'the canary region' : 'in an earlier wave'}: each region rolls once` });
      seen.add(r);
    }));
    const missing = names.filter((r) => !seen.has(r));
    if (missing.length > 0) out.push({ key: `${key}.waves`, message: `must list every region but the canary; missing: ${missing.join(', ')}` });
  }
  return out;
}

function resolveRollout(c: z.infer<typeof gkeSchema>): RolloutConfig {
  const canaryRegion = c.rollout.canaryRegion ?? c.regions[0].region;
  return {
    canaryRegion,
    canaryTargetSize: c.rollout.canaryTargetSize ?? 1,
    waves: c.rollout.waves ?? c.regions.filter((r) => r.region !== canaryRegion).map((r) => [r.region]),
    ...(c.rollout.gates ? { gates: c.rollout.gates as RolloutConfig['gates'] } : {}),
  };
}

/**
 * Timeouts overrides typed like the contract's defaults. `pulumi config set --path` stores scalars as
 * strings unless told otherwise, so "5000" and "true" are accepted for numbers and booleans.
 */
function coerceOverrides(raw: Record<string, Record<string, unknown>>, issues: ConfigIssue[]): TimeoutsOverrides {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [group, fields] of Object.entries(raw)) {
    const defaults = (defaultTimeouts as unknown as Record<string, Record<string, unknown> | undefined>)[group];
    out[group] = {};
    for (const [k, v] of Object.entries(fields)) {
      const expected = defaults ? typeof defaults[k] : 'undefined';
      let value = v;
      if (expected === 'number' && typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) value = Number(v);
      if (expected === 'boolean' && (v === 'true' || v === 'false')) value = v === 'true';
      // Unknown keys are reported by mergeTimeouts (rule known-keys); wrong types here.
      if (expected !== 'undefined' && typeof value !== expected) {
        issues.push({ key: `${CONFIG_NAMESPACE}:timeouts.${group}.${k}`, message: `must be a ${expected}, got ${JSON.stringify(v)}` });
        continue;
      }
      out[group][k] = value;
    }
  }
  return out as TimeoutsOverrides;
}

function parseJson(value: string, key: string, issues: ConfigIssue[]): unknown {
  try {
    return JSON.parse(value);
  } catch {
    issues.push({ key, message: 'must be structured config (a YAML list/object in the stack file, or pulumi config set --path)' });
    return undefined;
  }
}

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('');
}

function cidrParts(cidr: string): { base: number; bits: number } | undefined {
  const m = CIDR.exec(cidr);
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  const bits = Number(m[5]);
  if (octets.some((o) => o > 255) || bits < 8 || bits > 29) return undefined;
  const base = ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0;
  return { base, bits };
}

function validCidr(cidr: string): boolean {
  const p = cidrParts(cidr);
  if (!p) return false;
  const mask = p.bits === 0 ? 0 : (0xffffffff << (32 - p.bits)) >>> 0;
  return ((p.base & mask) >>> 0) === p.base;
}

function overlaps(a: string, b: string): boolean {
  const pa = cidrParts(a)!;
  const pb = cidrParts(b)!;
  const bits = Math.min(pa.bits, pb.bits);
  const mask = (0xffffffff << (32 - bits)) >>> 0;
  return ((pa.base & mask) >>> 0) === ((pb.base & mask) >>> 0);
}

/** Read the running stack's config (Pulumi engine or mocks) and validate it. */
export function readStackConfig(): StackConfig {
  const all = pulumi.runtime.allConfig();
  // `isConfigSecret` is exported by the SDK at runtime but marked @internal in its typings; without it
  // the "set with --secret" check is skipped (the value is wrapped as a secret either way).
  const isSecret = (pulumi.runtime as unknown as { isConfigSecret?: (k: string) => boolean }).isConfigSecret;
  const secretKeys = new Set(Object.keys(all).filter((k) => (isSecret ? isSecret(k) : true)));
  return parseStackConfig(all, secretKeys);
}
