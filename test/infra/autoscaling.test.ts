/**
 * Issue 13, autoscaling and evacuation: a regional autoscaler per MIG whose scale-in is slower than a
 * drain, the MIG size left to it, capacityScaler per region; the contract checks reject the rest.
 */
import { defaultTimeouts, drainCompleteBoundMs } from '../../app/contract/timeouts';
import { MAX_SCALED_IN_REPLICAS, scaleInWindowMinSec } from '../../infra/components/autoscaling';
import { DELETE_AFTER_DRAINING_SEC } from '../../infra/components/fleet';
import { parseStackConfig, StackConfigError } from '../../infra/config';
import { BASE_CONFIG, render, T, toRaw } from './harness';

const AUTOSCALER = 'gcp:compute/regionAutoscaler:RegionAutoscaler';
const TWO_REGIONS = [
  { region: 'us-central1', zones: ['us-central1-a', 'us-central1-b'], replicas: 4, subnetCidr: '10.10.0.0/20' },
  { region: 'europe-west1', zones: ['europe-west1-b', 'europe-west1-c'], replicas: 4, subnetCidr: '10.10.16.0/20' },
];

function issues(overrides: Record<string, unknown>): string[] {
  try {
    parseStackConfig(toRaw({ ...BASE_CONFIG, ...overrides }), new Set(['sluice:tokenSecret', 'sluice:adminToken']));
  } catch (err) {
    if (err instanceof StackConfigError) return err.issues.map((i) => `${i.key}: ${i.rule ? `[${i.rule}] ` : ''}${i.message}`);
    throw err;
  }
  return [];
}

describe('the scale-in window', () => {
  it('covers one drain, the deletion and minReadySec, rounded up to a minute', () => {
    const t = defaultTimeouts;
    const w = scaleInWindowMinSec(t);
    expect(w % 60).toBe(0);
    expect(w).toBeGreaterThanOrEqual(t.lb.connectionDrainingSec + DELETE_AFTER_DRAINING_SEC + t.gce.minReadySec);
    expect(w * 1000).toBeGreaterThanOrEqual(drainCompleteBoundMs(t) + t.gce.minReadySec * 1000);
    expect(w).toBe(180); // 35 + 60 + 30 = 125 s -> 180 s
    expect(scaleInWindowMinSec({ ...t, lb: { ...t.lb, connectionDrainingSec: 300 } })).toBe(420);
  });
});

describe('autoscaler per MIG', () => {
  it('is absent by default: the MIG keeps its fixed targetSize', async () => {
    const r = await render();
    expect(r.all(AUTOSCALER)).toHaveLength(0);
    expect(r.one(T.mig).inputs.targetSize).toBe(4);
    expect(r.one(T.mig).ignoreChanges).toBeUndefined();
  });

  it('targets each region MIG, CPU target, at most one VM per window, and the MIG ignores targetSize', async () => {
    const r = await render({ 'sluice:regions': TWO_REGIONS, 'sluice:autoscaling': { minReplicas: 3, maxReplicas: 10 } });
    const scalers = r.all(AUTOSCALER);
    expect(scalers.map((s) => [s.inputs.region, s.inputs.target])).toEqual([
      [
        'us-central1',
        'https://www.googleapis.com/compute/v1/projects/sluice-test-project/regions/us-central1/instanceGroupManagers/sluice-us-central1',
      ],
      [
        'europe-west1',
        'https://www.googleapis.com/compute/v1/projects/sluice-test-project/regions/europe-west1/instanceGroupManagers/sluice-europe-west1',
      ],
    ]);
    expect(scalers[0].inputs.autoscalingPolicy).toEqual({
      minReplicas: 3,
      maxReplicas: 10,
      cooldownPeriod: 180,
      mode: 'ON',
      cpuUtilization: { target: 0.6 },
      scaleInControl: { maxScaledInReplicas: { fixed: MAX_SCALED_IN_REPLICAS }, timeWindowSec: scaleInWindowMinSec(defaultTimeouts) },
    });
    expect(MAX_SCALED_IN_REPLICAS).toBe(1);
    for (const mig of r.all(T.mig)) expect(mig.ignoreChanges).toEqual(['targetSize']);
  });
});

