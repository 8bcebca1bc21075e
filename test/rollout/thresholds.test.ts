/**
 * Issue 15: gate thresholds are configurable: defaults from the timeouts contract, the stack's
 * `sluice:rollout.gates`, then `--gate key=value`; every bad key or value gets an error naming it and
 * what was expected; the plan prints each threshold with where it came from.
 */
import { defaultTimeouts, reconnectBoundMs } from '../../app/contract/timeouts';
import { defaultThresholds, resolveThresholds } from '../../app/gated-steps/gates';
import { parseStackConfig } from '../../infra/config';
import { thresholdLines } from '../../infra/release/print';
import { thresholdsFor } from '../../infra/release/thresholds';
import { BASE_CONFIG, toRaw } from '../infra/harness';

const SECRETS = new Set(['sluice:tokenSecret', 'sluice:adminToken']);
const cfgWith = (gates: unknown) => parseStackConfig(toRaw({ ...BASE_CONFIG, 'sluice:rollout': { gates } }), SECRETS);
const issues = (gates: unknown): string[] => {
  try {
    cfgWith(gates);
    return [];
  } catch (err) {
    return (err as { issues?: Array<{ key: string; message: string }> }).issues?.map((i) => `${i.key}: ${i.message}`) ?? [String(err)];
  }
};

describe('gate thresholds', () => {
  it('default from the contract: no reset, drains inside drain.deadlineMs', () => {
    expect(resolveThresholds(defaultTimeouts, undefined, 'x')).toEqual({ thresholds: defaultThresholds(defaultTimeouts), issues: [] });
    expect(defaultThresholds(defaultTimeouts)).toEqual({
      maxResets: 0,
      maxDrainMs: defaultTimeouts.drain.deadlineMs,
      minReconnectRatio: 0.9,
      maxHeartbeatTimeoutRatio: 0.01,
      maxPresenceFlaps: 0,
      presenceWindowMs: reconnectBoundMs(defaultTimeouts),
    });
  });

  it('takes sluice:rollout.gates (numbers or the strings `pulumi config set --path` writes), then --gate flags', () => {
    const cfg = cfgWith({ maxResets: '2', minReconnectRatio: 0.95 });
    expect(cfg.rollout.gates).toEqual({ maxResets: '2', minReconnectRatio: 0.95 });
    const r = thresholdsFor(cfg, ['minReconnectRatio=0.8', 'maxDrainMs=15000']);
    expect(r.thresholds).toEqual({
      maxResets: 2,
      maxDrainMs: 15000,
      minReconnectRatio: 0.8,
      maxHeartbeatTimeoutRatio: 0.01,
      maxPresenceFlaps: 0,
      presenceWindowMs: reconnectBoundMs(defaultTimeouts),
    });
    expect(r.origin).toEqual({
      maxResets: 'stack',
      maxDrainMs: 'flag',
      minReconnectRatio: 'flag',
      maxHeartbeatTimeoutRatio: 'default',
      maxPresenceFlaps: 'default',
      presenceWindowMs: 'default',
    });
    expect(thresholdLines(thresholdsFor(cfgWith({ maxResets: 1 }))).slice(0, 2)).toEqual([
      'maxResets = 1 (sluice:rollout.gates)',
      `maxDrainMs = ${defaultTimeouts.drain.deadlineMs} (default: drain.deadlineMs)`,
    ]);
  });

  it('refuses bad thresholds with the key and what was expected', () => {
    expect(issues({ maxDrainMs: 25_000, minReconnectRatio: 1.5, maxResets: -1, maxPresenceFlaps: 'many', flaps: 1 })).toEqual([
      `sluice:rollout.gates.maxDrainMs: 25000: expected an integer in [1, ${defaultTimeouts.drain.deadlineMs}] ms: a drain at drain.deadlineMs has reset its clients, a higher bound could never fail`,
      'sluice:rollout.gates.minReconnectRatio: 1.5: expected a number in [0, 1] (share of the drained load the survivors must gain)',
      'sluice:rollout.gates.maxResets: -1: expected an integer >= 0 (connections reset in one step)',
      'sluice:rollout.gates.maxPresenceFlaps: "many": expected an integer >= 0 (peers that may leave presence in one step)',
      'sluice:rollout.gates.flaps: unknown threshold (known: maxResets, maxDrainMs, minReconnectRatio, maxHeartbeatTimeoutRatio, maxPresenceFlaps, presenceWindowMs)',
    ]);
    expect(issues([1])).toEqual([expect.stringMatching(/^sluice:rollout\.gates: /)]);
    const cfg = cfgWith({});
    expect(() => thresholdsFor(cfg, ['maxResets'])).toThrow(/--gate maxResets: expected <threshold>=<value>/);
    expect(() => thresholdsFor(cfg, ['maxResets=0.5'])).toThrow(/--gate maxResets: "0\.5": expected an integer >= 0/);
  });
});
