/**
 * `--help` on a benchmark prints what it measures and exits at once (bench/lib/help.ts): before it,
 * `npx tsx bench/drain.ts --help` ran a whole 10k drain and overwrote bench/results/drain.*.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { openingDoc } from '../../bench/lib/help';

const ROOT = path.join(__dirname, '..', '..');
const SCRIPTS = fs.readdirSync(path.join(ROOT, 'bench')).filter((f) => f.endsWith('.ts'));

describe('bench --help', () => {
  it('every bench script imports the help module first', () => {
    expect(SCRIPTS.length).toBeGreaterThan(10);
    for (const f of SCRIPTS) {
      const src = fs.readFileSync(path.join(ROOT, 'bench', f), 'utf8');
      const firstImport = /^import .*$/m.exec(src)?.[0];
      expect([f, firstImport]).toEqual([f, expect.stringContaining("import './lib/help'")]);
      expect([f, (openingDoc(src) ?? '').length > 40]).toEqual([f, true]);
    }
  });

  it('drain.ts --help prints its description and exits 0 without starting a server', () => {
    const results = path.join(ROOT, 'bench', 'results', 'drain.json');
    const before = fs.existsSync(results) ? fs.statSync(results).mtimeMs : 0;
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'bench/drain.ts', '--peers', '10000', '--help'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(out).toMatch(/^Benchmark: drain 10k connections/);
    expect(out).not.toMatch(/\/\*\*|\*\//);
    expect(fs.existsSync(results) ? fs.statSync(results).mtimeMs : 0).toBe(before);
  });

  it('openingDoc strips the comment markers and returns undefined without a doc comment', () => {
    expect(openingDoc('/**\n * one\n * two\n */\ncode')).toBe('one\ntwo');
    expect(openingDoc('const x = 1;')).toBeUndefined();
  });
});
