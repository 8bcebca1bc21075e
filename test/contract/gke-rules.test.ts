/**
 * The GKE rules of the timeouts contract (app/contract/gke.ts, validateGke): each one rejects a
 * config that breaks it, and only that rule; the defaults hold, and so do the exact boundaries.
 */
import {
  defaultGkeTimeouts,
  describeGkeRules,
  endpointRemovalBoundSec,
  GKE_RULES,
  GkeTimeouts,
  gkeGraceNeededSec,
  mergeGkeTimeouts,
  preStopWaitSec,
  validateGke,
} from '../../app/contract/gke';
import {
  defaultTimeouts,
  mergeTimeouts,
  READINESS_PROBE,
  TimeoutsContractError,
  TimeoutsOverrides,
  validate,
} from '../../app/contract/timeouts';

import fs from 'node:fs';
import path from 'node:path';

const gkeBroken = (g: Partial<GkeTimeouts>, o: TimeoutsOverrides = {}) =>
  validateGke(mergeTimeouts(defaultTimeouts, o), { ...defaultGkeTimeouts, ...g }).map((v) => v.rule);

describe('GKE timeouts contract', () => {
  it('accepts the defaults: grace 35 s >= 25 s preStop wait + 5 s, HPA window 300 s', () => {
    expect(validateGke(defaultTimeouts, defaultGkeTimeouts)).toEqual([]);
    expect(preStopWaitSec(defaultTimeouts)).toBe(25);
    expect(gkeGraceNeededSec(defaultTimeouts)).toBe(30);
    expect(defaultGkeTimeouts).toEqual({ terminationGracePeriodSec: 35, hpaScaleDownStabilizationSec: 300 });
  });

  it('bounds the endpoint removal by the /readyz health check: 2 probes x 5 s + 5 s = 15 s', () => {
    expect(endpointRemovalBoundSec()).toBe(READINESS_PROBE.unhealthyThreshold * READINESS_PROBE.intervalSec + READINESS_PROBE.timeoutSec);
    expect(endpointRemovalBoundSec()).toBe(15);
  });

  // One bad config per rule; each is rejected by exactly that rule (the base contract still holds
  // where the rule can be broken alone: see the LB-draining case).
  const cases: Array<[string, Partial<GkeTimeouts>, TimeoutsOverrides]> = [
    ['gke-integer-values', { terminationGracePeriodSec: 35.5 }, {}],
    ['gke-grace-covers-prestop-drain', { terminationGracePeriodSec: 29 }, {}],
    ['gke-drain-outlasts-endpoint-removal', {}, { drain: { deadlineMs: 19_000 } }],
    ['gke-hpa-scale-down-exceeds-drain', { hpaScaleDownStabilizationSec: 39 }, {}],
  ];
  it.each(cases)('rejects a config that breaks %s, and nothing else', (name, g, o) => {
    expect(validate(mergeTimeouts(defaultTimeouts, o))).toEqual([]);
    expect(gkeBroken(g, o)).toEqual([name]);
  });

  it('rejects LB connection draining shorter than the drain (the GCE rule drain-inside-lb-draining, stricter, fires too)', () => {
    const t = mergeTimeouts(defaultTimeouts, { lb: { connectionDrainingSec: 24 } });
    expect(validateGke(t, defaultGkeTimeouts).map((v) => v.rule)).toEqual(['gke-lb-draining-covers-drain']);
    expect(validate(t).map((v) => v.rule)).toContain('drain-inside-lb-draining');
    expect(validateGke(mergeTimeouts(defaultTimeouts, { lb: { connectionDrainingSec: 25 } }), defaultGkeTimeouts)).toEqual([]);
  });

  it('accepts the exact boundaries', () => {
    expect(gkeBroken({ terminationGracePeriodSec: 30, hpaScaleDownStabilizationSec: 35 })).toEqual([]);
    expect(gkeBroken({}, { drain: { deadlineMs: 20_000, windowMs: 10_000, marginMs: 5_000 } })).toEqual([]);
  });

  it('refuses a grace period shorter than the drain with the numbers in the message', () => {
    const [v] = validateGke(defaultTimeouts, { ...defaultGkeTimeouts, terminationGracePeriodSec: 20 });
    expect(v.rule).toBe('gke-grace-covers-prestop-drain');
    expect(v.message).toBe(
      'gke.terminationGracePeriodSec (20) must be >= preStop wait (drain.deadlineMs + drain.marginMs = 25 s) + drain.marginMs (5 s) = 30 s',
    );
    expect(v.values).toEqual({ terminationGracePeriodSec: 20, deadlineMs: 20_000, marginMs: 5_000 });
  });

  it('follows a longer drain: the grace period needed grows with the deadline', () => {
    const t = mergeTimeouts(defaultTimeouts, {
      drain: { deadlineMs: 40_000 },
      lb: { connectionDrainingSec: 60 },
      gce: { dockerStopTimeoutSec: 50 },
    });
    expect(validate(t)).toEqual([]);
    expect(gkeGraceNeededSec(t)).toBe(50);
    expect(validateGke(t, defaultGkeTimeouts).map((v) => v.rule)).toEqual(['gke-grace-covers-prestop-drain']);
    expect(validateGke(t, { ...defaultGkeTimeouts, terminationGracePeriodSec: 50 })).toEqual([]);
  });

  it('merges overrides and refuses unknown keys', () => {
    expect(mergeGkeTimeouts({ terminationGracePeriodSec: 60 })).toEqual({
      terminationGracePeriodSec: 60,
      hpaScaleDownStabilizationSec: 300,
    });
    expect(() => mergeGkeTimeouts({ graceSec: 60 })).toThrow(TimeoutsContractError);
    expect(() => mergeGkeTimeouts({ graceSec: 60 })).toThrow(/unknown GKE timeouts key "gke.graceSec"/);
  });

  it('describes every rule with a reason', () => {
    expect(describeGkeRules().map((r) => r.name)).toEqual(GKE_RULES.map((r) => r.name));
    for (const r of describeGkeRules()) expect(r.why.length).toBeGreaterThan(20);
    // Every rule has a rejection case above.
    expect(new Set([...cases.map(([n]) => n), 'gke-lb-draining-covers-drain'])).toEqual(new Set(GKE_RULES.map((r) => r.name)));
  });

  it('docs/deploy-gke.md lists every GKE rule with the reason the code gives', () => {
    const readme = fs.readFileSync(path.resolve(__dirname, '../../docs/deploy-gke.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Deploy to GKE'), readme.indexOf('\n## ', readme.indexOf('## Deploy to GKE') + 1));
    for (const r of describeGkeRules()) expect(section).toContain(`| \`${r.name}\` | ${r.why} |`);
    expect(section).toContain(`**${endpointRemovalBoundSec()} s**`);
  });
});
