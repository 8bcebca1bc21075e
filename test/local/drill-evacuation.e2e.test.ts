/**
 * `npm run drill -- --quick --scenarios 5`: two regions, region 1 evacuated during traffic
 * (docs/regions.md). Exit 0 means every check was met: every peer on region 2 afterwards, each
 * evacuated peer's gap within regionEvacuationBoundMs, 0 lost, 0 duplicated, none shown offline.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { regionEvacuationBoundMs } from '../../app/contract/timeouts';
import { redisAvailable } from '../../app/local/region/redis';
import { regionTimeouts } from '../../app/local/region/timeouts';

const ROOT = path.resolve(__dirname, '../..');
jest.setTimeout(240_000);
const maybe = redisAvailable() ? test : test.skip;

maybe('drill --quick --scenarios 5: a region evacuated, every peer moves, nothing lost, gaps within the bound', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-drill-5-'));
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(ROOT, 'app/local/drill/cli.ts'), '--quick', '--scenarios', '5', '--peers', '40', '--out', out],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
  if (code !== 0) console.log(stderr);
  expect(code).toBe(0);
  const [r] = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as Array<{
    n: number;
    affected: number;
    outageMs: { max: number; count: number };
    summary: { lost: number; duplicated: number; settled: boolean; sent: number };
    everOffline: number;
    checks: Array<{ what: string; value: number; bound: number; ok: boolean }>;
  }>;
  expect(r.n).toBe(5);
  expect(r.affected).toBeGreaterThan(0);
  expect(r.outageMs.count).toBe(r.affected);
  expect(r.outageMs.max).toBeLessThanOrEqual(regionEvacuationBoundMs(regionTimeouts(true)));
  expect(r.checks.find((c) => c.what === 'peers on region 2 afterwards')).toMatchObject({ value: 40, ok: true });
  expect(r.summary).toMatchObject({ lost: 0, duplicated: 0, settled: true });
  expect(r.summary.sent).toBeGreaterThan(0);
  expect(r.everOffline).toBe(0);
  console.log(
    fs
      .readFileSync(path.join(out, 'report.md'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('| 5.') || l.startsWith('- '))
      .join('\n'),
  );
});
