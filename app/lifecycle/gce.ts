/**
 * The two GCE endpoints the lifecycle watcher reads, with the response shapes it relies on. Plain
 * `fetch`, no Google client library: the watcher needs four calls and must never crash the server.
 *
 * Metadata server (https://cloud.google.com/compute/docs/metadata/querying-metadata):
 *   every request carries `Metadata-Flavor: Google`; values are text/plain.
 *   - instance/name                         "sluice-us-central1-x7k2"
 *   - instance/zone                         "projects/123456789012/zones/us-central1-b"
 *   - instance/attributes/created-by        "projects/123456789012/regions/us-central1/instanceGroupManagers/sluice-us-central1"
 *                                            (zonal MIG: ".../zones/<zone>/instanceGroupManagers/<name>"); only set on VMs a
 *                                            MIG created (https://cloud.google.com/compute/docs/metadata/predefined-metadata-keys)
 *   - instance/preempted                    "TRUE" | "FALSE"; `?wait_for_change=true&last_etag=E&timeout_sec=N` hangs until
 *                                            it changes (ETag response header), https://cloud.google.com/compute/docs/instances/create-use-preemptible
 *   - instance/service-accounts/default/token  {"access_token": "...", "expires_in": 3599, "token_type": "Bearer"}
 *
 * Compute API, regionInstanceGroupManagers.listManagedInstances
 * (https://cloud.google.com/compute/docs/reference/rest/v1/regionInstanceGroupManagers/listManagedInstances):
 *   POST https://compute.googleapis.com/compute/v1/projects/{project}/regions/{region}/instanceGroupManagers/{igm}/listManagedInstances
 *   (zonal: .../zones/{zone}/instanceGroupManagers/{igm}/listManagedInstances); needs `compute.instanceGroupManagers.get`
 *   on the group. Response: {"managedInstances": [ManagedInstance], "nextPageToken"?: string}; `pageToken` only
 *   works when the group's listManagedInstancesResults is PAGINATED (the default, PAGELESS, returns everything).
 *   Errors: {"error": {"code": 403, "message": "...", "errors": [{"reason": "forbidden", ...}]}}. A 403 is not
 *   always a missing role: "If your project exceeds a rate quota, you receive a 403 error with the reason
 *   rateLimitExceeded" (https://cloud.google.com/compute/api-quota). GceHttpError carries that `reason`.
 */

/** One entry of `managedInstances` (the fields the watcher reads; the API returns more). */
export interface ManagedInstance {
  /** Full URL: https://www.googleapis.com/compute/v1/projects/p/zones/z/instances/<name> */
  instance?: string;
  /** Instance name (also present for instances that do not exist yet). */
  name?: string;
  id?: string;
  /** RUNNING, STOPPING, TERMINATED, ... (absent while the VM is being created). */
  instanceStatus?: string;
  /**
   * What the MIG is doing to the instance: NONE, CREATING, CREATING_WITHOUT_RETRIES, VERIFYING, RECREATING,
   * DELETING, ABANDONING, RESTARTING, REFRESHING, plus STOPPING, SUSPENDING, STARTING, RESUMING (documented
   * as "additional supported values" of ManagedInstance.currentAction).
   */
  currentAction?: string;
  version?: { instanceTemplate?: string; name?: string };
}

export interface ListManagedInstancesResponse {
  managedInstances?: ManagedInstance[];
  nextPageToken?: string;
}

/** The MIG named by `instance/attributes/created-by`. */
export interface MigRef {
  project: string;
  scope: 'regions' | 'zones';
  location: string;
  name: string;
}

/** A non-2xx answer (or an unreadable one) from either endpoint; `status` 0 means no HTTP answer at all. */
export class GceHttpError extends Error {
  /** `error.errors[0].reason` of a Google API error body (rateLimitExceeded, forbidden, ...), when there was one. */
  readonly reason?: string;
  constructor(
    readonly status: number,
    readonly url: string,
    detail: string,
    reason?: string,
  ) {
    super(`${status === 0 ? 'request failed' : `HTTP ${status}`}${reason ? ` (${reason})` : ''} for ${url}: ${detail}`);
    this.name = 'GceHttpError';
    this.reason = reason;
  }
}

const CREATED_BY = /^projects\/([^/]+)\/(regions|zones)\/([^/]+)\/instanceGroupManagers\/([^/]+)$/;

/** Parse `created-by`; undefined when the VM was not created by a MIG. */
export function parseCreatedBy(value: string): MigRef | undefined {
  const m = CREATED_BY.exec(value.trim());
  if (!m) return undefined;
  return { project: m[1], scope: m[2] as MigRef['scope'], location: m[3], name: m[4] };
}

/** Last path segment of a URL or resource path ("projects/1/zones/us-central1-b" -> "us-central1-b"). */
export function lastSegment(path: string): string {
  return path.trim().split('/').filter(Boolean).pop() ?? '';
}

/** True when `mi` is the VM called `name` in `zone`. */
export function isInstance(mi: ManagedInstance, name: string, zone: string): boolean {
  if (mi.instance) return mi.instance.endsWith(`/zones/${zone}/instances/${name}`);
  return mi.name === name;
}

export interface GceClientOptions {
  /** Base of the metadata server, e.g. http://169.254.169.254/computeMetadata/v1 */
  metadataUrl: string;
  /** Base of the Compute API, e.g. https://compute.googleapis.com/compute/v1 */
  computeUrl: string;
  /** Every request (except the hanging GET, which gets its own timeout) is aborted after this. */
  requestTimeoutMs: number;
}

