/**
 * The local region replacing its servers one by one (the rollout controller on the local region): the same gates, admin gate source and gated step loop
 * as `npm run rollout -- --apply` (app/gated-steps), with the region's servers instead of MIGs.
 *
 *   step 1 canary   one server replaced by one on the release (the MIG's canary version)
 *   step 2 promote  every other server replaced, one by one
 *
 * Each replacement is the MIG's surge: a new server on the release comes up (LB up, ready), then
 * the old one leaves the LB and is retired the way the release retires it. After each server the
 * deployer waits for a gate sample that started after it, so a hard gate that fails halts the
 * rollout before the next server is touched.
 *
 * Releases (what a release does to the servers it replaces, standing in for a new template):
 *   initial     the release the region started on (INITIAL_RELEASE): drains like good, so a halted
 *               rollout rolls back to it
 *   good        POST /drain, as the lifecycle watcher does: 1012 to every client, no reset
 *   skip-drain  no drain: the old server is deleted with its connections open (every one reset), as
 *               a template whose drain hook went missing. drain-resets fails after the first server.
 *
 * A rollout replaces the servers that do not run the release yet (a rollback replaces only what the
 * halted rollout changed); when every server runs it already, all of them (a MIG's "replace").
 */
import { defaultThresholds, gateLines, GateResult, GateThresholds, settleMs } from '../../gated-steps/gates';
import { GatedStep, HaltReport, printHalt, runGatedStep, StepContext } from '../../gated-steps/runner';
import { AdminGateSource, AdminTarget } from '../../gated-steps/source';
import { INITIAL_RELEASE, Region } from './region';
import type { LocalServer } from './servers';

export const LOCAL_RELEASES = {
  [INITIAL_RELEASE]: 'the release the region started on; drains every server it replaces',
  good: 'drains every server it replaces (POST /drain: 1012 to every client)',
  'skip-drain': 'skips the drain: each server it replaces is deleted with its connections open',
} as const;
export type LocalRelease = keyof typeof LOCAL_RELEASES;
export const isLocalRelease = (v: unknown): v is LocalRelease => typeof v === 'string' && Object.hasOwn(LOCAL_RELEASES, v);
/** Whether a release drains the servers it replaces (skip-drain deletes them). */
const drains = (r: LocalRelease) => r !== 'skip-drain';

/** The local region is one region of the controller's. */
export const LOCAL_REGION = 'local';

export interface LocalStep extends GatedStep {
  kind: 'canary' | 'promote';
  /** The servers this step replaces (ids at plan time). */
  servers: string[];
}

export interface ReplacementOrder {
  release: LocalRelease;
  steps: LocalStep[];
}

/** canary: the first server; promote: the rest (a one-server rollout is promoted directly). */
export function serverReplacementOrder(servers: string[], release: LocalRelease): ReplacementOrder {
  if (servers.length === 0) throw new Error('the region has no live server to roll out to');
  const steps: LocalStep[] = [];
  const add = (s: Omit<LocalStep, 'index' | 'regions'>) => steps.push({ ...s, index: steps.length + 1, regions: [LOCAL_REGION] });
  if (servers.length > 1)
    add({
      kind: 'canary',
      wave: 'canary',
      servers: servers.slice(0, 1),
      title: `canary: 1 of ${servers.length} servers on ${release} (${servers[0]})`,
    });
  const rest = servers.length > 1 ? servers.slice(1) : servers;
  add({ kind: 'promote', wave: 'promote', servers: rest, title: `promote: ${rest.join(', ')} replaced by servers on ${release}` });
  return { release, steps };
}

/** One step as it ran: what the page's rollout history shows. */
export interface StepRecord {
  index: number;
  wave: string;
  title: string;
  servers: string[];
  startedAt: number;
  finishedAt?: number;
  status: 'running' | 'passed' | 'halted';
  /** The step's last gate results (the final ones once it has ended). */
  gates: GateResult[];
  /** Servers replaced in this step (old id -> new id). */
  replaced: Array<{ old: string; by: string }>;
}

/** How to undo a halted rollout: the previous release over the servers it changed. */
export interface Rollback {
  release: LocalRelease;
  /** The servers on the halted release, each replaced by one on `release`. */
  replace: string[];
  heading: string;
  /** What ran before (printed as comments). */
  was: string[];
  commands: string[];
}

export interface LocalRolloutOptions {
  release: LocalRelease;
  thresholds?: GateThresholds;
  /** Gate sampling period (default 200 ms). */
  pollMs?: number;
  /** Default: settleMs(timeouts, thresholds), as `npm run rollout -- --apply`. */
  settleMs?: number;
  /** How to roll `release` out here (the page's curl, ...): printed after a halt. */
  rollbackCommands?: (release: LocalRelease) => string[];
  /** Each step's record whenever it changes (start, end). */
  onStep?(steps: StepRecord[]): void;
  out(line: string): void;
}

export interface LocalRolloutResult {
  status: 'done' | 'halted';
  release: LocalRelease;
  completed: number[];
  /** Servers replaced, in order (old id -> new id). */
  replaced: Array<{ old: string; by: string }>;
  /** Each completed step's final gate results. */
  passed: Array<{ step: number; gates: GateResult[] }>;
  steps: StepRecord[];
  halt?: { step: LocalStep; gates: GateResult[]; error?: string; rollback?: Rollback };
  thresholds: GateThresholds;
}

const target = (s: LocalServer): AdminTarget => ({ id: s.id, region: LOCAL_REGION, url: `http://127.0.0.1:${s.adminPort}` });

