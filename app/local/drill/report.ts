/**
 * The drill's report: `report.md` with the summary table, the checks, and one SVG chart per
 * scenario; and the drill block of docs/drill.md (between `<!-- drill:begin -->` and `<!-- drill:end -->`):
 * the summary table of a real run, when and on what machine, and one chart committed beside it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultsBoundMs, INCIDENT_MS, ScenarioResult } from './drill';

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

const shorter = (ms: number) => `${Math.round(INCIDENT_MS.min / ms)}-${Math.round(INCIDENT_MS.max / ms)}x shorter`;

/**
 * Like with like against the incident (5-10 min, production's timers): a run on the contract's
 * defaults compares its measured worst outage; a `--quick` run (every timer scaled down about 5x)
 * does not, since its outages are at that scale too: it states the bound the contract's defaults put
 * on the same defense instead, and that bound is what is compared with the incident.
 */
export function vsIncident(r: Pick<ScenarioResult, 'n' | 'outageMs'>, quick: boolean): string {
  if (r.n === 4) return 'scaled incident';
  if (!quick) return r.outageMs.max > 0 ? shorter(r.outageMs.max) : '-';
  const bound = defaultsBoundMs(r.n);
  return bound ? `at defaults <= ${s(bound)}: ${shorter(bound)}` : '-';
}

