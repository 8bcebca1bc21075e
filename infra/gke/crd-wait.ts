/**
 * The bounded wait for the CRDs behind the stack's custom resources (Gateway, HTTPRoute,
 * GCPBackendPolicy, HealthCheckPolicy) to be served, before the one-shot reads in requirements.ts.
 *
 * Why a wait and not one read: GKE installs the Gateway API CRDs itself once the cluster's Gateway API
 * is on, and objects of a new CRD are refused until the API server serves it. Kubernetes sets the CRD's
 * `Established` condition for that moment (the Establishing controller "is used to Establish CRD once
 * we're sure it's ready and CRs are served", kubernetes/kubernetes#62725), and its maintainers' advice
 * is to "programmatically poll/watch the CRD and wait for it to be established" (kubernetes/kubernetes#57042).
 * A fresh cluster, or a Gateway API just turned on, gets there some time after the cluster reports
 * ready; no GKE doc gives that time, so the wait is bounded (CRD_WAIT) and names each CRD still missing
 * and why when the bound passes.
 *
 * How it reads: `GET /apis/apiextensions.k8s.io/v1/customresourcedefinitions/<name>` on the cluster's
 * endpoint (CA from the cluster's masterAuth), a missing object answering 404; authenticated as the
 * Kubernetes provider is, with the token `gke-gcloud-auth-plugin` prints as an ExecCredential
 * (`status.token`, the client.authentication.k8s.io exec credential format the kubeconfig in
 * cluster.ts names). 401/403 end the wait at once (waiting does not grant a role); 404, an unserved
 * CRD, 5xx and network errors are retried every `intervalMs` until `timeoutMs`.
 */
import { execFile } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';

/** The CRD object fields the readiness check reads. */
export interface CrdFacts {
  spec?: { versions?: Array<{ name?: string; served?: boolean }> };
  status?: { conditions?: Array<{ type?: string; status?: string }>; acceptedNames?: { kind?: string } };
}

/** Why a CRD cannot take objects of `version` yet (undefined: it is Established and serves it). */
export function crdProblem(name: string, version: string, crd: CrdFacts | undefined): string | undefined {
  if (!crd) return `CRD ${name} is not installed`;
  const established = crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
  if (!established) return `CRD ${name} is not Established yet`;
  if (!crd.spec?.versions?.some((v) => v.name === version && v.served === true)) return `CRD ${name} does not serve ${version}`;
  return undefined;
}

/** One read of a CRD: its object, undefined when the API answers 404, or a thrown CrdReadError. */
export type CrdReader = (crd: string) => Promise<CrdFacts | undefined>;

export class CrdReadError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface CrdWaitOptions {
  timeoutMs: number;
  intervalMs: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** The wait's bounds: long enough for GKE to install the CRDs after the cluster is ready, short enough to fail a stuck deploy. */
export const CRD_WAIT: Pick<CrdWaitOptions, 'timeoutMs' | 'intervalMs'> = { timeoutMs: 10 * 60_000, intervalMs: 10_000 };

/**
 * Reads every CRD until each is Established and serves its version; resolves with the number of
 * rounds it took. Rejects at once on 401/403, and after `timeoutMs` with every CRD still not served
 * and why (the last answer for each).
 */
export async function waitForServedCrds(
  read: CrdReader,
  required: ReadonlyArray<{ crd: string; version: string }>,
  opts: CrdWaitOptions,
): Promise<number> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = now() + opts.timeoutMs;
  const pending = new Map(required.map((r) => [r.crd, r.version]));
  const why = new Map<string, string>();
  for (let round = 1; ; round++) {
    for (const [crd, version] of [...pending]) {
      try {
        const problem = crdProblem(crd, version, await read(crd));
        if (problem) why.set(crd, problem);
        else pending.delete(crd);
      } catch (e) {
        const status = e instanceof CrdReadError ? e.status : 0;
        if (status === 401 || status === 403)
          throw new Error(
            `sluice GKE: reading CRD ${crd} was refused (HTTP ${status}): the deploying identity needs to read customresourcedefinitions (e.g. roles/container.clusterViewer); ${(e as Error).message}`,
          );
        why.set(crd, `CRD ${crd} could not be read (${status ? `HTTP ${status}` : 'no answer'}: ${(e as Error).message})`);
      }
    }
    if (pending.size === 0) return round;
    if (now() + opts.intervalMs > deadline) {
      const left = [...pending.keys()].map((crd) => why.get(crd)).join('\n  - ');
      throw new Error(
        `sluice GKE: after ${round} reads over ${Math.round(opts.timeoutMs / 1000)} s the cluster still does not serve:\n  - ${left}\nGKE installs these CRDs with the Gateway API (gatewayApiConfig channel CHANNEL_STANDARD): check it is on, then run again`,
      );
    }
    await sleep(opts.intervalMs);
  }
}

/** A CrdReader against the cluster's API server (`server` is https://<endpoint>, `caPem` its CA). */
export function kubeApiReader(server: string, caPem: string, token: string, requestTimeoutMs = 10_000): CrdReader {
  return (crd) =>
    new Promise((resolve, reject) => {
      const url = new URL(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${encodeURIComponent(crd)}`, server);
      // https always from the program (the cluster endpoint); http only for a local stand-in API in tests.
      const get = url.protocol === 'http:' ? http.get : https.get;
      const req = get(url, { ca: caPem || undefined, headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === 200) {
            try {
              resolve(JSON.parse(body) as CrdFacts);
            } catch {
              reject(new CrdReadError(200, 'the answer is not JSON'));
            }
          } else if (res.statusCode === 404) resolve(undefined);
          else reject(new CrdReadError(res.statusCode ?? 0, body.slice(0, 200)));
        });
      });
      req.setTimeout(requestTimeoutMs, () => req.destroy(new Error(`no answer in ${requestTimeoutMs} ms`)));
      req.on('error', reject);
    });
}

/** The bearer token the kubeconfig's exec plugin gives (ExecCredential `status.token`). */
export function execCredentialToken(command = 'gke-gcloud-auth-plugin'): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(command, [], { timeout: 60_000 }, (err, stdout) => {
      if (err) return reject(new Error(`sluice GKE: ${command} failed (the Kubernetes provider needs it too): ${err.message}`));
      try {
        const token = (JSON.parse(stdout) as { status?: { token?: string } }).status?.token;
        if (!token) throw new Error('no status.token');
        resolve(token);
      } catch (e) {
        reject(new Error(`sluice GKE: ${command} printed no ExecCredential token: ${(e as Error).message}`));
      }
    }),
  );
}
