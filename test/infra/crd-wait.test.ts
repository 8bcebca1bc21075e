/**
 * Issue 22 point 8: the wait for the Gateway API / GKE CRDs is a bounded retry with a clear error.
 * A stand-in Kubernetes API on loopback answers as the API server does (404 with a NotFound Status for a
 * missing object, the CRD object with its conditions once it exists); the reader is the one the program
 * uses, and the wait runs on a simulated clock (sleep advances it) so the bounds are exact and fast.
 */
import fs from 'node:fs';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CRD_WAIT, CrdFacts, CrdReader, execCredentialToken, kubeApiReader, waitForServedCrds } from '../../infra/gke/crd-wait';
import { REQUIRED_CRDS } from '../../infra/gke/requirements';

const REQUIRED = Object.values(REQUIRED_CRDS);
const PREFIX = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/';

const notFound = (name: string) => ({
  kind: 'Status',
  apiVersion: 'v1',
  status: 'Failure',
  message: `customresourcedefinitions.apiextensions.k8s.io "${name}" not found`,
  reason: 'NotFound',
  code: 404,
});
const crdObject = (name: string, established: boolean, served = 'v1'): CrdFacts & Record<string, unknown> => ({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name },
  spec: { versions: [{ name: served, served: true }] },
  status: {
    conditions: [
      { type: 'NamesAccepted', status: 'True' },
      { type: 'Established', status: established ? 'True' : 'False' },
    ],
  },
});

/** A stand-in API server: `answer(name, nth)` decides each GET; records every request. */
async function fakeApi(answer: (name: string, nth: number) => { status: number; body: unknown }) {
  const seen: Array<{ name: string; auth?: string }> = [];
  const count = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const name = decodeURIComponent((req.url ?? '').slice(PREFIX.length));
    if (!req.url?.startsWith(PREFIX)) {
      res.writeHead(404).end();
      return;
    }
    seen.push({ name, auth: req.headers.authorization });
    const n = (count.get(name) ?? 0) + 1;
    count.set(name, n);
    const { status, body } = answer(name, n);
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, seen, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** A simulated clock: sleep(ms) advances now() by ms at once. */
function clock() {
  let t = 0;
  const sleeps: number[] = [];
  return {
    now: () => t,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      t += ms;
    },
    sleeps,
  };
}

