/**
 * Issue 15, parts 2 and 3: the rollout plan (order, exact config changes), and --apply through a
 * test double executor: the full sequence passes its gates; a drain with resets halts the rollout
 * after the first server, before any later server or region, and prints the previous pin.
 */
import { defaultTimeouts } from '../../app/contract/timeouts';
import { parseStackConfig, ParsedStackConfig } from '../../infra/config';
import { defaultThresholds, evaluateGates, Evidence, ServerObservation } from '../../app/gated-steps/gates';
import { applyChanges, commandOf, configThrough, releaseSteps, rollbackCommands } from '../../infra/release/steps';
import { runRollout } from '../../infra/release/run';
import { BASE_CONFIG, imageAt, toRaw } from '../infra/harness';
import { DrainOutcome, FakeFleet } from './fake-region';
import { CLEAN_STEP_VERDICTS, observation as srv } from './observations';

const IMG = (version: string) => imageAt(version);
const OLD = IMG('1.2.3');
const NEW = IMG('2.0.0');
const REGIONS = [
  { region: 'us-central1', zones: ['us-central1-a', 'us-central1-b'], replicas: 4, subnetCidr: '10.10.0.0/20' },
  { region: 'europe-west1', zones: ['europe-west1-b', 'europe-west1-c'], replicas: 4, subnetCidr: '10.10.16.0/20' },
  { region: 'asia-east1', zones: ['asia-east1-a', 'asia-east1-b'], replicas: 4, subnetCidr: '10.10.32.0/20' },
];
const RAW = toRaw({
  ...BASE_CONFIG,
  'sluice:regions': REGIONS,
  'sluice:rollout': { canaryRegion: 'europe-west1', canaryTargetSize: 1, waves: [['us-central1'], ['asia-east1']] },
});
const cfgOf = (raw: Record<string, string>): ParsedStackConfig =>
  parseStackConfig(raw, new Set(['sluice:tokenSecret', 'sluice:adminToken']));
const TH = defaultThresholds(defaultTimeouts);

describe('the rollout plan', () => {
  const plan = releaseSteps('prod', cfgOf(RAW), NEW);

  it('goes canary, promote, then the waves in config order, then finalize', () => {
    expect(plan.steps.map((s) => [s.index, s.kind, s.wave, s.regions])).toEqual([
      [1, 'canary', 'canary', ['europe-west1']],
      [2, 'promote', 'canary', ['europe-west1']],
      [3, 'wave', 'wave-1', ['us-central1']],
      [4, 'wave', 'wave-2', ['asia-east1']],
      [5, 'finalize', 'finalize', []],
    ]);
    expect(plan.waves).toEqual(['canary', 'wave-1', 'wave-2', 'finalize']);
  });

  it('names the exact config commands of each step', () => {
    expect(plan.steps.map((s) => s.changes.map((c) => commandOf('prod', c)))).toEqual([
      [
        `pulumi config set --stack prod --path 'sluice:regions[1].canary.image' ${NEW}`,
        "pulumi config set --stack prod --path 'sluice:regions[1].canary.targetSize' 1",
      ],
      [
        `pulumi config set --stack prod --path 'sluice:regions[1].image' ${NEW}`,
        "pulumi config rm --stack prod --path 'sluice:regions[1].canary'",
      ],
      [`pulumi config set --stack prod --path 'sluice:regions[0].image' ${NEW}`],
      [`pulumi config set --stack prod --path 'sluice:regions[2].image' ${NEW}`],
      [
        `pulumi config set --stack prod --path 'sluice:image' ${NEW}`,
        "pulumi config rm --stack prod --path 'sluice:regions[0].image'",
        "pulumi config rm --stack prod --path 'sluice:regions[1].image'",
        "pulumi config rm --stack prod --path 'sluice:regions[2].image'",
      ],
    ]);
  });

  it('each step leaves a valid stack with the releases it promises, and finalize changes no release', () => {
    const releases = (n: number) =>
      Object.fromEntries(
        cfgOf(configThrough(RAW, plan, n)).regions.map((r) => [r.region, [r.image ?? 'default', r.canary?.image ?? null]]),
      );
    expect(releases(1)).toEqual({ 'us-central1': ['default', null], 'europe-west1': ['default', NEW], 'asia-east1': ['default', null] });
    expect(releases(2)).toEqual({ 'us-central1': ['default', null], 'europe-west1': [NEW, null], 'asia-east1': ['default', null] });
    expect(releases(4)).toEqual({ 'us-central1': [NEW, null], 'europe-west1': [NEW, null], 'asia-east1': [NEW, null] });
    const final = cfgOf(configThrough(RAW, plan, 5));
    expect(final.image).toBe(NEW);
    expect(final.regions.every((r) => r.image === undefined && r.canary === undefined)).toBe(true);
  });

  it('skips regions already on the release and refuses a stack-wide canary', () => {
    const partly = configThrough(RAW, plan, 3);
    expect(releaseSteps('prod', cfgOf(partly), NEW).steps.map((s) => s.kind + ':' + s.regions.join())).toEqual([
      'wave:asia-east1',
      'finalize:',
    ]);
    expect(() =>
      releaseSteps('prod', cfgOf({ ...RAW, 'sluice:canary': JSON.stringify({ image: NEW, targetSize: 1 }), 'sluice:rollout': '{}' }), NEW),
    ).toThrow(/sluice:canary is set/);
  });

  it('applies --path changes like the CLI and rolls back to the previous pin', () => {
    const c = applyChanges({ 'sluice:regions': JSON.stringify([{ region: 'a' }]) }, [
      { op: 'set', path: 'sluice:regions[0].canary.targetSize', value: '2' },
    ]);
    expect(JSON.parse(c['sluice:regions'])).toEqual([{ region: 'a', canary: { targetSize: '2' } }]);
    expect(JSON.parse(applyChanges(c, [{ op: 'rm', path: 'sluice:regions[0].canary' }])['sluice:regions'])).toEqual([{ region: 'a' }]);
    const rb = rollbackCommands('prod', cfgOf(RAW), plan.steps[0]);
    expect(rb).toContain(`pulumi config set --stack prod --path 'sluice:regions[1].image' ${OLD}`);
    expect(rb).toContain("pulumi config rm --stack prod --path 'sluice:regions[1].canary'");
    expect(rb[0]).toMatch(/^gcloud compute instance-groups managed rolling-action stop-proactive-update .* --region europe-west1$/);
    expect(rb[rb.length - 1]).toMatch(/^pulumi up --stack prod --refresh/);
  });
});

