/**
 * Issue 13, the edge: TLS policy on both TLS proxies, Cloud Armor on the backend service (throttle per
 * client IP on upgrades, deny list, adaptive protection), LB request logging sampled down.
 */
import { SOCKET_PATH } from '../../app/protocol/endpoints';
import { parseStackConfig, StackConfigError } from '../../infra/config';
import { DEFAULT_LB_LOG_SAMPLE_RATE, DEFAULT_UPGRADES_PER_MINUTE_PER_IP } from '../../infra/ops-config';
import { BASE_CONFIG, render, Rendered, T, toRaw } from './harness';

const SSL = 'gcp:compute/sSLPolicy:SSLPolicy';
const ARMOR = 'gcp:compute/securityPolicy:SecurityPolicy';
const DOMAIN = { 'sluice:domain': 'ws.example.com' };
const SSL_ID = 'projects/sluice-test-project/global/sslPolicies/sluice-tls';
const ARMOR_ID = 'projects/sluice-test-project/global/securityPolicies/sluice-armor';

function issues(overrides: Record<string, unknown>): string[] {
  try {
    parseStackConfig(toRaw({ ...BASE_CONFIG, ...overrides }), new Set(['sluice:tokenSecret', 'sluice:adminToken']));
  } catch (err) {
    if (err instanceof StackConfigError) return err.issues.map((i) => `${i.key}: ${i.message}`);
    throw err;
  }
  return [];
}

describe('TLS policy', () => {
  let alb: Rendered;
  let nlb: Rendered;
  beforeAll(async () => {
    alb = await render(DOMAIN);
    nlb = await render({ ...DOMAIN, 'sluice:lbKind': 'external-proxy-network' });
  });

  it('is MODERN with TLS 1.2 minimum by default, attached to the HTTPS proxy', () => {
    const policy = alb.one(SSL);
    expect(policy.inputs).toMatchObject({ profile: 'MODERN', minTlsVersion: 'TLS_1_2' });
    expect(alb.one(T.httpsProxy).inputs.sslPolicy).toBe(SSL_ID);
  });

  it('is attached to the SSL proxy of the proxy Network LB', () => {
    expect(nlb.one(SSL).inputs.profile).toBe('MODERN');
    expect(nlb.one(T.sslProxy).inputs.sslPolicy).toBe(SSL_ID);
  });

  it('RESTRICTED on request; no policy without TLS (no proxy to attach it to)', async () => {
    const r = await render({ ...DOMAIN, 'sluice:edge': { sslProfile: 'RESTRICTED' } });
    expect(r.one(SSL).inputs).toMatchObject({ profile: 'RESTRICTED', minTlsVersion: 'TLS_1_2' });
    expect((await render()).all(SSL)).toHaveLength(0);
    expect(issues({ 'sluice:edge': { sslProfile: 'COMPATIBLE' } }).join('\n')).toMatch(/sluice:edge\.sslProfile/);
  });
});

describe('Cloud Armor on the backend service', () => {
  it('throttles WebSocket upgrades per client IP, in preview by default, with an allow default rule', async () => {
    const r = await render();
    const armor = r.one(ARMOR);
    expect(r.one(T.backendService).inputs.securityPolicy).toBe(ARMOR_ID);
    const rules = armor.inputs.rules as Array<Record<string, any>>;
    const throttle = rules.find((x) => x.action === 'throttle')!;
    expect(throttle).toMatchObject({
      preview: true,
      match: { expr: { expression: `request.path == '${SOCKET_PATH}'` } },
      rateLimitOptions: {
        conformAction: 'allow',
        exceedAction: 'deny(429)',
        enforceOnKey: 'IP',
        rateLimitThreshold: { count: DEFAULT_UPGRADES_PER_MINUTE_PER_IP, intervalSec: 60 },
      },
    });
    expect(rules.at(-1)).toMatchObject({
      priority: 2147483647,
      action: 'allow',
      match: { versionedExpr: 'SRC_IPS_V1', config: { srcIpRanges: ['*'] } },
    });
    expect(armor.inputs.adaptiveProtectionConfig).toBeUndefined();
    expect(rules.filter((x) => String(x.action).startsWith('deny'))).toHaveLength(0);
  });

  it('enforces the configured rate, denies listed CIDRs (10 per rule) and enables adaptive protection', async () => {
    const deny = Array.from({ length: 12 }, (_, i) => `198.51.100.${i * 8}/29`);
    const r = await render({
      'sluice:edge': { armor: { upgradesPerMinutePerIp: 30, preview: false, adaptiveProtection: true, denyCidrs: deny } },
    });
    const armor = r.one(ARMOR).inputs;
    const rules = armor.rules as Array<Record<string, any>>;
    expect(rules.find((x) => x.action === 'throttle')).toMatchObject({
      preview: false,
      rateLimitOptions: { rateLimitThreshold: { count: 30 } },
    });
    const denies = rules.filter((x) => x.action === 'deny(403)');
    expect(denies.map((x) => x.match.config.srcIpRanges.length)).toEqual([10, 2]);
    expect(denies.flatMap((x) => x.match.config.srcIpRanges)).toEqual(deny);
    expect(Math.max(...denies.map((x) => x.priority))).toBeLessThan(rules.find((x) => x.action === 'throttle')!.priority);
    expect(armor.adaptiveProtectionConfig).toEqual({ layer7DdosDefenseConfig: { enable: true, ruleVisibility: 'STANDARD' } });
  });

  it('on the proxy Network LB, throttles every new connection per IP (no HTTP path to match)', async () => {
    const r = await render({ 'sluice:lbKind': 'external-proxy-network' });
    const rules = r.one(ARMOR).inputs.rules as Array<Record<string, any>>;
    expect(r.one(T.backendService).inputs.securityPolicy).toBe(ARMOR_ID);
    expect(rules.find((x) => x.action === 'throttle')!.match).toEqual({ versionedExpr: 'SRC_IPS_V1', config: { srcIpRanges: ['*'] } });
  });

  it('rejects bad edge config with the key named', () => {
    expect(
      issues({ 'sluice:lbKind': 'external-proxy-network', 'sluice:edge': { armor: { adaptiveProtection: true } } }).join('\n'),
    ).toMatch(/sluice:edge\.armor\.adaptiveProtection: Layer 7 adaptive protection needs lbKind external-application/);
    expect(issues({ 'sluice:edge': { armor: { denyCidrs: ['10.0.0.0/33'] } } }).join('\n')).toMatch(/sluice:edge\.armor\.denyCidrs\[0\]/);
    expect(issues({ 'sluice:edge': { armor: { upgradesPerMinutePerIp: 0 } } }).join('\n')).toMatch(
      /sluice:edge\.armor\.upgradesPerMinutePerIp/,
    );
  });
});

describe('LB request logging', () => {
  it(`samples ${DEFAULT_LB_LOG_SAMPLE_RATE} by default, is off at 0 (tokens of old clients stay out of requestUrl)`, async () => {
    expect((await render()).one(T.backendService).inputs.logConfig).toEqual({ enable: true, sampleRate: DEFAULT_LB_LOG_SAMPLE_RATE });
    expect((await render({ 'sluice:edge': { lbLogSampleRate: 0 } })).one(T.backendService).inputs.logConfig).toEqual({ enable: false });
    expect(issues({ 'sluice:edge': { lbLogSampleRate: 1.5 } }).join('\n')).toMatch(/sluice:edge\.lbLogSampleRate: must be between 0 and 1/);
  });
});
