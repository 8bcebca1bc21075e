/**
 * The drill's rendering, pure: the summary table and the drill block from fixed results
 * (snapshots), the block replaced between its markers and nowhere else, and docs/drill.md's own block:
 * filled from a run, its chart committed beside it; the README's headline agrees with that block.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ScenarioResult } from '../../app/local/drill/drill';
import {
  chartFileName,
  readmeBlock,
  README_BEGIN,
  README_END,
  renderReport,
  RunMeta,
  summaryTable,
  withReadmeBlock,
} from '../../app/local/drill/report';
import type { FleetSummary } from '../../app/peer/fleet';

const ROOT = path.resolve(__dirname, '../..');
const pct = (p50: number, max: number) => ({ count: 40, p50, p90: max, p99: max, max });
const summary: FleetSummary = {
  peers: 300,
  urls: ['ws://127.0.0.1:1/socket/websocket'],
  durationMs: 60_000,
  intervalMs: 1_000,
  sent: 1000,
  acked: 1000,
  failed: 0,
  failures: {},
  statuses: { delivered: 990, stored: 10, duplicate: 0 },
  delivered: 1000,
  duplicated: 0,
  lost: 0,
  unacked: 0,
  reconnects: 40,
  replayed: 10,
  historyGaps: 0,
  longestGapMs: 900,
  gapMs: pct(300, 900),
  settled: true,
  fatal: {},
};
const machine = { cores: 2, loadStart: 1, loadEnd: 1.5, eventLoopDelayP99Ms: 12, eventLoopDelayMaxMs: 40, failedAttempts: {} };
const base = { lb: 'haproxy', backplane: 'redis', peers: 300, everOffline: 0, summary, machine, chart: '<svg></svg>', notes: ['a note'] };
const results: ScenarioResult[] = [
  {
    ...base,
    n: 1,
    name: 'healthy rollout',
    fails: 'nothing',
    acts: 'drain (defense 1)',
    affected: 300,
    outageMs: pct(310, 920),
    checks: [{ what: 'reconnect gap max (ms)', value: 920, bound: 5000, ok: true }],
  },
  {
    ...base,
    n: 3,
    name: 'drain skipped, LB timeout ineffective',
    fails: 'drain, LB idle timeout',
    acts: 'heartbeats (defense 3)',
    affected: 100,
    outageMs: pct(12_000, 21_500),
    clientDetectMs: pct(10_000, 15_100),
    serverDetectMs: pct(15_000, 15_050),
    checks: [
      { what: 'client detection max (ms)', value: 15_100, bound: 15_250, ok: true },
      { what: 'signals lost', value: 1, bound: 0, ok: false },
    ],
  },
];
const meta: RunMeta = { quick: false, peers: 300, date: '2026-12-02', command: 'npm run drill', cores: 2, node: 'v20.20.2' };

test('summary table: one row per scenario, the worst outage against the incident, a missed bound shown', () => {
  const table = summaryTable(results);
  expect(table).toMatchSnapshot();
  expect(table).toContain('| **0.92 s** | 326-652x shorter |');
  expect(table.split('\n')[3]).toMatch(/\| \*\*MISSED\*\* \|$/);
});

test('--quick: the incident column compares like with like, the bound of the contract defaults, not the scaled outage', () => {
  // A --quick run's outages are at about 1/5 scale: 0.92 s against 5-10 min would read "326-652x shorter".
  const table = summaryTable(results, true);
  expect(table).not.toContain('326-652x');
  expect(table).toContain("| vs the incident (5-10 min): the contract defaults' bound |");
  // Scenario 1 at the defaults: restart jitter + connect + join timeouts = 10.1 s: 30-59x shorter than 5-10 min.
  expect(table).toContain('| **0.92 s** | at defaults <= 10.10 s: 30-59x shorter |');
  // Scenario 3 at the defaults: dead-peer detection + the longest backoff, a connect and a join = 35 s.
  expect(table).toContain('| **21.50 s** | at defaults <= 35.00 s: 9-17x shorter |');
  expect(renderReport(results, { ...meta, quick: true })).toContain('With `--quick` every timer is scaled down about 5x');
});

test('README block: run, machine (cores, Node), table and the chart, between the markers', () => {
  const block = readmeBlock(results, meta, { path: 'docs/drill-healthy-rollout.svg', scenario: 1 });
  expect(block).toMatchSnapshot();
  expect(block.startsWith(README_BEGIN)).toBe(true);
  expect(block.endsWith(README_END)).toBe(true);
  expect(block).toContain(
    '2 cores (`nproc` 2, 1-minute load average 1 to 1.5 during the run), Node v20.20.2, HAProxy and Redis, 300 peers per scenario',
  );
  expect(block).toContain('](docs/drill-healthy-rollout.svg)');
  expect(chartFileName(results[0])).toBe('drill-healthy-rollout.svg');
  expect(chartFileName({ name: 'no defense (the incident, scaled)' })).toBe('drill-no-defense-the-incident-scaled.svg');
});

test('the block is replaced between its markers only; missing markers are an error', () => {
  const readme = `# t\n\nintro\n\n${README_BEGIN}\nold\n${README_END}\n\nrest\n`;
  const block = `${README_BEGIN}\nnew\n${README_END}`;
  expect(withReadmeBlock(readme, block)).toBe(`# t\n\nintro\n\n${block}\n\nrest\n`);
  expect(withReadmeBlock(withReadmeBlock(readme, block), block)).toBe(withReadmeBlock(readme, block));
  expect(() => withReadmeBlock('# no markers', block)).toThrow(/expected <!-- drill:begin --> followed by <!-- drill:end -->/);
  expect(() => withReadmeBlock(`${README_END}\n${README_BEGIN}`, block)).toThrow(/expected/);
});

test('report: machine line, detection of both ends, checks and the chart link per scenario', () => {
  const report = renderReport(results, meta);
  expect(report).toContain('2026-12-02, Node v20.20.2, 2 cores, 300 peers per scenario, contract defaults');
  expect(report).toContain('Detection: client heartbeat p50 10.00 s, max 15.10 s (40 peers); server end');
  expect(report).toContain('| signals lost | 1 | 0 | **missed** |');
  expect(report).toContain('![scenario 3](scenario-3.svg)');
});

/** docs/drill.md's generated block (a real run). */
function drillBlock(): string {
  const doc = fs.readFileSync(path.join(ROOT, 'docs/drill.md'), 'utf8');
  const a = doc.indexOf(README_BEGIN);
  const b = doc.indexOf(README_END);
  expect(a).toBeGreaterThan(0);
  expect(b).toBeGreaterThan(a);
  // Nothing but the title before it.
  expect(doc.slice(0, a).trim().split(/\n\n+/)).toHaveLength(1);
  return doc.slice(a, b);
}

