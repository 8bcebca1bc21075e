/**
 * CloudMonitoringGateSource: the gates' evidence for a GCE fleet from the log-based metrics of
 * infra/components/operations.ts (names and filters from logMetricSpecs, the one home), read with
 * Cloud Monitoring's REST `projects.timeSeries.list` over `fetch` with a bearer token from an
 * injected provider (no client library: none is a dependency). The AdminGateSource (app/gated-steps)
 * is the other source: the local region, or VMs over IAP.
 *
 * Per VM (resource.labels.instance_id of gce_instance, region from its zone) since the step began:
 *   drains            sluice/drains                      a drain finished on this VM
 *   drain duration    sluice/drain_duration (distribution: the mean of a VM's drain lines; one drain each)
 *   resets            sluice/connections_closed{reason=drain_deadline}, at least sluice/drain_resets
 *                     (that one counts drains with reset > 0, not connections)
 *   drained load      sluice/connections_closed{reason=drain} + the resets
 *   survivor gain     sluice/connections_opened - sluice/connections_closed on VMs without a drain
 *   heartbeats        sluice/idle_timeouts on survivors
 *   watcher errors    sluice/watcher_poll_failures, by status
 * Not in the logs: presence (no flaps are reported from here: use the admin source to judge them)
 * and a VM that left without a drain line (drains-observed still fails a region with no drain).
 *
 * Fails closed: an HTTP error, a network error or an answer that is not a time series list throws
 * (the runner halts: no evidence, no pass), and a step whose regions show no drain fails
 * drains-observed.
 */
import type { Timeouts } from '../../app/contract/timeouts';
import type { Evidence, ServerObservation } from '../../app/gated-steps/gates';
import type { GateSource } from '../../app/gated-steps/source';
import { logMetricSpecs } from '../components/log-metrics';

/** An OAuth 2 access token for the Monitoring API (scope monitoring.read). Called before each request. */
export type TokenProvider = () => Promise<string>;

export interface CloudMonitoringOptions {
  project: string;
  /** The stack's contract: logMetricSpecs(timeouts) names the metrics. */
  timeouts: Timeouts;
  token: TokenProvider;
  /** Default https://monitoring.googleapis.com (a test points it at 127.0.0.1). */
  endpoint?: string;
  timeoutMs?: number;
  now?: () => number;
}

/** The parts of a ListTimeSeriesResponse read here (REST JSON: int64 values are strings). */
interface Point {
  interval?: { startTime?: string; endTime?: string };
  value?: { int64Value?: string | number; doubleValue?: number; distributionValue?: { count?: string | number; mean?: number } };
}
interface TimeSeries {
  metric?: { type?: string; labels?: Record<string, string> };
  resource?: { type?: string; labels?: Record<string, string> };
  points?: Point[];
}
interface ListResponse {
  timeSeries?: TimeSeries[];
  nextPageToken?: string;
}

/** The metrics a step is judged on (keys of logMetricSpecs). */
export const GATE_METRICS = [
  'drains',
  'drainDuration',
  'drainResets',
  'watcherPollFailures',
  'idleTimeouts',
  'connectionsOpened',
  'connectionsClosed',
] as const;
type GateMetric = (typeof GATE_METRICS)[number];

/** `us-central1-a` -> `us-central1`. */
export const regionOfZone = (zone: string) => zone.replace(/-[a-z]$/, '');

interface PerVm {
  id: string;
  region: string;
  drains: number;
  lastDrainEnd: number;
  /** Weighted by count: sum(count * mean), count. */
  durationSum: number;
  durationCount: number;
  drainResets: number;
  watcherFailures: number;
  watcherStatus?: number;
  idleTimeouts: number;
  opened: number;
  closed: number;
  closedDrain: number;
  closedDeadline: number;
}

export class CloudMonitoringGateSource implements GateSource {
  readonly name = 'Cloud Monitoring';
  private readonly metricTypes: Record<GateMetric, string>;
  private regions: string[] = [];
  private startedAt = 0;
  private last?: Evidence;

  constructor(private readonly o: CloudMonitoringOptions) {
    const specs = logMetricSpecs(o.timeouts);
    // A log-based metric's type is logging.googleapis.com/user/<name> (operations.ts charts and alerts use the same).
    this.metricTypes = Object.fromEntries(GATE_METRICS.map((k) => [k, `logging.googleapis.com/user/${specs[k].name}`])) as Record<
      GateMetric,
      string
    >;
  }

