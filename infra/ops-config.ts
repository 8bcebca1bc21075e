/**
 * The production-operations part of the stack config (issue 13), validated from config.ts with the
 * rest: edge (TLS policy, Cloud Armor, LB request logging), alerting, autoscaling and per-region
 * capacity. Every bound that involves the timeouts contract is checked here, before any resource.
 *
 *   sluice:edge           {sslProfile?, lbLogSampleRate?, armor?: {upgradesPerMinutePerIp?, preview?, adaptiveProtection?, denyCidrs?}}
 *   sluice:alertEmail     address the alert policies notify (an email notification channel is created)
 *   sluice:alertChannel   existing notification channel id, projects/P/notificationChannels/N (instead of, or with, alertEmail)
 *   sluice:autoscaling    {minReplicas?, maxReplicas, cpuTarget?, scaleInWindowSec?}: one autoscaler per region's MIG
 *   sluice:capacity       {<region>: capacityScaler}: 0 evacuates a region (docs/deploy-gce.md: Operating in production)
 *   sluice:computeReadQuotaPerMin  the project's Compute read quota (default 1500, the documented default):
 *                         the GCE fleet's lifecycle watchers may use half of it (app/contract/quota.ts)
 */
import { z } from 'zod';
import type { LbKind, Timeouts } from '../app/contract/timeouts';
import {
  COMPUTE_READ_QUOTA_PER_MIN,
  WATCHER_QUOTA_SHARE,
  watcherCallsPerMinute,
  watcherFleetAtQuota,
  watcherFleetBudget,
} from '../app/contract/quota';
import { DEFAULT_CPU_TARGET, scaleInWindowMinSec } from './components/autoscaling';
import { SSL_PROFILES, SslProfile } from './components/edge';
import { AUTOHEAL_INITIAL_DELAY_SEC } from './components/fleet';

const NS = 'sluice';

/** LB request logging default: a sample only. Old clients' `?token=` would be in requestUrl: use 0 in production. */
export const DEFAULT_LB_LOG_SAMPLE_RATE = 0.1;
/** Upgrades per client IP per minute: a client reconnects a few times per drain; a NAT holds many clients. */
export const DEFAULT_UPGRADES_PER_MINUTE_PER_IP = 120;

const CIDR_V4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}\/([0-9]|[12][0-9]|3[0-2])$/;
const CIDR_V6 = /^[0-9a-fA-F:]+\/([0-9]|[1-9][0-9]|1[01][0-9]|12[0-8])$/;

export const OPS_SCHEMA_SHAPE = {
  edge: z
    .object({
      sslProfile: z.enum(SSL_PROFILES as unknown as [SslProfile, ...SslProfile[]]).default('MODERN'),
      lbLogSampleRate: z.coerce
        .number()
        .min(0, 'must be between 0 and 1')
        .max(1, 'must be between 0 and 1')
        .default(DEFAULT_LB_LOG_SAMPLE_RATE),
      armor: z
        .object({
          upgradesPerMinutePerIp: z.coerce.number().int().min(1).max(1_000_000).default(DEFAULT_UPGRADES_PER_MINUTE_PER_IP),
          preview: z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]).default(true),
          adaptiveProtection: z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]).default(false),
          denyCidrs: z
            .array(z.string().refine((v) => CIDR_V4.test(v) || CIDR_V6.test(v), 'must be an IPv4 or IPv6 CIDR such as 198.51.100.0/24'))
            .default([]),
        })
        .strict()
        .prefault({}),
    })
    .strict()
    .prefault({}),
  alertEmail: z
    .string()
    .regex(/^[^@\s]+@[^@\s]+\.[a-z]{2,}$/i, 'must be an email address')
    .optional(),
  alertChannel: z
    .string()
    .regex(
      /^projects\/[a-z][a-z0-9-]{4,28}[a-z0-9]\/notificationChannels\/[0-9]+$/,
      'must be a notification channel id: projects/<project>/notificationChannels/<number>',
    )
    .optional(),
  autoscaling: z
    .object({
      minReplicas: z.coerce.number().int().min(1).optional(),
      maxReplicas: z.coerce.number().int().min(1).max(1000),
      cpuTarget: z.coerce.number().gt(0, 'must be above 0').max(1, 'must be at most 1').default(DEFAULT_CPU_TARGET),
      scaleInWindowSec: z.coerce.number().int().min(60).max(3600).optional(),
    })
    .strict()
    .optional(),
  capacity: z.record(z.string(), z.coerce.number()).default({}),
  computeReadQuotaPerMin: z.coerce.number().int().min(1).default(COMPUTE_READ_QUOTA_PER_MIN),
};
export const OPS_STRUCTURED = ['edge', 'autoscaling', 'capacity'] as const;

