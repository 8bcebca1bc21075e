/**
 * Every relative link of README.md, CONTRIBUTING.md, docs/*.md and the SDK's README points at a file
 * that exists and, with a #fragment, at a heading that exists there (GitHub's anchor rule: lower
 * case, punctuation dropped, spaces to dashes). Moving a section breaks a test, not a reader.
 */
import fs from 'node:fs';
import path from 'node:path';
import { docFiles, ROOT } from './snippets';

const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\w\- ]/g, '')
    .replace(/ /g, '-');
const read = (f: string) => fs.readFileSync(path.join(ROOT, f), 'utf8');
const anchorsOf = (f: string) => new Set([...read(f).matchAll(/^#+ (.+)$/gm)].map((m) => slug(m[1])));

test('relative links and their #anchors resolve', () => {
  const broken: string[] = [];
  for (const f of docFiles()) {
    const prose = read(f).replace(/^([ \t]*)```[\s\S]*?^\1```/gm, '');
    for (const [, target] of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue;
      const [file, anchor] = target.split('#');
      const resolved = file ? path.normalize(path.join(path.dirname(f), file)) : f;
      if (!fs.existsSync(path.join(ROOT, resolved))) broken.push(`${f}: ${target} (no file ${resolved})`);
      else if (anchor && resolved.endsWith('.md') && !anchorsOf(resolved).has(anchor))
        broken.push(`${f}: ${target} (no heading #${anchor})`);
    }
  }
  expect(broken).toEqual([]);
});

test('the check is not vacuous: the docs link to each other', () => {
  const links = docFiles().flatMap((f) => [...read(f).matchAll(/\]\((?![a-z]+:)[^)\s]+\)/g)]);
  expect(links.length).toBeGreaterThan(30);
  expect(anchorsOf('docs/operating.md').has('run-a-region-locally')).toBe(true);
});
