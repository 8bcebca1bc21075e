/**
 * `npm run drill`: the incident replayed on the local region, one scenario per defense (see
 * drill.ts), then `drill-report/report.md` and one SVG chart per scenario. Exit 0 when every
 * bound from the contract is met, 1 when one is missed, 2 for bad arguments or a failed run.
 *
 *   npm run drill                         # scenarios 1-4, contract defaults, 300 peers (~6 min)
 *   npm run drill -- --quick              # the contract scaled down ~5x, 120 peers (~2 min)
 *   npm run drill -- --quick --scenarios 1,2,3 --lb haproxy --backplane redis
 *   npm run drill -- --quick --scenarios 5  # two regions, one evacuated (docs/regions.md)
 *   npm run drill -- --rollout --release skip-drain --quick   # the rollout controller's halt (replacement-drill.ts)
 *   npm run drill -- --doc docs/drill.md  # also fill the drill block of docs/drill.md and docs/drill-*.svg
 */
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { runDrill } from './drill';
import { runningRegions } from '../region/region';
import { runMeta, updateReadme, writeReport } from './report';
import type { LocalBalancerKind } from '../lb/load-balancer';
import type { BackplaneKind } from '../region/region';
import type { LocalRelease } from '../region/replace-servers';
import { runReplacementDrill } from './replacement-drill';

interface Opts {
  quick: boolean;
  peers?: number;
  scenarios: number[];
  lb: LocalBalancerKind | 'auto';
  backplane: BackplaneKind | 'auto';
  out: string;
  rollout: boolean;
  release: LocalRelease;
  doc?: string;
  docChart: number;
}

const program = new Command('drill')
  .description('Replay the incident on a local region and time each defense.')
  .option('--quick', 'the contract scaled down about 5x (CI)', false)
  .option('--peers <n>', 'peers per scenario (default 300; 120 with --quick)', (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 2 || n > 2000) throw new InvalidArgumentError('must be an integer in [2, 2000]');
    return n;
  })
  .option(
    '--scenarios <list>',
    'comma-separated scenario numbers (1-5; 5, a region evacuated, needs redis-server)',
    (v) => {
      const ns = v.split(',').map((x) => Number(x.trim()));
      if (ns.length === 0 || ns.some((n) => ![1, 2, 3, 4, 5].includes(n)))
        throw new InvalidArgumentError('must be numbers from 1 to 5, e.g. 1,2,3');
      return ns;
    },
    [1, 2, 3, 4],
  )
  .addOption(new Option('--lb <kind>', 'load balancer').choices(['auto', 'builtin', 'haproxy']).default('auto'))
  .addOption(new Option('--backplane <kind>', 'backplane').choices(['auto', 'memory', 'redis']).default('auto'))
  .option('--out <dir>', 'report directory', 'drill-report')
  .option('--rollout', 'instead of the scenarios: roll --release out through the rollout controller (gates, halt)', false)
  .addOption(
    new Option('--release <name>', 'with --rollout: good, or skip-drain (halts after the first server)')
      .choices(['good', 'skip-drain'])
      .default('good'),
  )
  .option(
    '--doc <file>',
    'also fill the drill block of this Markdown file (<!-- drill:begin --> ... <!-- drill:end -->, docs/drill.md) and write one chart beside it',
  )
  .option(
    '--doc-chart <n>',
    'the scenario whose chart the block shows',
    (v) => {
      const n = Number(v);
      if (![1, 2, 3, 4].includes(n)) throw new InvalidArgumentError('must be a scenario number from 1 to 4');
      return n;
    },
    1,
  )
  .action(async (o: Opts) => {
    const peers = o.peers ?? (o.quick ? 120 : 300);
    const log = (l: string) => process.stderr.write(`drill: ${l}\n`);
    // Ctrl-C (SIGINT to the terminal's foreground process group) or SIGTERM: the running scenario's
    // region stops as `npm start` does (its fleet summary, a drain of every server, its temp dir
    // removed), no report is written, exit 0. Every signal of the group lands here (npm and tsx
    // forward theirs too): one stop.
    process.on('SIGINT', () => interrupt('SIGINT', log));
    process.on('SIGTERM', () => interrupt('SIGTERM', log));
    if (o.rollout) {
      const code = await runReplacementDrill({
        release: o.release,
        quick: o.quick,
        peers,
        lb: o.lb,
        backplane: o.backplane,
        log,
        out: (l) => process.stdout.write(`${l}\n`),
      });
      if (!interrupted) process.exit(code);
      return;
    }
    const results = await runDrill({
      quick: o.quick,
      peers,
      scenarios: o.scenarios,
      lb: o.lb,
      backplane: o.backplane,
      log,
      signal: aborted.signal,
    });
    if (interrupted) return;
    // The command that reproduces the run: where its outputs go is not part of it.
    const argv = reproArgs(process.argv.slice(2)).join(' ');
    const meta = runMeta({
      quick: o.quick,
      peers,
      date: new Date().toISOString().slice(0, 10),
      command: `npm run drill${argv ? ` -- ${argv}` : ''}`,
    });
    const file = writeReport(path.resolve(o.out), results, meta);
    if (o.doc) log(`drill block filled: ${o.doc}, chart ${updateReadme(path.resolve(o.doc), results, meta, o.docChart)}`);
    const missed = results.flatMap((r) =>
      r.checks.filter((c) => !c.ok).map((c) => `scenario ${r.n}: ${c.what} = ${c.value} (bound ${c.bound})`),
    );
    log(`report: ${file}`);
    for (const m of missed) log(`MISSED ${m}`);
    process.exit(missed.length > 0 ? 1 : 0);
  });
let interrupted: Promise<void> | undefined;
const aborted = new AbortController();
function interrupt(sig: string, log: (l: string) => void): void {
  interrupted ??= (async () => {
    aborted.abort();
    const regions = [...runningRegions];
    log(
      `interrupted (${sig}): stopping ${regions.length} region(s): fleet, a drain of every server, the load balancer and the backplane; no report is written`,
    );
    let failed = false;
    await Promise.all(
      regions.map(async (r) => {
        try {
          const s = await r.stop();
          if (s)
            log(
              `fleet: ${s.peers} peers, ${s.sent} signals sent, ${s.delivered} delivered, ${s.lost} lost, ${s.duplicated} duplicated, ${s.reconnects} reconnects, peers ever offline ${r.monitor.everOffline.size}`,
            );
        } catch (err) {
          failed = true;
          log(`stop failed: ${(err as Error).message}`);
        }
      }),
    );
    log('stopped.');
    process.exit(failed ? 1 : 0);
  })();
}

/** `args` without the output options (`--out`, `--doc`, `--doc-chart`) and their values. */
function reproArgs(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const m = /^--(out|doc|doc-chart)(=.*)?$/.exec(args[i]);
    if (!m) out.push(args[i]);
    else if (!m[2]) i++;
  }
  return out;
}

program.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
program.parseAsync().catch((err: Error) => {
  // A scenario cut short by Ctrl-C fails on its stopped region: the interrupt decides the exit.
  if (interrupted) return;
  process.stderr.write(`drill: ${err.stack ?? err.message}\n`);
  process.exit(2);
});
