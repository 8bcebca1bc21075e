/** `npm run drill` end to end from a test: the CLI run as a child process, its results.json read back. */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ScenarioResult } from '../../app/local/drill/result';

const ROOT = path.resolve(__dirname, '../..');

export interface DrillRun {
  /** The report directory (report.md, results.json, one chart per scenario). */
  out: string;
  /** results.json: each scenario's result without its chart. */
  results: Array<Omit<ScenarioResult, 'chart'>>;
}

/**
 * Run app/local/drill/cli.ts with `args` and a fresh --out directory; expects exit 0 (every bound
 * met) and prints the drill's stderr when it is not.
 */
export async function runDrill(args: string[]): Promise<DrillRun> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-drill-'));
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'app/local/drill/cli.ts'), ...args, '--out', out], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
  if (code !== 0) console.log(stderr);
  expect(code).toBe(0);
  const results = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as DrillRun['results'];
  return { out, results };
}
