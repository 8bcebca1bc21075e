/**
 * npm run rollout -- --stack prod --release <image> [--apply [--wave <name>]] [--gates admin|cloud-monitoring]
 *                    [--gate <threshold>=<value> ...]
 *
 * Prints the ordered rollout plan (print.ts). With --apply, runs it through the Automation API
 * executor (automation.ts) and halts on the first failed gate (run.ts), printing the rollback.
 * Exit 0: printed or done; 1: invalid stack or release; 3: halted; 2: anything else.
 */
import path from 'node:path';
import { Command } from 'commander';
import { exitQuietlyOnClosedPipe } from '../cli-stdout';
import { StackConfigError } from '../config';
import { AutomationExecutor } from './automation';
import { RolloutError } from './steps';
import { printRollout } from './print';
import { runRollout } from './run';
import { thresholdsFor } from './thresholds';
import { settleMs } from '../../app/gated-steps/gates';
import { AdminGateSource, AdminTarget, GateSource } from '../../app/gated-steps/source';
import { CloudMonitoringGateSource, defaultTokenProvider, providerCredentialClash } from './sources';

async function main(): Promise<number> {
  exitQuietlyOnClosedPipe();
  const opts = new Command('rollout')
    .description('Plan (and with --apply run) a region-by-region rollout of a release')
    .requiredOption('-s, --stack <name>', 'stack name (reads Pulumi.<name>.yaml)')
    .requiredOption('--release <image>', 'the server image to roll out (pinned by tag or digest)')
    .option('-r, --root <dir>', 'project directory holding Pulumi.yaml', process.cwd())
    .option('--apply', 'run the steps (pulumi up through the Automation API)')
    .option('--wave <name>', 'with --apply: run only this wave (canary, wave-1, ..., finalize)')
    .option('--gates <source>', 'gate evidence: cloud-monitoring (default) or admin', 'cloud-monitoring')
    .option(
      '--admin <target...>',
      'admin endpoints for --gates admin: <id>@<region>=http://127.0.0.1:<port> (token from SLUICE_ADMIN_TOKEN)',
    )
    .option(
      '--gate <threshold=value...>',
      'override a gate threshold (over sluice:rollout.gates and the defaults), e.g. --gate minReconnectRatio=0.95',
    )
    .option('--poll-ms <ms>', 'gate sampling period', '2000')
    .parse()
    .opts<{
      stack: string;
      release: string;
      root: string;
      apply?: boolean;
      wave?: string;
      gates: string;
      admin?: string[];
      gate?: string[];
      pollMs: string;
    }>();
  const root = path.resolve(opts.root);
  const clash = opts.apply ? providerCredentialClash() : undefined;
  if (clash) throw new RolloutError(clash);
  const printed = await printRollout(root, opts.stack, opts.release, (cfg) => thresholdsFor(cfg, opts.gate ?? []));
  process.stdout.write(printed.text);
  if (!opts.apply) return 0;

  const cfg = printed.cfg;
  let source: GateSource;
  if (opts.gates === 'admin') {
    const token = process.env.SLUICE_ADMIN_TOKEN;
    const targets: AdminTarget[] = (opts.admin ?? []).map((a) => {
      const m = /^([^@]+)@([^=]+)=(http:\/\/127\.0\.0\.1:\d+)$/.exec(a);
      if (!m) throw new RolloutError(`--admin ${a}: expected <id>@<region>=http://127.0.0.1:<port> (admin endpoints listen on loopback)`);
      return { id: m[1], region: m[2], url: m[3], token };
    });
    source = new AdminGateSource(() => targets);
  } else if (opts.gates === 'cloud-monitoring') {
    source = new CloudMonitoringGateSource({ project: cfg.project, timeouts: cfg.timeouts, token: defaultTokenProvider() });
  } else {
    throw new RolloutError(`--gates ${opts.gates}: expected admin or cloud-monitoring`);
  }
  const result = await runRollout({
    plan: printed.plan,
    cfg,
    executor: new AutomationExecutor({ stack: opts.stack, workDir: root }),
    source,
    thresholds: printed.thresholds,
    pollMs: Number(opts.pollMs),
    settleMs: settleMs(cfg.timeouts, printed.thresholds),
    wave: opts.wave,
    out: (l) => process.stdout.write(`${l}\n`),
  });
  return result.status === 'done' ? 0 : 3;
}

main()
  .then((code) => {
    process.exitCode = code;
  })
  .catch((err: unknown) => {
    if (err instanceof StackConfigError || err instanceof RolloutError) {
      process.stderr.write(`rollout: ${err.message}\n`);
      process.exit(1);
    }
    process.stderr.write(`rollout: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(2);
  });
