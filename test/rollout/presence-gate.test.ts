/**
 * Issue 25: the presence-flaps gate judges the rollout, not the users. On a local region (in-process
 * servers on the memory backplane, the built-in balancer, the --quick contract):
 *
 *   - peers SIGKILLed while a step runs (an `npm run peer` fleet process) do not come back within the
 *     presence window: the step halts on presence-flaps, naming them, and the rollback (the previous
 *     release, `initial`) replaces only the server that step started;
 *   - a pair of peers that left just before the rollout (away, their grace running out while it
 *     runs) is no flap: the good release is rolled out without a halt.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { signToken } from '../../app/auth/token';
import { runPeer } from '../../app/peer/single';
import { Region, withTimeout } from '../../app/local/region/region';
import { rolloutLocal } from '../../app/local/region/replace-servers';
import { regionTimeouts } from '../../app/local/region/timeouts';
import { startQuickRegion } from '../helpers/region';

const ROOT = path.resolve(__dirname, '../..');
jest.setTimeout(180_000);

describe('presence-flaps on the local region', () => {
  let region: Region;
  const t = regionTimeouts(true);
  beforeAll(async () => {
    region = await startQuickRegion({ peers: 12, timeouts: t, lb: 'builtin', backplane: 'memory' });
  });
  afterAll(async () => {
    await region?.stop();
  });

  const presence = async () => {
    const s = region.live().find((x) => !x.gone)!;
    return new Map((await s.presence()).map((e) => [e.peerId, e.state]));
  };
  /** Bounded wait for `pred` over the region's presence, polled every 100 ms. */
  const presenceWhen = (pred: (p: Map<string, string>) => boolean, what: string) =>
    withTimeout(
      (async () => {
        while (!pred(await presence())) await new Promise((r) => setTimeout(r, 100));
      })(),
      30_000,
      what,
    );

  it('peers killed during a step are a flap: the step halts on presence-flaps; the rollback to initial replaces only what it started', async () => {
    const victims = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(ROOT, 'app/peer/cli.ts'),
        '--url',
        region.lbUrl,
        '--count',
        '4',
        '--id',
        'victim',
        '--interval',
        '200',
        '--log-level',
        'silent',
      ],
      {
        cwd: ROOT,
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { PATH: process.env.PATH ?? '', SLUICE_TOKEN_SECRET: region.secret, SLUICE_TIMEOUTS: JSON.stringify(t) },
      },
    );
    const exited = new Promise<void>((resolve) => victims.once('exit', () => resolve()));
    try {
      const victimIds = (p: Map<string, string>) => [...p].filter(([id, s]) => id.startsWith('victim') && s === 'online').map(([id]) => id);
      await presenceWhen((p) => victimIds(p).length === 4, 'the victims online');
      const ids = victimIds(await presence()).sort();
      const before = region
        .live()
        .map((s) => s.id)
        .sort();
      const lines: string[] = [];
      let killed = false;
      const r = await rolloutLocal(region, {
        release: 'good',
        out: (l) => lines.push(l),
        // The canary's server is replaced (who was online was read when the step began): the
        // victims die mid-step, no close frame.
        onStep: (steps) => {
          if (!killed && steps.length === 1 && steps[0].replaced.length === 1) {
            killed = true;
            victims.kill('SIGKILL');
          }
        },
      });
      const text = lines.join('\n');
      expect({ status: r.status, text }).toEqual({ status: 'halted', text: expect.stringContaining('[FAIL] presence-flaps') as string });
      expect(r.halt!.step.index).toBe(1);
      const bad = r.halt!.gates.filter((g) => g.verdict === 'fail');
      // The survivors lost the victims' connections too (survivor-reconnects may fail with it).
      expect(bad.map((g) => g.gate)).toContain('presence-flaps');
      expect(bad.map((g) => g.gate).filter((g) => g !== 'survivor-reconnects' && g !== 'presence-flaps')).toEqual([]);
      // Past the window by the end of the step's settle time, or still away when it ran out.
      expect(bad.find((g) => g.gate === 'presence-flaps')!.observed).toMatch(
        new RegExp(
          `^4 peer\\(s\\) of \\d+ online at the step's start (not back within ${r.thresholds.presenceWindowMs} ms|away, not back yet \\(window \\d+ ms\\)): ${ids.join(', ')}$`,
        ),
      );
      // Only the canary was touched; the way back is the release its server ran.
      expect(r.replaced).toHaveLength(1);
      const canary = r.replaced[0];
      expect(r.halt!.rollback).toMatchObject({ release: 'initial', replace: [canary.by] });
      expect(text).toContain(`roll local back to the previous release: replace ${canary.by} (good) with servers on initial`);

      await withTimeout(region.fleet!.ready(), 30_000, 'every peer joined');
      const back: string[] = [];
      const rb = await rolloutLocal(region, { release: 'initial', out: (l) => back.push(l) });
      expect({ status: rb.status, text: back.join('\n') }).toEqual({
        status: 'done',
        text: expect.not.stringContaining('[FAIL]') as string,
      });
      expect(rb.replaced.map((x) => x.old)).toEqual([canary.by]);
      const after = region.live().map((s) => s.id);
      expect(after.filter((id) => before.includes(id))).toHaveLength(before.length - 1);
      for (const id of after) expect(region.releases.get(id)).toBe('initial');
    } finally {
      victims.kill('SIGKILL');
      await exited;
    }
  });

  it('a peer that left before the rollout is not a flap: the good release rolls out without a halt', async () => {
    const pair = [
      runPeer({
        urls: [region.lbUrl],
        spec: { id: 'c-me', kind: 'client', to: 'gw-1' },
        token: () => signToken(region.secret, { sub: 'c-me', kind: 'client' }),
        timeouts: t,
        intervalMs: 200,
      }),
      runPeer({
        urls: [region.lbUrl],
        spec: { id: 'gw-1', kind: 'gateway', to: 'c-me' },
        token: () => signToken(region.secret, { sub: 'gw-1', kind: 'gateway' }),
        timeouts: t,
        intervalMs: 200,
      }),
    ];
    await presenceWhen((p) => p.get('c-me') === 'online' && p.get('gw-1') === 'online', 'the pair online');
    await Promise.all(pair.map((x) => x.stop()));
    await presenceWhen((p) => p.get('c-me') === 'away' && p.get('gw-1') === 'away', 'the pair away');
    const leftAt = Date.now();
    // Their away grace runs out a few seconds into the rollout (which takes longer than that).
    await new Promise((r) => setTimeout(r, t.resume.awayGraceMs - 4_000));
    expect([...(await presence())].filter(([id]) => id === 'c-me' || id === 'gw-1')).toEqual([
      ['c-me', 'away'],
      ['gw-1', 'away'],
    ]);
    const lines: string[] = [];
    const r = await rolloutLocal(region, { release: 'good', out: (l) => lines.push(l) });
    const text = lines.join('\n');
    expect({ status: r.status, text }).toEqual({ status: 'done', text: expect.not.stringContaining('[FAIL]') as string });
    // The case the gate must get right: the pair's grace ran out (they left presence) while the rollout ran.
    expect(Date.now() - leftAt).toBeGreaterThan(t.resume.awayGraceMs);
    const now = await presence();
    expect([now.has('c-me'), now.has('gw-1')]).toEqual([false, false]);
    for (const { gates } of r.passed) {
      const g = gates.find((x) => x.gate === 'presence-flaps')!;
      expect(g.verdict).toBe('pass');
      expect(g.observed).toMatch(/^no peer of \d+ online at the step's start left presence/);
    }
    await withTimeout(region.fleet!.ready(), 30_000, 'every peer joined');
  });
});
