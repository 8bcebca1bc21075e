/**
 * A local HTTP double of the two endpoints the lifecycle watcher reads, on 127.0.0.1, answering with
 * the real response shapes:
 *
 *   metadata server   https://cloud.google.com/compute/docs/metadata/querying-metadata
 *                     (Metadata-Flavor: Google required, text/plain values, ETag + wait_for_change),
 *                     https://cloud.google.com/compute/docs/metadata/predefined-metadata-keys (created-by)
 *   Compute API       https://cloud.google.com/compute/docs/reference/rest/v1/regionInstanceGroupManagers/listManagedInstances
 *                     (POST, Bearer token, {"managedInstances": [...]} or a Google error body)
 *
 * Faults are queued per listManagedInstances call: 'forbidden' (the 403 a missing IAM grant gives),
 * 'quota' (the 403 with reason rateLimitExceeded a spent rate quota gives, cloud.google.com/compute/api-quota),
 * 'reset' (the socket is destroyed: a network error), 'garbage' (200 with a body that is not JSON).
 */
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** `hang`: never answer (the watcher's per-poll time limit must abort it). */
export type ListFault = 'forbidden' | 'quota' | 'reset' | 'garbage' | 'hang';

export interface ListCall {
  /** 1-based index of the call. */
  n: number;
  /** currentAction returned for our instance ('-' when not listed, the fault name when faulted). */
  answered: string;
  path: string;
  /** Date.now() when the call arrived. */
  at: number;
}

export interface DoubleOptions {
  instance?: string;
  zone?: string;
  projectNumber?: string;
  /** 'regions/us-central1' (regional MIG, default) or 'zones/us-central1-b'. */
  migScope?: string;
  migName?: string;
  /** undefined: the VM was not created by a MIG (created-by answers 404). */
  createdBy?: string | null;
}

export class GceDouble extends EventEmitter {
  readonly instance: string;
  readonly zone: string;
  readonly projectNumber: string;
  readonly migPath: string;
  createdBy: string | null;
  /** currentAction of our instance; null = not listed at all. */
  action: string | null = 'NONE';
  instanceStatus = 'RUNNING';
  preempted = false;
  readonly listFaults: ListFault[] = [];
  tokenFaults = 0;
  readonly listCalls: ListCall[] = [];
  readonly requests: Array<{ method: string; path: string; headers: http.IncomingHttpHeaders }> = [];
  readonly accessToken = 'ya29.test-access-token';
  private server = http.createServer((req, res) => this.handle(req, res));
  private preemptVersion = 0;
  private waiting = new Set<{ res: http.ServerResponse; timer: NodeJS.Timeout }>();
  port = 0;

  constructor(opts: DoubleOptions = {}) {
    super();
    this.instance = opts.instance ?? 'sluice-us-central1-x7k2';
    this.zone = opts.zone ?? 'us-central1-b';
    this.projectNumber = opts.projectNumber ?? '123456789012';
    const scope = opts.migScope ?? 'regions/us-central1';
    this.migPath = `projects/${this.projectNumber}/${scope}/instanceGroupManagers/${opts.migName ?? 'sluice-us-central1'}`;
    this.createdBy = opts.createdBy === undefined ? this.migPath : opts.createdBy;
  }

  get metadataUrl(): string {
    return `http://127.0.0.1:${this.port}/computeMetadata/v1`;
  }
  get computeUrl(): string {
    return `http://127.0.0.1:${this.port}/compute/v1`;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    for (const w of this.waiting) {
      clearTimeout(w.timer);
      w.res.destroy();
    }
    this.waiting.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Flip instance/preempted to TRUE and answer every hanging wait_for_change. */
  preempt(): void {
    this.preempted = true;
    this.preemptVersion++;
    for (const w of this.waiting) {
      clearTimeout(w.timer);
      this.sendPreempted(w.res);
    }
    this.waiting.clear();
  }

  /** Resolves with the next listManagedInstances call (after its answer is decided). */
  nextList(): Promise<ListCall> {
    return new Promise((resolve) => this.once('list', resolve));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://double');
    this.requests.push({ method: req.method ?? '', path: url.pathname, headers: req.headers });
    if (url.pathname.startsWith('/computeMetadata/v1/')) return this.metadata(req, res, url);
    if (url.pathname.startsWith('/compute/v1/')) return this.compute(req, res, url);
    res.writeHead(404).end();
  }

  private metadata(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    // The real server refuses requests without the header (and any with X-Forwarded-For).
    if (req.headers['metadata-flavor'] !== 'Google') return text(res, 403, 'Missing Metadata-Flavor:Google header.');
    const key = url.pathname.slice('/computeMetadata/v1/'.length);
    switch (key) {
      case 'instance/name':
        return text(res, 200, this.instance);
      case 'instance/zone':
        return text(res, 200, `projects/${this.projectNumber}/zones/${this.zone}`);
      case 'instance/attributes/created-by':
        return this.createdBy === null ? text(res, 404, 'Not Found') : text(res, 200, this.createdBy);
      case 'instance/preempted': {
        const lastEtag = url.searchParams.get('last_etag');
        if (url.searchParams.get('wait_for_change') === 'true' && (lastEtag === null || lastEtag === this.preemptEtag())) {
          const timeoutSec = Number(url.searchParams.get('timeout_sec') ?? '60');
          const entry = {
            res,
            timer: setTimeout(() => {
              this.waiting.delete(entry);
              this.sendPreempted(res);
            }, timeoutSec * 1000),
          };
          this.waiting.add(entry);
          this.emit('preemptWait');
          return;
        }
        return this.sendPreempted(res);
      }
      case 'instance/service-accounts/default/token':
        if (this.tokenFaults > 0) {
          this.tokenFaults--;
          return text(res, 500, 'Internal error');
        }
        return json(res, 200, { access_token: this.accessToken, expires_in: 3599, token_type: 'Bearer' });
      default:
        return text(res, 404, 'Not Found');
    }
  }

  private compute(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    const expected = `/compute/v1/${this.migPath}/listManagedInstances`;
    if (req.method !== 'POST' || url.pathname !== expected) {
      return json(res, 404, {
        error: { code: 404, message: `The resource '${url.pathname}' was not found`, errors: [{ reason: 'notFound', domain: 'global' }] },
      });
    }
    if (req.headers.authorization !== `Bearer ${this.accessToken}`) {
      return json(res, 401, {
        error: { code: 401, message: 'Request had invalid authentication credentials.', status: 'UNAUTHENTICATED' },
      });
    }
    const n = this.listCalls.length + 1;
    const fault = this.listFaults.shift();
    const at = Date.now();
    const record = (answered: string) => {
      const call = { n, answered, path: url.pathname, at };
      this.listCalls.push(call);
      this.emit('list', call);
    };
    if (fault === 'reset') {
      record('reset');
      req.socket.destroy();
      return;
    }
    if (fault === 'forbidden') {
      record('forbidden');
      const message = `Required 'compute.instanceGroupManagers.get' permission for '${this.migPath}'`;
      return json(res, 403, { error: { code: 403, message, errors: [{ message, domain: 'global', reason: 'forbidden' }] } });
    }
    if (fault === 'quota') {
      record('quota');
      // Google's JSON error shape, with the reason the Compute quota page names.
      const message =
        "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute' of service 'compute.googleapis.com'";
      return json(res, 403, { error: { code: 403, message, errors: [{ message, domain: 'usageLimits', reason: 'rateLimitExceeded' }] } });
    }
    if (fault === 'hang') {
      record('hang');
      return; // closeAllConnections() in close() ends it
    }
    if (fault === 'garbage') {
      record('garbage');
      return text(res, 200, '<html>upstream connect error</html>');
    }
    // The answer is fixed before listeners run: a listener changing `action` affects the next call only.
    const body = { managedInstances: this.managedInstances() };
    record(this.action ?? '-');
    json(res, 200, body);
  }

  /** Our instance plus a sibling in another zone, shaped like the API's ManagedInstance. */
  private managedInstances(): object[] {
    const project = `projects/${this.projectNumber}`;
    const template = `https://www.googleapis.com/compute/v1/${project}/global/instanceTemplates/sluice-us-central1-tpl-1`;
    const sibling = {
      instance: `https://www.googleapis.com/compute/v1/${project}/zones/us-central1-c/instances/sluice-us-central1-q9zz`,
      id: '4459283398861112233',
      instanceStatus: 'RUNNING',
      currentAction: 'NONE',
      name: 'sluice-us-central1-q9zz',
      version: { instanceTemplate: template, name: 'primary' },
      instanceHealth: [
        { healthCheck: `https://www.googleapis.com/compute/v1/${project}/global/healthChecks/autoheal`, detailedHealthState: 'HEALTHY' },
      ],
    };
    if (this.action === null) return [sibling];
    const mine = {
      instance: `https://www.googleapis.com/compute/v1/${project}/zones/${this.zone}/instances/${this.instance}`,
      id: '7719283398861119876',
      instanceStatus: this.instanceStatus,
      currentAction: this.action,
      name: this.instance,
      version: { instanceTemplate: template, name: 'primary' },
      lastAttempt: {},
    };
    return [sibling, mine];
  }

  private preemptEtag(): string {
    return `etag-preempted-${this.preemptVersion}`;
  }

  private sendPreempted(res: http.ServerResponse): void {
    if (res.destroyed) return;
    res.writeHead(200, { 'Content-Type': 'application/text', ETag: this.preemptEtag(), 'Metadata-Flavor': 'Google' });
    res.end(this.preempted ? 'TRUE' : 'FALSE');
  }
}

function text(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'application/text', 'Metadata-Flavor': 'Google' });
  res.end(body);
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=UTF-8' });
  res.end(JSON.stringify(body));
}
