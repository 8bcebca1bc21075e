/**
 * `npm run drill -- --quick --scenarios 5`: two regions, region 1 evacuated during traffic
 * (docs/regions.md). Exit 0 means every check was met: every peer on region 2 afterwards, each
 * evacuated peer's gap within regionEvacuationBoundMs, 0 lost, 0 duplicated, none shown offline.
 */
import fs from 'node:fs';
import path from 'node:path';
import { regionEvacuationBoundMs } from '../../app/contract/timeouts';
import { redisAvailable } from '../../app/local/region/redis';
import { regionTimeouts } from '../../app/local/region/timeouts';
import { runDrill } from '../helpers/drill';

jest.setTimeout(240_000);
const maybe = redisAvailable() ? test : test.skip;

maybe('drill --quick --scenarios 5: a region evacuated, every peer moves, nothing lost, gaps within the bound', async () => {
  const {
    out,
    results: [r],
  } = await runDrill(['--quick', '--scenarios', '5', '--peers', '40']);
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