/** The region's live servers in the order a rollout takes them: by their number (local-1, local-2, ...), not start order. */
export function liveServerIds(region: Region): string[] {
  const num = (id: string) => Number(/(\d+)$/.exec(id)?.[1] ?? 0);
  return region
    .live()
    .map((s) => s.id)
    .sort((a, b) => num(a) - num(b));
}

/** Roll `release` out over the region's live servers; resolves when done or halted. */
export async function rolloutLocal(region: Region, o: LocalRolloutOptions): Promise<LocalRolloutResult> {
  if (region.rolling) throw new Error('a rollout is already running');
  const t = region.opts.timeouts;
  const thresholds = o.thresholds ?? defaultThresholds(t);
  const live = liveServerIds(region);
  const todo = live.filter((id) => region.releases.get(id) !== o.release);
  const plan = serverReplacementOrder(todo.length > 0 ? todo : live, o.release);
  // Development servers on loopback: their admin listeners take no token (servers.ts adminJson).
  const source = new AdminGateSource(() => region.live().map(target));
  const replaced: LocalRolloutResult['replaced'] = [];
  const completed: number[] = [];
  const passed: LocalRolloutResult['passed'] = [];
  const steps: StepRecord[] = [];
  const total = plan.steps.reduce((n, s) => n + s.servers.length, 0);
  o.out(
    `# rollout of ${o.release} on the local region (${LOCAL_RELEASES[o.release]}): ${plan.steps.length} step(s), ${total} server(s)` +
      (todo.length === 0
        ? ' (every server runs it already: each is replaced)'
        : todo.length < live.length
          ? ` (${live.length - todo.length} run it already)`
          : ''),
  );
  o.out(`gates after each server (hard) and each step (all)${o.thresholds ? '' : ", thresholds from the region's timeouts contract"}:`);
  for (const l of gateLines(thresholds)) o.out(`  ${l}`);

  const deploy = (step: LocalStep, record: StepRecord) => async (ctx: StepContext) => {
    for (const id of step.servers) {
      if (ctx.signal.aborted) return;
      const old = region.live().find((s) => s.id === id);
      if (!old) throw new Error(`${id} is no longer live`);
      region.setRolling({ step: replaced.length + 1, of: total, current: id });
      const fresh = await region.addServer(o.release);
      if (drains(o.release)) await region.retire(old, (answer) => source.record(target(old), answer));
      else await region.breakServer('delete', old.id);
      replaced.push({ old: id, by: fresh.id });
      record.replaced.push({ old: id, by: fresh.id });
      o.onStep?.(steps);
      ctx.log(`  ${id} -> ${fresh.id} (${o.release})`);
      await ctx.sampled();
    }
  };

  // Claimed before the first await: a second rollout asked for meanwhile is refused.
  region.setRolling({ step: 0, of: total });
  try {
    for (const step of plan.steps) {
      o.out(`== step ${step.index}/${plan.steps.length} (${step.wave}): ${step.title}`);
      const record: StepRecord = {
        index: step.index,
        wave: step.wave,
        title: step.title,
        servers: step.servers,
        startedAt: Date.now(),
        status: 'running',
        gates: [],
        replaced: [],
      };
      steps.push(record);
      o.onStep?.(steps);
      const r = await runGatedStep(step, deploy(step, record), {
        source,
        thresholds,
        pollMs: o.pollMs ?? 200,
        settleMs: o.settleMs ?? settleMs(t, thresholds),
        out: o.out,
      });
      Object.assign(record, { finishedAt: Date.now(), status: r.ok ? 'passed' : 'halted', gates: r.gates });
      o.onStep?.(steps);
      if (!r.ok) {
        const rollback = rollbackFor(region, replaced, o);
        const report: HaltReport = { step, gates: r.gates, error: r.error, rollback };
        printHalt(report, o.out);
        return {
          status: 'halted',
          release: o.release,
          completed,
          replaced,
          passed,
          steps,
          halt: { step, gates: r.gates, error: r.error, rollback },
          thresholds,
        };
      }
      completed.push(step.index);
      passed.push({ step: step.index, gates: r.gates });
    }
    o.out(`rollout of ${o.release} done: ${replaced.map((x) => `${x.old} -> ${x.by}`).join(', ')}`);
    return { status: 'done', release: o.release, completed, replaced, passed, steps, thresholds };
  } finally {
    region.setRolling(null);
  }
}

/**
 * The way back from a halt: the release the first replaced server ran (the initial one included),
 * rolled out over every server this rollout started (a rollout replaces only the servers not on
 * it). Nothing replaced yet: nothing to undo.
 */
function rollbackFor(region: Region, replaced: LocalRolloutResult['replaced'], o: LocalRolloutOptions): Rollback | undefined {
  if (replaced.length === 0) return undefined;
  const previous = region.releases.get(replaced[0].old);
  const release: LocalRelease = isLocalRelease(previous) ? previous : INITIAL_RELEASE;
  const replace = replaced.map((x) => x.by).filter((id) => region.live().some((s) => s.id === id));
  return {
    release,
    replace,
    was: replaced.map((x) => `${x.old} ran ${region.releases.get(x.old) ?? '?'}, replaced by ${x.by}`),
    heading: `roll ${LOCAL_REGION} back to the previous release: replace ${replace.join(', ')} (${o.release}) with servers on ${release}`,
    commands: o.rollbackCommands?.(release) ?? [`roll ${release} out (the same controller, the previous release)`],
  };
}