  async begin(regions: string[]): Promise<void> {
    this.regions = regions;
    this.startedAt = (this.o.now ?? Date.now)();
    this.last = undefined;
    // One round at the start: a missing permission or a wrong project halts before anything deploys.
    await this.sample();
  }

  async sample(): Promise<void> {
    const end = (this.o.now ?? Date.now)();
    const series = await Promise.all(GATE_METRICS.map((k) => this.list(this.metricTypes[k], this.startedAt, end)));
    const vms = new Map<string, PerVm>();
    GATE_METRICS.forEach((k, i) => {
      for (const ts of series[i]) {
        const labels = ts.resource?.labels ?? {};
        const id = labels.instance_id;
        const zone = labels.zone;
        if (!id || !zone || !this.regions.includes(regionOfZone(zone))) continue;
        const vm = vms.get(id) ?? {
          id,
          region: regionOfZone(zone),
          drains: 0,
          lastDrainEnd: 0,
          durationSum: 0,
          durationCount: 0,
          drainResets: 0,
          watcherFailures: 0,
          idleTimeouts: 0,
          opened: 0,
          closed: 0,
          closedDrain: 0,
          closedDeadline: 0,
        };
        vms.set(id, vm);
        add(vm, k, ts);
      }
    });
    this.last = this.toEvidence([...vms.values()]);
  }

  evidence(): Evidence {
    if (!this.last) throw new Error(`no Cloud Monitoring answer yet for ${this.o.project}: no evidence, so the gate cannot pass`);
    return this.last;
  }

  async end(): Promise<void> {
    this.regions = [];
  }

  private toEvidence(vms: PerVm[]): Evidence {
    const before: ServerObservation[] = [];
    const latest: ServerObservation[] = [];
    const base = (vm: PerVm): ServerObservation => ({
      id: vm.id,
      region: vm.region,
      state: 'serving',
      connections: 0,
      drain: null,
      heartbeatTimeouts: 0,
      watcher:
        vm.watcherFailures > 0
          ? { up: false, lastResult: 'error', ...(vm.watcherStatus !== undefined ? { lastStatus: vm.watcherStatus } : {}) }
          : null,
    });
    for (const vm of vms) {
      if (vm.drains > 0) {
        const reset = Math.max(vm.closedDeadline, vm.drainResets);
        const total = vm.closedDrain + reset;
        const duration = vm.durationCount > 0 ? Math.round(vm.durationSum / vm.durationCount) : 0;
        const startedAt = Math.max(this.startedAt, vm.lastDrainEnd - duration);
        before.push({ ...base(vm), connections: total, watcher: null });
        latest.push({
          ...base(vm),
          state: 'drained',
          drain: { startedAt, finishedAt: startedAt + duration, total, closeSent: vm.closedDrain, reset },
        });
      } else {
        // A survivor (or a VM the step created): what it gained since the step began.
        before.push({ ...base(vm), watcher: null });
        latest.push({ ...base(vm), connections: Math.max(0, vm.opened - vm.closed), heartbeatTimeouts: vm.idleTimeouts });
      }
    }
    return { startedAt: this.startedAt, before, latest, presenceFlaps: [] };
  }

  /**
   * Every series of one metric with points in [start, end], all pages. "Lists time series that match
   * a filter." (`GET https://monitoring.googleapis.com/v3/{name}/timeSeries`); the filter "must specify
   * a single metric type"; "Only time series that contain data points in the specified interval are
   * included in the response"; with no aggregation "the raw time series data is returned"; a page token
   * "must contain the nextPageToken value returned by a previous call to this method"
   * (cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.timeSeries/list).
   */
  private async list(metricType: string, start: number, end: number): Promise<TimeSeries[]> {
    const out: TimeSeries[] = [];
    let pageToken = '';
    for (let page = 0; page < 100; page++) {
      const q = new URLSearchParams({
        filter: `metric.type="${metricType}" AND resource.type="gce_instance"`,
        'interval.startTime': new Date(start).toISOString(),
        'interval.endTime': new Date(Math.max(end, start + 1)).toISOString(),
        view: 'FULL',
      });
      if (pageToken) q.set('pageToken', pageToken);
      const url = `${this.o.endpoint ?? 'https://monitoring.googleapis.com'}/v3/projects/${encodeURIComponent(this.o.project)}/timeSeries?${q}`;
      const token = await this.o.token();
      let res: Response;
      try {
        res = await fetch(url, {
          headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
          signal: AbortSignal.timeout(this.o.timeoutMs ?? 10_000),
        });
      } catch (err) {
        throw new Error(`timeSeries.list ${metricType}: ${(err as Error).message}`);
      }
      const text = await res.text();
      if (!res.ok) throw new Error(`timeSeries.list ${metricType}: HTTP ${res.status} ${text.replace(/\s+/g, ' ').slice(0, 200)}`);
      let body: ListResponse;
      try {
        body = JSON.parse(text) as ListResponse;
      } catch {
        throw new Error(`timeSeries.list ${metricType}: the answer is not JSON`);
      }
      if (typeof body !== 'object' || body === null || (body.timeSeries !== undefined && !Array.isArray(body.timeSeries))) {
        throw new Error(`timeSeries.list ${metricType}: the answer is not a time series list`);
      }
      out.push(...(body.timeSeries ?? []));
      pageToken = body.nextPageToken ?? '';
      if (!pageToken) return out;
    }
    throw new Error(`timeSeries.list ${metricType}: more than 100 pages`);
  }
}

