/**
 * Issue 22 point 7: the log-based metrics must match the server's REAL lines. A real server drains a
 * real peer and a real lifecycle watcher hits a quota 403 (GCE double), both logging through pino as in
 * production; each captured line goes through the parse the filters assume (one JSON object per line
 * becomes jsonPayload) and every filter and extractor of logMetricSpecs() is evaluated on it.
 * What this does not prove: that the VM's agent ships the container's stdout under log_id LOG_SOURCE
 * with that parse (docs/deploy-gce.md says how to check it on a first VM).
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { defaultTimeouts, mergeTimeouts } from '../../app/contract/timeouts';
import { LifecycleWatcher } from '../../app/lifecycle';
import { SluiceServer } from '../../app/server/server';
import { LOG_SOURCE, logMetricSpecs, SERVER_LOG } from '../../infra/components/operations';
import { GceDouble } from '../lifecycle/gce-double';
import { closed, openRaw, testConfig, token } from '../helpers/server';

/** A pino logger writing JSON lines into `lines` (the container's stdout). */
function capture(): { log: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { log: pino({ level: 'info' }, sink), lines };
}

/**
 * The filter forms logMetricSpecs() uses, evaluated on a parsed entry: LOG_SOURCE (the entry's resource
 * and log), then `jsonPayload.<field>="<text>"` and `jsonPayload.<field>><number>`, joined by AND.
 * Anything else throws: a new form needs this evaluator taught, not silently passed.
 */
function matches(filter: string, entry: { jsonPayload: Record<string, unknown> }): boolean {
  expect(filter.startsWith(`${LOG_SOURCE} AND `)).toBe(true);
  return filter
    .slice(LOG_SOURCE.length + 5)
    .split(' AND ')
    .every((term) => {
      const eq = /^jsonPayload\.(\w+)="([^"]*)"$/.exec(term);
      if (eq) return entry.jsonPayload[eq[1]] === eq[2];
      const gt = /^jsonPayload\.(\w+)>(\d+)$/.exec(term);
      if (gt) return typeof entry.jsonPayload[gt[1]] === 'number' && (entry.jsonPayload[gt[1]] as number) > Number(gt[2]);
      throw new Error(`filter term not understood: ${term}`);
    });
}

function extract(extractor: string, entry: { jsonPayload: Record<string, unknown> }): unknown {
  const m = /^EXTRACT\(jsonPayload\.(\w+)\)$/.exec(extractor);
  if (!m) throw new Error(`extractor not understood: ${extractor}`);
  return entry.jsonPayload[m[1]];
}

/** The parse the filters assume: the line is one JSON object, shipped as the entry's jsonPayload. */
const parse = (line: string) => ({ jsonPayload: JSON.parse(line) as Record<string, unknown> });

describe("log-based metrics on the server's real lines", () => {
  const specs = logMetricSpecs(defaultTimeouts);

  it('a real drain\'s "drain finished" line: counted, by reason, with its duration; no reset, no overrun', async () => {
    const { log, lines } = capture();
    const config = { ...testConfig(), timeouts: mergeTimeouts(defaultTimeouts, { drain: { windowMs: 200, deadlineMs: 2_000 } }) };
    const server = new SluiceServer({ config, logger: log });
    const { port } = await server.start();
    const ws = await openRaw(`ws://127.0.0.1:${port}/socket/websocket?vsn=2.0.0&token=${await token('peer-1')}`);
    const wsClosed = closed(ws);
    await server.drain('watcher');
    await wsClosed;
    const line = lines.find((l) => JSON.parse(l).msg === SERVER_LOG.drainFinished.msg);
    expect(line).toBeDefined();
    const entry = parse(line!);
    expect(matches(specs.drains.filter, entry)).toBe(true);
    expect(extract(specs.drains.labels!.reason, entry)).toBe('watcher');
    expect(matches(specs.drainDuration.filter, entry)).toBe(true);
    const ms = extract(specs.drainDuration.distribution!, entry);
    expect(typeof ms).toBe('number');
    expect(ms as number).toBeGreaterThanOrEqual(0);
    expect(matches(specs.drainResets.filter, entry)).toBe(false);
    expect(matches(specs.drainOverruns.filter, entry)).toBe(false);
    // The same line with a reset and an overrun (as a drain that hit its deadline late would log it) is counted by both.
    const late = { jsonPayload: { ...entry.jsonPayload, reset: 3, durationMs: 60_000 } };
    expect(matches(specs.drainResets.filter, late)).toBe(true);
    expect(matches(specs.drainOverruns.filter, late)).toBe(true);
    // No other metric counts it.
    expect(
      Object.entries(specs)
        .filter(([, s]) => matches(s.filter, entry))
        .map(([k]) => k)
        .sort(),
    ).toEqual(['drainDuration', 'drains']);
  });

  it('a real watcher poll failure: counted by status and failure, quota told from permission', async () => {
    const double = await new GceDouble().start();
    const { log, lines } = capture();
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
    const entries = lines.map(parse).filter((e) => e.jsonPayload.msg === SERVER_LOG.watcherPollFailed.msg);
    expect(entries.length).toBeGreaterThanOrEqual(2);
    const spec = specs.watcherPollFailures;
    for (const e of entries) expect(matches(spec.filter, e)).toBe(true);
    expect(entries.slice(0, 2).map((e) => [extract(spec.labels!.status, e), extract(spec.labels!.failure, e)])).toEqual([
      [403, 'permission'],
      [403, 'quota'],
    ]);
  }, 30_000);
});
