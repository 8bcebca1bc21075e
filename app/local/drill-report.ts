/** The drill's report: `report.md` with the summary table, the checks, and one SVG chart per scenario. */
import fs from 'node:fs';
import path from 'node:path';
import { INCIDENT_MS, ScenarioResult } from './drill';

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

export function summaryTable(results: ScenarioResult[]): string {
  const rows = results.map((r) => {
    const worst = r.outageMs.max;
    const vsIncident = worst > 0 ? `${Math.round(INCIDENT_MS.min / worst)}-${Math.round(INCIDENT_MS.max / worst)}x shorter` : '-';
    return `| ${r.n}. ${r.name} | ${r.fails} | ${r.acts} | ${r.affected} | ${s(r.outageMs.p50)} / ${s(r.outageMs.p99)} | **${s(worst)}** | ${r.n === 4 ? 'scaled incident' : vsIncident} | ${r.summary.lost} / ${r.summary.duplicated} | ${r.everOffline} | ${r.checks.every((c) => c.ok) ? 'met' : '**MISSED**'} |`;
  });
  return [
    '| scenario | what fails | what acts | peers affected | outage p50 / p99 | worst peer outage | vs the incident (5-10 min) | signals lost / duplicated | peers ever shown offline | bounds |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}

export function renderReport(results: ScenarioResult[], meta: { quick: boolean; peers: number; date: string; command: string }): string {
  const out: string[] = [
    '# Drill report',
    '',
    `${meta.date}, Node ${process.version}, ${meta.peers} peers per scenario${meta.quick ? ', `--quick` (the contract scaled down about 5x)' : ', contract defaults (proxy LB kind)'}. ` +
      `Reproduce: \`${meta.command}\`.`,
    '',
    'Outage: per affected peer, from the failure (scenario 1: losing its session) to its next join.',
    '',
    summaryTable(results),
    '',
  ];
  for (const r of results) {
    out.push(`## ${r.n}. ${r.name}`, '', `Load balancer ${r.lb}, backplane ${r.backplane}. ${r.summary.sent} signals sent, ${r.summary.delivered} delivered, ${r.summary.replayed} of them replayed on resume, ${r.summary.reconnects} reconnects.`, '');
    if (r.clientDetectMs) out.push(`Detection: client heartbeat p50 ${s(r.clientDetectMs.p50)}, max ${s(r.clientDetectMs.max)} (${r.clientDetectMs.count} peers); server end (per connection, the last byte in to the server's close) p50 ${s(r.serverDetectMs?.p50 ?? 0)}, max ${s(r.serverDetectMs?.max ?? 0)} (${r.serverDetectMs?.count ?? 0} connections).`, '');
    out.push('| check | value | bound | |', '| --- | --- | --- | --- |');
    for (const c of r.checks) out.push(`| ${c.what} | ${c.value} | ${Number.isFinite(c.bound) ? c.bound : '-'} | ${c.ok ? 'ok' : '**missed**'} |`);
    out.push('', ...r.notes.map((n) => `- ${n}`), '', `![scenario ${r.n}](scenario-${r.n}.svg)`, '');
  }
  return out.join('\n');
}

export function writeReport(dir: string, results: ScenarioResult[], meta: Parameters<typeof renderReport>[1]): string {
  fs.mkdirSync(dir, { recursive: true });
  for (const r of results) fs.writeFileSync(path.join(dir, `scenario-${r.n}.svg`), `${r.chart}\n`);
  const file = path.join(dir, 'report.md');
  fs.writeFileSync(file, renderReport(results, meta));
  fs.writeFileSync(path.join(dir, 'results.json'), `${JSON.stringify(results.map(({ chart: _c, ...rest }) => rest), null, 2)}\n`);
  return file;
}