describe('the CRD wait: bounded retry against the API server', () => {
  it('waits through "not installed" (404) and "not Established" until every CRD serves v1', async () => {
    // Each CRD appears on its 3rd read, Established on its 5th (as GKE installing them one by one would look).
    const api = await fakeApi((name, n) =>
      n < 3 ? { status: 404, body: notFound(name) } : { status: 200, body: crdObject(name, n >= 5) },
    );
    const c = clock();
    try {
      const rounds = await waitForServedCrds(kubeApiReader(api.url, '', 'tkn'), REQUIRED, { timeoutMs: 60_000, intervalMs: 1_000, ...c });
      expect(rounds).toBe(5);
      expect(c.sleeps).toEqual([1_000, 1_000, 1_000, 1_000]);
      expect(api.seen).toHaveLength(REQUIRED.length * 5);
      expect(new Set(api.seen.map((s) => s.name))).toEqual(new Set(REQUIRED.map((r) => r.crd)));
      expect(api.seen.every((s) => s.auth === 'Bearer tkn')).toBe(true);
    } finally {
      await api.close();
    }
  });

  it('a CRD that is served is not read again while the others are awaited', async () => {
    const late = REQUIRED[0].crd;
    const api = await fakeApi((name, n) =>
      name === late && n < 4 ? { status: 404, body: notFound(name) } : { status: 200, body: crdObject(name, true) },
    );
    const c = clock();
    try {
      expect(await waitForServedCrds(kubeApiReader(api.url, '', 't'), REQUIRED, { timeoutMs: 60_000, intervalMs: 500, ...c })).toBe(4);
      expect(api.seen.filter((s) => s.name === late)).toHaveLength(4);
      for (const { crd } of REQUIRED.slice(1)) expect(api.seen.filter((s) => s.name === crd)).toHaveLength(1);
    } finally {
      await api.close();
    }
  });

  it('never there: fails at the bound, naming each CRD and why, after timeout/interval + 1 reads', async () => {
    const api = await fakeApi((name) =>
      name === REQUIRED[1].crd ? { status: 200, body: crdObject(name, true, 'v1beta1') } : { status: 404, body: notFound(name) },
    );
    const c = clock();
    try {
      const err = await waitForServedCrds(kubeApiReader(api.url, '', 't'), REQUIRED, { timeoutMs: 30_000, intervalMs: 10_000, ...c }).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err).toBeInstanceOf(Error);
      expect(err!.message).toContain('after 4 reads over 30 s the cluster still does not serve');
      expect(err!.message).toContain(`CRD ${REQUIRED[0].crd} is not installed`);
      expect(err!.message).toContain(`CRD ${REQUIRED[1].crd} does not serve v1`);
      expect(err!.message).toContain('gatewayApiConfig');
      expect(c.now()).toBe(30_000);
      expect(api.seen).toHaveLength(REQUIRED.length * 4);
    } finally {
      await api.close();
    }
  });

  it('401/403 stop the wait at once (waiting grants no role); 5xx and no answer are retried', async () => {
    const refused = await fakeApi(() => ({ status: 403, body: { kind: 'Status', code: 403, reason: 'Forbidden' } }));
    const c = clock();
    try {
      await expect(
        waitForServedCrds(kubeApiReader(refused.url, '', 't'), REQUIRED, { timeoutMs: 60_000, intervalMs: 1_000, ...c }),
      ).rejects.toThrow(/refused \(HTTP 403\)/);
      expect(refused.seen).toHaveLength(1);
      expect(c.sleeps).toEqual([]);
    } finally {
      await refused.close();
    }
    const flaky = await fakeApi((name, n) => (n === 1 ? { status: 503, body: {} } : { status: 200, body: crdObject(name, true) }));
    try {
      expect(
        await waitForServedCrds(kubeApiReader(flaky.url, '', 't'), REQUIRED, { timeoutMs: 60_000, intervalMs: 1_000, ...clock() }),
      ).toBe(2);
    } finally {
      await flaky.close();
    }
    // Nothing listening: a network error is retried, then reported at the bound.
    const gone = await fakeApi(() => ({ status: 200, body: {} }));
    await gone.close();
    await expect(
      waitForServedCrds(kubeApiReader(gone.url, '', 't'), REQUIRED, { timeoutMs: 2_000, intervalMs: 1_000, ...clock() }),
    ).rejects.toThrow(/could not be read \(no answer/);
  });

  it('a preview reads once (timeout 0): no waiting', async () => {
    const reads: string[] = [];
    const read: CrdReader = async (crd) => (reads.push(crd), undefined);
    const c = clock();
    await expect(waitForServedCrds(read, REQUIRED, { timeoutMs: 0, intervalMs: CRD_WAIT.intervalMs, ...c })).rejects.toThrow(
      /after 1 reads/,
    );
    expect(reads).toHaveLength(REQUIRED.length);
    expect(c.sleeps).toEqual([]);
  });

  it('the bounds: 10 min in 10 s steps', () => {
    expect(CRD_WAIT).toEqual({ timeoutMs: 600_000, intervalMs: 10_000 });
  });
});

describe('the token: what the kubeconfig exec plugin prints', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-exec-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const plugin = (name: string, script: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, `#!/bin/sh\n${script}\n`, { mode: 0o755 });
    return file;
  };

  it('reads status.token of the ExecCredential', async () => {
    const ok = plugin(
      'ok',
      `echo '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"interactive":false},"status":{"expirationTimestamp":"2026-12-07T02:00:00Z","token":"ya29.test"}}'`,
    );
    await expect(execCredentialToken(ok)).resolves.toBe('ya29.test');
  });

  it('a failing or silent plugin is a clear error', async () => {
    await expect(execCredentialToken(plugin('fails', 'echo nope >&2; exit 1'))).rejects.toThrow(
      /failed \(the Kubernetes provider needs it too\)/,
    );
    await expect(execCredentialToken(plugin('empty', `echo '{"kind":"ExecCredential","status":{}}'`))).rejects.toThrow(
      /no ExecCredential token/,
    );
  });
});
