/**
 * `--help` on a benchmark prints what it measures and exits at once (bench/lib/help.ts): before it,
 * `npx tsx bench/drain.ts --help` ran a whole 10k drain and overwrote bench/results/drain.*.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { openingDoc } from '../../bench/lib/help';

const ROOT = path.join(__dirname, '..', '..');
const SCRIPTS = fs.readdirSync(path.join(ROOT, 'bench')).filter((f) => f.endsWith('.ts'));
/**
 * Scripts whose owners this session convert them to bench/lib/args.ts themselves (the conversion for
 * each is in docs/benchmarks.md, 2026-12-07 session 5): until then they still read process.argv.
 */

/** Runs a bench script as `npm run` would; a script that started its work would outlive the timeout. */
function runBench(script: string, args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', `bench/${script}`, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
}
const mtime = (file: string) => (fs.existsSync(file) ? fs.statSync(file).mtimeMs : 0);

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

  it('every bench script takes its options from bench/lib/args.ts, never from process.argv', () => {
    for (const f of SCRIPTS) {
      const src = fs.readFileSync(path.join(ROOT, 'bench', f), 'utf8');
      expect([f, /process\.argv/.test(src)]).toEqual([f, false]);
      if (/--[a-z]/.test(openingDoc(src) ?? '')) expect([f, src]).toEqual([f, expect.stringContaining("from './lib/args'")]);
    }
  });

  it('a typo in a flag exits 2 naming it, before anything starts or any result is written', () => {
    const results = path.join(ROOT, 'bench', 'results', 'defenses.json');
    const before = mtime(results);
    const r = runBench('defenses.ts', ['--peer', '5000']);
    expect(r.error).toBeUndefined(); // not killed at the timeout: it did not start the fleet
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^bench\/defenses\.ts: --peer: unknown option \(did you mean --peers\?\); options: --peers\n/);
    expect(r.stdout).toBe('');
    expect(mtime(results)).toBe(before);
  });

  it('a bad value exits 2 saying what the flag expects; so does an unknown benchmark name for bench/all.ts', () => {
    const redis = runBench('redis.ts', ['--rates', '2000,fast']);
    expect([redis.status, redis.stderr]).toEqual([
      2,
      expect.stringContaining("--rates: expected comma-separated whole numbers, each >= 1, got '2000,fast'"),
    ]);
    const all = runBench('all.ts', ['rely']);
    expect([all.status, all.stderr]).toEqual([2, expect.stringContaining("unknown benchmark 'rely': expected one of relay.ts,")]);
  });

  it('openingDoc strips the comment markers and returns undefined without a doc comment', () => {
    expect(openingDoc('/**\n * one\n * two\n */\ncode')).toBe('one\ntwo');
    expect(openingDoc('const x = 1;')).toBeUndefined();
  });
});
