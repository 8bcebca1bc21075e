/**
 * Issue 15: CloudMonitoringGateSource against a fake Monitoring API on 127.0.0.1. The fake checks
 * each `projects.timeSeries.list` request (path, the metric filter from operations.ts, the interval
 * since the step began, view, the bearer header, no token in the URL) and answers with the REST
 * shape of a ListTimeSeriesResponse (int64 values as strings, distributions with count and mean).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { defaultTimeouts } from '../../app/contract/timeouts';
import { defaultThresholds, evaluateGates } from '../../app/gated-steps/gates';
import { logMetricSpecs } from '../../infra/components/log-metrics';
import { CloudMonitoringGateSource, GATE_METRICS } from '../../infra/release/sources';
import { CLEAN_STEP_VERDICTS } from './observations';

const TOKEN = 'ya29.test-access-token';
const PROJECT = 'sluice-test-project';
const T0 = Date.parse('2026-12-02T06:00:00.000Z');
const TH = defaultThresholds(defaultTimeouts);
const typeOf = (key: (typeof GATE_METRICS)[number]) => `logging.googleapis.com/user/${logMetricSpecs(defaultTimeouts)[key].name}`;

type Series = {
  metric: { type: string; labels?: Record<string, string> };
  resource: { type: 'gce_instance'; labels: Record<string, string> };
  metricKind: 'DELTA';
  valueType: string;
  points: unknown[];
};
const vm = (id: string, zone: string) => ({ type: 'gce_instance' as const, labels: { project_id: PROJECT, instance_id: id, zone } });
const count = (
  key: (typeof GATE_METRICS)[number],
  id: string,
  zone: string,
  n: number,
  labels?: Record<string, string>,
  at = T0 + 30_000,
): Series => ({
  metric: { type: typeOf(key), ...(labels ? { labels } : {}) },
  resource: vm(id, zone),
  metricKind: 'DELTA',
  valueType: 'INT64',
  points: [
    { interval: { startTime: new Date(at - 60_000).toISOString(), endTime: new Date(at).toISOString() }, value: { int64Value: String(n) } },
  ],
});
const duration = (id: string, zone: string, ms: number, at = T0 + 30_000): Series => ({
  metric: { type: typeOf('drainDuration') },
  resource: vm(id, zone),
  metricKind: 'DELTA',
  valueType: 'DISTRIBUTION',
  points: [
    {
      interval: { startTime: new Date(at - 60_000).toISOString(), endTime: new Date(at).toISOString() },
      value: {
        distributionValue: {
          count: '1',
          mean: ms,
          bucketOptions: { exponentialBuckets: { numFiniteBuckets: 16, growthFactor: 2, scale: 250 } },
          bucketCounts: ['0', '0', '0', '1'],
        },
      },
    },
  ],
});

interface Fake {
  url: string;
  requests: URL[];
  auth: string[];
  series: Series[];
  status: number;
  pageSplit: boolean;
  close(): Promise<void>;
}

async function fakeMonitoring(): Promise<Fake> {
  const f = { requests: [] as URL[], auth: [] as string[], series: [] as Series[], status: 200, pageSplit: false } as Fake;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    f.requests.push(url);
    f.auth.push(req.headers.authorization ?? '');
    if (f.status !== 200) {
      res.writeHead(f.status, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          error: { code: f.status, message: 'Permission monitoring.timeSeries.list denied', status: 'PERMISSION_DENIED' },
        }),
      );
      return;
    }
    const type = /^metric\.type="([^"]+)" AND resource\.type="gce_instance"$/.exec(url.searchParams.get('filter') ?? '')?.[1];
    if (req.headers.authorization !== `Bearer ${TOKEN}` || url.pathname !== `/v3/projects/${PROJECT}/timeSeries` || !type) {
      res.writeHead(400).end('{"error":{"code":400}}');
      return;
    }
    let matching = f.series.filter((s) => s.metric.type === type);
    let next: string | undefined;
    if (f.pageSplit && matching.length > 1) {
      if (url.searchParams.get('pageToken') === 'page-2') matching = matching.slice(1);
      else {
        matching = matching.slice(0, 1);
        next = 'page-2';
      }
    }
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ ...(matching.length ? { timeSeries: matching } : {}), ...(next ? { nextPageToken: next } : {}), unit: '1' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  f.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  f.close = () => new Promise((resolve) => server.close(() => resolve()));
  return f;
}

describe('CloudMonitoringGateSource', () => {
  let fake: Fake;
  let now = T0;
  const source = () =>
    new CloudMonitoringGateSource({
      project: PROJECT,
      timeouts: defaultTimeouts,
      token: async () => TOKEN,
      endpoint: fake.url,
      now: () => now,
    });
  beforeEach(async () => {
    fake = await fakeMonitoring();
    now = T0;
  });
  afterEach(() => fake.close());
  const verdicts = (s: CloudMonitoringGateSource) =>
    Object.fromEntries(evaluateGates(s.evidence(), TH, { regions: ['us-central1'], final: true }).map((g) => [g.gate, g]));

  it('queries each log-based metric of operations.ts since the step began, with the bearer token in a header only', async () => {
    const s = source();
    await s.begin(['us-central1']);
    now = T0 + 45_000;
    await s.sample();
    const types = fake.requests.map((u) => /metric\.type="([^"]+)"/.exec(u.searchParams.get('filter')!)![1]);
    expect(new Set(types)).toEqual(new Set(GATE_METRICS.map(typeOf)));
    expect(types).toContain('logging.googleapis.com/user/sluice/drain_resets');
    for (const u of fake.requests) {
      expect(u.pathname).toBe(`/v3/projects/${PROJECT}/timeSeries`);
      expect(u.searchParams.get('interval.startTime')).toBe('2026-12-02T06:00:00.000Z');
      expect(u.searchParams.get('view')).toBe('FULL');
      expect(u.search).not.toContain(TOKEN);
    }
    expect(fake.requests.slice(-GATE_METRICS.length).map((u) => u.searchParams.get('interval.endTime'))).toEqual(
      GATE_METRICS.map(() => '2026-12-02T06:00:45.000Z'),
    );
    expect(new Set(fake.auth)).toEqual(new Set([`Bearer ${TOKEN}`]));
  });

  it('maps a clean drain to passing gates: duration, drained load, survivors that took the clients', async () => {
    fake.series = [
      count('drains', '111', 'us-central1-a', 1, { reason: 'watcher' }),
      duration('111', 'us-central1-a', 1834),
      count('connectionsClosed', '111', 'us-central1-a', 50, { reason: 'drain' }),
      count('connectionsOpened', '222', 'us-central1-b', 30),
      count('connectionsOpened', '333', 'us-central1-a', 22),
      count('connectionsClosed', '333', 'us-central1-a', 2, { reason: 'client' }),
      // Another region's VMs are not this step's.
      count('drains', '999', 'europe-west1-b', 1, { reason: 'watcher' }),
      count('drainResets', '999', 'europe-west1-b', 1),
    ];
    const s = source();
    await s.begin(['us-central1']);
    const v = verdicts(s);
    expect(Object.fromEntries(Object.entries(v).map(([k, g]) => [k, g.verdict]))).toEqual(CLEAN_STEP_VERDICTS);
    expect(v['drain-duration'].observed).toBe('longest 1834 ms over 1 drain(s)');
    expect(v['survivor-reconnects'].observed).toBe('survivors gained 50 of 50 drained connections (1.00)');
    expect(
      s
        .evidence()
        .latest.map((o) => o.id)
        .sort(),
    ).toEqual(['111', '222', '333']);
  });

  it('fails the hard gates on resets, a drain at its deadline and watcher poll errors; reads every page', async () => {
    fake.pageSplit = true;
    fake.series = [
      count('drains', '111', 'us-central1-a', 1, { reason: 'watcher' }),
      count('drains', '112', 'us-central1-b', 1, { reason: 'watcher' }),
      duration('111', 'us-central1-a', 1500),
      duration('112', 'us-central1-b', TH.maxDrainMs + 10),
      count('drainResets', '112', 'us-central1-b', 1),
      count('connectionsClosed', '112', 'us-central1-b', 3, { reason: 'drain_deadline' }),
      count('connectionsClosed', '112', 'us-central1-b', 40, { reason: 'drain' }),
      count('watcherPollFailures', '222', 'us-central1-b', 4, { status: '403' }),
    ];
    const s = source();
    await s.begin(['us-central1']);
    const mid = Object.fromEntries(evaluateGates(s.evidence(), TH, { regions: ['us-central1'], final: false }).map((g) => [g.gate, g]));
    expect(mid['drain-resets']).toMatchObject({ verdict: 'fail', observed: '3 reset (RST) on 112 (3 of 43)' });
    expect(mid['drain-duration']).toMatchObject({ verdict: 'fail', observed: `112 ${TH.maxDrainMs + 10} ms` });
    expect(mid['lifecycle-watcher']).toMatchObject({ verdict: 'fail', observed: '222 lastResult error (HTTP 403)' });
    expect(fake.requests.some((u) => u.searchParams.get('pageToken') === 'page-2')).toBe(true);
  });

  it('fails closed: an API error halts (no token in the message), no answer is no evidence, no drain fails drains-observed', async () => {
    expect(() => source().evidence()).toThrow(/no Cloud Monitoring answer yet/);
    fake.status = 403;
    const denied = source().begin(['us-central1']);
    await expect(denied).rejects.toThrow(/timeSeries\.list logging\.googleapis\.com\/user\/sluice\/.*: HTTP 403 .*PERMISSION_DENIED/);
    await denied.catch((e: Error) => expect(e.message).not.toContain(TOKEN));
    fake.status = 200;
    const s = source();
    await s.begin(['us-central1']);
    expect(verdicts(s)['drains-observed']).toMatchObject({
      verdict: 'fail',
      observed: '0 drain(s) in us-central1; no drain seen in us-central1',
    });
    await fake.close();
    await expect(s.sample()).rejects.toThrow(/timeSeries\.list/);
    fake = await fakeMonitoring();
  });
});
