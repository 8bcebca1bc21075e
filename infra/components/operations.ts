/**
 * Production operations from the servers' own structured log lines: log-based metrics, alert policies
 * with their runbook text, an uptime check on the public endpoint and a small dashboard.
 *
 * Where the lines come from: the server logs one JSON object per line to stdout (pino: `msg`, numeric
 * `level`, the fields); on GCE the unit runs the container with Docker's `gcplogs` logging driver
 * (vm-boot.ts), which writes each line as the text of `jsonPayload.message` in the log
 * `gcplogs-docker-driver` of the VM's `gce_instance`. The filters and extractors, with the sources
 * for that layout, live in log-metrics.ts; test/infra/log-lines.test.ts runs them on real server lines.
 */
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { drainEndBoundMs, LbKind, Timeouts } from '../../app/contract/timeouts';
import { HEALTH_PATH } from '../../app/protocol/endpoints';
import { logMetricSpecs } from './log-metrics';

export interface OperationsArgs {
  project: string;
  lbKind: LbKind;
  /** Public hostname (uptime check over HTTPS with certificate validation) or the LB's IP. */
  domain?: string;
  ipAddress: pulumi.Input<string>;
  timeouts: Timeouts;
  /** Notification targets: an email (a channel is created) and/or an existing channel id. */
  alertEmail?: string;
  alertChannel?: string;
}

const metricType = (m: gcp.logging.Metric) => pulumi.interpolate`metric.type="logging.googleapis.com/user/${m.name}"`;

export class Operations extends pulumi.ComponentResource {
  readonly metrics: Record<string, gcp.logging.Metric> = {};
  readonly alerts: Record<string, gcp.monitoring.AlertPolicy> = {};
  readonly uptime: gcp.monitoring.UptimeCheckConfig;

