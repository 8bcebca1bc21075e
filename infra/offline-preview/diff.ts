/**
 * npm run plan:diff -- --base <git ref> [--stack dev --stack prod]
 *
 * The difference between the offline plan at <ref> and the plan of the working tree, per stack
 * (default: every Pulumi.<stack>.yaml in either tree), as a unified diff. The base tree is exported
 * with `git archive` into a temporary directory (no worktree, no index changes) and rendered by its
 * own `infra/offline-preview/cli.ts`, so each side's plan is exactly what `npm run plan` printed at that commit.
 * A side without a plan (no plan tool yet, no such stack) renders as empty; an invalid stack renders
 * as its error. Exit 0 when every working-tree stack renders, 1 otherwise.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { exitQuietlyOnClosedPipe } from '../cli-stdout';
import { unifiedDiff } from './unified-diff';

interface Side {
  label: string;
  text: string;
  ok: boolean;
}

function git(root: string, args: string[]): string {
  return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** Export `commit` into a fresh directory that shares the working tree's node_modules. */
function exportTree(root: string, commit: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-plan-base-'));
  const tar = spawnSync('sh', ['-c', `git archive --format=tar "${commit}" | tar -x -C "${dir}"`], { cwd: root, encoding: 'utf8' });
  if (tar.status !== 0) throw new Error(`git archive ${commit} failed: ${tar.stderr}`);
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  return dir;
}

function stacksIn(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .map((f) => /^Pulumi\.([^.]+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => Boolean(s));
}

/** Where a tree keeps its plan CLI: today's path first, then where commits before issue 24 kept it. */
const CLI_PATHS = ['infra/offline-preview/cli.ts', 'infra/plan/cli.ts'];

/** Run that tree's own plan CLI for `stack`. */
function planOf(tree: string, stack: string, label: string, tsx: string): Side {
  // The entry point moved (issue 24): a base commit from before the move has it at infra/plan/cli.ts.
  const cli = CLI_PATHS.map((p) => path.join(tree, p)).find((p) => fs.existsSync(p));
  if (!cli) return { label, text: '', ok: true };
  if (!fs.existsSync(path.join(tree, `Pulumi.${stack}.yaml`))) return { label, text: '', ok: true };
  const r = spawnSync(tsx, [cli, '--stack', stack, '--root', tree], {
    cwd: tree,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: 120_000,
  });
  if (r.status === 0) return { label, text: r.stdout, ok: true };
  return { label, text: `# plan failed (exit ${r.status ?? r.signal}):\n${(r.stderr || r.stdout).trim()}\n`, ok: false };
}

function main(): number {
  const opts = new Command('plan:diff')
    .description('Diff the offline plan at a git ref against the working tree')
    .requiredOption('-b, --base <ref>', 'git ref to compare against (e.g. origin/main)')
    .option('-s, --stack <name...>', 'stacks to compare (default: all Pulumi.<stack>.yaml in either tree)')
    .option('-r, --root <dir>', 'repository root', process.cwd())
    .parse()
    .opts<{ base: string; stack?: string[]; root: string }>();
  const root = path.resolve(opts.root);
  const commit = git(root, ['rev-parse', '--verify', `${opts.base}^{commit}`]);
  const short = commit.slice(0, 12);
  const tsx = path.join(root, 'node_modules/.bin/tsx');
  const baseTree = exportTree(root, commit);
  let failed = false;
  try {
    const stacks = opts.stack ?? [...new Set([...stacksIn(baseTree), ...stacksIn(root)])].sort();
    for (const stack of stacks) {
      const base = planOf(baseTree, stack, `${opts.base} (${short})`, tsx);
      const head = planOf(root, stack, 'working tree', tsx);
      failed ||= !head.ok;
      const diff = unifiedDiff(base.text, head.text, `plan ${stack} @ ${base.label}`, `plan ${stack} @ ${head.label}`);
      const summary = diff.changed ? `+${diff.added} -${diff.removed} lines` : 'no changes';
      process.stdout.write(`### stack ${stack}: ${summary}${head.ok ? '' : ' (working tree plan FAILED)'}\n`);
      if (diff.changed) process.stdout.write(`${diff.text}\n`);
    }
  } finally {
    // Drop the node_modules link first so nothing can ever follow it.
    fs.unlinkSync(path.join(baseTree, 'node_modules'));
    fs.rmSync(baseTree, { recursive: true, force: true });
  }
  return failed ? 1 : 0;
}

exitQuietlyOnClosedPipe();
try {
  process.exitCode = main();
} catch (err) {
  process.stderr.write(`plan:diff: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 2;
}
