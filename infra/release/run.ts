/**
 * `--apply`: run a rollout plan step by step through an executor, judging each step by its gates.
 *
 * Each step runs under app/gated-steps/runner.ts (the same gated step loop the local region uses):
 * while `pulumi up` runs, the hard gates are sampled and the first bad drain aborts the step (the
 * executor cancels the update), so no later server or region is touched; afterwards the soft gates
 * settle. What is stack-specific stays here: wave jobs and their precondition, replayed config
 * changes, finalize, and a halt's commands that restore the region's previous pin (rollbackCommands).
 */
import type { GateResult, GateThresholds } from '../../app/gated-steps/gates';
import { HaltReport, printHalt as printHaltReport, runGatedStep, StepContext } from '../../app/gated-steps/runner';
import type { GateSource } from '../../app/gated-steps/source';
import type { RegionRelease, StackConfig } from '../config';
import { ConfigChange, ReleaseSteps, ReleaseStep, rollbackCommands } from './steps';

export type { StepContext };

export type Deployed = Record<string, Omit<RegionRelease, 'region'>>;

export interface RolloutExecutor {
  /** The releases the deployed stack runs (its `releases` output); undefined if unknown. */
  deployed(): Promise<Deployed | undefined>;
  /** Make `changes` to the stack config and deploy (pulumi up). */
  apply(step: ReleaseStep, changes: ConfigChange[], ctx: StepContext): Promise<void>;
}

export interface RunOptions {
  plan: ReleaseSteps;
  cfg: Pick<StackConfig, 'regions'>;
  executor: RolloutExecutor;
  source: GateSource;
  thresholds: GateThresholds;
  /** Gate sampling period while a step deploys and settles. */
  pollMs: number;
  /** After a step's deploy, how long the soft gates may take to pass (reconnects, presence). */
  settleMs: number;
  /** Run only this wave's steps (CI: one job per wave); earlier waves must be deployed already. */
  wave?: string;
  out(line: string): void;
}

export interface Halt {
  step: ReleaseStep;
  gates: GateResult[];
  error?: string;
  rollback: string[];
}

export interface RunResult {
  status: 'done' | 'halted';
  completed: number[];
  halt?: Halt;
}

const sameRelease = (a: Omit<RegionRelease, 'region'> | undefined, b: Omit<RegionRelease, 'region'>) =>
  a !== undefined &&
  a.image === b.image &&
  (a.canary?.image ?? '') === (b.canary?.image ?? '') &&
  Number(a.canary?.targetSize ?? 0) === Number(b.canary?.targetSize ?? 0);

/** A wave's job may run only when every earlier step is deployed and nothing later was deployed ahead. */
export function checkWavePrecondition(plan: ReleaseSteps, wave: string, deployed: Deployed | undefined): string[] {
  const first = plan.steps.find((s) => s.wave === wave);
  if (!first) return [`wave ${wave} is not in the plan (waves: ${plan.waves.join(', ') || 'none: every region runs the release'})`];
  if (!deployed)
    return first.index === 1 ? [] : ['the deployed releases are unknown (no `releases` stack output): run the earlier waves first'];
  const problems: string[] = [];
  const expected = new Map<string, Omit<RegionRelease, 'region'>>();
  for (const s of plan.steps) {
    for (const p of s.previous) if (!expected.has(p.region)) expected.set(p.region, p);
    if (s.index < first.index) for (const t of s.target) expected.set(t.region, t);
  }
  for (const [region, want] of expected) {
    if (!sameRelease(deployed[region], want)) {
      problems.push(
        `${region} runs ${JSON.stringify(deployed[region] ?? null)}, expected ${JSON.stringify({ image: want.image, ...(want.canary ? { canary: want.canary } : {}) })} before ${wave}`,
      );
    }
  }
  return problems;
}

export async function runRollout(o: RunOptions): Promise<RunResult> {
  const steps = o.wave ? o.plan.steps.filter((s) => s.wave === o.wave) : o.plan.steps;
  const completed: number[] = [];
  let pending: ConfigChange[] = [];
  if (o.wave) {
    const problems = checkWavePrecondition(o.plan, o.wave, await o.executor.deployed());
    if (problems.length) {
      const step = steps[0] ?? o.plan.steps[0];
      o.out(`refusing to run ${o.wave}:`);
      for (const p of problems) o.out(`  - ${p}`);
      return { status: 'halted', completed, halt: step && { step, gates: [], error: problems.join('; '), rollback: [] } };
    }
    // A fresh checkout holds the stack file as committed: replay the earlier steps' changes (their
    // regions are deployed with them already, so `pulumi up` changes only this wave's regions).
    pending = o.plan.steps.filter((s) => s.index < steps[0].index).flatMap((s) => s.changes);
  }

  for (const step of steps) {
    const changes = [...pending, ...step.changes];
    pending = [];
    o.out(`== step ${step.index}/${o.plan.steps.length} (${step.wave}): ${step.title}`);
    if (step.kind === 'finalize') {
      await o.executor.apply(step, changes, { signal: new AbortController().signal, sampled: () => Promise.resolve(), log: o.out });
      completed.push(step.index);
      continue;
    }
    const r = await runGatedStep(step, (ctx) => o.executor.apply(step, changes, ctx), o);
    if (!r.ok) {
      const h: Halt = { step, gates: r.gates, error: r.error, rollback: rollbackCommands(o.plan.stack, o.cfg, step) };
      printHalt(h, o.out);
      return { status: 'halted', completed, halt: h };
    }
    completed.push(step.index);
  }
  o.out(o.wave ? `${o.wave} done` : `rollout of ${o.plan.release} done`);
  return { status: 'done', completed };
}

export function printHalt(h: Halt, out: (line: string) => void): void {
  const report: HaltReport = {
    step: h.step,
    gates: h.gates,
    error: h.error,
    rollback: {
      heading: `roll ${h.step.regions.join(', ')} back to the previous pin:`,
      was: h.step.previous.map(
        (r) => `${r.region} ran ${r.image}${r.canary ? ` with canary ${r.canary.image} x${r.canary.targetSize}` : ''}`,
      ),
      commands: h.rollback,
    },
  };
  printHaltReport(report, out);
}
