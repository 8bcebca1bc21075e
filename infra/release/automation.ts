/**
 * The real executor: the Pulumi Automation API on this project's stack (LocalWorkspace, the
 * Pulumi.yaml in `workDir`). Each change is `pulumi config set/rm --path` through the workspace, then
 * `pulumi up`; an abort (a hard gate failed) cancels the running update. Needs the Pulumi CLI and
 * credentials, so it runs in .github/workflows/deploy.yml, never in this repository's tests (the
 * test double in test/rollout drives runRollout instead).
 */
import type { ConfigChange, ReleaseStep } from './steps';
import type { Deployed, RolloutExecutor, StepContext } from './run';

export interface AutomationOptions {
  stack: string;
  /** Project directory holding Pulumi.yaml (the repository root). */
  workDir: string;
}

export class AutomationExecutor implements RolloutExecutor {
  constructor(private readonly opts: AutomationOptions) {}

  private async select() {
    // Loaded lazily: planning offline must not need the CLI the automation module shells out to.
    const { LocalWorkspace } = await import('@pulumi/pulumi/automation');
    return LocalWorkspace.selectStack({ stackName: this.opts.stack, workDir: this.opts.workDir });
  }

  async deployed(): Promise<Deployed | undefined> {
    const stack = await this.select();
    const outputs = await stack.outputs();
    return outputs.releases?.value as Deployed | undefined;
  }

  async apply(step: ReleaseStep, changes: ConfigChange[], ctx: StepContext): Promise<void> {
    const stack = await this.select();
    for (const c of changes) {
      if (c.op === 'set') await stack.setConfig(c.path, { value: c.value }, true);
      else await stack.removeConfig(c.path, true);
    }
    if (ctx.signal.aborted) return;
    const cancel = () => {
      ctx.log(`cancelling pulumi up of step ${step.index}`);
      stack.cancel().catch((err: Error) => ctx.log(`pulumi cancel: ${err.message}`));
    };
    ctx.signal.addEventListener('abort', cancel, { once: true });
    try {
      await stack.up({
        onOutput: (s) => ctx.log(s.replace(/\n$/, '')),
        color: 'never',
        message: `rollout step ${step.index}: ${step.title}`,
      });
    } finally {
      ctx.signal.removeEventListener('abort', cancel);
    }
  }
}