describe('gates', () => {
  const drained = (id: string, reset: number, ms = 3000, total = 100) =>
    srv(id, { state: 'gone', drain: { startedAt: 10, finishedAt: 10 + ms, total, closeSent: total - reset, reset } });
  const ev = (latest: ServerObservation[], before: ServerObservation[] = [], flaps: string[] = []): Evidence => ({
    startedAt: 10,
    before,
    latest,
    presenceFlaps: flaps,
  });
  const verdicts = (e: Evidence, final = true) =>
    Object.fromEntries(evaluateGates(e, TH, { regions: ['r1'], final }).map((g) => [g.gate, g.verdict]));

  it('passes a clean step', () => {
    const e = ev([drained('a', 0), srv('b', { connections: 200 })], [srv('a', { connections: 100 }), srv('b', { connections: 100 })]);
    expect(verdicts(e)).toEqual(CLEAN_STEP_VERDICTS);
  });

  it('fails each gate on its own evidence', () => {
    const before = [srv('a', { connections: 100 }), srv('b', { connections: 100 })];
    expect(verdicts(ev([drained('a', 1), srv('b', { connections: 199 })], before))['drain-resets']).toBe('fail');
    expect(verdicts(ev([drained('a', 0, TH.maxDrainMs), srv('b', { connections: 200 })], before))['drain-duration']).toBe('fail');
    expect(verdicts(ev([drained('a', 0, TH.maxDrainMs - 1), srv('b', { connections: 200 })], before))['drain-duration']).toBe('pass');
    expect(verdicts(ev([drained('a', 0), srv('b', { connections: 180 })], before))['survivor-reconnects']).toBe('fail');
    expect(verdicts(ev([drained('a', 0), srv('b', { connections: 190 })], before))['survivor-reconnects']).toBe('pass');
    expect(verdicts(ev([drained('a', 0), srv('b', { connections: 200, heartbeatTimeouts: 3 })], before))['heartbeat-timeouts']).toBe(
      'fail',
    );
    expect(verdicts(ev([drained('a', 0), srv('b', { connections: 200, heartbeatTimeouts: 2 })], before))['heartbeat-timeouts']).toBe(
      'pass',
    );
    expect(verdicts(ev([drained('a', 0), srv('b', { connections: 200 })], before, ['peer-7']))['presence-flaps']).toBe('fail');
    expect(
      verdicts(ev([drained('a', 0), srv('b', { connections: 200, watcher: { up: false, lastResult: 'error', lastStatus: 403 } })], before))[
        'lifecycle-watcher'
      ],
    ).toBe('fail');
    // No drain seen, or a server gone with its connections and no drain report: no evidence, no pass.
    expect(verdicts(ev([srv('b', { connections: 200 })], before))['drains-observed']).toBe('fail');
    expect(
      verdicts(
        ev([srv('a', { state: 'gone' }), drained('c', 0), srv('b', { connections: 300 })], [...before, srv('c', { connections: 100 })]),
      )['drains-observed'],
    ).toBe('fail');
  });

  it("presence-flaps: only peers online at the step's start, judged on the presence window", () => {
    const e = (absences: Array<{ peer: string; longestMs: number; absentNow: boolean }>): Evidence => ({
      ...ev([drained('a', 0), srv('b', { connections: 200 })], [srv('a', { connections: 100 }), srv('b', { connections: 100 })]),
      presence: { onlineAtStart: 40, absences },
    });
    const gate = (x: Evidence) => evaluateGates(x, TH, { regions: ['r1'], final: true }).find((g) => g.gate === 'presence-flaps')!;
    const W = TH.presenceWindowMs;
    expect(W).toBeGreaterThan(0);
    // Every drained peer came back within the window: a reconnect, not a flap.
    expect(gate(e([{ peer: 'p1', longestMs: W - 1, absentNow: false }]))).toMatchObject({
      verdict: 'pass',
      observed: "no peer of 40 online at the step's start left presence (1 reconnected within the window)",
    });
    // Away, window not over yet: undecided, the step keeps settling.
    expect(gate(e([{ peer: 'p1', longestMs: W - 1, absentNow: true }]))).toMatchObject({
      verdict: 'fail',
      observed: `1 peer(s) of 40 online at the step's start away, not back yet (window ${W} ms): p1`,
    });
    // Not back within the window (even if it came back later): a flap.
    expect(
      gate(
        e([
          { peer: 'p2', longestMs: W, absentNow: true },
          { peer: 'p1', longestMs: W + 5, absentNow: false },
        ]),
      ),
    ).toMatchObject({
      verdict: 'fail',
      observed: `2 peer(s) of 40 online at the step's start not back within ${W} ms: p1, p2`,
      threshold: `<= 0 (online at the step's start, not back within ${W} ms)`,
    });
    expect(
      evaluateGates(
        e([{ peer: 'p1', longestMs: W, absentNow: true }]),
        { ...TH, maxPresenceFlaps: 1 },
        { regions: ['r1'], final: true },
      ).find((g) => g.gate === 'presence-flaps')!.verdict,
    ).toBe('pass');
  });

  it("mid-step judges only the hard gates; a drain that began before the step is not this step's", () => {
    expect(Object.keys(verdicts(ev([drained('a', 2)]), false))).toEqual(['drain-resets', 'drain-duration', 'lifecycle-watcher']);
    const early = srv('a', { drain: { startedAt: 5, finishedAt: 6, total: 1, closeSent: 0, reset: 1 } });
    expect(verdicts(ev([early]), false)['drain-resets']).toBe('pass');
  });
});

