/**
 * Where the servers' log lines land in Cloud Logging on GCE, and the log-based metric filters and
 * extractors that read them (pure: no Pulumi, so the rollout gates and the tests load it cheaply).
 *
 * The path is Docker's own `gcplogs` logging driver, chosen because its layout is documented and its
 * source is public (the COS logging agent's log name and JSON parsing have no doc sentence we could find):
 * - "You can set the logging driver for a specific container by using the --log-driver option to docker
 *   run: docker run --log-driver=gcplogs ..." and "If Docker detects that it's running in a Google Cloud
 *   Project, it discovers configuration from the instance metadata service"
 *   (https://docs.docker.com/engine/logging/drivers/gcplogs/).
 * - The entry it writes (moby/moby daemon/logger/gcplogs/gcplogging.go): `c.Logger("gcplogs-docker-driver",
 *   ...)` is the log id; on GCE the resource is `{type: "gce_instance", labels: {instance_id, zone}}`; the
 *   payload is the struct `dockerLogEntry{instance, container, message}` with `message` the container's line
 *   as a STRING (`Message: string(m.Line)`), one entry per line (daemon/logger/copier.go splits stdout at
 *   '\n' and drops it; lines over 16 KiB arrive in parts, ours are far shorter).
 * - cloud.google.com/go/logging (vendored by moby): "Payload must be either a string, or something that
 *   marshals via the encoding/json package to a JSON object"; a struct becomes `jsonPayload`
 *   (`LogEntry_JsonPayload{JsonPayload: toProtoStruct(p)}`), and the log name is
 *   `projects/<project>/logs/<logID>` ("projects/[PROJECT_ID]/logs/[LOG_ID]", LogEntry reference,
 *   https://cloud.google.com/logging/docs/reference/v2/rest/v2/LogEntry).
 *
 * So the server's pino JSON line is NOT parsed into fields: it is the text of `jsonPayload.message`.
 * Filters match it with the query language's regular-expression operator (`=~`, RE2) and extractors use
 * `REGEXP_EXTRACT(field, regex)`: "A regular expression using the Google RE2 syntax ... with a single
 * capture group to extract data from the specified log entry field" and "If either the extraction or the
 * conversion to double fails, then those values are not recorded" (LogMetric.valueExtractor, Logging API
 * reference); label extractors have "the same" syntax and fall back to "an empty string" for a string label.
 *
 * Regular expressions here use one escape only, `\"` (a double quote inside the filter's quoted string):
 * whether the query language unescapes it to `"` or hands `\"` to RE2 (where `\` before punctuation is
 * that punctuation), RE2 sees a literal quote. test/infra/log-lines.test.ts checks both readings, and
 * that every pattern stays in the subset where RE2 and JavaScript regexps agree.
 *
 * The `msg` texts are the server's, matched exactly (SERVER_LOG; test/infra/operations.test.ts reads them
 * back from app/server and app/lifecycle so a renamed message fails the test).
 */
import { drainEndBoundMs, Timeouts } from '../../app/contract/timeouts';

/** The exact `msg` of each line the metrics count, and the file that logs it. */
export const SERVER_LOG = {
  drainFinished: { msg: 'drain finished', file: 'app/server/server.ts' },
  backplaneUnavailable: { msg: 'backplane unavailable', file: 'app/server/server.ts' },
  backplaneRecovered: { msg: 'backplane recovered', file: 'app/server/server.ts' },
  watcherPollFailed: { msg: 'lifecycle watcher: poll failed, retrying next interval', file: 'app/lifecycle/watcher.ts' },
  idleTimeout: { msg: 'idle limit passed, terminating', file: 'app/server/endings.ts' },
  connectionOpen: { msg: 'connection open', file: 'app/server/connection.ts' },
  connectionClosed: { msg: 'connection closed', file: 'app/server/connection.ts' },
} as const;

/** The log id Docker's gcplogs driver writes to (moby daemon/logger/gcplogs/gcplogging.go). */
export const CONTAINER_LOG_ID = 'gcplogs-docker-driver';
/** The entry field holding the container's line, as text (the driver's `dockerLogEntry.Message`). */
export const LINE_FIELD = 'jsonPayload.message';
/** The server VMs' container lines: the resource the driver sets on GCE and its log. */
export const LOG_SOURCE = `resource.type="gce_instance" AND log_id("${CONTAINER_LOG_ID}")`;

/** `"key":` as it appears in a pino JSON line, quotes escaped for a quoted filter string. */
const key = (k: string) => `\\"${k}\\":`;
/** A msg text as a pattern: letters, digits, space and `:,_-` only, none of them special to RE2 or JS. */
const literal = (s: string) => {
  if (/[^A-Za-z0-9 :,_-]/.test(s)) throw new Error(`log msg ${JSON.stringify(s)}: teach literal() to escape it before matching on it`);
  return s;
};

