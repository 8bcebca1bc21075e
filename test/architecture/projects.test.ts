/**
 * The jest projects hold what they say (test/projects.js): a `quick` suite loads no Pulumi and
 * calls nothing that starts a child process, a `pulumi` suite does load the Pulumi SDK, and every test file is in
 * exactly one project. What a file loads is read off its imports, followed through every relative
 * module it loads at run time (`import type` is erased, so it loads nothing).
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the same CommonJS module jest.config.js reads
const { projectOf } = require('../projects') as { projectOf(file: string): 'quick' | 'pulumi' | 'e2e' };

const ROOT = path.resolve(__dirname, '../..');

const specifiers = new Map<string, string[]>();
/** The specifiers a file loads at run time: value imports, re-exports and dynamic imports. */
function loadedSpecifiers(file: string): string[] {
  const known = specifiers.get(file);
  if (known) return known;
  const src = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const out: string[] = [];
  const visit = (n: ts.Node) => {
    if (ts.isImportDeclaration(n) && !n.importClause?.isTypeOnly) out.push((n.moduleSpecifier as ts.StringLiteral).text);
    else if (ts.isExportDeclaration(n) && n.moduleSpecifier && !n.isTypeOnly) out.push((n.moduleSpecifier as ts.StringLiteral).text);
    else if (
      ts.isCallExpression(n) &&
      (n.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(n.expression) && n.expression.text === 'require')) &&
      n.arguments.length === 1 &&
      ts.isStringLiteral(n.arguments[0])
    )
      out.push(n.arguments[0].text);
    ts.forEachChild(n, visit);
  };
  visit(src);
  specifiers.set(file, out);
  return out;
}

/** Every package (bare specifier) a file loads, directly or through the repository's own modules. */
function packagesLoaded(file: string, seen = new Set<string>(), found = new Set<string>()): Set<string> {
  if (seen.has(file)) return found;
  seen.add(file);
  for (const spec of loadedSpecifiers(file)) {
    if (!spec.startsWith('.')) {
      found.add(spec.replace(/^node:/, ''));
      continue;
    }
    const base = path.resolve(path.dirname(file), spec);
    const target = [base, `${base}.ts`, `${base}.js`, path.join(base, 'index.ts')].find((f) => fs.existsSync(f) && fs.statSync(f).isFile());
    if (target) packagesLoaded(target, seen, found);
  }
  return found;
}

function testFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return testFiles(p);
    return e.name.endsWith('.test.ts') ? [path.relative(ROOT, p)] : [];
  });
}

const files = testFiles(path.join(ROOT, 'test'));
/** A call that starts a child process (node:child_process, or the helpers that wrap it). */
const STARTS_PROCESS = /(?<![.\w])(spawn|spawnSync|spawnServer|exec|execSync|execFile|execFileSync|fork|startRedis|runScript)\(/;
const pulumi = (pkgs: Set<string>) => [...pkgs].filter((p) => p.startsWith('@pulumi/'));

test('a quick suite loads no Pulumi and calls nothing that starts a child process', () => {
  const bad: string[] = [];
  for (const f of files.filter((x) => projectOf(x) === 'quick')) {
    const pkgs = packagesLoaded(path.join(ROOT, f));
    if (pulumi(pkgs).length > 0) bad.push(`${f} loads ${pulumi(pkgs).join(', ')}: list it in PULUMI`);
    const starts = STARTS_PROCESS.exec(fs.readFileSync(path.join(ROOT, f), 'utf8'));
    if (starts) bad.push(`${f} calls ${starts[1]}(): list it in E2E`);
  }
  expect(bad).toEqual([]);
});

test('a pulumi suite does load the Pulumi SDK (else it belongs in quick)', () => {
  const idle = files.filter((f) => projectOf(f) === 'pulumi' && pulumi(packagesLoaded(path.join(ROOT, f))).length === 0);
  expect(idle).toEqual([]);
});

test('the projects split the test files (quick, pulumi and e2e all hold some)', () => {
  const by = (p: string) => files.filter((f) => projectOf(f) === p).length;
  expect(by('quick') + by('pulumi') + by('e2e')).toBe(files.length);
  for (const p of ['quick', 'pulumi', 'e2e']) expect(by(p)).toBeGreaterThan(0);
  expect(projectOf('test/infra/offline-preview.test.ts')).toBe('pulumi');
  expect(projectOf('test/contract/timeouts.test.ts')).toBe('quick');
  expect(packagesLoaded(path.join(ROOT, 'test/infra/offline-preview.test.ts')).has('@pulumi/pulumi')).toBe(true);
  // (split so that this file's own text does not hold the call)
  expect(STARTS_PROCESS.test(`const srv = await ${'spawnServer'}({})`)).toBe(true);
  expect(STARTS_PROCESS.test('const m = /x/.exec(text)')).toBe(false);
});