describe('capacityScaler per region (evacuation)', () => {
  it('defaults to 1 and follows sluice:capacity per backend', async () => {
    const r = await render({ 'sluice:regions': TWO_REGIONS, 'sluice:capacity': { 'europe-west1': 0 } });
    const backends = r.one(T.backendService).inputs.backends as Array<Record<string, unknown>>;
    expect(backends.map((b) => [String(b.group).split('/').pop(), b.capacityScaler])).toEqual([
      ['sluice-us-central1', 1],
      ['sluice-europe-west1', 0],
    ]);
  });
});

describe('contract and config checks reject', () => {
  it.each([
    [
      'a scale-in window shorter than a drain',
      { 'sluice:autoscaling': { maxReplicas: 8, scaleInWindowSec: 120 } },
      /sluice:autoscaling\.scaleInWindowSec: \[scale-in-slower-than-drain\] 120 s must be >= 180 s/,
    ],
    [
      'a window that a longer connection draining outgrows',
      { 'sluice:autoscaling': { maxReplicas: 8, scaleInWindowSec: 300 }, 'sluice:timeouts': { lb: { connectionDrainingSec: 300 } } },
      /\[scale-in-slower-than-drain\] 300 s must be >= 420 s/,
    ],
    [
      'max below min',
      { 'sluice:autoscaling': { minReplicas: 5, maxReplicas: 4 } },
      /sluice:autoscaling\.maxReplicas: 4 is below minReplicas 5/,
    ],
    [
      'replicas outside min..max',
      { 'sluice:autoscaling': { minReplicas: 3, maxReplicas: 3 } },
      /sluice:regions\[0\]\.replicas: 4 \(the size a new MIG starts at\) must be within autoscaling 3\.\.3/,
    ],
    [
      'a min that one rollout wave would replace entirely',
      { 'sluice:autoscaling': { minReplicas: 2, maxReplicas: 8 } },
      /\[surge-below-min-replicas\] 2 must be above us-central1's surge \(2\)/,
    ],
    [
      'a CPU target above 1',
      { 'sluice:autoscaling': { maxReplicas: 8, cpuTarget: 1.5 } },
      /sluice:autoscaling\.cpuTarget: must be at most 1/,
    ],
    [
      'capacity of an unknown region',
      { 'sluice:capacity': { 'asia-east1': 1 } },
      /sluice:capacity\.asia-east1: asia-east1 is not one of sluice:regions/,
    ],
    [
      'capacity between 0 and 0.1',
      { 'sluice:regions': TWO_REGIONS, 'sluice:capacity': { 'us-central1': 0.05 } },
      /0\.05 must be 0 \(evacuate\) or between 0\.1 and 1/,
    ],
    ['evacuating the only region', { 'sluice:capacity': { 'us-central1': 0 } }, /a single region cannot be evacuated/],
    [
      'evacuating every region',
      { 'sluice:regions': TWO_REGIONS, 'sluice:capacity': { 'us-central1': 0, 'europe-west1': 0 } },
      /every region is at 0/,
    ],
  ])('%s', (_name, overrides, expected) => {
    expect(issues(overrides).join('\n')).toMatch(expected);
  });

  it('refuses a fleet whose lifecycle watchers would spend more than half the Compute read quota, unless the quota was raised', () => {
    // Two regions of 30 + 2 surge = 64 VMs poll 768 times a minute: above half of 1,500 (62 VMs).
    const big = { 'sluice:regions': TWO_REGIONS, 'sluice:autoscaling': { minReplicas: 3, maxReplicas: 30 } };
    expect(issues(big).join('\n')).toMatch(
      /sluice:computeReadQuotaPerMin: \[watchers-within-compute-quota\] the largest fleet \(64 VMs incl\. rollout surge\) polls listManagedInstances 768 times a minute; .* \(1500\/min: 125 VMs reach it, 62 allowed\)/,
    );
    expect(issues({ ...big, 'sluice:computeReadQuotaPerMin': 3000 })).toEqual([]);
    expect(issues({ 'sluice:regions': TWO_REGIONS, 'sluice:autoscaling': { minReplicas: 3, maxReplicas: 29 } })).toEqual([]);
  });

  it('accepts a window at the bound and an evacuation of one of two regions', () => {
    expect(issues({ 'sluice:autoscaling': { minReplicas: 3, maxReplicas: 8, scaleInWindowSec: 180 } })).toEqual([]);
    expect(issues({ 'sluice:regions': TWO_REGIONS, 'sluice:capacity': { 'us-central1': 0 } })).toEqual([]);
  });
});