export function summaryTable(results: ScenarioResult[], quick = false): string {
  const rows = results.map((r) => {
    const worst = r.outageMs.max;
    return `| ${r.n}. ${r.name} | ${r.fails} | ${r.acts} | ${r.affected} | ${s(r.outageMs.p50)} / ${s(r.outageMs.p99)} | **${s(worst)}** | ${vsIncident(r, quick)} | ${r.summary.lost} / ${r.summary.duplicated} | ${r.everOffline} | ${r.checks.every((c) => c.ok) ? 'met' : '**MISSED**'} |`;
  });
  const vs = quick ? "vs the incident (5-10 min): the contract defaults' bound" : 'vs the incident (5-10 min)';
  return [
    `| scenario | what fails | what acts | peers affected | outage p50 / p99 | worst peer outage | ${vs} | signals lost / duplicated | peers ever shown offline | bounds |`,
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}

/** What the comparison column means for this run (under the table). */
export function vsIncidentNote(quick: boolean): string {
  return quick
    ? 'With `--quick` every timer is scaled down about 5x, so the outages measured here are too: they are checked against the ' +
        "scaled bounds, and the incident column gives the bound of the contract's defaults for the same defense instead, compared with the 5-10 min."
    : "The contract's defaults, as in production: the worst outage measured is compared with the incident's 5-10 min.";
}

export function renderReport(results: ScenarioResult[], meta: RunMeta): string {
  const out: string[] = [
    '# Drill report',
    '',
    `${meta.date}, Node ${meta.node}, ${meta.cores} cores, ${meta.peers} peers per scenario${meta.quick ? ', `--quick` (the contract scaled down about 5x)' : ', contract defaults (proxy LB kind)'}. ` +
      `Reproduce: \`${meta.command}\`.`,
    '',
    'Outage: per affected peer, from the failure (scenario 1: losing its session) to its next join.',
    '',
    summaryTable(results, meta.quick),
    '',
    vsIncidentNote(meta.quick),
    '',
  ];
  for (const r of results) {
    out.push(
      `## ${r.n}. ${r.name}`,
      '',
      `Load balancer ${r.lb}, backplane ${r.backplane}. ${r.summary.sent} signals sent, ${r.summary.delivered} delivered, ${r.summary.replayed} of them replayed on resume, ${r.summary.reconnects} reconnects.`,
      '',
    );
    if (r.clientDetectMs)
      out.push(
        `Detection: client heartbeat p50 ${s(r.clientDetectMs.p50)}, max ${s(r.clientDetectMs.max)} (${r.clientDetectMs.count} peers); server end (per connection, the last byte in to the server's close) p50 ${s(r.serverDetectMs?.p50 ?? 0)}, max ${s(r.serverDetectMs?.max ?? 0)} (${r.serverDetectMs?.count ?? 0} connections).`,
        '',
      );
    out.push('| check | value | bound | |', '| --- | --- | --- | --- |');
    for (const c of r.checks)
      out.push(`| ${c.what} | ${c.value} | ${Number.isFinite(c.bound) ? c.bound : '-'} | ${c.ok ? 'ok' : '**missed**'} |`);
    out.push('', ...r.notes.map((n) => `- ${n}`), '', `![scenario ${r.n}](scenario-${r.n}.svg)`, '');
  }
  return out.join('\n');
}

export function writeReport(dir: string, results: ScenarioResult[], meta: RunMeta): string {
  fs.mkdirSync(dir, { recursive: true });
  for (const r of results) fs.writeFileSync(path.join(dir, `scenario-${r.n}.svg`), `${r.chart}\n`);
  const file = path.join(dir, 'report.md');
  fs.writeFileSync(file, renderReport(results, meta));
  fs.writeFileSync(
    path.join(dir, 'results.json'),
    `${JSON.stringify(
      results.map(({ chart: _c, ...rest }) => rest),
      null,
      2,
    )}\n`,
  );
  return file;
}

export const README_BEGIN = '<!-- drill:begin -->';
export const README_END = '<!-- drill:end -->';

export interface RunMeta {
  quick: boolean;
  peers: number;
  date: string;
  command: string;
  /** `nproc` (available parallelism) and the Node version of the machine the run was on. */
  cores: number;
  node: string;
}

export function runMeta(m: { quick: boolean; peers: number; date: string; command: string }): RunMeta {
  return { ...m, cores: os.availableParallelism(), node: process.version };
}

/** The drill block of docs/drill.md: what ran where, the summary table, and the chart at `chart.path` (relative to that file). */
export function readmeBlock(results: ScenarioResult[], meta: RunMeta, chart: { path: string; scenario: number }): string {
  const parts = [
    ...new Set(
      results.map(
        (r) =>
          `${r.lb === 'haproxy' ? 'HAProxy' : 'the built-in balancer'} and ${r.backplane === 'redis' ? 'Redis' : 'the in-memory backplane'}`,
      ),
    ),
  ].join('; ');
  const shown = results.find((r) => r.n === chart.scenario);
  const loads = results.flatMap((r) => [r.machine.loadStart, r.machine.loadEnd]);
  const load = loads.length ? `, 1-minute load average ${Math.min(...loads)} to ${Math.max(...loads)} during the run` : '';
  return [
    README_BEGIN,
    `**The incident, replayed**: \`${meta.command}\` on ${meta.date}, ${meta.cores} cores (\`nproc\` ${meta.cores}${load}), Node ${meta.node}, ` +
      `${parts}, ${meta.peers} peers per scenario${meta.quick ? ', the contract scaled down about 5x (`--quick`)' : ", the contract's defaults"}. ` +
      'Worst peer outage per scenario; every bound is derived from the timeouts contract. ' +
      vsIncidentNote(meta.quick),
    '',
    summaryTable(results, meta.quick),
    '',
    ...(results.some((r) => r.n === 4)
      ? [
          "Scenario 4 is the incident itself, time scaled down: no defense acts, its peers stay stuck (and are shown offline) until the VM deletion's RST.",
          '',
        ]
      : []),
    ...(shown ? [`![${shown.n}. ${shown.name}: connections per server and peers offline over time](${chart.path})`, ''] : []),
    README_END,
  ].join('\n');
}

/** `drill-<scenario name>.svg`: the name of a scenario's chart, written beside the doc (docs/drill.md). */
export function chartFileName(r: Pick<ScenarioResult, 'name'>): string {
  return `drill-${r.name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')}.svg`;
}

/**
 * Fill the drill block of `docFile` (docs/drill.md) from this run and write the commit-ready chart
 * `<chartFileName>` beside it; returns the chart's path. The scenario charted must be part of the run.
 */
export function updateReadme(readmeFile: string, results: ScenarioResult[], meta: RunMeta, scenario: number): string {
  const r = results.find((x) => x.n === scenario);
  if (!r) throw new Error(`--doc-chart ${scenario}: scenario ${scenario} was not run`);
  const rel = chartFileName(r);
  const chartFile = path.join(path.dirname(readmeFile), rel);
  fs.mkdirSync(path.dirname(chartFile), { recursive: true });
  fs.writeFileSync(chartFile, `${r.chart}\n`);
  fs.writeFileSync(readmeFile, withReadmeBlock(fs.readFileSync(readmeFile, 'utf8'), readmeBlock(results, meta, { path: rel, scenario })));
  return chartFile;
}

/** `readme` with its drill block replaced; throws when the markers are missing or out of order. */
export function withReadmeBlock(readme: string, block: string): string {
  const a = readme.indexOf(README_BEGIN);
  const b = readme.indexOf(README_END);
  if (a < 0 || b < a) throw new Error(`drill block: expected ${README_BEGIN} followed by ${README_END}`);
  return readme.slice(0, a) + block + readme.slice(b + README_END.length);
}
