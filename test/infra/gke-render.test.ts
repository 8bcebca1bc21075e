/**
 * The pure GKE renderings (infra/gke/render.ts): the preStop script, run for real with node against
 * an admin double on 127.0.0.1, and the pod template (snapshot plus the properties the drain needs).
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { defaultGkeTimeouts, gkeGraceNeededSec, preStopWaitSec } from '../../app/contract/gke';
import { defaultTimeouts, mergeTimeouts, READINESS_PROBE } from '../../app/contract/timeouts';
import { podEnv, podSpec, preStopScript } from '../../infra/gke/render';
import { memoryBytes } from '../../infra/gke/config';
import { budgetForMemory, heapNodeOptions, heapPlan, MIB } from '../../app/contract/memory';
import { checkHeap } from '../../app/server/heap';

const TOKEN = 'admin-token-for-the-prestop-test-0123456789';

/** Run the preStop script as the kubelet would (`node -e`), with the container's environment. */
function runPreStop(script: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, ms: Date.now() - started }));
  });
}

interface Seen {
  method?: string;
  url?: string;
  authorization?: string;
}

/** An admin double: records the request, answers after `delayMs` (or never). */
async function adminDouble(delayMs: number | 'never'): Promise<{ url: string; seen: Seen; close(): Promise<void> }> {
  const seen: Seen = {};
  const server = http.createServer((req, res) => {
    Object.assign(seen, { method: req.method, url: req.url, authorization: req.headers.authorization });
    if (delayMs === 'never') return;
    setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"state":"drained","closed":3,"reset":0}'), delayMs);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('preStop script', () => {
  it('POSTs /drain?wait=1 with the bearer token from the environment and returns once the drain has answered', async () => {
    const admin = await adminDouble(400);
    try {
      const r = await runPreStop(preStopScript(defaultTimeouts), { SLUICE_ADMIN_URL: admin.url, SLUICE_ADMIN_TOKEN: TOKEN });
      expect(r.code).toBe(0);
      expect(admin.seen).toEqual({ method: 'POST', url: '/drain?wait=1&stay=1', authorization: `Bearer ${TOKEN}` });
      // It waited for the answer (the drain report), not just for the request to be sent.
      expect(r.ms).toBeGreaterThanOrEqual(400);
      expect(r.stdout).toContain('drain answered 200 {"state":"drained"');
    } finally {
      await admin.close();
    }
  });

  it('gives up after the drain deadline + margin and still exits 0 (SIGTERM drains too)', async () => {
    const t = mergeTimeouts(defaultTimeouts, { drain: { windowMs: 500, deadlineMs: 1_000, marginMs: 500 } });
    expect(preStopWaitSec(t)).toBe(2);
    const admin = await adminDouble('never');
    try {
      const r = await runPreStop(preStopScript(t), { SLUICE_ADMIN_URL: admin.url, SLUICE_ADMIN_TOKEN: TOKEN });
      expect(r.code).toBe(0);
      expect(r.ms).toBeGreaterThanOrEqual(1_900);
      expect(r.ms).toBeLessThan(2_000 + 3_000); // node start-up under load, far below the grace period
      expect(r.stdout).toContain('no drain answer');
    } finally {
      await admin.close();
    }
  });

  it('exits 0 at once when nothing listens (already drained, exited)', async () => {
    const admin = await adminDouble(0);
    const url = admin.url;
    await admin.close();
    const r = await runPreStop(preStopScript(defaultTimeouts), { SLUICE_ADMIN_URL: url, SLUICE_ADMIN_TOKEN: TOKEN });
    expect(r.code).toBe(0);
    expect(r.ms).toBeLessThan(preStopWaitSec(defaultTimeouts) * 1000);
    expect(r.stdout).toContain('no drain answer');
  });

  it('carries no token: it reads SLUICE_ADMIN_TOKEN at run time; the default address is the loopback admin port', () => {
    const script = preStopScript(defaultTimeouts);
    expect(script).toContain('process.env.SLUICE_ADMIN_TOKEN');
    expect(script).toContain("'http://127.0.0.1:9090'");
    expect(script).toContain('AbortSignal.timeout(25000)');
  });
});