describe('--apply through a test double executor', () => {
  const run = async (
    outcome?: (s: ServerObservation) => DrainOutcome,
    wave?: string,
    fleet = new FakeFleet({ 'us-central1': 4, 'europe-west1': 4, 'asia-east1': 4 }, OLD, outcome),
  ) => {
    const cfg = cfgOf(RAW);
    const plan = releaseSteps('prod', cfg, NEW);
    const lines: string[] = [];
    const result = await runRollout({
      plan,
      cfg,
      executor: fleet.executor(),
      source: fleet.source(),
      thresholds: TH,
      pollMs: 1,
      settleMs: 50,
      wave,
      out: (l) => lines.push(l),
    });
    return { result, fleet, text: lines.join('\n') };
  };

  it('runs every step in order when every gate passes', async () => {
    const { result, fleet, text } = await run();
    expect(result).toEqual({ status: 'done', completed: [1, 2, 3, 4, 5] });
    expect(fleet.applied.map((a) => a.step)).toEqual([1, 2, 3, 4, 5]);
    // canary: 1 VM of europe-west1; promote: the other 3 old ones and the canary's replacement.
    expect(fleet.drained.filter((id) => id.startsWith('europe-west1')).length).toBeGreaterThanOrEqual(4);
    expect(fleet.drained.some((id) => id.startsWith('asia-east1'))).toBe(true);
    expect(Object.values(fleet.deployedReleases)).toEqual([{ image: NEW }, { image: NEW }, { image: NEW }]);
    expect(text).toMatch(new RegExp(`rollout of ${NEW} done$`));
  });

  it('halts after the first server when its drain reports resets: no later server, step or region', async () => {
    const { result, fleet, text } = await run((s) => (s.region === 'europe-west1' ? { reset: 3 } : {}));
    expect(result.status).toBe('halted');
    expect(result.completed).toEqual([]);
    expect(result.halt!.step.index).toBe(1);
    expect(fleet.drained).toEqual(['europe-west1-5']);
    expect(fleet.applied.map((a) => a.step)).toEqual([1]);
    expect(fleet.deployedReleases['europe-west1']).toEqual({ image: OLD });
    expect(text).toContain('HALTED at step 1 (canary)');
    expect(text).toMatch(/\[FAIL\] drain-resets: 3 reset \(RST\) on europe-west1-5 \(3 of 100\)/);
    expect(text).toContain(`# europe-west1 ran ${OLD}`);
    expect(text).toContain(`pulumi config set --stack prod --path 'sluice:regions[1].image' ${OLD}`);
  });

  it('halts inside a later wave after its first bad server, keeping earlier regions and skipping later ones', async () => {
    const { result, fleet } = await run((s) => (s.id === 'us-central1-2' ? { reset: 1 } : {}));
    expect(result.completed).toEqual([1, 2]);
    expect(result.halt!.step.wave).toBe('wave-1');
    const us = fleet.drained.filter((id) => id.startsWith('us-central1'));
    expect(us).toEqual(['us-central1-1', 'us-central1-2']);
    expect(fleet.drained.some((id) => id.startsWith('asia-east1'))).toBe(false);
  });

  it('halts on a slow drain, a watcher error, or clients that do not come back', async () => {
    expect((await run((s) => (s.region === 'europe-west1' ? { durationMs: TH.maxDrainMs } : {}))).text).toMatch(/\[FAIL\] drain-duration/);
    expect((await run((s) => (s.region === 'europe-west1' ? { watcherError: 403 } : {}))).text).toMatch(
      /\[FAIL\] lifecycle-watcher: .*HTTP 403/,
    );
    const lost = await run((s) => (s.region === 'us-central1' ? { lost: 50 } : {}));
    expect(lost.result.halt!.step.wave).toBe('wave-1');
    expect(lost.text).toMatch(/\[FAIL\] survivor-reconnects/);
  });

  it('halts when the gate source cannot observe (no evidence, no pass)', async () => {
    const fleet = new FakeFleet({ 'us-central1': 4, 'europe-west1': 4, 'asia-east1': 4 }, OLD);
    const cfg = cfgOf(RAW);
    const source = {
      ...fleet.source(),
      name: 'broken',
      sample: async () => {
        throw new Error('403 from monitoring');
      },
    };
    const lines: string[] = [];
    const r = await runRollout({
      plan: releaseSteps('prod', cfg, NEW),
      cfg,
      executor: fleet.executor(),
      source,
      thresholds: TH,
      pollMs: 1,
      settleMs: 50,
      out: (l) => lines.push(l),
    });
    expect(r.status).toBe('halted');
    expect(lines.join('\n')).toContain('error: gate source broken: 403 from monitoring');
    expect(fleet.applied.map((a) => a.step)).toEqual([1]);
  });

  it('a wave job runs only its wave, replaying earlier changes, and refuses while an earlier wave is not deployed', async () => {
    const fleet = new FakeFleet({ 'us-central1': 4, 'europe-west1': 4, 'asia-east1': 4 }, OLD);
    const early = await run(undefined, 'wave-1', fleet);
    expect(early.result.status).toBe('halted');
    expect(early.text).toContain('refusing to run wave-1');
    expect(fleet.applied).toEqual([]);
    expect((await run(undefined, 'canary', fleet)).result.completed).toEqual([1, 2]);
    const w1 = await run(undefined, 'wave-1', fleet);
    expect(w1.result).toEqual({ status: 'done', completed: [3] });
    expect(fleet.applied.at(-1)!.changes.map((c) => c.path)).toEqual([
      'sluice:regions[1].canary.image',
      'sluice:regions[1].canary.targetSize',
      'sluice:regions[1].image',
      'sluice:regions[1].canary',
      'sluice:regions[0].image',
    ]);
    expect(fleet.drained.some((id) => id.startsWith('asia-east1'))).toBe(false);
  });
});
