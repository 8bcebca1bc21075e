/**
 * The rollout controller on the local region: the same gates, admin gate source and gated step loop
 * as `npm run rollout -- --apply` (app/rollout), with the region's servers instead of MIGs.
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
 *   good        POST /drain, as the lifecycle watcher does: 1012 to every client, no reset
 *   skip-drain  no drain: the old server is deleted with its connections open (every one reset), as
 *               a template whose drain hook went missing. drain-resets fails after the first server.
 */
import { defaultThresholds, gateLines, GateResult, GateThresholds } from '../../rollout/gates';
import { GatedStep, HaltReport, printHalt, runGatedStep, StepContext } from '../../rollout/runner';
import { AdminGateSource, AdminTarget } from '../../rollout/source';
import type { Region } from './region';
import type { LocalServer } from './servers';

export const LOCAL_RELEASES = {
  good: 'drains every server it replaces (POST /drain: 1012 to every client)',
  'skip-drain': 'skips the drain: each server it replaces is deleted with its connections open',
} as const;
export type LocalRelease = keyof typeof LOCAL_RELEASES;
export const isLocalRelease = (v: unknown): v is LocalRelease => typeof v === 'string' && Object.hasOwn(LOCAL_RELEASES, v);

/** The local region is one region of the controller's. */
export const LOCAL_REGION = 'local';

export interface LocalStep extends GatedStep {
  kind: 'canary' | 'promote';
  /** The servers this step replaces (ids at plan time). */
  servers: string[];
}

export interface LocalPlan {
  release: LocalRelease;
  steps: LocalStep[];
}

/** canary: the first server; promote: the rest (a one-server region is promoted directly). */
export function planLocalRollout(servers: string[], release: LocalRelease): LocalPlan {
  if (servers.length === 0) throw new Error('the region has no live server to roll out to');
  const steps: LocalStep[] = [];
  const add = (s: Omit<LocalStep, 'index' | 'regions'>) => steps.push({ ...s, index: steps.length + 1, regions: [LOCAL_REGION] });
  if (servers.length > 1) add({ kind: 'canary', wave: 'canary', servers: servers.slice(0, 1), title: `canary: 1 of ${servers.length} servers on ${release} (${servers[0]})` });
  const rest = servers.length > 1 ? servers.slice(1) : servers;
  add({ kind: 'promote', wave: 'promote', servers: rest, title: `promote: ${rest.join(', ')} replaced by servers on ${release}` });
  return { release, steps };
}

export interface LocalRolloutOptions {
  release: LocalRelease;
  thresholds?: GateThresholds;
  /** Gate sampling period (default 200 ms). */
  pollMs?: number;
  /** Default: drain.deadlineMs + presence.renewIntervalMs, as `npm run rollout -- --apply`. */
  settleMs?: number;
  /** How a halted rollout is undone here (printed after the halt). */
  rollbackCommands?: string[];
  out(line: string): void;
}

/** The status page's way back: the same controller, the previous release. */
export const ROLLBACK_BY_PAGE = [`curl -X POST -H 'Content-Type: application/json' -d '{"release":"good"}' http://127.0.0.1:<status port>/api/rollout   # or the page: release "good", roll out`];

export interface LocalRolloutResult {
  status: 'done' | 'halted';
  release: LocalRelease;
  completed: number[];
  /** Servers replaced, in order (old id -> new id). */
  replaced: Array<{ old: string; by: string }>;
  /** Each completed step's final gate results. */
  passed: Array<{ step: number; gates: GateResult[] }>;
  halt?: { step: LocalStep; gates: GateResult[]; error?: string };
  thresholds: GateThresholds;
}

const target = (s: LocalServer): AdminTarget => ({ id: s.id, region: LOCAL_REGION, url: `http://127.0.0.1:${s.adminPort}` });

/** Roll `release` out over the region's live servers; resolves when done or halted. */
export async function rolloutLocal(region: Region, o: LocalRolloutOptions): Promise<LocalRolloutResult> {
  if (region.rolling) throw new Error('a rollout is already running');
  const t = region.opts.timeouts;
  const thresholds = o.thresholds ?? defaultThresholds(t);
  const num = (id: string) => Number(/(\d+)$/.exec(id)?.[1] ?? 0);
  const plan = planLocalRollout(region.live().map((s) => s.id).sort((a, b) => num(a) - num(b)), o.release);
  // Development servers on loopback: their admin listeners take no token (servers.ts adminJson).
  const source = new AdminGateSource(() => region.live().map(target));
  const replaced: LocalRolloutResult['replaced'] = [];
  const completed: number[] = [];
  const passed: LocalRolloutResult['passed'] = [];
  const total = plan.steps.reduce((n, s) => n + s.servers.length, 0);
  o.out(`# rollout of ${o.release} on the local region (${LOCAL_RELEASES[o.release]}): ${plan.steps.length} step(s), ${total} server(s)`);
  o.out(`gates after each server (hard) and each step (all)${o.thresholds ? '' : ', thresholds from the region\'s timeouts contract'}:`);
  for (const l of gateLines(thresholds)) o.out(`  ${l}`);

  const deploy = (step: LocalStep) => async (ctx: StepContext) => {
    for (const id of step.servers) {
      if (ctx.signal.aborted) return;
      const old = region.live().find((s) => s.id === id);
      if (!old) throw new Error(`${id} is no longer live`);
      region.setRolling({ step: replaced.length + 1, of: total, current: id });
      const fresh = await region.addServer(o.release);
      if (o.release === 'good') await region.retire(old, (answer) => source.record(target(old), answer));
      else await region.breakServer('delete', old.id);
      replaced.push({ old: id, by: fresh.id });
      ctx.log(`  ${id} -> ${fresh.id} (${o.release})`);
      await ctx.sampled();
    }
  };

  // Claimed before the first await: a second rollout asked for meanwhile is refused.
  region.setRolling({ step: 0, of: total });
  try {
    for (const step of plan.steps) {
      o.out(`== step ${step.index}/${plan.steps.length} (${step.wave}): ${step.title}`);
      const r = await runGatedStep(step, deploy(step), { source, thresholds, pollMs: o.pollMs ?? 200, settleMs: o.settleMs ?? t.drain.deadlineMs + t.presence.renewIntervalMs, out: o.out });
      if (!r.ok) {
        const mine = replaced.filter((x) => step.servers.includes(x.old));
        const report: HaltReport = {
          step, gates: r.gates, error: r.error,
          rollback: mine.length ? {
            heading: `roll ${LOCAL_REGION} back to the previous release: replace ${mine.map((x) => x.by).join(', ')} (${o.release}) with servers on ${region.releases.get(mine[0].old) ?? 'the previous release'}`,
            was: mine.map((x) => `${x.old} ran ${region.releases.get(x.old) ?? '?'}, replaced by ${x.by}`),
            commands: o.rollbackCommands ?? ROLLBACK_BY_PAGE,
          } : undefined,
        };
        printHalt(report, o.out);
        return { status: 'halted', release: o.release, completed, replaced, passed, halt: { step, gates: r.gates, error: r.error }, thresholds };
      }
      completed.push(step.index);
      passed.push({ step: step.index, gates: r.gates });
    }
    o.out(`rollout of ${o.release} done: ${replaced.map((x) => `${x.old} -> ${x.by}`).join(', ')}`);
    return { status: 'done', release: o.release, completed, replaced, passed, thresholds };
  } finally {
    region.setRolling(null);
  }
}
