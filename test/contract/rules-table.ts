/**
 * Renders the contract's rules and its units schema as the tables of docs/timeouts.md, so the
 * documentation cannot drift from the code. `npx tsx test/contract/rules-table.ts` rewrites the blocks
 * between the rules and the units markers in docs/timeouts.md;
 * test/contract/readme.test.ts fails when it is stale. It lives beside that test: the contract
 * itself does no I/O.
 */
import fs from 'node:fs';
import path from 'node:path';
import { defaultGkeTimeouts, GKE_UNITS } from '../../app/contract/gke';
import { defaultTimeouts, describeRules } from '../../app/contract/timeouts';
import { unitFields } from '../../app/contract/units';

export const RULES_BEGIN = '<!-- rules:begin (generated from describeRules(); test/contract/readme.test.ts keeps it in sync) -->';
export const RULES_END = '<!-- rules:end -->';
export const UNITS_BEGIN = '<!-- units:begin (generated from UNITS and GKE_UNITS; test/contract/readme.test.ts keeps it in sync) -->';
export const UNITS_END = '<!-- units:end -->';

/** What each unit means in the table (and so in the rules: positive-values, integer-values). */
const UNIT_MEANING: Record<string, string> = {
  ms: 'milliseconds, positive',
  s: 'whole seconds, positive',
  count: 'a whole number, positive',
  ratio: 'a fraction',
  kind: 'one of a list',
  flag: 'true / false',
};

export function renderRulesTable(): string {
  const rows = describeRules().map((r) => `| \`${r.name}\` | ${r.why} |`);
  return ['| rule | what it guarantees |', '| --- | --- |', ...rows].join('\n');
}

/** Every value of the contract with its declared unit and default. */
export function renderUnitsTable(): string {
  const defaults = defaultTimeouts as unknown as Record<string, Record<string, unknown>>;
  const rows = [
    ...unitFields().map((f) => ({ key: f.key, unit: f.unit, value: defaults[f.group][f.field] })),
    ...(Object.keys(GKE_UNITS) as Array<keyof typeof GKE_UNITS>).map((k) => ({
      key: `gke.${k}`,
      unit: GKE_UNITS[k],
      value: defaultGkeTimeouts[k],
    })),
  ].map((r) => `| \`${r.key}\` | ${r.unit} (${UNIT_MEANING[r.unit]}) | ${String(r.value)} |`);
  return ['| value | unit | default |', '| --- | --- | --- |', ...rows].join('\n');
}

function replaceBlock(doc: string, begin: string, end: string, body: string): string {
  const start = doc.indexOf(begin);
  const stop = doc.indexOf(end);
  if (start < 0 || stop < start) throw new Error(`docs/timeouts.md has no ${begin} ... ${end} markers`);
  return `${doc.slice(0, start + begin.length)}\n${body}\n${doc.slice(stop)}`;
}

/** The doc with both generated tables (rules, units) rewritten from the code. */
export function withRulesTable(doc: string): string {
  return replaceBlock(replaceBlock(doc, RULES_BEGIN, RULES_END, renderRulesTable()), UNITS_BEGIN, UNITS_END, renderUnitsTable());
}

if (require.main === module) {
  const file = path.resolve(__dirname, '../../docs/timeouts.md');
  fs.writeFileSync(file, withRulesTable(fs.readFileSync(file, 'utf8')));
}
