/**
 * Issue 13, operations: log-based metrics on the server's exact log lines, alert policies with a
 * notification channel, an uptime check on /healthz, a dashboard.
 */
import fs from 'node:fs';
import path from 'node:path';
import { defaultTimeouts, drainEndBoundMs } from '../../app/contract/timeouts';
import { integerAbove, LOG_SOURCE, logMetricSpecs, SERVER_LOG } from '../../infra/components/log-metrics';
import { parseStackConfig, StackConfigError } from '../../infra/config';
import { BASE_CONFIG, render, Rendered, toRaw } from './harness';

const ROOT = path.resolve(__dirname, '../..');
const METRIC = 'gcp:logging/metric:Metric';
const ALERT = 'gcp:monitoring/alertPolicy:AlertPolicy';
const CHANNEL = 'gcp:monitoring/notificationChannel:NotificationChannel';
const UPTIME = 'gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig';
const DASHBOARD = 'gcp:monitoring/dashboard:Dashboard';

let prodLike: Rendered;
beforeAll(async () => {
  prodLike = await render({
    'sluice:domain': 'ws.example.com',
    'sluice:alertEmail': 'oncall@example.com',
    'sluice:alertChannel': 'projects/sluice-test-project/notificationChannels/42',
  });
});

describe('log-based metrics', () => {
  it.each(Object.entries(SERVER_LOG))('%s: the server really logs that msg', (_key, { msg, file }) => {
    const src = fs.readFileSync(path.join(ROOT, file), 'utf8');
    expect(src).toContain(`'${msg}'`);
  });

  it('one metric per line, filtered on the container log and the exact msg', () => {
    const metrics = prodLike.all(METRIC);
    const specs = logMetricSpecs(defaultTimeouts);
    expect(metrics.map((m) => m.inputs.name).sort()).toEqual(
      Object.values(specs)
        .map((s) => s.name)
        .sort(),
    );
    // gcplogs ships the line as text in jsonPayload.message (log-metrics.ts): the msg is matched in it.
    for (const m of metrics) expect(String(m.inputs.filter).startsWith(`${LOG_SOURCE} AND jsonPayload.message=~"\\"msg\\":\\"`)).toBe(true);
    const drainFinished = `jsonPayload.message=~"\\"msg\\":\\"drain finished\\""`;
    const byName = Object.fromEntries(metrics.map((m) => [m.inputs.name as string, m.inputs as Record<string, any>]));
    expect(byName['sluice/drain_resets'].filter).toBe(
      `${LOG_SOURCE} AND ${drainFinished} AND jsonPayload.message=~"\\"reset\\":(?:[1-9][0-9]{1,}|[1-9])[,}]"`,
    );
    expect(byName['sluice/drain_overruns'].filter).toBe(
      `${LOG_SOURCE} AND ${drainFinished} AND jsonPayload.message=~"\\"durationMs\\":${integerAbove(defaultTimeouts.drain.deadlineMs + defaultTimeouts.drain.marginMs)}"`,
    );
    expect(byName['sluice/drain_duration']).toMatchObject({
      valueExtractor: 'REGEXP_EXTRACT(jsonPayload.message, "\\"durationMs\\":([0-9]+)")',
      metricDescriptor: { metricKind: 'DELTA', valueType: 'DISTRIBUTION', unit: 'ms' },
    });
    expect(byName['sluice/watcher_poll_failures']).toMatchObject({
      filter: `${LOG_SOURCE} AND jsonPayload.message=~"\\"msg\\":\\"lifecycle watcher: poll failed, retrying next interval\\""`,
      labelExtractors: {
        status: 'REGEXP_EXTRACT(jsonPayload.message, "\\"status\\":([0-9]+)")',
        failure: 'REGEXP_EXTRACT(jsonPayload.message, "\\"failure\\":\\"([^\\"]*)\\"")',
      },
      metricDescriptor: {
        metricKind: 'DELTA',
        valueType: 'INT64',
        labels: [
          { key: 'status', valueType: 'STRING' },
          { key: 'failure', valueType: 'STRING' },
        ],
      },
    });
  });

  it('the overrun bound follows the contract', () => {
    const t = { ...defaultTimeouts, drain: { ...defaultTimeouts.drain, deadlineMs: 40_000 } };
    expect(drainEndBoundMs(t)).toBe(45_000);
    expect(logMetricSpecs(t).drainOverruns.filter).toContain(`\\"durationMs\\":${integerAbove(45_000)}`);
  });
});

