/**
 * The GCE lifecycle watcher: layer 1 of "drain on every lifecycle path".
 *
 * On GCP the load balancer's connection draining runs BEFORE a MIG deletes a VM and before its
 * shutdown script runs (instanceGroupManagers.deleteInstances: "it can take up to 60 seconds after
 * the connection draining duration has elapsed before the VM instance is removed or deleted"). A
 * drain that starts in the shutdown script therefore starts after the LB has already given up on the
 * VM's connections. This watcher starts the drain as soon as the MIG *schedules* the VM's removal:
 *
 *   - it finds its MIG from `instance/attributes/created-by` on the metadata server;
 *   - it starts a listManagedInstances poll every `gce.watcherPollIntervalMs` (the timeouts contract),
 *     at a FIXED RATE: each poll (token fetch and every page) is aborted after
 *     `gce.watcherRequestTimeoutMs`, which the contract keeps below the interval, so the next poll
 *     starts on schedule. Worst-case detection is watcherDetectionBoundMs() = interval + request
 *     timeout; the rule drain-inside-lb-draining uses that same function. It drains when its own
 *     entry's currentAction is one of DRAIN_ACTIONS (./actions.ts: each value with its Compute API
 *     sentence; REFRESHING keeps the VM running and does not drain), or when it was listed before and
 *     is no longer (abandoned or deleted between two polls);
 *   - after a 403 rateLimitExceeded (the project's Compute rate quota is spent) it polls again only at
 *     the quota's next minute, with jitter (./failures.ts), instead of spending the fleet's quota on
 *     polls that must fail; the shutdown script and SIGTERM cover that gap;
 *   - it long-polls `instance/preempted` and drains when it turns TRUE.
 *
 * The contract rule `drain-inside-lb-draining` guarantees that a drain started one poll late still
 * finishes (RST deadline + margin) inside the LB's connection draining.
 *
 * Failure policy: a 403, a timeout or a network error is logged (with `failure`: permission, quota,
 * timeout, network, server, bad_answer) and retried on the next poll; the
 * watcher never throws into the server and never drains on an error (the shutdown script and SIGTERM
 * remain as layers 2 and 3). Its health (`health()`, the `health` event) says whether the last poll
 * worked and with which HTTP status, so a 403 shows in GET /status and `sluice_lifecycle_watcher_up`
 * instead of only in the logs. No Pulumi or cloud SDK here: plain fetch against two HTTP endpoints.
 */
import { EventEmitter } from 'node:events';
import { classifyAction, DrainAction, DRAIN_ACTIONS } from './actions';
import { failureOf, PollFailure, quotaRetryAt } from './failures';
import { GceClient, GceHttpError, isInstance, lastSegment, ManagedInstance, MigRef, parseCreatedBy } from './gce';

export { DRAIN_ACTIONS };
export type { DrainAction };
/** Extra reasons: preempted (metadata), removed (no longer listed by its MIG). */
export type LifecycleEvent = DrainAction | 'PREEMPTED' | 'REMOVED';

export const DEFAULT_METADATA_URL = 'http://169.254.169.254/computeMetadata/v1';
export const DEFAULT_COMPUTE_URL = 'https://compute.googleapis.com/compute/v1';

/** The subset of a pino logger the watcher uses. */
export interface WatcherLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface LifecycleWatcherOptions {
  /** How often to call listManagedInstances: `timeouts.gce.watcherPollIntervalMs`. */
  pollIntervalMs: number;
  /** Called once, with the event that requires the drain. */
  onDrain(event: LifecycleEvent): void;
  log?: WatcherLogger;
  /** Metadata server base URL (default http://169.254.169.254/computeMetadata/v1). */
  metadataUrl?: string;
  /** Compute API base URL (default https://compute.googleapis.com/compute/v1). */
  computeUrl?: string;
  /** One poll's time limit (token + every page): `timeouts.gce.watcherRequestTimeoutMs`; must be below the interval. */
  requestTimeoutMs: number;
  /** `timeout_sec` of the preempted long-poll (default 60). */
  preemptWaitSec?: number;
  /** Jitter source of the quota backoff (seed it in tests). */
  random?: () => number;
  /** Wall clock for the poll schedule and the quota's minute windows (default Date.now; tests shift it). */
  now?: () => number;
}

