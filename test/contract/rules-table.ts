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
import { defaultTimeouts, describeRules, livenessSchedule, Timeouts } from '../../app/contract/timeouts';
import { unitFields } from '../../app/contract/units';

export const RULES_BEGIN = '<!-- rules:begin (generated from describeRules(); test/contract/readme.test.ts keeps it in sync) -->';
export const RULES_END = '<!-- rules:end -->';
export const UNITS_BEGIN = '<!-- units:begin (generated from UNITS and GKE_UNITS; test/contract/readme.test.ts keeps it in sync) -->';
export const UNITS_END = '<!-- units:end -->';
export const LIVENESS_BEGIN = '<!-- liveness:begin (generated from livenessSchedule(); test/contract/readme.test.ts keeps it in sync) -->';
export const LIVENESS_END = '<!-- liveness:end -->';

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

/** Both ends' liveness timing with the default contract, as livenessSchedule() derives it. */
export function renderLivenessTable(t: Timeouts = defaultTimeouts): string {
  const l = livenessSchedule(t);
  const s = (ms: number) => `${ms / 1000} s`;
  const rows: Array<[string, string, string]> = [
    ['SDK heartbeat', `every ${s(l.heartbeatIntervalMs)}`, '`client.heartbeatIntervalMs`'],
    ['SDK gives a heartbeat up', `after ${s(l.heartbeatTimeoutMs)}`, '`client.heartbeatTimeoutMs`'],
    ['SDK notices a silent server', `within ${s(l.clientDetectionMs)}`, 'interval + timeout <= `client.deadPeerDetectionMs`'],
    ["server's first ping", `at ${s(l.firstPingMs)} of silence`, '1.1 x `client.heartbeatIntervalMs`: a heartbeating SDK is never pinged'],
    ["server's second ping", `at ${s(l.secondPingMs)} of silence`, 'first ping + `server.pingIntervalMs`'],
    [
      'room for the second pong',
      s(l.pongRoomMs),
      'idle limit - second ping >= `server.pingIntervalMs` (rule `server-idle-covers-two-pings`)',
    ],
    ['server ends a silent connection', `at ${s(l.idleLimitMs)} of silence`, '`server.idleTimeoutMs`'],
    [
      'longest silence of a healthy connection',
      s(l.longestHealthySilenceMs),
      'x 2 <= `lb.idleTimeoutSec` (rule `lb-idle-exceeds-heartbeats`)',
    ],
  ];
  return ['| step | when | from |', '| --- | --- | --- |', ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function replaceBlock(doc: string, begin: string, end: string, body: string): string {
  const start = doc.indexOf(begin);
  const stop = doc.indexOf(end);
  if (start < 0 || stop < start) throw new Error(`docs/timeouts.md has no ${begin} ... ${end} markers`);
  return `${doc.slice(0, start + begin.length)}\n${body}\n${doc.slice(stop)}`;
}

/** The doc with its generated tables (rules, units, liveness schedule) rewritten from the code. */
export function withRulesTable(doc: string): string {
  const tables = replaceBlock(replaceBlock(doc, RULES_BEGIN, RULES_END, renderRulesTable()), UNITS_BEGIN, UNITS_END, renderUnitsTable());
  return replaceBlock(tables, LIVENESS_BEGIN, LIVENESS_END, renderLivenessTable());
}

if (require.main === module) {
  const file = path.resolve(__dirname, '../../docs/timeouts.md');
  fs.writeFileSync(file, withRulesTable(fs.readFileSync(file, 'utf8')));
}