type OpsInput = z.infer<z.ZodObject<typeof OPS_SCHEMA_SHAPE>>;

export interface OperationsConfig {
  edge: {
    sslProfile: SslProfile;
    lbLogSampleRate: number;
    armor: { upgradesPerMinutePerIp: number; preview: boolean; adaptiveProtection: boolean; denyCidrs: string[] };
  };
  alerts: { email?: string; channel?: string };
  /** Per region (config order); undefined: fixed-size MIGs (targetSize = replicas). */
  autoscaling?: Record<string, { minReplicas: number; maxReplicas: number; cpuTarget: number; timeWindowSec: number; cooldownSec: number }>;
  /** capacityScaler per region (config order), 1 unless set. */
  capacity: Record<string, number>;
  /** The project's Compute read quota (requests/minute) the watchers' poll rate is checked against. */
  computeReadQuotaPerMin: number;
}

interface Region {
  region: string;
  zones: string[];
  replicas: number;
  maxSurge?: number;
  canary?: { targetSize: number };
}
interface Ctx {
  regions: Region[];
  lbKind: LbKind;
  platform: 'gce' | 'gke';
  canary?: { targetSize: number };
  timeouts: Timeouts;
}

export interface OpsIssue {
  key: string;
  rule?: string;
  message: string;
}