describe('pod template', () => {
  const args = {
    image: 'us-docker.pkg.dev/p/sluice/server:1.2.3',
    timeouts: defaultTimeouts,
    gke: defaultGkeTimeouts,
    resources: { cpu: '500m', memory: '512Mi' },
    labels: { 'app.kubernetes.io/name': 'sluice' },
    serviceAccountName: 'sluice-server',
    secretName: 'sluice-server-env',
    redis: true,
  };

  it('renders the reviewed pod spec', () => {
    expect(podSpec(args)).toMatchSnapshot();
  });

  it('nests the drain: preStop waits for it, the grace period covers preStop + margin', () => {
    const spec = podSpec(args) as any;
    const [c] = spec.containers;
    expect(c.lifecycle.preStop.exec.command.slice(0, 2)).toEqual(['node', '-e']);
    expect(c.lifecycle.preStop.exec.command[2]).toBe(preStopScript(defaultTimeouts));
    expect(spec.terminationGracePeriodSeconds).toBe(defaultGkeTimeouts.terminationGracePeriodSec);
    expect(spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(gkeGraceNeededSec(defaultTimeouts));
  });

  it('probes: readiness on /readyz with the LB health-check numbers, liveness and startup on /healthz (never the backplane)', () => {
    const [c] = (podSpec(args) as any).containers;
    expect(c.readinessProbe).toMatchObject({
      httpGet: { path: '/readyz' },
      periodSeconds: READINESS_PROBE.intervalSec,
      failureThreshold: READINESS_PROBE.unhealthyThreshold,
    });
    expect(c.livenessProbe.httpGet.path).toBe('/healthz');
    expect(c.startupProbe.httpGet.path).toBe('/healthz');
  });

  it('runs non-root on a read-only root filesystem with no capabilities and no API token', () => {
    const spec = podSpec(args) as any;
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(spec.containers[0].securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    });
  });

  it('keeps secrets in the Secret: env has only references for them, the admin listener on loopback, no GCE watcher', () => {
    const env = podEnv(args) as Array<{ name: string; value?: string; valueFrom?: any }>;
    const byName = Object.fromEntries(env.map((e) => [e.name, e]));
    for (const k of ['SLUICE_TOKEN_SECRET', 'SLUICE_ADMIN_TOKEN', 'SLUICE_REDIS_URL']) {
      expect(byName[k].value).toBeUndefined();
      expect(byName[k].valueFrom).toEqual({ secretKeyRef: { name: 'sluice-server-env', key: k } });
    }
    expect(byName.SLUICE_ADMIN_HOST.value).toBe('127.0.0.1');
    expect(byName.SLUICE_GCE_WATCHER.value).toBe('off');
    // 512Mi: the largest budget whose heap limit, young generation and native reserve fit (app/contract/memory.ts).
    expect(byName.SLUICE_MEMORY_BUDGET_BYTES.value).toBe(String(160 * MIB));
    expect(byName.NODE_OPTIONS.value).toBe('--max-old-space-size=336');
    expect(JSON.parse(byName.SLUICE_TIMEOUTS.value!)).toEqual(defaultTimeouts);
    expect(podEnv({ ...args, redis: false }).map((e) => e.name)).not.toContain('SLUICE_REDIS_URL');
  });
  it("derives the V8 heap limit from the container's memory limit, and the pod's memory holds it", () => {
    for (const memory of ['384Mi', '512Mi', '1Gi', '4Gi']) {
      const env = Object.fromEntries(
        (podEnv({ ...args, resources: { cpu: '500m', memory } }) as Array<{ name: string; value?: string }>).map((e) => [e.name, e.value]),
      );
      const budget = Number(env.SLUICE_MEMORY_BUDGET_BYTES);
      expect(budget).toBe(budgetForMemory(memoryBytes(memory)));
      expect(env.NODE_OPTIONS).toBe(heapNodeOptions(budget));
      expect(heapPlan(budget).processMemoryBytes).toBeLessThanOrEqual(memoryBytes(memory));
      // The server's own start check passes in a container of that limit with those flags.
      const facts = { heapLimitBytes: heapPlan(budget).heapLimitBytes, memoryBytes: memoryBytes(memory), memorySource: 'cgroup' };
      expect(checkHeap(budget, true, facts)).toEqual({});
    }
  });
});
