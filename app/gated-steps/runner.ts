/**
 * One gated rollout step, whatever deploys it: `pulumi up` through the Automation API
 * (infra/release/run.ts) or the local region replacing its servers (app/local/region/replace-servers.ts).
 *
 * While the step deploys, ONE timer samples the GateSource every `pollMs` and judges the hard gates
 * (resets, drain duration, watcher errors): the first bad server aborts the step (ctx.signal) and the
 * deployer touches no later server. After the deploy, the remaining gates are judged until they pass
 * or `settleMs` runs out. A halt prints what failed and how to roll back (printHalt).
 */
import { evaluateGates, failed, formatGates, GateResult, GateThresholds, HARD_GATES } from './gates';
import type { GateSource } from './source';

/** What the runner needs of a step: its place, its name and the regions whose servers it replaces. */
export interface GatedStep {
  /** 1-based position in the plan. */
  index: number;
  wave: string;
  title: string;
  regions: string[];
}

export interface StepContext {
  /** Aborted when a hard gate fails mid-step: stop (cancel the update) and reject or return. */
  signal: AbortSignal;
  /**
   * Resolves after a gate sample that STARTED after this call (so it saw whatever the deployer did
   * just before), or at once when the step is aborted. A deployer paces itself on it between servers.
   */
  sampled(): Promise<void>;
  log(line: string): void;
}

export interface GateOptions {
  source: GateSource;
  thresholds: GateThresholds;
  /** Gate sampling period while a step deploys and settles. */
  pollMs: number;
  /** After a step's deploy, how long the soft gates may take to pass (reconnects, presence). */
  settleMs: number;
  out(line: string): void;
}

export type StepOutcome = { ok: true; gates: GateResult[] } | { ok: false; gates: GateResult[]; error?: string };

/** Deploy one step under its gates. Never throws for a gate or a deploy failure: that is a halt. */
export async function runGatedStep(step: GatedStep, deploy: (ctx: StepContext) => Promise<void>, o: GateOptions): Promise<StepOutcome> {
  const sourceError = (err: unknown) => `gate source ${o.source.name}: ${(err as Error).message}`;
  try {
    await o.source.begin(step.regions);
  } catch (err) {
    return { ok: false, gates: [], error: sourceError(err) };
  }
  const abort = new AbortController();
  let hardFail: GateResult[] | undefined;
  let error: string | undefined;
  // Waiters for the next sample to start; a running sample resolves only the ones it took at its start.
  let queued: Array<() => void> = [];
  const release = (ws: Array<() => void>) => {
    for (const f of ws) f();
  };
  let running: Promise<void> | undefined;
  const tick = () => {
    if (running || abort.signal.aborted) return;
    running = sampleOnce().finally(() => {
      running = undefined;
    });
  };
  const sampleOnce = async () => {
    const mine = queued;
    queued = [];
    try {
      await o.source.sample();
      const r = evaluateGates(o.source.evidence(), o.thresholds, { regions: step.regions, final: false });
      if (failed(r).some((g) => HARD_GATES.includes(g.gate))) {
        hardFail = r;
        abort.abort();
      }
    } catch (err) {
      error = sourceError(err);
      abort.abort();
    } finally {
      release(mine);
      if (abort.signal.aborted) {
        release(queued);
        queued = [];
      }
    }
  };
  const timer = setInterval(tick, o.pollMs);
  const ctx: StepContext = {
    signal: abort.signal,
    sampled: () => (abort.signal.aborted ? Promise.resolve() : new Promise<void>((resolve) => queued.push(resolve))),
    log: o.out,
  };
  try {
    await deploy(ctx);
  } catch (err) {
    if (!abort.signal.aborted) error = `deploy failed: ${(err as Error).message}`;
  } finally {
    clearInterval(timer);
    release(queued);
    queued = [];
  }
  // A sample still running when the deploy ended may yet fail a hard gate: let it finish first.
  await running;
  if (hardFail || error) {
    await o.source.end();
    return { ok: false, gates: hardFail ?? [], error };
  }

  // Soft gates: reconnects and presence settle after the last drain; judge until they pass or time runs out.
  const deadline = Date.now() + o.settleMs;
  let results: GateResult[] = [];
  for (;;) {
    try {
      await o.source.sample();
    } catch (err) {
      await o.source.end();
      return { ok: false, gates: results, error: sourceError(err) };
    }
    results = evaluateGates(o.source.evidence(), o.thresholds, { regions: step.regions, final: true });
    const bad = failed(results);
    if (bad.length === 0 || bad.some((g) => HARD_GATES.includes(g.gate)) || Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, o.pollMs));
  }
  await o.source.end();
  if (failed(results).length) return { ok: false, gates: results };
  o.out('gates passed:');
  for (const l of formatGates(results)) o.out(l);
  return { ok: true, gates: results };
}

/** What a halt prints: the step, the failed gates or the error, and how to put the regions back. */
export interface HaltReport {
  step: GatedStep;
  gates: GateResult[];
  error?: string;
  rollback?: {
    /** e.g. "roll europe-west1 back to the previous pin:" */
    heading: string;
    /** What ran before (printed as comments). */
    was: string[];
    commands: string[];
  };
}

export function printHalt(h: HaltReport, out: (line: string) => void): void {
  out(`HALTED at step ${h.step.index} (${h.step.wave}): ${h.step.title}`);
  if (h.error) out(`  error: ${h.error}`);
  const bad = failed(h.gates);
  if (bad.length) {
    out('failed gates:');
    for (const l of formatGates(bad)) out(l);
  }
  if (h.rollback && h.rollback.commands.length) {
    out(h.rollback.heading);
    for (const w of h.rollback.was) out(`  # ${w}`);
    for (const c of h.rollback.commands) out(`  ${c}`);
  }
}