/** Endpoints from the environment: `GCE_METADATA_HOST` (the variable Google's client libraries honour) and `SLUICE_GCE_COMPUTE_URL`. */
export function endpointsFromEnv(env: NodeJS.ProcessEnv): Pick<LifecycleWatcherOptions, 'metadataUrl' | 'computeUrl'> {
  return {
    metadataUrl: env.GCE_METADATA_HOST ? `http://${env.GCE_METADATA_HOST}/computeMetadata/v1` : undefined,
    computeUrl: env.SLUICE_GCE_COMPUTE_URL || undefined,
  };
}

const silentLog: WatcherLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** What GET /status shows and `sluice_lifecycle_watcher_up` reflects. */
export interface WatcherHealth {
  /** True when the last poll worked (or nothing needs polling: not in a MIG); false before the first poll. */
  up: boolean;
  /** 'none' before the first poll; 'ok', or 'error' with `status`/`error`; 'stopped' once it fired or was stopped. */
  lastResult: 'none' | 'ok' | 'error' | 'stopped';
  /** HTTP status of the last failed poll (0: no HTTP answer, e.g. timeout or connection refused). */
  lastStatus?: number;
  lastError?: string;
  /** What kind of failure the last failed poll was (a 403 is `permission` or `quota`, by the error's reason). */
  lastFailure?: PollFailure;
  /** Google's `reason` of the last failed poll (e.g. rateLimitExceeded, forbidden), when the body had one. */
  lastReason?: string;
  /** Set while polls wait for the Compute quota's next minute after a rateLimitExceeded. */
  quotaBackoffUntil?: number;
  /** currentAction values seen that the Compute docs did not list when this was written (not drained). */
  unknownActions?: string[];
  lastPollAt?: number;
  polls: number;
  consecutiveErrors: number;
  /** `regions/us-central1/sluice-us-central1` once resolved. */
  mig?: string;
  /** The event that fired the drain, if any. */
  fired?: LifecycleEvent;
}

interface Identity {
  name: string;
  zone: string;
  /** Undefined when the VM was not created by a MIG (then only preemption is watched). */
  mig?: MigRef;
}

export class LifecycleWatcher extends EventEmitter {
  private readonly client: GceClient;
  private readonly log: WatcherLogger;
  private readonly abort = new AbortController();
  private identity?: Identity;
  private listedBefore = false;
  private fired?: LifecycleEvent;
  private loops: Promise<void>[] = [];
  /** Polls done (successful or not), reported through health(). */
  private polls = 0;
  consecutiveErrors = 0;
  private _health: WatcherHealth = { up: false, lastResult: 'none', polls: 0, consecutiveErrors: 0 };
  /** After a rateLimitExceeded: no poll before this (Date.now() ms). */
  private quotaWaitUntil = 0;
  private readonly unknownActions = new Set<string>();
  private readonly random: () => number;
  private readonly now: () => number;

  constructor(private readonly opts: LifecycleWatcherOptions) {
    super();
    if (!(opts.pollIntervalMs > 0)) throw new Error('pollIntervalMs must be positive');
    if (!(opts.requestTimeoutMs > 0 && opts.requestTimeoutMs < opts.pollIntervalMs)) {
      throw new Error(`requestTimeoutMs (${opts.requestTimeoutMs}) must be positive and below pollIntervalMs (${opts.pollIntervalMs})`);
    }
    this.log = opts.log ?? silentLog;
    this.random = opts.random ?? Math.random;
    this.now = opts.now ?? Date.now;
    this.client = new GceClient({
      metadataUrl: (opts.metadataUrl ?? DEFAULT_METADATA_URL).replace(/\/+$/, ''),
      computeUrl: (opts.computeUrl ?? DEFAULT_COMPUTE_URL).replace(/\/+$/, ''),
      requestTimeoutMs: opts.requestTimeoutMs,
    });
  }

