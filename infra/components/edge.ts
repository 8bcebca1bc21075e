/**
 * The edge in front of the backend service: a TLS policy for the HTTPS / SSL proxy and a Cloud Armor
 * security policy on the backend service (a per-client-IP throttle on WebSocket upgrades, an optional
 * CIDR deny list, optional adaptive protection).
 *
 * SSL policy: without one the proxy uses Google's default (COMPATIBLE profile, TLS 1.0 minimum); MODERN
 * or RESTRICTED with minTlsVersion TLS_1_2 refuses TLS 1.0/1.1 clients
 * (https://cloud.google.com/load-balancing/docs/ssl-policies-concepts).
 *
 * Cloud Armor: "Cloud Armor security policies are available for the following load balancer and
 * endpoint types: All external Application Load Balancers, including classic Application Load
 * Balancers [...] Global external proxy Network Load Balancer (TCP/SSL)"
 * (https://cloud.google.com/armor/docs/security-policy-overview), so both sluice:lbKind values get one.
 * Rate-based rules: "Throttle. You can enforce a maximum request limit per client or across all clients
 * by throttling individual clients to a user-configured threshold." and, for the key, "HTTP_HEADER [...]
 * If no such header is present, or you try to use this key type with external proxy Network Load
 * Balancer, the key type defaults to ALL" (https://cloud.google.com/armor/docs/rate-limiting-overview):
 * the key here is IP, which both kinds have. On the proxy Network LB there is no HTTP request to match
 * a path on: every new TCP connection is one upgrade, so the rule matches every source (`*`).
 * "Cloud Armor applies the rate limiting threshold to each associated backend" (same page): one
 * backend service here, so the threshold is per client IP for the whole stack.
 */
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import type { LbKind } from '../../app/contract/timeouts';
import { SOCKET_PATH } from '../../app/protocol/endpoints';

export const SSL_PROFILES = ['MODERN', 'RESTRICTED'] as const;
export type SslProfile = (typeof SSL_PROFILES)[number];
/** Cloud Armor rule priorities (lower is evaluated first); the default rule is the lowest priority. */
export const ARMOR_PRIORITY = { deny: 1000, throttle: 2000, default: 2147483647 } as const;
/** Source ranges per Cloud Armor rule (srcIpRanges); longer deny lists are split over several rules. */
export const ARMOR_RANGES_PER_RULE = 10;
/** The throttle counts over this interval (rateLimitThreshold.intervalSec). */
export const ARMOR_INTERVAL_SEC = 60;

export interface EdgeSettings {
  sslProfile: SslProfile;
  /** Cloud Armor on the backend service. */
  armor: {
    /** Upgrades (ALB) or TCP connections (proxy NLB) per client IP per minute before 429 / refusal. */
    upgradesPerMinutePerIp: number;
    /** Throttle rule in preview: evaluated and logged, not enforced (the safe first rollout). */
    preview: boolean;
    /** Layer 7 DDoS adaptive protection (external Application LB only). */
    adaptiveProtection: boolean;
    /** Source CIDRs refused with 403. */
    denyCidrs: string[];
  };
}

export interface EdgeArgs extends EdgeSettings {
  kind: LbKind;
  /** The LB terminates TLS (sluice:domain): only then is there a proxy to attach the SSL policy to. */
  tls: boolean;
}

/** The Cloud Armor rules of a stack (pure: the plan and the tests read the same list). */
export function armorRules(args: EdgeArgs): gcp.types.input.compute.SecurityPolicyRule[] {
  const alb = args.kind === 'external-application';
  const rules: gcp.types.input.compute.SecurityPolicyRule[] = [];
  for (let i = 0; i < args.armor.denyCidrs.length; i += ARMOR_RANGES_PER_RULE) {
    rules.push({
      priority: ARMOR_PRIORITY.deny + i / ARMOR_RANGES_PER_RULE,
      action: 'deny(403)',
      description: 'sluice:edge.armor.denyCidrs',
      match: { versionedExpr: 'SRC_IPS_V1', config: { srcIpRanges: args.armor.denyCidrs.slice(i, i + ARMOR_RANGES_PER_RULE) } },
    });
  }
  rules.push({
    priority: ARMOR_PRIORITY.throttle,
    action: 'throttle',
    description: `sluice: at most ${args.armor.upgradesPerMinutePerIp} ${alb ? 'WebSocket upgrades' : 'connections'} per client IP per minute`,
    preview: args.armor.preview,
    match: alb
      ? { expr: { expression: `request.path == '${SOCKET_PATH}'` } }
      : { versionedExpr: 'SRC_IPS_V1', config: { srcIpRanges: ['*'] } },
    rateLimitOptions: {
      conformAction: 'allow',
      exceedAction: 'deny(429)',
      enforceOnKey: 'IP',
      rateLimitThreshold: { count: args.armor.upgradesPerMinutePerIp, intervalSec: ARMOR_INTERVAL_SEC },
    },
  });
  rules.push({
    priority: ARMOR_PRIORITY.default,
    action: 'allow',
    description: 'default: allow',
    match: { versionedExpr: 'SRC_IPS_V1', config: { srcIpRanges: ['*'] } },
  });
  return rules;
}

export class Edge extends pulumi.ComponentResource {
  readonly sslPolicy?: gcp.compute.SSLPolicy;
  readonly securityPolicy: gcp.compute.SecurityPolicy;

  constructor(name: string, args: EdgeArgs, opts?: pulumi.ComponentResourceOptions) {
    super('sluice:infra:Edge', name, {}, opts);
    const parent = { parent: this };
    if (args.tls) {
      this.sslPolicy = new gcp.compute.SSLPolicy(
        `${name}-tls`,
        {
          description: `sluice: ${args.sslProfile}, TLS 1.2 minimum`,
          profile: args.sslProfile,
          minTlsVersion: 'TLS_1_2',
        },
        parent,
      );
    }
    const alb = args.kind === 'external-application';
    this.securityPolicy = new gcp.compute.SecurityPolicy(
      `${name}-armor`,
      {
        description: 'sluice: per-client-IP throttle on upgrades, optional deny list',
        type: 'CLOUD_ARMOR',
        rules: armorRules(args),
        ...(alb && args.armor.adaptiveProtection
          ? { adaptiveProtectionConfig: { layer7DdosDefenseConfig: { enable: true, ruleVisibility: 'STANDARD' } } }
          : {}),
      },
      parent,
    );
    this.registerOutputs({});
  }
}
