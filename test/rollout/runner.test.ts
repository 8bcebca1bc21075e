/**
 * The gated step loop shared by `npm run rollout -- --apply` and the local region (app/gated-steps):
 * a deployer's ctx.sampled() waits for a sample that started after the call (a sample already
 * running may have read the servers before the deployer's last change); and a server that left
 * with its connections and no drain report fails a hard gate mid-step.
 */
import { defaultTimeouts } from '../../app/contract/timeouts';
import { defaultThresholds, evaluateGates, Evidence } from '../../app/gated-steps/gates';
import { runGatedStep } from '../../app/gated-steps/runner';
import type { GateSource } from '../../app/gated-steps/source';
import { observation as srv } from './observations';

const TH = defaultThresholds(defaultTimeouts);

describe('runGatedStep', () => {
  it('resolves ctx.sampled() only after a sample that began after the call', async () => {
    let version = 0;
    const seen: number[] = [];
    let firstStarted!: () => void;
    const first = new Promise<void>((resolve) => {
      firstStarted = resolve;
    });
    const source: GateSource = {
      name: 'slow',
      begin: async () => undefined,
      // Reads the version when it starts, finishes a little later: a sample in flight is stale.
      sample: async () => {
        firstStarted();
        const v = version;
        await new Promise((resolve) => setTimeout(resolve, 15));
        seen.push(v);
      },
      evidence: (): Evidence => ({
        startedAt: 0,
        before: [],
        latest: [srv('a', { state: 'drained', drain: { startedAt: 1, finishedAt: 2, total: 0, closeSent: 0, reset: 0 } })],
        presenceFlaps: [],
      }),
      end: async () => undefined,
    };
    const observed: Array<{ wrote: number; sampledAfter: number[] }> = [];
    const r = await runGatedStep(
      { index: 1, wave: 'w', title: 't', regions: ['r1'] },
      async (ctx) => {
        for (let i = 0; i < 5; i++) {
          // Change what a sample would see, while a sample may be running (poll 1 ms, sample 15 ms).
          await first;
          version++;
          await ctx.sampled();
          observed.push({ wrote: version, sampledAfter: [...seen] });
        }
      },
      { source, thresholds: TH, pollMs: 1, settleMs: 0, out: () => undefined },
    );
    expect(r.ok).toBe(true);
    // Each time the deployer went on, the last finished sample had read its latest change.
    for (const o of observed) expect(o.sampledAfter.at(-1)).toBe(o.wrote);
  });

  it('fails drain-resets mid-step for a server gone with its connections and no drain report', () => {
    const e: Evidence = {
      startedAt: 10,
      before: [srv('a', { connections: 40 }), srv('b', { connections: 40 })],
      latest: [srv('a', { state: 'gone', connections: 40 }), srv('b', { connections: 41 })],
      presenceFlaps: [],
    };
    const g = evaluateGates(e, TH, { regions: ['r1'], final: false }).find((x) => x.gate === 'drain-resets')!;
    expect(g).toEqual({
      gate: 'drain-resets',
      verdict: 'fail',
      observed: '40 reset (RST) on a (40 of 40: left without a drain)',
      threshold: '<= 0',
    });
    // A server that was empty when the step began cut nobody.
    const empty: Evidence = { ...e, before: [srv('a'), srv('b', { connections: 80 })] };
    expect(evaluateGates(empty, TH, { regions: ['r1'], final: false }).find((x) => x.gate === 'drain-resets')!.verdict).toBe('pass');
  });
});