const int = (p: Point) => Number(p.value?.int64Value ?? p.value?.doubleValue ?? 0) || 0;

/** Fold one series of metric `k` into its VM. */
function add(vm: PerVm, k: GateMetric, ts: TimeSeries): void {
  const points = ts.points ?? [];
  const sum = points.reduce((n, p) => n + int(p), 0);
  const labels = ts.metric?.labels ?? {};
  switch (k) {
    case 'drains':
      vm.drains += sum;
      for (const p of points) if (int(p) > 0) vm.lastDrainEnd = Math.max(vm.lastDrainEnd, Date.parse(p.interval?.endTime ?? '') || 0);
      return;
    case 'drainDuration':
      for (const p of points) {
        const d = p.value?.distributionValue;
        const count = Number(d?.count ?? 0);
        if (count > 0 && Number.isFinite(d?.mean)) {
          vm.durationSum += count * Number(d!.mean);
          vm.durationCount += count;
        }
      }
      return;
    case 'drainResets':
      vm.drainResets += sum;
      return;
    case 'watcherPollFailures':
      vm.watcherFailures += sum;
      if (sum > 0 && labels.status !== undefined && Number.isFinite(Number(labels.status))) vm.watcherStatus = Number(labels.status);
      return;
    case 'idleTimeouts':
      vm.idleTimeouts += sum;
      return;
    case 'connectionsOpened':
      vm.opened += sum;
      return;
    case 'connectionsClosed':
      vm.closed += sum;
      if (labels.reason === 'drain') vm.closedDrain += sum;
      if (labels.reason === 'drain_deadline') vm.closedDeadline += sum;
      return;
  }
}

/**
 * The gates' token: SLUICE_MONITORING_TOKEN (deploy.yml sets it from the auth action's monitoring.read
 * access token), else `gcloud auth print-access-token`. Read per request, never logged. Never
 * GOOGLE_OAUTH_ACCESS_TOKEN: `--apply` runs `pulumi up` in this process's environment, and "The Pulumi
 * Google Cloud provider reads the project and OAuth access token from the environment"
 * (GOOGLE_OAUTH_ACCESS_TOKEN, https://www.pulumi.com/docs/esc/providers/login/gcp-login/): a read-only
 * token there would replace the deploy credentials for every write.
 */
export const MONITORING_TOKEN_ENV = 'SLUICE_MONITORING_TOKEN';

/** Why `--apply` must not start in this environment (a GOOGLE_* credential the provider would prefer), if so. */
export function providerCredentialClash(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (!env.GOOGLE_OAUTH_ACCESS_TOKEN) return undefined;
  return (
    "GOOGLE_OAUTH_ACCESS_TOKEN is set: the Google provider would use it instead of the deploy credentials for every pulumi up write. Unset it; pass the gates' read token as " +
    MONITORING_TOKEN_ENV
  );
}
export function defaultTokenProvider(env: NodeJS.ProcessEnv = process.env): TokenProvider {
  return async () => {
    const t = env[MONITORING_TOKEN_ENV]?.trim();
    if (t) return t;
    const { execFile } = await import('node:child_process');
    return new Promise((resolve, reject) =>
      execFile('gcloud', ['auth', 'print-access-token'], { timeout: 20_000 }, (err, stdout) => {
        if (err || !stdout.trim())
          reject(new Error(`no access token: set ${MONITORING_TOKEN_ENV} or log in with gcloud (gcloud auth print-access-token failed)`));
        else resolve(stdout.trim());
      }),
    );
  };
}