/**
 * An RE2 pattern for a JSON integer (no sign, no leading zero) strictly greater than `n`, followed by the
 * end of the number (`,` or `}` in a pino line): longer numbers, or the same length with a larger digit
 * after an equal prefix. Used where the metric needs `field > n` on a field that is only text here.
 */
export function integerAbove(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`integerAbove: expected a non-negative integer, got ${n}`);
  const d = String(n);
  const alts = [`[1-9][0-9]{${d.length},}`];
  for (let i = 0; i < d.length; i++) {
    const digit = Number(d[i]);
    if (digit === 9) continue;
    const rest = d.length - i - 1;
    alts.push(`${d.slice(0, i)}[${digit + 1}-9]${rest > 1 ? `[0-9]{${rest}}` : rest === 1 ? '[0-9]' : ''}`);
  }
  return `(?:${alts.join('|')})[,}]`;
}

/** A filter term: the line is the server line with this `msg`. */
const msgIs = (msg: string) => `${LINE_FIELD}=~"${key('msg')}\\"${literal(msg)}\\""`;
/** A filter term: the line's integer field `k` is above `n`. */
const intAbove = (k: string, n: number) => `${LINE_FIELD}=~"${key(k)}${integerAbove(n)}"`;
/** Extractors: a string field's text, an integer field's digits. */
const stringField = (k: string) => `REGEXP_EXTRACT(${LINE_FIELD}, "${key(k)}\\"([^\\"]*)\\"")`;
const intField = (k: string) => `REGEXP_EXTRACT(${LINE_FIELD}, "${key(k)}([0-9]+)")`;

export type MetricSpec = { name: string; filter: string; description: string; labels?: Record<string, string>; distribution?: string };

/** The log-based metrics (pure: operations.ts, the rollout gates and the tests read the same list). */
export function logMetricSpecs(t: Timeouts): Record<string, MetricSpec> {
  const m = (msg: string, ...extra: string[]) => [LOG_SOURCE, msgIs(msg), ...extra].join(' AND ');
  return {
    drains: {
      name: 'sluice/drains',
      filter: m(SERVER_LOG.drainFinished.msg),
      description: 'Drains finished (one per server drain), by reason',
      labels: { reason: stringField('reason') },
    },
    drainDuration: {
      name: 'sluice/drain_duration',
      filter: m(SERVER_LOG.drainFinished.msg),
      description: 'Drain duration (ms), from the drain finished line',
      distribution: intField('durationMs'),
    },
    drainResets: {
      name: 'sluice/drain_resets',
      filter: m(SERVER_LOG.drainFinished.msg, intAbove('reset', 0)),
      description: 'Drains that reset (RST) connections still open at the deadline',
    },
    drainOverruns: {
      name: 'sluice/drain_overruns',
      filter: m(SERVER_LOG.drainFinished.msg, intAbove('durationMs', drainEndBoundMs(t))),
      description: `Drains longer than drain.deadlineMs + drain.marginMs (${drainEndBoundMs(t)} ms)`,
    },
    watcherPollFailures: {
      name: 'sluice/watcher_poll_failures',
      filter: m(SERVER_LOG.watcherPollFailed.msg),
      description:
        'Lifecycle watcher polls that failed, by HTTP status and failure (a 403 is permission: role missing, or quota: rateLimitExceeded)',
      labels: { status: intField('status'), failure: stringField('failure') },
    },
    backplaneUnavailable: {
      name: 'sluice/backplane_unavailable',
      filter: m(SERVER_LOG.backplaneUnavailable.msg),
      description: 'Backplane (Redis) became unavailable on a server',
    },
    backplaneRecovered: {
      name: 'sluice/backplane_recovered',
      filter: m(SERVER_LOG.backplaneRecovered.msg),
      description: 'Backplane (Redis) became available again on a server',
    },
    idleTimeouts: {
      name: 'sluice/idle_timeouts',
      filter: m(SERVER_LOG.idleTimeout.msg),
      description: 'Connections terminated after the idle limit (dead peers: no frame, no pong)',
    },
    connectionsOpened: {
      name: 'sluice/connections_opened',
      filter: m(SERVER_LOG.connectionOpen.msg),
      description: 'WebSocket connections opened',
    },
    connectionsClosed: {
      name: 'sluice/connections_closed',
      filter: m(SERVER_LOG.connectionClosed.msg),
      description: 'WebSocket connections closed, by reason',
      labels: { reason: stringField('reason') },
    },
  };
}
