/**
 * The status page's rollouts: each one started from the page (POST /api/rollout) runs the rollout
 * controller (app/local/region/replace-servers.ts) and is kept as a view: its steps with their gate results
 * and durations, and, when it halted, the halt as a state of its own (the failing gates with their
 * numbers, and the rollback: the previous release, with the real command that rolls it out).
 * The last HISTORY rollouts are kept; only the latest keeps the controller's printed lines.
 */
import type { GateResult } from '../../gated-steps/gates';
import type { Region } from '../region/region';
import { liveServerIds, LocalRelease, LOCAL_RELEASES, rolloutLocal, StepRecord } from '../region/replace-servers';

const HISTORY = 10;
const LINES = 200;

export interface HaltView {
  step: number;
  wave: string;
  title: string;
  /** The failed gates, each with what was observed and its threshold. */
  failed: GateResult[];
  error?: string;
  rollback?: { release: LocalRelease; replace: string[]; command: string };
}

export interface RolloutView {
  id: number;
  release: LocalRelease;
  status: 'running' | 'done' | 'halted' | 'failed';
  /** ms epoch. */
  startedAt: number;
  finishedAt?: number;
  servers: string[];
  steps: StepRecord[];
  halt?: HaltView;
  /** A rollout that failed to run (not a gate): why. */
  error?: string;
  /** The controller's output (plan, gates, the halt and its rollback); the latest rollout only. */
  lines: string[];
}

/** The command that rolls `release` out through this page's API. */
export function rolloutCommand(pageUrl: string, release: LocalRelease): string {
  return `curl -X POST -H 'Content-Type: application/json' -d '{"release":"${release}"}' ${pageUrl}api/rollout`;
}

export class Rollouts {
  private readonly views: RolloutView[] = [];
  private nextId = 1;

  constructor(
    private readonly region: Region,
    private readonly pageUrl: () => string,
    private readonly changed: (note?: string) => void,
  ) {}

  latest(): RolloutView | null {
    return this.views.at(-1) ?? null;
  }

  /** Newest first, without the printed lines. */
  history(): Array<Omit<RolloutView, 'lines'>> {
    return this.views.map(({ lines: _lines, ...v }) => v).reverse();
  }

  /** Start a rollout (the caller has checked that none runs); resolves when it has ended. */
  start(release: LocalRelease): { view: RolloutView; done: Promise<void> } {
    const view: RolloutView = {
      id: this.nextId++,
      release,
      status: 'running',
      startedAt: Date.now(),
      servers: liveServerIds(this.region),
      steps: [],
      lines: [],
    };
    const prev = this.views.at(-1);
    if (prev) prev.lines = [];
    this.views.push(view);
    if (this.views.length > HISTORY) this.views.shift();
    const out = (line: string) => {
      view.lines.push(line);
      if (view.lines.length > LINES) view.lines.shift();
    };
    this.changed(`rollout of ${release} (${LOCAL_RELEASES[release]}): replacing ${view.servers.join(', ')}`);
    const done = rolloutLocal(this.region, {
      release,
      out,
      rollbackCommands: (r) => [rolloutCommand(this.pageUrl(), r), `# or on this page: "roll back to ${r}"`],
      onStep: (steps) => {
        view.steps = steps.map((s) => ({ ...s, gates: [...s.gates], replaced: [...s.replaced] }));
        this.changed();
      },
    }).then(
      (r) => {
        view.status = r.status;
        view.steps = r.steps;
        if (r.halt) {
          const rb = r.halt.rollback;
          view.halt = {
            step: r.halt.step.index,
            wave: r.halt.step.wave,
            title: r.halt.step.title,
            failed: r.halt.gates.filter((g) => g.verdict === 'fail'),
            error: r.halt.error,
            rollback: rb && { release: rb.release, replace: rb.replace, command: rolloutCommand(this.pageUrl(), rb.release) },
          };
        }
        view.finishedAt = Date.now();
        this.changed(
          r.status === 'done'
            ? `rollout of ${release} finished`
            : `rollout of ${release} HALTED at step ${r.halt!.step.index}: ${r.halt!.error ?? view.halt!.failed.map((g) => g.gate).join(', ')}`,
        );
      },
      (e: Error) => {
        view.status = 'failed';
        view.error = e.message;
        view.finishedAt = Date.now();
        this.changed(`rollout failed: ${e.message}`);
      },
    );
    return { view, done };
  }
}
