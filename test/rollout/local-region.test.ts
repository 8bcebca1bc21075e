/**
 * Issue 15: the rollout controller (app/gated-steps: gates, admin gate source, gated step loop) drives
 * the local region for real: 3 servers behind the balancer, a fleet of peers. A release that skips
 * its drain (each replaced server deleted with its connections open) must halt the rollout after
 * the first server, with the failed gate and the reason; rolling the good release out afterwards
 * (the rollback) passes every gate and replaces every server.
 */
import { Region, withTimeout } from '../../app/local/region/region';
import { rolloutLocal } from '../../app/local/region/replace-servers';
import { startQuickRegion } from '../helpers/region';

jest.setTimeout(180_000);
const PEERS = 30;

describe('the rollout controller on the local region', () => {
  let region: Region;
  beforeAll(async () => {
    region = await startQuickRegion({ peers: PEERS });
  });
  afterAll(async () => {
    await region?.stop();
  });

  const serverIds = () =>
    region
      .live()
      .map((s) => s.id)
      .sort();
  // Every peer joined (now or at its next join), bounded: the fleet reconnects by itself.
  const joined = () => withTimeout(region.fleet!.ready(), 30_000, 'every peer joined');

  it('halts a release that skips its drain after the first server, with the failed gate, the reason and the rollback', async () => {
    const before = serverIds();
    expect(before).toEqual(['local-1', 'local-2', 'local-3']);
    const lines: string[] = [];
    const r = await rolloutLocal(region, { release: 'skip-drain', out: (l) => lines.push(l) });
    const text = lines.join('\n');
    // On a failure this shows the controller's whole output.
    expect({ status: r.status, error: r.halt?.error, text }).toEqual({
      status: 'halted',
      error: undefined,
      text: expect.stringContaining('[FAIL] drain-resets'),
    });
    expect(r.status).toBe('halted');
    expect(r.completed).toEqual([]);
    expect(r.halt!.step.index).toBe(1);
    // One server replaced, nothing after it: the two other old servers still serve, no later one started.
    expect(r.replaced).toEqual([{ old: 'local-1', by: 'local-4' }]);
    expect(serverIds()).toEqual(['local-2', 'local-3', 'local-4']);
    expect([...region.releases.keys()]).not.toContain('local-5');
    expect(region.releases.get('local-4')).toBe('skip-drain');
    expect(region.rolling).toBeNull();

    const bad = r.halt!.gates.filter((g) => g.verdict === 'fail');
    expect(bad.map((g) => g.gate)).toEqual(['drain-resets']);
    expect(bad[0].observed).toMatch(/^[1-9]\d* reset \(RST\) on local-1 \([1-9]\d* of [1-9]\d*: left without a drain\)$/);
    expect(text).toContain('HALTED at step 1 (canary): canary: 1 of 3 servers on skip-drain (local-1)');
    expect(text).toMatch(/\[FAIL\] drain-resets: .* on local-1 .*left without a drain/);
    expect(text).toContain('roll local back to the previous release: replace local-4 (skip-drain) with servers on initial');
    expect(text).not.toContain('== step 2/2');
  });

  it('rolls the good release out (the rollback): every gate passes on each step and every server is replaced with a drain', async () => {
    await joined();
    const lines: string[] = [];
    const r = await rolloutLocal(region, { release: 'good', out: (l) => lines.push(l) });
    const text = lines.join('\n');
    expect({ status: r.status, text }).toEqual({ status: 'done', text: expect.not.stringContaining('[FAIL]') });
    expect(r.status).toBe('done');
    expect(r.completed).toEqual([1, 2]);
    expect(r.replaced.map((x) => x.old)).toEqual(['local-2', 'local-3', 'local-4']);
    expect(serverIds()).toEqual(['local-5', 'local-6', 'local-7']);
    for (const id of serverIds()) expect(region.releases.get(id)).toBe('good');
    for (const { gates } of r.passed) {
      expect(gates.filter((g) => g.verdict === 'fail')).toEqual([]);
      const by = Object.fromEntries(gates.map((g) => [g.gate, g]));
      expect(by['drain-resets'].observed).toMatch(/^0 reset in [1-9] drain\(s\)$/);
      expect(by['drains-observed'].verdict).toBe('pass');
      expect(by['survivor-reconnects'].verdict).toBe('pass');
      expect(by['drain-duration'].verdict).toBe('pass');
    }
    // Each drained server reported its drain: one per replaced server over the two steps.
    expect(r.passed.map(({ gates }) => gates.find((g) => g.gate === 'drains-observed')!.observed)).toEqual([
      '1 drain(s) in local',
      '2 drain(s) in local',
    ]);
    expect(text).not.toContain('[FAIL]');
    expect(text).toMatch(/rollout of good done: local-2 -> local-5, local-3 -> local-6, local-4 -> local-7$/);
    await joined();
  });
});
