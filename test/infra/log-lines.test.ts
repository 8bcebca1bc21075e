/**
 * Issue 22 point 7: the log-based metrics must match the server's REAL lines as Cloud Logging stores them.
 * A real server drains a real peer and a real lifecycle watcher hits a 403 twice (GCE double), logging
 * through pino as in production. Each line goes through a model of what the VM ships, Docker's gcplogs
 * driver (the unit's --log-driver=gcplogs), and every filter and extractor of logMetricSpecs() is
 * evaluated on the resulting entry by a small evaluator of the Logging query subset they use.
 *
 * The driver model, from moby/moby daemon/logger/gcplogs/gcplogging.go and daemon/logger/copier.go:
 *   copier: stdout split at '\n', the '\n' dropped, one message per line;
 *   entry: logName projects/<p>/logs/gcplogs-docker-driver (`c.Logger("gcplogs-docker-driver", ...)`,
 *          cloud.google.com/go/logging LogPath `%s/logs/%s`), resource gce_instance {instance_id, zone}
 *          (`Type: "gce_instance"` on GCE), jsonPayload {instance, container, message: the line as text}
 *          (`dockerLogEntry`; a struct payload is marshalled to jsonPayload).
 * The log name here is written out from that source, not taken from the code under test.
 *
 * The evaluator's mapping to the Logging query language (https://cloud.google.com/logging/docs/view/logging-query-language):
 *   `a AND b`              both hold;
 *   `resource.type="x"`    equality, case-insensitive ("String comparisons aren't case sensitive");
 *   `log_id("x")`          logName is .../logs/x;
 *   `field=~"re"`          RE2 partial match of the field's text, run here as a JavaScript RegExp.test;
 *   `REGEXP_EXTRACT(field, "re")`  the single capture group of the first match, else nothing.
 * RE2 and JavaScript agree on the pattern subset used (literals, [..] classes, {n} {n,}, (?:), one (..),
 * |, +, *, and the one escape \"), which the first test enforces; a quoted string is read both with `\"`
 * unescaped to `"` and with `\"` handed to the regexp as is, and both readings must agree.
 * What this does not prove: that a given COS release's docker carries the gcplogs driver (moby registers
 * it in daemon/logdrivers_linux.go); docs/deploy-gce.md says how to check the first VM.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { defaultTimeouts, mergeTimeouts } from '../../app/contract/timeouts';
import { LifecycleWatcher } from '../../app/lifecycle';
import { SluiceServer } from '../../app/server/server';
import { integerAbove, logMetricSpecs, SERVER_LOG } from '../../infra/components/log-metrics';
import { GceDouble } from '../lifecycle/gce-double';
import { closed, openRaw, testConfig, token } from '../helpers/server';

interface LogEntry {
  logName: string;
  resource: { type: string; labels: Record<string, string> };
  jsonPayload: { instance: Record<string, string>; container: Record<string, unknown>; message: string };
}

const PROJECT = 'sluice-test-project';

/** A pino logger whose stdout goes through the driver's copier and entry (the model in the header). */
function capture(): { log: pino.Logger; entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  let pending = '';
  const sink = new Writable({
    write(chunk, _enc, done) {
      pending += String(chunk);
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        entries.push(gcplogsEntry(pending.slice(0, nl)));
        pending = pending.slice(nl + 1);
      }
      done();
    },
  });
  return { log: pino({ level: 'info', base: { server: 'sluice-vm-1' } }, sink), entries };
}

function gcplogsEntry(line: string): LogEntry {
  return {
    logName: `projects/${PROJECT}/logs/gcplogs-docker-driver`,
    resource: { type: 'gce_instance', labels: { instance_id: '4242', zone: 'europe-west1-b' } },
    jsonPayload: {
      instance: { zone: 'europe-west1-b', name: 'sluice-vm-1', id: '4242' },
      container: { name: '/sluice', id: 'c0ffee', imageName: 'sluice:test', created: '2026-12-07T00:00:00Z' },
      message: line,
    },
  };
}

/** The line's JSON object (to read what the server logged, never to evaluate a filter). */
const fields = (e: LogEntry) => JSON.parse(e.jsonPayload.message) as Record<string, unknown>;

/** A quoted string of the query language, read both ways (see the header). */
function quoted(src: string, at: number): { readings: [string, string]; end: number } {
  if (src[at] !== '"') throw new Error(`expected a quoted string at ${at}: ${src.slice(at, at + 30)}`);
  let unescaped = '';
  let raw = '';
  let i = at + 1;
  for (; i < src.length && src[i] !== '"'; i++) {
    if (src[i] === '\\') {
      if (src[i + 1] !== '"') throw new Error(`only \\" may be escaped: ${src.slice(i, i + 10)}`);
      unescaped += '"';
      raw += '\\"';
      i++;
    } else {
      unescaped += src[i];
      raw += src[i];
    }
  }
  if (i >= src.length) throw new Error(`unterminated string from ${at}`);
  return { readings: [unescaped, raw], end: i + 1 };
}

