/**
 * The stack config's schema (zod): the shape and range of every `sluice:*` key, the image-by-digest
 * rule, and which keys hold JSON. infra/config.ts (the public face) parses with it, then runs the
 * cross-checks and resolves the timeouts and the rollout. No Pulumi here.
 */
import { z } from 'zod';
import { LB_KINDS, LbKind } from '../app/contract/timeouts';
import { CIDR } from './cidr';
import { OPS_SCHEMA_SHAPE, OPS_STRUCTURED } from './ops-config';
import { REDIS_CLUSTER_SCHEMA_SHAPE } from './redis-cluster-config';

const REGION = /^[a-z]+-[a-z]+[0-9]+$/;
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
/** registry/path/name@sha256:<digest>: the only form a VM, a pod and a rollback all resolve to the same bytes. */
export const IMAGE_BY_DIGEST = /^[a-z0-9.-]+(:[0-9]+)?(\/[a-z0-9._-]+)+@sha256:[a-f0-9]{64}$/;

/**
 * A server image is accepted only by digest, as pushed by the deploy workflow's `image` job
 * (.github/workflows/deploy.yml). "A container image digest uniquely and immutably identifies a
 * container image. When you deploy images by digest, you avoid the downsides of deploying by image
 * tags", and "tags are mutable references, which means the image referenced by a tag can change"
 * (https://cloud.google.com/kubernetes-engine/docs/concepts/about-container-images): a VM that
 * autoheals, a surge pod and a rollback must all run what was reviewed. Refused here, before any
 * resource is declared.
 */
export function imageIssue(v: string): string | undefined {
  if (IMAGE_BY_DIGEST.test(v)) return undefined;
  const tagged = /^[a-z0-9.-]+(:[0-9]+)?(\/[a-z0-9._-]+)+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$/.test(v);
  return tagged
    ? `${v} is not pinned by digest: use the digest the deploy workflow's image job pushed, e.g. ${v.replace(/(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?$/, '')}@sha256:<64 hex> (docker buildx imagetools inspect ${v} shows it); a tag can be moved, a digest cannot`
    : `${JSON.stringify(v)} is not a container image reference REGISTRY/PATH/NAME@sha256:<64 hex digest>`;
}

const imageSchema = z.string().superRefine((v, ctx) => {
  const issue = imageIssue(v);
  if (issue) ctx.addIssue({ code: 'custom', message: issue });
});
/** One shape for a canary, stack-wide or per region. */
const canarySchema = z.object({ image: imageSchema, targetSize: z.coerce.number().int().min(1) }).strict();

const regionSchema = z
  .object({
    region: z.string().regex(REGION, 'must be a GCP region such as us-central1'),
    zones: z.array(z.string().min(1)).min(1, 'must list at least one zone'),
    replicas: z.coerce.number().int().min(1).max(1000),
    subnetCidr: z.string().regex(CIDR, 'must be an IPv4 CIDR such as 10.10.0.0/20'),
    maxSurge: z.coerce.number().int().min(1).optional(),
    image: imageSchema.optional(),
    canary: canarySchema.optional(),
  })
  .strict();

const rolloutSchema = z
  .object({
    canaryRegion: z.string().optional(),
    canaryTargetSize: z.coerce.number().int().min(1).optional(),
    waves: z.array(z.array(z.string()).min(1, 'a wave lists at least one region')).optional(),
    /** Gate threshold overrides (app/gated-steps/gates.ts resolveThresholds checks each against the contract). */
    gates: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

const DAYS = ['MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY', 'SUNDAY'] as const;

export const schema = z.object({
  project: z.string().regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, 'must be a GCP project id (6-30 lowercase letters, digits, hyphens)'),
  regions: z.array(regionSchema).min(1, 'must list at least one region'),
  image: imageSchema,
  bootImage: z
    .string()
    .regex(
      /^cos-[0-9]+-[0-9]+-[0-9]+-[0-9]+$/,
      'must be a specific Container-Optimized OS image name such as cos-121-18867-90-97 (not a family: every new VM would get whatever the family points to)',
    ),
  canary: canarySchema.optional(),
  rollout: rolloutSchema.default({}),
  machineType: z
    .string()
    .regex(/^[a-z0-9-]+$/)
    .default('e2-small'),
  lbKind: z.enum(LB_KINDS as [LbKind, ...LbKind[]]).default('external-application'),
  domain: z.string().regex(HOSTNAME, 'must be a lowercase DNS name such as ws.example.com').optional(),
  redisTier: z.enum(['BASIC', 'STANDARD_HA', 'none']).default('BASIC'),
  redisMemoryGb: z.coerce.number().int().min(1).max(300).default(1),
  redisMaintenance: z
    .object({ day: z.enum(DAYS), hour: z.coerce.number().int().min(0).max(23) })
    .strict()
    .default({ day: 'SUNDAY', hour: 3 }),
  timeouts: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
  platform: z.enum(['gce', 'gke']).default('gce'),
  gke: z.record(z.string(), z.unknown()).optional(),
  ...OPS_SCHEMA_SHAPE,
  ...REDIS_CLUSTER_SCHEMA_SHAPE,
});
/** On GKE there is no VM image to pin: bootImage is not required there (GCE-only keys are refused by parseGkeConfig). */
export const gkeSchema = schema.extend({ bootImage: schema.shape.bootImage.optional() });
/** The config as the schema parsed it (either platform), before the cross-checks and resolution. */
export type RawStackConfig = z.infer<typeof gkeSchema>;

/** Keys whose values are JSON (structured), parsed before the schema sees them. */
export const STRUCTURED = new Set(['regions', 'timeouts', 'canary', 'rollout', 'redisMaintenance', 'gke', 'redisCluster']);
for (const k of OPS_STRUCTURED) STRUCTURED.add(k);
export const KNOWN_KEYS = Object.keys(schema.shape);
