/**
 * The GCE side of the contract: one function for the watcher's worst-case detection, used by the rule
 * drain-inside-lb-draining, the offline plan summary and the docs/deploy-gce.md timeline (issue 10, defect 5).
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  defaultTimeouts,
  drainCompleteBoundMs,
  lbHealthyAfterSec,
  mergeTimeouts,
  READINESS_PROBE,
  validate,
  watcherDetectionBoundMs,
} from '../../app/contract/timeouts';

const rules = (o: Parameters<typeof mergeTimeouts>[1]) => validate(mergeTimeouts(defaultTimeouts, o)).map((v) => v.rule);

describe('watcher detection bound', () => {
  it('counts the request timeout, not just the poll interval (polls start at a fixed rate)', () => {
    expect(defaultTimeouts.gce.watcherRequestTimeoutMs).toBe(2_000);
    expect(watcherDetectionBoundMs(defaultTimeouts)).toBe(7_000);
    expect(drainCompleteBoundMs(defaultTimeouts)).toBe(32_000);
    expect(drainCompleteBoundMs(defaultTimeouts)).toBeLessThanOrEqual(defaultTimeouts.lb.connectionDrainingSec * 1000);
  });

  it('rejects a draining window that only fits poll + deadline + margin (30 s), not the request timeout too (32 s)', () => {
    expect(rules({ lb: { connectionDrainingSec: 31 } })).toContain('drain-inside-lb-draining');
    expect(rules({ lb: { connectionDrainingSec: 32 } })).not.toContain('drain-inside-lb-draining');
    expect(rules({ gce: { watcherRequestTimeoutMs: 4_000 }, lb: { connectionDrainingSec: 33 } })).toContain('drain-inside-lb-draining');
  });

  it('a request as long as the interval would let polls overlap: rejected', () => {
    expect(rules({ gce: { watcherRequestTimeoutMs: 5_000 } })).toContain('watcher-request-within-interval');
    expect(rules({ gce: { watcherPollIntervalMs: 3_000, watcherRequestTimeoutMs: 2_999 }, lb: { connectionDrainingSec: 35 } })).toEqual([]);
  });

  it('minReadySec covers the LB readiness detection', () => {
    expect(lbHealthyAfterSec()).toBe(READINESS_PROBE.intervalSec * READINESS_PROBE.healthyThreshold + READINESS_PROBE.timeoutSec);
    expect(rules({ gce: { minReadySec: lbHealthyAfterSec() - 1 } })).toContain('min-ready-covers-lb-health');
    expect(rules({ gce: { minReadySec: lbHealthyAfterSec() } })).toEqual([]);
  });

  it('the docs/deploy-gce.md timeline states the numbers this function computes', () => {
    const readme = fs.readFileSync(path.resolve(__dirname, '../../docs/deploy-gce.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Timeline of a rolling update'), readme.indexOf('### Offline plan and CI preview'));
    const s = (ms: number) => `${ms / 1000} s`;
    expect(section).toContain(`T + <= ${s(watcherDetectionBoundMs(defaultTimeouts))}`);
    expect(section).toContain(`= ${s(drainCompleteBoundMs(defaultTimeouts))} <= ${defaultTimeouts.lb.connectionDrainingSec} s`);
    expect(section).toContain(`\`minReadySec\` = ${defaultTimeouts.gce.minReadySec}`);
  });
});
