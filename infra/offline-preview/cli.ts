/**
 * npm run plan -- --stack dev [--root <dir>] [--out <file>] [--image <repo>@sha256:<digest>]
 *
 * Prints the deterministic offline plan of a stack (see preview.ts). Exit 1 when the stack is invalid
 * (the broken key or contract rule is named on stderr), 2 on any other failure.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { exitQuietlyOnClosedPipe } from '../cli-stdout';
import { StackConfigError } from '../config';
import { renderPreviewOf } from './preview';
import { readStackFiles } from './render';

async function main(): Promise<void> {
  exitQuietlyOnClosedPipe();
  const cmd = new Command('plan')
    .description('Render the Pulumi program offline (mocks) and print a deterministic plan')
    .requiredOption('-s, --stack <name>', 'stack name (reads Pulumi.<name>.yaml)')
    .option('-r, --root <dir>', 'project directory holding Pulumi.yaml', process.cwd())
    .option('-o, --out <file>', 'write the plan to a file instead of stdout')
    .option('--image <ref>', "plan with this image instead of sluice:image (the digest the deploy workflow's image job pushed)")
    .parse();
  const opts = cmd.opts<{ stack: string; root: string; out?: string; image?: string }>();
  const root = path.resolve(opts.root);
  const files = readStackFiles(root, opts.stack);
  if (opts.image !== undefined) files.config['sluice:image'] = opts.image;
  const { text } = await renderPreviewOf(root, opts.stack, files);
  if (opts.out) fs.writeFileSync(opts.out, text);
  else process.stdout.write(text);
}

main().catch((err: unknown) => {
  if (err instanceof StackConfigError) {
    process.stderr.write(`plan: ${err.message}\n`);
    process.exit(1);
  }
  process.stderr.write(`plan: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(2);
});