test('docs/drill.md opens with a real run: its drill block has the table and a chart committed beside it', () => {
  const block = drillBlock();
  expect(block).toMatch(/^\| 1\. healthy rollout \|.*\| met \|$/m);
  expect(block).not.toContain('MISSED');
  const chart = /!\[[^\]]*\]\((drill-[a-z0-9-]+\.svg)\)/.exec(block);
  expect(chart).not.toBeNull();
  expect(fs.readFileSync(path.join(ROOT, 'docs', chart![1]), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
});

test("the README's drill headline repeats each scenario's worst outage and loss from docs/drill.md's run", () => {
  const rows = (text: string) =>
    new Map(
      text
        .split('\n')
        .filter((l) => /^\| \d\. /.test(l))
        .map((l) => {
          const cells = l.split('|').map((c) => c.trim());
          return [cells[1], cells.filter((c) => /^\*\*[\d.]+ s\*\*$|^\d+ \/ \d+$/.test(c))] as const;
        }),
    );
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const headline = /<!-- drill-headline:begin[^>]*-->\n([\s\S]*?)<!-- drill-headline:end -->/.exec(readme);
  expect(headline).not.toBeNull();
  const run = rows(drillBlock());
  const shown = rows(headline![1]);
  expect([...shown.keys()]).toEqual([...run.keys()]);
  for (const [scenario, cells] of shown) {
    expect(cells).toHaveLength(2); // worst outage, lost / duplicated
    expect(run.get(scenario)).toEqual(cells);
  }
});
