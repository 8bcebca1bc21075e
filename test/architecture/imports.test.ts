/**
 * Imports go one way: contract <- protocol <- auth <- backplane <- server. The client SDK and the
 * peer tools never load the server; nothing in app/ loads Pulumi; infra/ takes from app/ only the
 * values it must agree on (contract, protocol) and the Pulumi-free gated step loop (app/gated-steps)
 * (INFRA_MAY_IMPORT). No file imports another that imports it back, not even for a type, and
 * no longer chain of imports comes back to where it started.
 * The layer table is also what the architecture diagram of docs/architecture.md is checked against.
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { INFRA_MAY_IMPORT, LAYERS, layerOf } from './layers';

const ROOT = path.resolve(__dirname, '../..');

function files(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...files(p));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Every import/export-from/require specifier of a file, resolved to a repo path when relative. */
function importsOf(file: string): Array<{ spec: string; target?: string }> {
  const info = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
  return info.importedFiles.map(({ fileName: spec }) => {
    if (!spec.startsWith('.')) return { spec };
    const base = path.resolve(path.dirname(file), spec);
    const target = [`${base}.ts`, path.join(base, 'index.ts')].find((f) => fs.existsSync(f));
    return { spec, target };
  });
}

const rel = (f: string) => path.relative(ROOT, f);
const appFiles = files(path.join(ROOT, 'app'));
const infraFiles = files(path.join(ROOT, 'infra'));
/** Every TypeScript file of the repository that the cycle check covers. */
const allFiles = ['app', 'infra', 'bench', 'test'].flatMap((d) => files(path.join(ROOT, d)));

/** `file -> layer it imports` pairs that break the table, as readable lines. */
export function upwardImports(): string[] {
  const bad: string[] = [];
  for (const f of appFiles) {
    const from = layerOf(rel(f));
    for (const { spec, target } of importsOf(f)) {
      if (spec.startsWith('@pulumi/')) bad.push(`${rel(f)} imports ${spec} (app/ never loads Pulumi)`);
      if (!target) continue;
      const to = layerOf(rel(target));
      if (to !== from && !LAYERS[from].mayImport.includes(to)) bad.push(`${rel(f)} (${from}) imports ${rel(target)} (${to})`);
    }
  }
  for (const f of infraFiles) {
    for (const { target } of importsOf(f)) {
      if (!target || !rel(target).startsWith('app/')) continue;
      const to = layerOf(rel(target));
      if (!INFRA_MAY_IMPORT.includes(to))
        bad.push(`${rel(f)} (infra) imports ${rel(target)} (${to}): infra takes only ${INFRA_MAY_IMPORT.join(', ')} from app/`);
    }
  }
  return bad;
}

/** `a -> b` for every pair of distinct layers where a file of a imports a file of b (infra counted as a layer). */
export function layerEdges(): string[] {
  const edges = new Set<string>();
  for (const f of [...appFiles, ...infraFiles]) {
    const from = rel(f).startsWith('infra/') ? 'infra' : layerOf(rel(f));
    for (const { target } of importsOf(f)) {
      if (!target || !rel(target).startsWith('app/')) continue;
      const to = layerOf(rel(target));
      if (to !== from) edges.add(`${from} -> ${to}`);
    }
  }
  return [...edges].sort();
}

/**
 * Every import cycle between files, one line per cycle (`a -> b -> a`). All imports count, `import
 * type` too: a type-only cycle does not break loading order, but it still ties two files so that
 * neither can be read, moved or tested alone.
 */
export function cycles(graph: Map<string, string[]>): string[] {
  const found: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, 'open');
    stack.push(f);
    for (const t of graph.get(f) ?? []) {
      if (state.get(t) === 'open') found.push([...stack.slice(stack.indexOf(t)), t].join(' -> '));
      else if (!state.has(t)) visit(t);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f);
  return [...new Set(found)];
}

/** The repository's import graph: file -> files it imports (type-only imports included). */
function importGraph(): Map<string, string[]> {
  return new Map(
    allFiles.map((f) => [
      rel(f),
      importsOf(f)
        .map((i) => i.target)
        .filter((t): t is string => t !== undefined)
        .map(rel),
    ]),
  );
}

test('every file of app/ belongs to a known layer', () => {
  for (const f of appFiles) expect(LAYERS[layerOf(rel(f))]).toBeDefined();
});

test('no layer imports upward, app/ never imports Pulumi, infra/ takes only contract, protocol and gated-steps', () => {
  expect(upwardImports()).toEqual([]);
});

test('no import cycle between files anywhere (app/, infra/, bench/, test/; type-only imports count)', () => {
  expect(cycles(importGraph())).toEqual([]);
});

test('the cycle check sees a type-only cycle and a longer one (it is not vacuous)', () => {
  const src = ts.preProcessFile("import type { A } from './a';\nexport type { B } from './b';", true, true);
  expect(src.importedFiles.map((f) => f.fileName)).toEqual(['./a', './b']);
  expect(
    cycles(
      new Map([
        ['a', ['b']],
        ['b', ['a']],
      ]),
    ),
  ).toEqual(['a -> b -> a']);
  expect(
    cycles(
      new Map([
        ['a', ['b']],
        ['b', ['c']],
        ['c', ['a']],
        ['d', ['a']],
      ]),
    ),
  ).toEqual(['a -> b -> c -> a']);
  expect(
    cycles(
      new Map([
        ['a', ['b', 'c']],
        ['b', ['c']],
        ['c', []],
      ]),
    ),
  ).toEqual([]);
  expect(importGraph().get('app/server/server.ts')).toContain('app/server/admin.ts');
});

test('the contract is plain data and functions: no I/O modules', () => {
  const io = /^(node:)?(fs|child_process|net|http|https|dgram|fs\/promises)$/;
  for (const f of appFiles.filter((x) => layerOf(rel(x)) === 'contract')) {
    expect(
      importsOf(f)
        .filter((i) => io.test(i.spec))
        .map((i) => `${rel(f)}: ${i.spec}`),
    ).toEqual([]);
  }
});

test('the check fails on an upward import (it is not vacuous)', () => {
  expect(LAYERS.backplane.mayImport).not.toContain('server');
  expect(LAYERS.client.mayImport).not.toContain('server');
  expect(LAYERS.client.mayImport).not.toContain('auth');
  expect(layerOf('app/backplane/index.ts')).toBe('backplane');
  expect(layerOf('app/server/config.ts')).toBe('server');
});

test('the docs/architecture.md diagram draws exactly the imports that exist between layers', () => {
  const readme = fs.readFileSync(path.join(ROOT, 'docs/architecture.md'), 'utf8');
  const block = /<!-- architecture:begin[^>]*-->\s*```mermaid\n([\s\S]*?)```\s*<!-- architecture:end -->/.exec(readme);
  expect(block).not.toBeNull();
  const drawn = [...block![1].matchAll(/^\s*([\w-]+)\s*-->\s*([\w-]+)\s*$/gm)].map((m) => `${m[1]} -> ${m[2]}`).sort();
  expect(drawn).toEqual(layerEdges());
});
