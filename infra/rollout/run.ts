/**
 * `--apply`: run a rollout plan step by step through an executor, judging each step by its gates.
 *
 * While a step deploys, one timer samples the GateSource and judges the hard gates (resets, drain
 * duration, watcher errors): the first bad drain aborts the step (the executor cancels `pulumi up`)
 * and no later server or region is touched. After the step, the remaining gates are judged until
 * they pass or `settleMs` runs out. A halt prints what failed and the commands that restore the
 * region's previous pin (rollbackCommands).
 */
import type { RegionRelease, StackConfig } from '../config';
import { evaluateGates, failed, formatGates, GateResult, GateThresholds, HARD_GATES } from './gates';
import { ConfigChange, RolloutPlan, RolloutStep, rollbackCommands } from './plan';
import type { GateSource } from './sources';

export type Deployed = Record<string, Omit<RegionRelease, 'region'>>;

export interface StepContext {
  /** Aborted when a hard gate fails mid-step: stop (cancel the update) and reject or return. */
  signal: AbortSignal;
  /** Resolves after the runner's next gate sample (a test double paces itself on it). */
  sampled(): Promise<void>;
  log(line: string): void;
}

export interface RolloutExecutor {
  /** The releases the deployed stack runs (its `releases` output); undefined if unknown. */
  deployed(): Promise<Deployed | undefined>;
  /** Make `changes` to the stack config and deploy (pulumi up). */
  apply(step: RolloutStep, changes: ConfigChange[], ctx: StepContext): Promise<void>;
}

export interface RunOptions {
  plan: RolloutPlan;
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
  step: RolloutStep;
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
  a !== undefined && a.image === b.image && (a.canary?.image ?? '') === (b.canary?.image ?? '') && Number(a.canary?.targetSize ?? 0) === Number(b.canary?.targetSize ?? 0);

/** A wave's job may run only when every earlier step is deployed and nothing later was deployed ahead. */
export function checkWavePrecondition(plan: RolloutPlan, wave: string, deployed: Deployed | undefined): string[] {
  const first = plan.steps.find((s) => s.wave === wave);
  if (!first) return [`wave ${wave} is not in the plan (waves: ${plan.waves.join(', ') || 'none: every region runs the release'})`];
  if (!deployed) return first.index === 1 ? [] : ['the deployed releases are unknown (no `releases` stack output): run the earlier waves first'];
  const problems: string[] = [];
  const expected = new Map<string, Omit<RegionRelease, 'region'>>();
  for (const s of plan.steps) {
    for (const p of s.previous) if (!expected.has(p.region)) expected.set(p.region, p);
    if (s.index < first.index) for (const t of s.target) expected.set(t.region, t);
  }
  for (const [region, want] of expected) {
    if (!sameRelease(deployed[region], want)) {
      problems.push(`${region} runs ${JSON.stringify(deployed[region] ?? null)}, expected ${JSON.stringify({ image: want.image, ...(want.canary ? { canary: want.canary } : {}) })} before ${wave}`);
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
    const halt = (gates: GateResult[], error?: string): RunResult => {
      const h: Halt = { step, gates, error, rollback: rollbackCommands(o.plan.stack, o.cfg, step) };
      printHalt(h, o.out);
      return { status: 'halted', completed, halt: h };
    };

    try {
      await o.source.begin(step.regions);
    } catch (err) {
      return halt([], `gate source ${o.source.name}: ${(err as Error).message}`);
    }
    const abort = new AbortController();
    let hardFail: GateResult[] | undefined;
    let sourceError: string | undefined;
    let waiters: Array<() => void> = [];
    let busy = false;
    const tick = async () => {
      if (busy || abort.signal.aborted) return;
      busy = true;
      try {
        await o.source.sample();
        const r = evaluateGates(o.source.evidence(), o.thresholds, { regions: step.regions, final: false });
        if (failed(r).some((g) => HARD_GATES.includes(g.gate))) {
          hardFail = r;
          abort.abort();
        }
      } catch (err) {
        sourceError = `gate source ${o.source.name}: ${(err as Error).message}`;
        abort.abort();
      } finally {
        busy = false;
        const w = waiters;
        waiters = [];
        for (const f of w) f();
      }
    };
    const timer = setInterval(() => void tick(), o.pollMs);
    const ctx: StepContext = {
      signal: abort.signal,
      sampled: () => (abort.signal.aborted ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve))),
      log: o.out,
    };
    let applyError: string | undefined;
    try {
      await o.executor.apply(step, changes, ctx);
    } catch (err) {
      if (!abort.signal.aborted) applyError = `deploy failed: ${(err as Error).message}`;
    } finally {
      clearInterval(timer);
      for (const f of waiters) f();
      waiters = [];
    }
    if (hardFail || sourceError || applyError) {
      await o.source.end();
      return halt(hardFail ?? [], sourceError ?? applyError);
    }

    // Soft gates: reconnects and presence settle after the last drain; judge until they pass or time runs out.
    const deadline = Date.now() + o.settleMs;
    let results: GateResult[] = [];
    for (;;) {
      try {
        await o.source.sample();
      } catch (err) {
        await o.source.end();
        return halt(results, `gate source ${o.source.name}: ${(err as Error).message}`);
      }
      results = evaluateGates(o.source.evidence(), o.thresholds, { regions: step.regions, final: true });
      const bad = failed(results);
      if (bad.length === 0 || bad.some((g) => HARD_GATES.includes(g.gate)) || Date.now() >= deadline) break;
      await new Promise((resolve) => setTimeout(resolve, o.pollMs));
    }
    await o.source.end();
    if (failed(results).length) return halt(results);
    o.out('gates passed:');
    for (const l of formatGates(results)) o.out(l);
    completed.push(step.index);
  }
  o.out(o.wave ? `${o.wave} done` : `rollout of ${o.plan.release} done`);
  return { status: 'done', completed };
}

export function printHalt(h: Halt, out: (line: string) => void): void {
  out(`HALTED at step ${h.step.index} (${h.step.wave}): ${h.step.title}`);
  if (h.error) out(`  error: ${h.error}`);
  const bad = failed(h.gates);
  if (bad.length) {
    out('failed gates:');
    for (const l of formatGates(bad)) out(l);
  }
  if (h.rollback.length) {
    out(`roll ${h.step.regions.join(', ')} back to the previous pin:`);
    for (const r of h.step.previous) out(`  # ${r.region} ran ${r.image}${r.canary ? ` with canary ${r.canary.image} x${r.canary.targetSize}` : ''}`);
    for (const c of h.rollback) out(`  ${c}`);
  }
}