/** Pages followed at most per listing: a bounded loop even against a misbehaving API. */
const MAX_PAGES = 20;

export class GceClient {
  private token?: { value: string; expiresAt: number };

  constructor(private readonly opts: GceClientOptions) {}

  /** GET a metadata value as text. */
  async metadata(path: string, signal: AbortSignal): Promise<string> {
    const res = await this.request(
      `${this.opts.metadataUrl}/${path}`,
      { headers: { 'Metadata-Flavor': 'Google' } },
      signal,
      this.opts.requestTimeoutMs,
    );
    return (await res.text()).trim();
  }

  /** Hanging GET: resolves when the value differs from the one tagged `etag` or after `timeoutSec`. */
  async waitForChange(
    path: string,
    etag: string | undefined,
    timeoutSec: number,
    signal: AbortSignal,
  ): Promise<{ value: string; etag?: string }> {
    const q = new URLSearchParams({ wait_for_change: 'true', timeout_sec: String(timeoutSec) });
    if (etag) q.set('last_etag', etag);
    const res = await this.request(
      `${this.opts.metadataUrl}/${path}?${q}`,
      { headers: { 'Metadata-Flavor': 'Google' } },
      signal,
      timeoutSec * 1000 + this.opts.requestTimeoutMs,
    );
    return { value: (await res.text()).trim(), etag: res.headers.get('etag') ?? undefined };
  }

  /** GET a metadata value and its ETag (the starting point for waitForChange). */
  async metadataWithEtag(path: string, signal: AbortSignal): Promise<{ value: string; etag?: string }> {
    const res = await this.request(
      `${this.opts.metadataUrl}/${path}`,
      { headers: { 'Metadata-Flavor': 'Google' } },
      signal,
      this.opts.requestTimeoutMs,
    );
    return { value: (await res.text()).trim(), etag: res.headers.get('etag') ?? undefined };
  }

  /** The VM's service-account access token, cached until a minute before it expires. */
  async accessToken(signal: AbortSignal): Promise<string> {
    if (this.token && Date.now() < this.token.expiresAt) return this.token.value;
    const url = `${this.opts.metadataUrl}/instance/service-accounts/default/token`;
    const res = await this.request(url, { headers: { 'Metadata-Flavor': 'Google' } }, signal, this.opts.requestTimeoutMs);
    const body = (await readJson(res, url)) as { access_token?: unknown; expires_in?: unknown };
    if (typeof body.access_token !== 'string' || body.access_token === '')
      throw new GceHttpError(res.status, url, 'no access_token in the answer');
    const ttlSec = typeof body.expires_in === 'number' ? body.expires_in : 300;
    this.token = { value: body.access_token, expiresAt: Date.now() + Math.max(0, ttlSec - 60) * 1000 };
    return body.access_token;
  }

  /** Every managed instance of `mig` (follows nextPageToken, at most MAX_PAGES pages). */
  async listManagedInstances(mig: MigRef, signal: AbortSignal): Promise<ManagedInstance[]> {
    const base = `${this.opts.computeUrl}/projects/${enc(mig.project)}/${mig.scope}/${enc(mig.location)}/instanceGroupManagers/${enc(mig.name)}/listManagedInstances`;
    const out: ManagedInstance[] = [];
    let pageToken: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const url = pageToken ? `${base}?pageToken=${encodeURIComponent(pageToken)}` : base;
      const token = await this.accessToken(signal);
      let res: Response;
      try {
        res = await this.request(
          url,
          { method: 'POST', headers: { Authorization: `Bearer ${token}` } },
          signal,
          this.opts.requestTimeoutMs,
        );
      } catch (err) {
        // A revoked or rotated token: fetch a fresh one next time.
        if (err instanceof GceHttpError && err.status === 401) this.token = undefined;
        throw err;
      }
      const body = (await readJson(res, url)) as ListManagedInstancesResponse;
      out.push(...(Array.isArray(body.managedInstances) ? body.managedInstances : []));
      pageToken = body.nextPageToken || undefined;
      if (!pageToken) return out;
    }
    throw new GceHttpError(200, base, `more than ${MAX_PAGES} pages of managed instances`);
  }

  private async request(url: string, init: RequestInit, signal: AbortSignal, timeoutMs: number): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(url, { ...init, signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      throw new GceHttpError(0, url, e.cause?.code ?? e.cause?.message ?? e.message);
    }
    if (!res.ok) {
      const { detail, reason } = await errorDetail(res);
      throw new GceHttpError(res.status, url, detail, reason);
    }
    return res;
  }
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

async function readJson(res: Response, url: string): Promise<unknown> {
  try {
    return await res.json();
  } catch {
    throw new GceHttpError(res.status, url, 'answer is not JSON');
  }
}

/** The `error.message` (and `error.errors[0].reason`) of a Google API error body, else the start of the body. */
async function errorDetail(res: Response): Promise<{ detail: string; reason?: string }> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { error?: { message?: string; errors?: Array<{ reason?: unknown }> } };
    const first = Array.isArray(body.error?.errors) ? body.error.errors[0]?.reason : undefined;
    const reason = typeof first === 'string' && /^[A-Za-z0-9_]{1,64}$/.test(first) ? first : undefined;
    if (body.error?.message) return { detail: body.error.message, reason };
    if (reason) return { detail: text.slice(0, 200), reason };
  } catch {
    // not JSON: fall through
  }
  return { detail: text.slice(0, 200) || res.statusText };
}
