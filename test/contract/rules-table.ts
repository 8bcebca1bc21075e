/**
 * Renders the contract's rules as the README table, so the documentation cannot drift from the code.
 * `npx tsx test/contract/rules-table.ts` rewrites the block between the rules markers in README.md;
 * test/contract/readme.test.ts fails when it is stale. It lives beside that test: the contract
 * itself does no I/O.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describeRules } from '../../app/contract/timeouts';

export const RULES_BEGIN = '<!-- rules:begin (generated from describeRules(); test/contract/readme.test.ts keeps it in sync) -->';
export const RULES_END = '<!-- rules:end -->';

export function renderRulesTable(): string {
  const rows = describeRules().map((r) => `| \`${r.name}\` | ${r.why} |`);
  return ['| rule | what it guarantees |', '| --- | --- |', ...rows].join('\n');
}

export function withRulesTable(readme: string): string {
  const start = readme.indexOf(RULES_BEGIN);
  const end = readme.indexOf(RULES_END);
  if (start < 0 || end < start) throw new Error('README.md has no rules markers');
  return `${readme.slice(0, start + RULES_BEGIN.length)}\n${renderRulesTable()}\n${readme.slice(end)}`;
}

if (require.main === module) {
  const file = path.resolve(__dirname, '../../README.md');
  fs.writeFileSync(file, withRulesTable(fs.readFileSync(file, 'utf8')));
}