describe('alert policies', () => {
  it('notify the email channel and the configured channel', () => {
    const email = prodLike.one(CHANNEL);
    expect(email.inputs).toMatchObject({ type: 'email', labels: { email_address: 'oncall@example.com' } });
    for (const a of prodLike.all(ALERT)) {
      expect(a.inputs.notificationChannels).toEqual([
        'projects/sluice-test-project/notificationChannels/sluice-email',
        'projects/sluice-test-project/notificationChannels/42',
      ]);
      expect(String((a.inputs.documentation as any).content).length).toBeGreaterThan(50);
    }
  });

  it('cover drain resets, drain overruns, the watcher, the backplane, uptime and the certificate', () => {
    const alerts = Object.fromEntries(prodLike.all(ALERT).map((a) => [a.name, (a.inputs.conditions as any[])[0]]));
    expect(Object.keys(alerts).sort()).toEqual([
      'sluice-backplane-down',
      'sluice-cert-expiry',
      'sluice-drain-overrun',
      'sluice-drain-reset',
      'sluice-uptime',
      'sluice-watcher-failing',
    ]);
    expect(alerts['sluice-drain-reset'].conditionThreshold).toMatchObject({
      filter: 'metric.type="logging.googleapis.com/user/sluice/drain_resets" AND resource.type="gce_instance"',
      comparison: 'COMPARISON_GT',
      thresholdValue: 0,
    });
    expect(alerts['sluice-drain-overrun'].conditionThreshold.filter).toContain('user/sluice/drain_overruns');
    // Failing for over a minute, per VM, status and failure (a 403 is a missing role or a spent quota).
    expect(alerts['sluice-watcher-failing'].conditionThreshold).toMatchObject({
      duration: '60s',
      aggregations: [
        { alignmentPeriod: '60s', groupByFields: ['resource.label.instance_id', 'metric.label.status', 'metric.label.failure'] },
      ],
    });
    expect(String((prodLike.all(ALERT).find((a) => a.name === 'sluice-watcher-failing')!.inputs.documentation as any).content)).toMatch(
      /quota \(403 rateLimitExceeded\)/,
    );
    expect(alerts['sluice-backplane-down'].conditionThreshold.filter).toContain('user/sluice/backplane_unavailable');
    expect(alerts['sluice-uptime'].conditionThreshold.filter).toBe(
      'metric.type="monitoring.googleapis.com/uptime_check/check_passed" AND resource.type="uptime_url" AND metric.label.check_id="sluice-healthz"',
    );
    expect(alerts['sluice-cert-expiry'].conditionThreshold).toMatchObject({ comparison: 'COMPARISON_LT', thresholdValue: 15 });
  });

  it('reject a malformed email or channel id', () => {
    const issues = (o: Record<string, unknown>) => {
      try {
        parseStackConfig(toRaw({ ...BASE_CONFIG, ...o }), new Set(['sluice:tokenSecret', 'sluice:adminToken']));
      } catch (e) {
        if (e instanceof StackConfigError) return e.issues.map((i) => i.key).join(',');
        throw e;
      }
      return '';
    };
    expect(issues({ 'sluice:alertEmail': 'not-an-email' })).toBe('sluice:alertEmail');
    expect(issues({ 'sluice:alertChannel': '42' })).toBe('sluice:alertChannel');
  });
});

describe('uptime check and dashboard', () => {
  it('checks /healthz over HTTPS with certificate validation on the domain', () => {
    expect(prodLike.one(UPTIME).inputs).toMatchObject({
      period: '60s',
      timeout: '10s',
      httpCheck: { path: '/healthz', port: 443, useSsl: true, validateSsl: true },
      monitoredResource: { type: 'uptime_url', labels: { project_id: 'sluice-test-project', host: 'ws.example.com' } },
    });
  });

  it('checks the LB IP over plain HTTP on 80 without a domain; no certificate alert; no channel', async () => {
    const dev = await render();
    expect(dev.one(UPTIME).inputs).toMatchObject({
      httpCheck: { path: '/healthz', port: 80, useSsl: false },
      monitoredResource: { labels: { host: '203.0.113.10' } },
    });
    expect(dev.all(ALERT).map((a) => a.name)).not.toContain('sluice-cert-expiry');
    expect(dev.all(CHANNEL)).toHaveLength(0);
  });

  it('charts drains, resets, connections and the failure signals from the log metrics', () => {
    const json = JSON.parse(String(prodLike.one(DASHBOARD).inputs.dashboardJson));
    const filters = json.mosaicLayout.tiles.map((t: any) => t.widget.xyChart.dataSets[0].timeSeriesQuery.timeSeriesFilter.filter as string);
    for (const m of [
      'drains',
      'drain_resets',
      'drain_duration',
      'connections_opened',
      'connections_closed',
      'idle_timeouts',
      'watcher_poll_failures',
      'backplane_unavailable',
    ]) {
      expect(filters).toContain(`metric.type="logging.googleapis.com/user/sluice/${m}" resource.type="gce_instance"`);
    }
  });
});