  /** The watcher's health: last poll result and HTTP status (GET /status, metrics). */
  health(): WatcherHealth {
    return { ...this._health };
  }

  /** `pending`: polls about to be counted (the counter is bumped in pollOnce's finally). */
  private setHealth(h: Partial<WatcherHealth>, pending = 0): void {
    const before = this._health.up;
    this._health = { ...this._health, ...h, polls: this.polls + pending, consecutiveErrors: this.consecutiveErrors };
    if (this.identity?.mig) this._health.mig = `${this.identity.mig.scope}/${this.identity.mig.location}/${this.identity.mig.name}`;
    this.emit('health', this.health(), before);
  }

  /** The event that fired the drain, if any. */
  get triggered(): LifecycleEvent | undefined {
    return this.fired;
  }

  start(): this {
    if (this.loops.length > 0) return this;
    this.log.info({ pollIntervalMs: this.opts.pollIntervalMs }, 'lifecycle watcher started');
    this.loops = [this.pollLoop(), this.preemptLoop()];
    return this;
  }

  /** Stop polling and abort requests in flight; resolves when both loops have ended. */
  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.all(this.loops);
    if (this._health.lastResult !== 'stopped') this.setHealth({ lastResult: 'stopped', fired: this.fired });
  }

  /** One listManagedInstances round (exposed for tests); never throws. */
  async pollOnce(): Promise<void> {
    // One deadline for the whole poll (identity, token, every page): polls start at a fixed rate.
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.opts.requestTimeoutMs)]);
    const startedAt = Date.now();
    try {
      const id = await this.resolveIdentity(signal);
      if (!id.mig) {
        this.setHealth({ up: true, lastResult: 'ok', lastPollAt: startedAt, lastStatus: undefined, lastError: undefined });
        return;
      }
      const all = await this.client.listManagedInstances(id.mig, signal);
      const mine = all.find((mi) => isInstance(mi, id.name, id.zone));
      this.consecutiveErrors = 0;
      this.quotaWaitUntil = 0;
      this.setHealth(
        {
          up: true,
          lastResult: 'ok',
          lastPollAt: startedAt,
          lastStatus: undefined,
          lastError: undefined,
          lastFailure: undefined,
          lastReason: undefined,
          quotaBackoffUntil: undefined,
        },
        1,
      );
      this.emit('poll', mine);
      if (!mine) {
        if (this.listedBefore) this.fire('REMOVED', { mig: id.mig.name });
        else this.log.warn({ mig: id.mig.name, instance: id.name }, 'lifecycle watcher: this VM is not listed by its MIG yet');
        return;
      }
      this.listedBefore = true;
      const action = mine.currentAction ?? 'NONE';
      const verdict = classifyAction(action);
      if (verdict === 'drain') this.fire(action as DrainAction, summary(mine));
      else if (verdict === 'unknown' && !this.unknownActions.has(action)) {
        this.unknownActions.add(action);
        this.setHealth({ unknownActions: [...this.unknownActions] });
        this.log.error(
          { currentAction: action, ...summary(mine) },
          'lifecycle watcher: undocumented currentAction, not draining (the shutdown script and SIGTERM still drain)',
        );
      }
    } catch (err) {
      if (this.abort.signal.aborted) return;
      this.consecutiveErrors++;
      const e = err as Error;
      const status = err instanceof GceHttpError ? err.status : 0;
      const reason = err instanceof GceHttpError ? err.reason : undefined;
      const failure = failureOf(err);
      if (failure === 'quota') this.quotaWaitUntil = quotaRetryAt(this.now(), this.opts.pollIntervalMs, this.random);
      const quotaBackoffUntil = failure === 'quota' ? this.quotaWaitUntil : undefined;
      this.setHealth(
        {
          up: false,
          lastResult: 'error',
          lastPollAt: startedAt,
          lastStatus: status,
          lastError: e.message,
          lastFailure: failure,
          lastReason: reason,
          quotaBackoffUntil,
        },
        1,
      );
      // permission: a configuration error (the custom role is missing): loud, but still retried.
      // quota: the project's Compute read quota is spent; the next poll waits for its next minute.
      const level = failure === 'permission' ? 'error' : 'warn';
      this.log[level](
        {
          err: e.message,
          status,
          failure,
          reason,
          consecutiveErrors: this.consecutiveErrors,
          ...(quotaBackoffUntil ? { retryAt: new Date(quotaBackoffUntil).toISOString() } : {}),
        },
        'lifecycle watcher: poll failed, retrying next interval',
      );
      this.emit('pollError', err, failure);
    } finally {
      this.polls++;
    }
  }

  private async resolveIdentity(signal: AbortSignal): Promise<Identity> {
    if (this.identity) return this.identity;
    const [name, zonePath] = await Promise.all([
      this.client.metadata('instance/name', signal),
      this.client.metadata('instance/zone', signal),
    ]);
    let mig: MigRef | undefined;
    try {
      const createdBy = await this.client.metadata('instance/attributes/created-by', signal);
      mig = parseCreatedBy(createdBy);
      if (!mig) this.log.warn({ createdBy }, 'lifecycle watcher: created-by is not a MIG; watching preemption only');
    } catch (err) {
      if (!(err instanceof GceHttpError && err.status === 404)) throw err;
      this.log.warn({}, 'lifecycle watcher: no created-by attribute (VM not in a MIG); watching preemption only');
    }
    this.identity = { name, zone: lastSegment(zonePath), mig };
    this.log.info(
      { instance: name, zone: this.identity.zone, mig: mig && `${mig.scope}/${mig.location}/${mig.name}` },
      'lifecycle watcher: identity resolved',
    );
    return this.identity;
  }

  /** Fixed rate: poll k starts at start + k * interval, whatever the previous poll took (<= request timeout). */
  private async pollLoop(): Promise<void> {
    let next = this.now();
    while (!this.abort.signal.aborted && !this.fired) {
      await this.pollOnce();
      if (this.abort.signal.aborted || this.fired) break;
      // A VM outside any MIG has nothing to poll for.
      if (this.identity && !this.identity.mig) break;
      next += this.opts.pollIntervalMs;
      // Quota spent: no poll before the quota's next minute (plus jitter); the fixed rate resumes from there.
      if (this.quotaWaitUntil > next) next = this.quotaWaitUntil;
      const now = this.now();
      // Behind schedule (a stalled event loop): skip the missed slots instead of polling back to back.
      if (next < now) next = now + this.opts.pollIntervalMs - ((now - next) % this.opts.pollIntervalMs);
      await delay(next - now, this.abort.signal);
    }
  }

  /** Long-poll `instance/preempted`; on errors wait one poll interval and start again. */
  private async preemptLoop(): Promise<void> {
    const signal = this.abort.signal;
    const waitSec = this.opts.preemptWaitSec ?? 60;
    let etag: string | undefined;
    let first = true;
    while (!signal.aborted && !this.fired) {
      try {
        const r = first
          ? await this.client.metadataWithEtag('instance/preempted', signal)
          : await this.client.waitForChange('instance/preempted', etag, waitSec, signal);
        first = false;
        etag = r.etag ?? etag;
        if (r.value.toUpperCase() === 'TRUE') this.fire('PREEMPTED', {});
      } catch (err) {
        if (signal.aborted) return;
        first = true;
        this.log.warn({ err: (err as Error).message }, 'lifecycle watcher: preempted query failed, retrying');
        await delay(this.opts.pollIntervalMs, signal);
      }
    }
  }

  private fire(event: LifecycleEvent, detail: object): void {
    if (this.fired) return;
    this.fired = event;
    this.log.warn({ event, ...detail }, `lifecycle watcher: ${event}, starting the drain`);
    this.emit('drain', event);
    // Nothing left to watch: the drain is idempotent and the process exits after it.
    this.abort.abort();
    try {
      this.opts.onDrain(event);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'lifecycle watcher: onDrain threw');
    }
  }
}

function summary(mi: ManagedInstance): object {
  return { currentAction: mi.currentAction, instanceStatus: mi.instanceStatus, version: mi.version?.name };
}

/** A timer that an abort ends early (resolves, never rejects). */
function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