  constructor(name: string, args: OperationsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('sluice:infra:Operations', name, {}, opts);
    const parent = { parent: this };
    const t = args.timeouts;

    for (const [key, spec] of Object.entries(logMetricSpecs(t))) {
      this.metrics[key] = new gcp.logging.Metric(
        `${name}-${key}`,
        {
          name: spec.name,
          description: spec.description,
          filter: spec.filter,
          metricDescriptor: spec.distribution
            ? { metricKind: 'DELTA', valueType: 'DISTRIBUTION', unit: 'ms' }
            : {
                metricKind: 'DELTA',
                valueType: 'INT64',
                unit: '1',
                labels: Object.keys(spec.labels ?? {}).map((k) => ({ key: k, valueType: 'STRING' })),
              },
          ...(spec.distribution
            ? {
                valueExtractor: spec.distribution,
                bucketOptions: { exponentialBuckets: { numFiniteBuckets: 16, growthFactor: 2, scale: 250 } },
              }
            : spec.labels
              ? { labelExtractors: spec.labels }
              : {}),
        },
        parent,
      );
    }

    const channels: pulumi.Input<string>[] = [];
    if (args.alertEmail) {
      channels.push(
        new gcp.monitoring.NotificationChannel(
          `${name}-email`,
          {
            displayName: `sluice alerts (${args.alertEmail})`,
            type: 'email',
            labels: { email_address: args.alertEmail },
          },
          parent,
        ).name,
      );
    }
    if (args.alertChannel) channels.push(args.alertChannel);

    // Uptime check on /healthz through the LB (liveness: a draining server still answers it; the LB
    // answers 502/503 when no backend is healthy on /readyz).
    const tls = args.domain !== undefined;
    const port = tls ? 443 : args.lbKind === 'external-application' ? 80 : 443;
    this.uptime = new gcp.monitoring.UptimeCheckConfig(
      `${name}-healthz`,
      {
        displayName: `sluice ${args.domain ?? 'LB IP'} ${HEALTH_PATH}`,
        period: '60s',
        timeout: '10s',
        httpCheck: {
          path: HEALTH_PATH,
          port,
          useSsl: tls,
          validateSsl: tls,
          requestMethod: 'GET',
          acceptedResponseStatusCodes: [{ statusClass: 'STATUS_CLASS_2XX' }],
        },
        monitoredResource: { type: 'uptime_url', labels: { project_id: args.project, host: args.domain ?? args.ipAddress } },
      },
      parent,
    );

    const sum = (period: string, groupBy: string[] = ['resource.label.instance_id']) => [
      { alignmentPeriod: period, perSeriesAligner: 'ALIGN_SUM', crossSeriesReducer: 'REDUCE_SUM', groupByFields: groupBy },
    ];
    const alert = (
      key: string,
      title: string,
      runbook: string,
      condition: gcp.types.input.monitoring.AlertPolicyCondition,
      severity = 'ERROR',
    ) => {
      this.alerts[key] = new gcp.monitoring.AlertPolicy(
        `${name}-${key}`,
        {
          displayName: `sluice: ${title}`,
          combiner: 'OR',
          severity,
          conditions: [condition],
          notificationChannels: channels,
          alertStrategy: { autoClose: '1800s' },
          documentation: { content: runbook, mimeType: 'text/markdown' },
        },
        parent,
      );
    };
    const gce = pulumi.interpolate` AND resource.type="gce_instance"`;
    const threshold = (m: gcp.logging.Metric, period: string, duration: string, groupBy?: string[]) => ({
      filter: pulumi.interpolate`${metricType(m)}${gce}`,
      comparison: 'COMPARISON_GT',
      thresholdValue: 0,
      duration,
      aggregations: sum(period, groupBy),
      trigger: { count: 1 },
    });

    alert(
      'drain-reset',
      'a drain reset connections',
      [
        'A server drained with connections still open at `drain.deadlineMs`: they got an RST instead of 1012.',
        'Look up the `drain finished` line (reset, total, closeSent, reason) in Logs Explorer. A few resets: clients that ignore 1012 or a slow network.',
        'Many: the drain window is too short for the connection count, or clients do not reconnect on 1012 (SDK version).',
      ].join('\n\n'),
      { displayName: 'drain reset > 0', conditionThreshold: threshold(this.metrics.drainResets, '60s', '0s') },
    );

    alert(
      'drain-overrun',
      `a drain took longer than ${drainEndBoundMs(t) / 1000} s`,
      [
        `A drain took longer than drain.deadlineMs + drain.marginMs (${drainEndBoundMs(t)} ms), the time the shutdown script and connection draining allow.`,
        "The VM may have been deleted mid-drain. Check the server's event loop (CPU) and the `drain finished` line; raise the contract's bounds together, never one alone.",
      ].join('\n\n'),
      { displayName: 'drain duration over the contract bound', conditionThreshold: threshold(this.metrics.drainOverruns, '60s', '0s') },
    );

    alert(
      'watcher-failing',
      'lifecycle watcher polls failing for over a minute',
      [
        'A server cannot list its MIG: it will not see DELETING/RECREATING and drains only from the shutdown script (too late: the incident).',
        'Read the failure label (log field `failure`): permission (403 forbidden) = the custom watcher role or its binding is missing (ServerIdentity); quota (403 rateLimitExceeded) = the project\'s Compute read quota is spent ("If your project exceeds a rate quota, you receive a 403 error with the reason rateLimitExceeded", cloud.google.com/compute/api-quota): the watchers wait for the next minute; check who else reads Compute, raise the quota and sluice:computeReadQuotaPerMin; timeout/network (status 0) = egress to the Compute API (Cloud NAT, Private Google Access). Fix before any rollout.',
      ].join('\n\n'),
      {
        displayName: 'watcher poll failures for 60 s',
        conditionThreshold: threshold(this.metrics.watcherPollFailures, '60s', '60s', [
          'resource.label.instance_id',
          'metric.label.status',
          'metric.label.failure',
        ]),
      },
    );

    alert(
      'backplane-down',
      'backplane unavailable',
      [
        'A server lost its regional Redis. Within backplaneReadinessGraceMs it stays ready and refuses sends; after it, it turns unready and the LB moves new connections away.',
        'Check the Memorystore instance of the region (maintenance window, failover); `backplane recovered` lines close the incident.',
      ].join('\n\n'),
      { displayName: 'backplane unavailable events', conditionThreshold: threshold(this.metrics.backplaneUnavailable, '300s', '0s') },
    );

    const uptimeFilter = pulumi.interpolate`metric.type="monitoring.googleapis.com/uptime_check/check_passed" AND resource.type="uptime_url" AND metric.label.check_id="${this.uptime.uptimeCheckId}"`;
    alert(
      'uptime',
      `public endpoint ${HEALTH_PATH} failing`,
      [
        `The uptime check cannot get 2xx from ${HEALTH_PATH} through the load balancer from more than one location.`,
        'No healthy backend (every server unready: backplane, drain), a broken certificate, or the LB itself. Check the backend service health and the cert status (gcloud compute ssl-certificates describe).',
      ].join('\n\n'),
      {
        displayName: 'uptime check failing',
        conditionThreshold: {
          filter: uptimeFilter,
          comparison: 'COMPARISON_GT',
          thresholdValue: 1,
          duration: '120s',
          trigger: { count: 1 },
          aggregations: [
            {
              alignmentPeriod: '300s',
              perSeriesAligner: 'ALIGN_NEXT_OLDER',
              crossSeriesReducer: 'REDUCE_COUNT_FALSE',
              groupByFields: ['resource.label.host'],
            },
          ],
        },
      },
      'CRITICAL',
    );

    if (tls) {
      // A managed certificate that is not ACTIVE fails the check's TLS validation (validateSsl); the
      // expiry metric catches a certificate that stopped renewing (e.g. the A record moved).
      alert(
        'cert-expiry',
        'certificate expires in under 15 days',
        [
          'The Google-managed certificate renews on its own while the domain points at the LB. Under 15 days left: check `managed.status` and `domainStatus` (gcloud compute ssl-certificates describe) and the A record.',
        ].join('\n\n'),
        {
          displayName: 'time until certificate expiry < 15 d',
          conditionThreshold: {
            filter: pulumi.interpolate`metric.type="monitoring.googleapis.com/uptime_check/time_until_ssl_cert_expires" AND resource.type="uptime_url" AND metric.label.check_id="${this.uptime.uptimeCheckId}"`,
            comparison: 'COMPARISON_LT',
            thresholdValue: 15,
            duration: '600s',
            trigger: { count: 1 },
            aggregations: [
              {
                alignmentPeriod: '1200s',
                perSeriesAligner: 'ALIGN_NEXT_OLDER',
                crossSeriesReducer: 'REDUCE_MEAN',
                groupByFields: ['resource.label.host'],
              },
            ],
          },
        },
        'WARNING',
      );
    }

    const chart = (title: string, m: gcp.logging.Metric, aligner = 'ALIGN_RATE', reducer = 'REDUCE_SUM', groupBy: string[] = []) =>
      pulumi.all([m.name]).apply(([n]) => ({
        title,
        xyChart: {
          dataSets: [
            {
              plotType: 'LINE',
              timeSeriesQuery: {
                timeSeriesFilter: {
                  filter: `metric.type="logging.googleapis.com/user/${n}" resource.type="gce_instance"`,
                  aggregation: { alignmentPeriod: '60s', perSeriesAligner: aligner, crossSeriesReducer: reducer, groupByFields: groupBy },
                },
              },
            },
          ],
        },
      }));
    const tiles = [
      chart('Drains per minute, by reason', this.metrics.drains, 'ALIGN_SUM', 'REDUCE_SUM', ['metric.label.reason']),
      chart('Connections reset by drains (drains with reset > 0)', this.metrics.drainResets, 'ALIGN_SUM'),
      chart('Drain duration p99 (ms)', this.metrics.drainDuration, 'ALIGN_DELTA', 'REDUCE_PERCENTILE_99'),
      chart('Connections opened / s', this.metrics.connectionsOpened),
      chart('Connections closed / s, by reason', this.metrics.connectionsClosed, 'ALIGN_RATE', 'REDUCE_SUM', ['metric.label.reason']),
      chart('Idle (heartbeat) timeouts / s', this.metrics.idleTimeouts),
      chart(
        'Watcher poll failures, by failure (permission vs quota) and status',
        this.metrics.watcherPollFailures,
        'ALIGN_SUM',
        'REDUCE_SUM',
        ['metric.label.failure', 'metric.label.status'],
      ),
      chart('Backplane unavailable events', this.metrics.backplaneUnavailable, 'ALIGN_SUM'),
    ];
    new gcp.monitoring.Dashboard(
      `${name}-dashboard`,
      {
        dashboardJson: pulumi.all(tiles).apply((ts) =>
          JSON.stringify(
            {
              displayName: 'sluice',
              mosaicLayout: {
                columns: 12,
                tiles: ts.map((widget, i) => ({ xPos: (i % 2) * 6, yPos: Math.floor(i / 2) * 4, width: 6, height: 4, widget })),
              },
            },
            null,
            1,
          ),
        ),
      },
      parent,
    );
    this.registerOutputs({});
  }
}