/** The RE2/JavaScript common subset (see the header); anything else throws. */
function regexp(pattern: string): RegExp {
  if (/\(\?[=!<]/.test(pattern) || /\\[^"]/.test(pattern)) throw new Error(`pattern outside the checked subset: ${pattern}`);
  return new RegExp(pattern);
}

function field(entry: LogEntry, path: string): string {
  if (path === 'jsonPayload.message') return entry.jsonPayload.message;
  if (path === 'resource.type') return entry.resource.type;
  throw new Error(`field not modelled: ${path}`);
}

/** One comparison at `at`; returns whether it holds under each reading of its string. */
function comparison(src: string, at: number, entry: LogEntry): { holds: [boolean, boolean]; end: number } {
  const logId = /^log_id\(/.exec(src.slice(at));
  if (logId) {
    const s = quoted(src, at + logId[0].length);
    if (src[s.end] !== ')') throw new Error(`log_id( not closed at ${s.end}`);
    const holds = s.readings.map((id) => entry.logName === `projects/${PROJECT}/logs/${id.replace(/\//g, '%2F')}`);
    return { holds: holds as [boolean, boolean], end: s.end + 1 };
  }
  const m = /^([A-Za-z_.]+)(=~|=)/.exec(src.slice(at));
  if (!m) throw new Error(`comparison not understood: ${src.slice(at, at + 40)}`);
  const s = quoted(src, at + m[0].length);
  const value = field(entry, m[1]);
  const holds = s.readings.map((r) => (m[2] === '=' ? value.toLowerCase() === r.toLowerCase() : regexp(r).test(value)));
  return { holds: holds as [boolean, boolean], end: s.end };
}

/** Evaluates `c AND c AND ...`: both readings must agree, else the filter is ambiguous and the test fails. */
function matches(filter: string, entry: LogEntry): boolean {
  let at = 0;
  let result = true;
  for (;;) {
    const c = comparison(filter, at, entry);
    expect(c.holds[0]).toBe(c.holds[1]);
    result &&= c.holds[0];
    at = c.end;
    if (at === filter.length) return result;
    if (filter.slice(at, at + 5) !== ' AND ') throw new Error(`expected AND at ${at}: ${filter.slice(at, at + 20)}`);
    at += 5;
  }
}

function extract(extractor: string, entry: LogEntry): string | undefined {
  const m = /^REGEXP_EXTRACT\(([A-Za-z_.]+), /.exec(extractor);
  if (!m) throw new Error(`extractor not understood: ${extractor}`);
  const s = quoted(extractor, m[0].length);
  if (extractor.slice(s.end) !== ')') throw new Error(`extractor not closed: ${extractor}`);
  const out = s.readings.map((r) => {
    expect(r.match(/\((?!\?)/g)?.length).toBe(1); // "exactly one capture group"
    return regexp(r).exec(field(entry, m[1]))?.[1];
  });
  expect(out[0]).toBe(out[1]);
  return out[0];
}

describe('integerAbove: "field > n" as an RE2 pattern on the JSON text', () => {
  it.each([0, 1, 9, 10, 99, 100, 909, 25_000, 45_000, 123_456])('n = %d agrees with > for every value around it', (n) => {
    const re = regexp(`"k":${integerAbove(n)}`);
    const values = [0, 1, 9, 10, 11, 99, 100, 101, 999, 1_000, 10 ** 7, n - 11, n - 1, n, n + 1, n + 10, n * 10, n * 10 + 9];
    for (let v = Math.max(0, n - 1_500); v <= n + 1_500; v++) values.push(v);
    for (const v of values.filter((x) => x >= 0)) {
      expect([v, re.test(`{"k":${v},"z":1}`) && re.test(`{"k":${v}}`)]).toEqual([v, v > n]);
    }
  });
});

describe("log-based metrics on the server's real lines, as the gcplogs driver ships them", () => {
  const specs = logMetricSpecs(defaultTimeouts);

  it('a real drain\'s "drain finished" line: counted, by reason, with its duration; no reset, no overrun', async () => {
    const { log, entries } = capture();
    const config = { ...testConfig(), timeouts: mergeTimeouts(defaultTimeouts, { drain: { windowMs: 200, deadlineMs: 2_000 } }) };
    const server = new SluiceServer({ config, logger: log });
    const { port } = await server.start();
    try {
      const ws = await openRaw(`ws://127.0.0.1:${port}/socket/websocket?vsn=2.0.0&token=${await token('peer-1')}`);
      const wsClosed = closed(ws);
      await server.drain('watcher');
      await wsClosed;
    } finally {
      await server.shutdown();
    }
    const entry = entries.find((e) => fields(e).msg === SERVER_LOG.drainFinished.msg);
    expect(entry).toBeDefined();
    const line = fields(entry!);
    expect(matches(specs.drains.filter, entry!)).toBe(true);
    expect(extract(specs.drains.labels!.reason, entry!)).toBe('watcher');
    expect(matches(specs.drainDuration.filter, entry!)).toBe(true);
    expect(Number(extract(specs.drainDuration.distribution!, entry!))).toBe(line.durationMs);
    expect(matches(specs.drainResets.filter, entry!)).toBe(false);
    expect(matches(specs.drainOverruns.filter, entry!)).toBe(false);
    // No other metric counts it; the connection lines of the same run are counted by their own metrics.
    const counting = (e: LogEntry) =>
      Object.entries(specs)
        .filter(([, s]) => matches(s.filter, e))
        .map(([k]) => k)
        .sort();
    expect(counting(entry!)).toEqual(['drainDuration', 'drains']);
    const open = entries.find((e) => fields(e).msg === SERVER_LOG.connectionOpen.msg)!;
    const close = entries.find((e) => fields(e).msg === SERVER_LOG.connectionClosed.msg)!;
    expect(counting(open)).toEqual(['connectionsOpened']);
    expect(counting(close)).toEqual(['connectionsClosed']);
    expect(extract(specs.connectionsClosed.labels!.reason, close)).toBe(fields(close).reason);

    // The same line as pino renders it with a reset and an overrun (a drain that hit its deadline late):
    // pino writes JSON.stringify's compact form, so re-rendering the parsed line reproduces it byte for byte.
    expect(JSON.stringify(line)).toBe(entry!.jsonPayload.message);
    const late = gcplogsEntry(JSON.stringify({ ...line, reset: 3, durationMs: 60_000 }));
    expect(matches(specs.drainResets.filter, late)).toBe(true);
    expect(matches(specs.drainOverruns.filter, late)).toBe(true);
    expect(extract(specs.drainDuration.distribution!, late)).toBe('60000');
  });

  it('text that only looks like a field (inside a string value, or another log) is not counted', () => {
    const { log, entries } = capture();
    log.info({ note: '"msg":"drain finished","reset":3' }, SERVER_LOG.connectionOpen.msg);
    const [e] = entries;
    expect(e.jsonPayload.message).toContain('\\"msg\\":\\"drain finished\\"');
    expect(matches(specs.drains.filter, e)).toBe(false);
    expect(matches(specs.connectionsOpened.filter, e)).toBe(true);
    const elsewhere = { ...e, logName: `projects/${PROJECT}/logs/cos_containers` };
    expect(matches(specs.connectionsOpened.filter, elsewhere)).toBe(false);
    const otherResource = { ...e, resource: { type: 'k8s_container', labels: {} } };
    expect(matches(specs.connectionsOpened.filter, otherResource)).toBe(false);
  });

  it('a real watcher poll failure: counted by status and failure, quota told from permission', async () => {
    const double = await new GceDouble().start();
    const { log, entries } = capture();
    double.listFaults.push('forbidden', 'quota');
    const failures: string[] = [];
    const watcher = new LifecycleWatcher({
      pollIntervalMs: 1_000,
      requestTimeoutMs: 800,
      metadataUrl: double.metadataUrl,
      computeUrl: double.computeUrl,
      log: log.child({ component: 'lifecycle' }),
      onDrain: () => undefined,
    });
    const two = new Promise<void>((resolve) =>
      watcher.on('pollError', (_e: unknown, f: string) => {
        failures.push(f);
        if (failures.length === 2) resolve();
      }),
    );
    try {
      watcher.start();
      await two;
    } finally {
      await watcher.stop();
      await double.close();
    }
    const polls = entries.filter((e) => fields(e).msg === SERVER_LOG.watcherPollFailed.msg);
    expect(polls.length).toBeGreaterThanOrEqual(2);
    const spec = specs.watcherPollFailures;
    for (const e of polls) expect(matches(spec.filter, e)).toBe(true);
    expect(polls.slice(0, 2).map((e) => [extract(spec.labels!.status, e), extract(spec.labels!.failure, e)])).toEqual([
      ['403', 'permission'],
      ['403', 'quota'],
    ]);
  }, 30_000);
});