/** Cross-checks and defaults of the operations keys. */
export function parseOperations(c: OpsInput, ctx: Ctx): { config: OperationsConfig; issues: OpsIssue[] } {
  const issues: OpsIssue[] = [];
  const names = ctx.regions.map((r) => r.region);
  if (c.edge.armor.adaptiveProtection && ctx.lbKind !== 'external-application') {
    issues.push({
      key: `${NS}:edge.armor.adaptiveProtection`,
      message: `Layer 7 adaptive protection needs lbKind external-application (it is ${ctx.lbKind})`,
    });
  }

  // Capacity: "The valid ranges are 0.0 and [0.1,1.0]. You cannot configure a setting larger than 0 and
  // smaller than 0.1. You cannot configure a setting of 0 when there is only one backend attached to
  // the backend service." (Compute API, Backend.capacityScaler)
  for (const [region, v] of Object.entries(c.capacity)) {
    const key = `${NS}:capacity.${region}`;
    if (!names.includes(region)) issues.push({ key, message: `${region} is not one of sluice:regions (${names.join(', ')})` });
    else if (!(v === 0 || (v >= 0.1 && v <= 1))) issues.push({ key, message: `${v} must be 0 (evacuate) or between 0.1 and 1` });
    else if (v === 0 && names.length === 1)
      issues.push({ key, message: 'a single region cannot be evacuated (capacityScaler 0 needs another backend to take the load)' });
  }
  const capacity = Object.fromEntries(names.map((r) => [r, c.capacity[r] ?? 1]));
  if (names.length > 1 && names.every((r) => capacity[r] === 0))
    issues.push({ key: `${NS}:capacity`, message: 'every region is at 0: at least one region must take traffic' });

  let autoscaling: OperationsConfig['autoscaling'];
  if (c.autoscaling) {
    const a = c.autoscaling;
    const key = `${NS}:autoscaling`;
    if (ctx.platform === 'gke') issues.push({ key, message: `MIG autoscaling is platform gce; on gke use sluice:gke (HPA)` });
    const minWindow = scaleInWindowMinSec(ctx.timeouts);
    const window = a.scaleInWindowSec ?? minWindow;
    if (window < minWindow) {
      issues.push({
        key: `${key}.scaleInWindowSec`,
        rule: 'scale-in-slower-than-drain',
        message: `${window} s must be >= ${minWindow} s: one VM's drain (lb.connectionDrainingSec ${ctx.timeouts.lb.connectionDrainingSec} s) + deletion (60 s) + gce.minReadySec (${ctx.timeouts.gce.minReadySec} s), rounded up to a minute, before the next VM may go`,
      });
    }
    autoscaling = {};
    ctx.regions.forEach((r, i) => {
      const min = a.minReplicas ?? r.replicas;
      const rkey = `${NS}:regions[${i}]`;
      if (min > a.maxReplicas)
        issues.push({ key: `${key}.maxReplicas`, message: `${a.maxReplicas} is below minReplicas ${min} (${r.region})` });
      if (r.replicas < min || r.replicas > a.maxReplicas)
        issues.push({
          key: `${rkey}.replicas`,
          message: `${r.replicas} (the size a new MIG starts at) must be within autoscaling ${min}..${a.maxReplicas}`,
        });
      // The rollout shape holds at the smallest size too: a wave never drains the whole region.
      const surge = r.maxSurge ?? r.zones.length;
      if (min > 1 && surge >= min)
        issues.push({
          key: `${key}.minReplicas`,
          rule: 'surge-below-min-replicas',
          message: `${min} must be above ${r.region}'s surge (${surge}): at minReplicas one wave would replace every VM`,
        });
      const canary = r.canary ?? ctx.canary;
      if (canary && canary.targetSize >= min)
        issues.push({
          key: `${key}.minReplicas`,
          message: `${min} must be above the canary targetSize (${canary.targetSize}) in ${r.region}`,
        });
      autoscaling![r.region] = {
        minReplicas: min,
        maxReplicas: a.maxReplicas,
        cpuTarget: a.cpuTarget,
        timeWindowSec: window,
        cooldownSec: AUTOHEAL_INITIAL_DELAY_SEC,
      };
    });
  }
  // Lifecycle watchers (GCE): every VM polls listManagedInstances at the contract's rate, and a spent
  // quota answers "a 403 error with the reason rateLimitExceeded" (cloud.google.com/compute/api-quota)
  // to every poll of the minute. Largest fleet: each region's ceiling plus its rollout surge.
  if (ctx.platform === 'gce') {
    const largest = ctx.regions.reduce(
      (n, r) => n + (autoscaling?.[r.region]?.maxReplicas ?? r.replicas) + (r.maxSurge ?? r.zones.length),
      0,
    );
    const budget = watcherFleetBudget(ctx.timeouts, c.computeReadQuotaPerMin);
    if (largest > budget) {
      issues.push({
        key: `${NS}:computeReadQuotaPerMin`,
        rule: 'watchers-within-compute-quota',
        message: `the largest fleet (${largest} VMs incl. rollout surge) polls listManagedInstances ${Math.ceil(watcherCallsPerMinute(ctx.timeouts, largest))} times a minute; the watchers may use ${WATCHER_QUOTA_SHARE * 100}% of the Compute read quota (${c.computeReadQuotaPerMin}/min: ${watcherFleetAtQuota(ctx.timeouts, c.computeReadQuotaPerMin)} VMs reach it, ${budget} allowed). Raise the project's quota and set ${NS}:computeReadQuotaPerMin to it, or lower the ceiling`,
      });
    }
  }
  return {
    config: {
      edge: c.edge,
      alerts: { email: c.alertEmail, channel: c.alertChannel },
      autoscaling,
      capacity,
      computeReadQuotaPerMin: c.computeReadQuotaPerMin,
    },
    issues,
  };
}
