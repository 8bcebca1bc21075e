/**
 * The lifecycle watcher against a local double of the metadata server and the Compute API
 * (test/lifecycle/gce-double.ts). Synchronisation is by events (each list call, each drain), never
 * by sleeping; the poll interval is short so a test takes a few hundred milliseconds.
 */
import { classifyAction, CURRENT_ACTIONS, DRAIN_ACTIONS, LifecycleEvent, LifecycleWatcher, WatcherLogger } from '../../app/lifecycle';
import { parseCreatedBy } from '../../app/lifecycle/gce';
import { GceDouble, ListCall } from './gce-double';

const POLL_MS = 300;
/** The per-poll time limit (gce.watcherRequestTimeoutMs), below the interval as the contract demands. */
const REQUEST_MS = 250;

interface Entry {
  level: string;
  obj: Record<string, unknown>;
  msg: string;
}
function recordingLog(): WatcherLogger & { entries: Entry[] } {
  const entries: Entry[] = [];
  const at = (level: string) => (obj: object, msg: string) => void entries.push({ level, obj: obj as Record<string, unknown>, msg });
  return { entries, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

let double: GceDouble;
let watcher: LifecycleWatcher | undefined;
const unhandled: unknown[] = [];
const onUnhandled = (err: unknown) => void unhandled.push(err);

beforeAll(() => process.on('unhandledRejection', onUnhandled));
afterAll(() => process.off('unhandledRejection', onUnhandled));
beforeEach(async () => {
  unhandled.length = 0;
  double = await new GceDouble().start();
});
afterEach(async () => {
  await watcher?.stop();
  watcher = undefined;
  await double.close();
  expect(unhandled).toEqual([]);
});

function startWatcher(
  log?: WatcherLogger,
  extra: { now?: () => number; random?: () => number; pollIntervalMs?: number; requestTimeoutMs?: number } = {},
): { drained: Promise<LifecycleEvent>; calls: LifecycleEvent[] } {
  const calls: LifecycleEvent[] = [];
  let resolve!: (e: LifecycleEvent) => void;
  const drained = new Promise<LifecycleEvent>((r) => (resolve = r));
  watcher = new LifecycleWatcher({
    pollIntervalMs: extra.pollIntervalMs ?? POLL_MS,
    requestTimeoutMs: extra.requestTimeoutMs ?? REQUEST_MS,
    metadataUrl: double.metadataUrl,
    computeUrl: double.computeUrl,
    log,
    ...extra,
    onDrain: (e) => {
      calls.push(e);
      resolve(e);
    },
  }).start();
  return { drained, calls };
}

/** Run `fn` synchronously right after list call number `n` has been answered. */
function afterListCall(n: number, fn: (call: ListCall) => void): Promise<void> {
  return new Promise((resolve) => {
    const h = (call: ListCall) => {
      if (call.n !== n) return;
      double.off('list', h);
      fn(call);
      resolve();
    };
    double.on('list', h);
  });
}

/**
 * Every documented currentAction with the verdict its Compute API sentence gives (app/lifecycle/actions.ts),
 * spelled out here so that a changed classification fails a test. REFRESHING: "applying configuration
 * changes to the instance without stopping it" (issue 22 point 5: it used to drain).
 */
const MUST_DRAIN = ['DELETING', 'ABANDONING', 'RECREATING', 'RESTARTING', 'STOPPING', 'SUSPENDING'];
const MUST_KEEP = ['NONE', 'CREATING', 'CREATING_WITHOUT_RETRIES', 'VERIFYING', 'REFRESHING', 'STARTING', 'RESUMING'];

describe('lifecycle watcher: currentAction', () => {
  it('drains on exactly the actions that take the VM out of service, and classifies every documented value', () => {
    expect([...DRAIN_ACTIONS].sort()).toEqual([...MUST_DRAIN].sort());
    expect(Object.keys(CURRENT_ACTIONS).sort()).toEqual([...MUST_DRAIN, ...MUST_KEEP].sort());
    for (const a of MUST_DRAIN) expect(classifyAction(a)).toBe('drain');
    for (const a of MUST_KEEP) expect(classifyAction(a)).toBe('keep');
    expect(classifyAction('TELEPORTING')).toBe('unknown');
    expect(classifyAction('constructor')).toBe('unknown');
    expect(CURRENT_ACTIONS.REFRESHING.doc).toContain('without stopping it');
  });

  it.each(MUST_DRAIN)('%s starts the drain on the first poll that sees it', async (action) => {
    const changed = afterListCall(2, () => (double.action = action));
    const { drained, calls } = startWatcher();
    await changed;
    const t0 = Date.now();
    expect(await drained).toBe(action);
    // Exactly one poll after the change, then no more polling.
    expect(double.listCalls.map((c) => c.answered)).toEqual(['NONE', 'NONE', action]);
    expect(calls).toEqual([action]);
    expect(Date.now() - t0).toBeLessThan(POLL_MS + 2_000);
    await watcher!.stop();
    expect(double.listCalls).toHaveLength(3);
  });

  it('an undocumented currentAction is logged as an error once and shown in health, but does not drain', async () => {
    double.action = 'TELEPORTING';
    const log = recordingLog();
    const fourPolls = afterListCall(4, () => undefined);
    const { calls } = startWatcher(log);
    await fourPolls;
    expect(calls).toEqual([]);
    expect(log.entries.filter((e) => e.level === 'error' && /undocumented currentAction/.test(e.msg))).toHaveLength(1);
    expect(watcher!.health().unknownActions).toEqual(['TELEPORTING']);
  });

  it.each(MUST_KEEP)('%s does not drain', async (action) => {
    double.action = action;
    const fivePolls = afterListCall(5, () => undefined);
    const { calls } = startWatcher();
    await fivePolls;
    expect(calls).toEqual([]);
    expect(watcher!.triggered).toBeUndefined();
  });

  it('talks to the APIs the way they require: metadata header, bearer token, POST on the regional MIG', async () => {
    const changed = afterListCall(1, () => (double.action = 'DELETING'));
    const { drained } = startWatcher();
    await changed;
    await drained;
    const meta = double.requests.filter((r) => r.path.startsWith('/computeMetadata/'));
    expect(meta.length).toBeGreaterThan(0);
    expect(meta.every((r) => r.headers['metadata-flavor'] === 'Google')).toBe(true);
    const lists = double.requests.filter((r) => r.path.endsWith('/listManagedInstances'));
    expect(lists.every((r) => r.method === 'POST' && r.headers.authorization === `Bearer ${double.accessToken}`)).toBe(true);
    expect(lists[0].path).toBe(
      '/compute/v1/projects/123456789012/regions/us-central1/instanceGroupManagers/sluice-us-central1/listManagedInstances',
    );
    // The token is fetched once and cached across polls.
    expect(double.requests.filter((r) => r.path.endsWith('/token'))).toHaveLength(1);
  });

  it('drains when the VM disappears from its MIG between two polls (abandoned)', async () => {
    const removed = afterListCall(2, () => (double.action = null));
    const { drained } = startWatcher();
    await removed;
    expect(await drained).toBe('REMOVED');
    expect(double.listCalls.map((c) => c.answered)).toEqual(['NONE', 'NONE', '-']);
  });

  it('does not drain when it was never listed (still being added), and says so', async () => {
    double.action = null;
    const log = recordingLog();
    const three = afterListCall(3, () => undefined);
    const { calls } = startWatcher(log);
    await three;
    expect(calls).toEqual([]);
    expect(log.entries.some((e) => e.level === 'warn' && /not listed/.test(e.msg))).toBe(true);
  });
});

describe('lifecycle watcher: failures are logged and retried, never fatal', () => {
  it('a 403 (missing IAM grant) is logged as an error and retried; the drain still starts afterwards', async () => {
    double.listFaults.push('forbidden', 'forbidden', 'forbidden');
    const log = recordingLog();
    const changed = afterListCall(4, () => (double.action = 'DELETING'));
    const { drained, calls } = startWatcher(log);
    await changed;
    expect(calls).toEqual([]);
    expect(await drained).toBe('DELETING');
    expect(double.listCalls.map((c) => c.answered)).toEqual(['forbidden', 'forbidden', 'forbidden', 'NONE', 'DELETING']);
    const errors = log.entries.filter((e) => e.level === 'error' && e.obj.status === 403);
    expect(errors).toHaveLength(3);
    expect(String(errors[0].obj.err)).toContain('compute.instanceGroupManagers.get');
    expect(errors.map((e) => e.obj.consecutiveErrors)).toEqual([1, 2, 3]);
  });

  it("tells a 403 rateLimitExceeded (quota) from a 403 forbidden (permission): log field, health, and the next poll waits for the quota's next minute", async () => {
    // A slower schedule than the rest of the suite: this test reads exact failure sequences, which a
    // 250 ms request limit on a loaded machine would interleave with timeouts.
    const poll = 1_000;
    double.listFaults.push('forbidden', 'quota');
    const log = recordingLog();
    // A clock that reaches a minute boundary 1.5 s after the quota error: the real wait stays short.
    const real0 = Date.now();
    const fake0 = Math.ceil(real0 / 60_000) * 60_000 + 60_000 - 1_500 - 2 * poll;
    const now = () => fake0 + (Date.now() - real0);
    const failures: string[] = [];
    const third = afterListCall(3, () => undefined);
    startWatcher(log, { now, random: () => 0.5, pollIntervalMs: poll, requestTimeoutMs: 800 });
    const quotaSeen = new Promise<void>((resolve) =>
      watcher!.on('pollError', (_e: unknown, f: string) => {
        failures.push(f);
        if (f === 'quota') resolve();
      }),
    );
    await quotaSeen;
    const h = watcher!.health();
    expect(h).toMatchObject({ up: false, lastStatus: 403, lastFailure: 'quota', lastReason: 'rateLimitExceeded' });
    const boundary = Math.ceil(now() / 60_000) * 60_000;
    expect(h.quotaBackoffUntil).toBe(boundary + poll / 2);
    await third;
    const [c2, c3] = double.listCalls.slice(1, 3);
    // Not one interval later: at the quota's next minute plus the jitter (fake time).
    expect(c3.at - real0 + fake0).toBeGreaterThanOrEqual(boundary + poll / 2 - 5);
    expect(c3.at - c2.at).toBeGreaterThan(poll);
    expect(failures).toEqual(['permission', 'quota']);
    const polls = log.entries.filter((e) => /poll failed/.test(e.msg));
    expect(polls.map((e) => [e.level, e.obj.status, e.obj.failure, e.obj.reason])).toEqual([
      ['error', 403, 'permission', 'forbidden'],
      ['warn', 403, 'quota', 'rateLimitExceeded'],
    ]);
    await new Promise<void>((resolve) => (watcher!.health().up ? resolve() : watcher!.once('health', () => resolve())));
    expect(watcher!.health()).toMatchObject({ up: true, lastFailure: undefined, quotaBackoffUntil: undefined });
  });

  it('a network error (connection reset) and a non-JSON answer are logged as warnings and retried', async () => {
    double.listFaults.push('reset', 'garbage', 'reset');
    const log = recordingLog();
    const changed = afterListCall(4, () => (double.action = 'RECREATING'));
    const { drained } = startWatcher(log);
    await changed;
    expect(await drained).toBe('RECREATING');
    const warns = log.entries.filter((e) => e.level === 'warn' && /poll failed/.test(e.msg));
    expect(warns.map((e) => e.obj.status)).toEqual([0, 200, 0]);
    expect(watcher!.consecutiveErrors).toBe(0);
  });

  it('a failing token endpoint is retried too', async () => {
    double.tokenFaults = 2;
    const log = recordingLog();
    const changed = afterListCall(1, () => (double.action = 'STOPPING'));
    const { drained } = startWatcher(log);
    await changed;
    expect(await drained).toBe('STOPPING');
    expect(log.entries.filter((e) => /poll failed/.test(e.msg)).map((e) => e.obj.status)).toEqual([500, 500]);
  });

  it('an unreachable metadata server is retried (nothing listens on the port)', async () => {
    const port = double.port;
    await double.close();
    const log = recordingLog();
    watcher = new LifecycleWatcher({
      pollIntervalMs: POLL_MS,
      requestTimeoutMs: REQUEST_MS,
      metadataUrl: `http://127.0.0.1:${port}/computeMetadata/v1`,
      computeUrl: `http://127.0.0.1:${port}/compute/v1`,
      log,
      onDrain: () => undefined,
    });
    const twoFailures = new Promise<void>((resolve) => {
      let n = 0;
      watcher!.on('pollError', () => ++n === 2 && resolve());
    });
    watcher.start();
    await twoFailures;
    expect(watcher.triggered).toBeUndefined();
    expect(log.entries.filter((e) => /poll failed/.test(e.msg)).every((e) => e.obj.status === 0)).toBe(true);
    await watcher.stop();
    double = await new GceDouble().start();
  });
});

describe('lifecycle watcher: timing bound and health (issue 10, defects 2 and 5)', () => {
  it('aborts a hanging poll at the request time limit and starts the next one on schedule (fixed rate)', async () => {
    double.listFaults.push('hang', 'hang');
    const log = recordingLog();
    const changed = afterListCall(3, () => (double.action = 'DELETING'));
    const { drained } = startWatcher(log);
    await changed;
    expect(await drained).toBe('DELETING');
    const starts = double.listCalls.map((c) => c.at);
    // Poll-to-poll spacing stays one interval even when a poll hangs: not interval + request time.
    // (From the second call on: the first poll also resolves identity and the token before it lists.)
    for (let i = 2; i < 4; i++) {
      expect(starts[i] - starts[i - 1]).toBeGreaterThan(POLL_MS / 2);
      expect(starts[i] - starts[i - 1]).toBeLessThan(POLL_MS + REQUEST_MS);
    }
    const timeouts = log.entries.filter((e) => /poll failed/.test(e.msg));
    expect(timeouts.map((e) => e.obj.status)).toEqual([0, 0]);
  });

  it('refuses a request time limit that is not below the interval', () => {
    expect(() => new LifecycleWatcher({ pollIntervalMs: 100, requestTimeoutMs: 100, onDrain: () => undefined })).toThrow(
      /below pollIntervalMs/,
    );
  });

  it('reports its health: a 403 is down with status 403, the next good poll is up again', async () => {
    double.listFaults.push('forbidden');
    const seen: Array<{ up: boolean; lastStatus?: number; lastResult: string }> = [];
    const two = afterListCall(2, () => undefined);
    startWatcher();
    expect(watcher!.health()).toMatchObject({ up: false, lastResult: 'none', polls: 0 });
    watcher!.on('health', (h) => seen.push({ up: h.up, lastStatus: h.lastStatus, lastResult: h.lastResult }));
    await two;
    await new Promise<void>((resolve) => watcher!.once('poll', () => resolve()));
    const forbidden = seen.findIndex((h) => h.lastStatus === 403);
    expect(seen[forbidden]).toEqual({ up: false, lastStatus: 403, lastResult: 'error' });
    expect(seen.slice(forbidden + 1)).toContainEqual({ up: true, lastStatus: undefined, lastResult: 'ok' });
    expect(watcher!.health()).toMatchObject({
      up: true,
      lastResult: 'ok',
      mig: 'regions/us-central1/sluice-us-central1',
      consecutiveErrors: 0,
    });
  });
});

describe('lifecycle watcher: preemption and MIG discovery', () => {
  it('drains when instance/preempted turns TRUE during the hanging GET', async () => {
    const waiting = new Promise<void>((resolve) => double.once('preemptWait', resolve));
    const { drained } = startWatcher();
    await waiting;
    double.preempt();
    expect(await drained).toBe('PREEMPTED');
  });

  it('a VM outside any MIG watches preemption only', async () => {
    await double.close();
    double = await new GceDouble({ createdBy: null }).start();
    const log = recordingLog();
    const waiting = new Promise<void>((resolve) => double.once('preemptWait', resolve));
    const { drained } = startWatcher(log);
    await waiting;
    expect(double.listCalls).toHaveLength(0);
    expect(log.entries.some((e) => /not in a MIG/.test(e.msg))).toBe(true);
    double.preempt();
    expect(await drained).toBe('PREEMPTED');
  });

  it('follows a zonal MIG from created-by', async () => {
    await double.close();
    double = await new GceDouble({ migScope: 'zones/us-central1-b', migName: 'sluice-zonal' }).start();
    const changed = afterListCall(1, () => (double.action = 'ABANDONING'));
    const { drained } = startWatcher();
    await changed;
    expect(await drained).toBe('ABANDONING');
    expect(double.listCalls[0].path).toBe(
      '/compute/v1/projects/123456789012/zones/us-central1-b/instanceGroupManagers/sluice-zonal/listManagedInstances',
    );
  });

  it('stop() ends both loops promptly, with a hanging GET in flight', async () => {
    const waiting = new Promise<void>((resolve) => double.once('preemptWait', resolve));
    const { calls } = startWatcher();
    await waiting;
    await watcher!.stop();
    const after = double.listCalls.length;
    await afterTimers();
    expect(double.listCalls.length).toBe(after);
    expect(calls).toEqual([]);
  });

  it('parses created-by for regional and zonal groups and rejects anything else', () => {
    expect(parseCreatedBy('projects/123/regions/europe-west1/instanceGroupManagers/sluice-europe-west1')).toEqual({
      project: '123',
      scope: 'regions',
      location: 'europe-west1',
      name: 'sluice-europe-west1',
    });
    expect(parseCreatedBy('projects/123/zones/europe-west1-b/instanceGroupManagers/g\n')).toEqual({
      project: '123',
      scope: 'zones',
      location: 'europe-west1-b',
      name: 'g',
    });
    expect(parseCreatedBy('projects/123/zones/europe-west1-b/instances/x')).toBeUndefined();
    expect(parseCreatedBy('test-kitchen')).toBeUndefined();
  });
});

/** Let every timer that was due run (a stopped watcher schedules none). */
function afterTimers(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, POLL_MS * 3));
}
