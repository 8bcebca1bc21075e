/**
 * Issue 15: the status page's "roll out" (POST /api/rollout) runs the rollout controller on the
 * region: a bad release name is refused with the field and the choices, a second rollout while one
 * runs gets 409, and a release that skips its drain ends halted after the first server, with the
 * controller's output (the failed gate, the rollback) in the state the page renders. In-process
 * servers on the memory backplane behind the built-in balancer (the other server kind of servers.ts
 * than test/rollout/local-region.test.ts).
 */
import http from 'node:http';
import { Region, withTimeout } from '../../app/local/region/region';
import { post, stateWhen, regionWithStatusPage, type RegionWithPage } from '../helpers/status-page';

jest.setTimeout(120_000);

describe('POST /api/rollout', () => {
  let region: Region;
  let status: RegionWithPage['status'];
  const page = regionWithStatusPage(24);
  beforeAll(() => ({ region, status } = page));

  it('refuses an unknown release with the field and the choices', async () => {
    expect(await post(`${status.url}api/rollout`, '{"release":"v2"}')).toEqual({
      status: 400,
      body: { error: 'invalid_release', field: 'release', expected: ['initial', 'good', 'skip-drain'] },
    });
    expect((await post(`${status.url}api/rollout`, '[1]')).status).toBe(400);
    expect((await post(`${status.url}api/rollout`, '{}', 'text/plain')).status).toBe(415);
    // DNS rebinding: a request naming another host is refused before routing (app/local/status/host.ts).
    const rebound = await new Promise<number>((resolve, reject) => {
      http
        .get(`${status.url}api/state`, { headers: { Host: `evil.example:${status.port}` } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on('error', reject);
    });
    expect(rebound).toBe(403);
    expect(region.rolling).toBeNull();
  });

  it('runs the controller: a release that skips its drain halts after the first server, shown on the page', async () => {
    const started = await post(`${status.url}api/rollout`, '{"release":"skip-drain"}');
    expect(started).toEqual({
      status: 202,
      body: { started: true, release: 'skip-drain', servers: ['local-1', 'local-2', 'local-3'], id: 1 },
    });
    expect((await post(`${status.url}api/rollout`, '{"release":"good"}')).status).toBe(409);
    const s = await withTimeout(
      stateWhen(status.url, (x) => x.rollout?.status !== 'running' && x.rolling === null),
      60_000,
      'the rollout to end',
    );
    expect(s.rollout!.status).toBe('halted');
    const text = s.rollout!.lines.join('\n');
    expect(text).toContain('HALTED at step 1 (canary): canary: 1 of 3 servers on skip-drain (local-1)');
    expect(text).toMatch(/\[FAIL\] drain-resets: [1-9]\d* reset \(RST\) on local-1 \([1-9]\d* of [1-9]\d*: left without a drain\)/);
    expect(text).toContain('roll local back to the previous release');
    expect(s.releases).toMatchObject({ 'local-1': 'initial', 'local-2': 'initial', 'local-3': 'initial', 'local-4': 'skip-drain' });
    expect(Object.keys(s.releases)).not.toContain('local-5');
    expect(
      region
        .live()
        .map((x) => x.id)
        .sort(),
    ).toEqual(['local-2', 'local-3', 'local-4']);
    expect(s.log.some((l) => /rollout of skip-drain HALTED at step 1: drain-resets$/.test(l))).toBe(true);
    // The halt is a state of its own: the failing gate with its numbers, the way back with a real URL.
    const halt = s.rollout!.halt!;
    expect(halt).toMatchObject({
      step: 1,
      wave: 'canary',
      rollback: {
        release: 'initial',
        replace: ['local-4'],
        command: `curl -X POST -H 'Content-Type: application/json' -d '{"release":"initial"}' ${status.url}api/rollout`,
      },
    });
    expect(halt.failed.map((g) => g.gate)).toEqual(['drain-resets']);
    expect(halt.failed[0]).toMatchObject({
      verdict: 'fail',
      threshold: '<= 0',
      observed: expect.stringMatching(/^[1-9]\d* reset \(RST\) on local-1/) as string,
    });
    expect(text).toContain(`{"release":"initial"}' ${status.url}api/rollout`);
    expect(text).not.toContain('<status port>');
    expect(s.rollouts.map((r) => [r.id, r.release, r.status])).toEqual([[1, 'skip-drain', 'halted']]);
    expect(s.rollouts[0].steps.map((x) => [x.index, x.wave, x.status])).toEqual([[1, 'canary', 'halted']]);
  });

  it("rolls back from the page: the previous release (initial) replaces only the halted rollout's server, every gate passes", async () => {
    await withTimeout(region.fleet!.ready(), 30_000, 'every peer joined');
    expect((await post(`${status.url}api/rollout`, '{"release":"initial"}')).status).toBe(202);
    const s = await withTimeout(
      stateWhen(status.url, (x) => x.rollout?.release === 'initial' && x.rollout.status !== 'running' && x.rolling === null),
      90_000,
      'the rollback to end',
    );
    const text = s.rollout!.lines.join('\n');
    expect(s.rollout!.status).toBe('done');
    expect(s.rollout!.halt).toBeUndefined();
    expect(text).not.toContain('[FAIL]');
    expect(text.match(/^gates passed:$/gm)).toHaveLength(1);
    expect(text).toMatch(/rollout of initial done: local-4 -> local-5$/);
    expect(
      region
        .live()
        .map((x) => x.id)
        .sort(),
    ).toEqual(['local-2', 'local-3', 'local-5']);
    // The history, newest first: each step with its gate results and duration.
    expect(s.rollouts.map((r) => [r.id, r.release, r.status])).toEqual([
      [2, 'initial', 'done'],
      [1, 'skip-drain', 'halted'],
    ]);
    const step = s.rollouts[0].steps[0];
    expect(step).toMatchObject({
      index: 1,
      wave: 'promote',
      status: 'passed',
      servers: ['local-4'],
      replaced: [{ old: 'local-4', by: 'local-5' }],
    });
    expect(step.finishedAt! - step.startedAt).toBeGreaterThan(0);
    expect(step.gates.map((g) => g.verdict)).not.toContain('fail');
  });
});
