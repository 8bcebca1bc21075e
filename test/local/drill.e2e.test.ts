/**
 * `npm run drill -- --quick --scenarios 1,2,3` end to end, on real HAProxy and real Redis when
 * installed (CI installs both): exit 0 means every bound from the contract was met; the report and
 * one chart per scenario are written, and the numbers in results.json say why.
 */
import fs from 'node:fs';
import path from 'node:path';
import { runDrill } from '../helpers/drill';

jest.setTimeout(300_000);

test('drill --quick, scenarios 1-3: every bound met, nothing lost', async () => {
  const { out, results } = await runDrill(['--quick', '--scenarios', '1,2,3']);
  expect(results.map((r) => r.n)).toEqual([1, 2, 3]);
  for (const r of results) {
    expect(r.checks.every((c) => c.ok)).toBe(true);
    expect(r.summary.lost).toBe(0);
    expect(r.summary.duplicated).toBe(0);
    expect(r.summary.settled).toBe(true);
    expect(r.everOffline).toBe(0);
    expect(r.affected).toBeGreaterThan(0);
    expect(r.outageMs.count).toBe(r.n === 1 ? r.outageMs.count : r.affected);
    if (process.env.CI || fs.existsSync('/usr/sbin/haproxy')) expect(r.lb).toBe('haproxy');
    expect(fs.readFileSync(path.join(out, `scenario-${r.n}.svg`), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
  }
  const report = fs.readFileSync(path.join(out, 'report.md'), 'utf8');
  expect(report).toContain('| 3. drain skipped, LB timeout ineffective |');
  expect(report).not.toContain('MISSED');
  console.log(
    report
      .split('\n')
      .filter((l) => l.startsWith('| 1.') || l.startsWith('| 2.') || l.startsWith('| 3.'))
      .join('\n'),
  );
  fs.rmSync(out, { recursive: true, force: true });
});
