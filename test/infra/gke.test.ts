/**
 * The GKE variant (sluice:platform: gke) rendered under mocks: the inputs the engine would receive
 * for the Deployment, Service, policies, PDB, HPA and NetworkPolicy, the explicit Kubernetes provider,
 * Workload Identity, and the config refusals that happen before any resource is declared.
 */
import { defaultGkeTimeouts, gkeGraceNeededSec } from '../../app/contract/gke';
import { defaultTimeouts } from '../../app/contract/timeouts';
import { StackConfigError } from '../../infra/config';
import { isSecretValue } from '../../infra/offline-preview/format';
import { preStopScript } from '../../infra/gke/render';
import { renderProgram } from '../../infra/offline-preview/render';
import { render, Rendered, toRaw, BASE_CONFIG, ADMIN_TOKEN, TOKEN_SECRET } from './harness';

const K = {
  deployment: 'kubernetes:apps/v1:Deployment',
  service: 'kubernetes:core/v1:Service',
  secret: 'kubernetes:core/v1:Secret',
  ksa: 'kubernetes:core/v1:ServiceAccount',
  pdb: 'kubernetes:policy/v1:PodDisruptionBudget',
  hpa: 'kubernetes:autoscaling/v2:HorizontalPodAutoscaler',
  netpol: 'kubernetes:networking.k8s.io/v1:NetworkPolicy',
  backendPolicy: 'kubernetes:networking.gke.io/v1:GCPBackendPolicy',
  healthPolicy: 'kubernetes:networking.gke.io/v1:HealthCheckPolicy',
  gateway: 'kubernetes:gateway.networking.k8s.io/v1:Gateway',
  route: 'kubernetes:gateway.networking.k8s.io/v1:HTTPRoute',
  cluster: 'gcp:container/cluster:Cluster',
  nodePool: 'gcp:container/nodePool:NodePool',
  k8sProvider: 'pulumi:providers:kubernetes',
  saMember: 'gcp:serviceaccount/iAMMember:IAMMember',
  mig: 'gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager',
};

/** A GKE stack: three zones, three pods, BASIC Redis, Autopilot, no domain. */
const GKE: Record<string, unknown> = {
  'sluice:platform': 'gke',
  'sluice:bootImage': undefined,
  'sluice:regions': [
    { region: 'us-central1', zones: ['us-central1-a', 'us-central1-b', 'us-central1-c'], replicas: 3, subnetCidr: '10.30.0.0/20' },
  ],
};
const renderGke = (o: Record<string, unknown> = {}) => render({ ...GKE, ...o });

/** The config problems of a GKE stack, and how many resources the program registered before failing. */
async function refusal(o: Record<string, unknown>): Promise<{ issues: Array<{ key: string; rule?: string }>; registered: number }> {
  const config = toRaw({ ...BASE_CONFIG, ...GKE, ...o });
  let registered = -1;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const program = require('../../infra/index') as () => unknown;
    const stack = await renderProgram(() => program, {
      project: 'sluice',
      stack: 'test',
      config,
      secretKeys: ['sluice:tokenSecret', 'sluice:adminToken'],
    });
    registered = stack.resources.length;
  } catch (err) {
    if (!(err instanceof StackConfigError)) throw err;
    return { issues: err.issues, registered: 0 };
  }
  return { issues: [], registered };
}

let gke: Rendered;
beforeAll(async () => {
  gke = await renderGke();
});

describe('GKE Deployment', () => {
  it('preStop drains through the admin port, and the grace period from the contract covers it', () => {
    const spec = gke.plain(gke.one(K.deployment)).spec;
    const pod = spec.template.spec;
    expect(pod.terminationGracePeriodSeconds).toBe(defaultGkeTimeouts.terminationGracePeriodSec);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(gkeGraceNeededSec(defaultTimeouts));
    expect(pod.containers[0].lifecycle.preStop.exec.command).toEqual(['node', '-e', preStopScript(defaultTimeouts)]);
  });

  it('rolls with maxUnavailable 0 and the configured surge, and leaves the replica count to the HPA', () => {
    const spec = gke.plain(gke.one(K.deployment)).spec;
    expect(spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    expect(spec.replicas).toBeUndefined();
    const custom = (o: Record<string, unknown>) =>
      renderGke({ 'sluice:gke': o }).then((r) => r.plain(r.one(K.deployment)).spec.strategy.rollingUpdate);
    return expect(custom({ maxSurge: 2 })).resolves.toEqual({ maxSurge: 2, maxUnavailable: 0 });
  });

  it('spreads over zones, probes /readyz and /healthz, runs restricted, and mounts no API token', () => {
    const pod = gke.plain(gke.one(K.deployment)).spec.template.spec;
    expect(pod.topologySpreadConstraints.map((c: any) => c.topologyKey)).toEqual(['topology.kubernetes.io/zone', 'kubernetes.io/hostname']);
    const [c] = pod.containers;
    expect([c.readinessProbe.httpGet.path, c.livenessProbe.httpGet.path, c.startupProbe.httpGet.path]).toEqual([
      '/readyz',
      '/healthz',
      '/healthz',
    ]);
    expect(c.resources).toEqual({ requests: { cpu: '500m', memory: '512Mi' }, limits: { cpu: '500m', memory: '512Mi' } });
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(gke.plain(gke.one(K.ksa)).automountServiceAccountToken).toBe(false);
    expect(gke.plain(gke.one('kubernetes:core/v1:Namespace')).metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });

  it('keeps the token secret, the admin token and the Redis URL in a Secret marked secret, and rolls pods when it changes', async () => {
    const secret = gke.one(K.secret);
    // Marked secret for the engine (the plan prints [secret], the state encrypts it).
    expect(isSecretValue(secret.inputs.stringData)).toBe(true);
    expect(JSON.stringify(gke.one(K.deployment).inputs)).not.toMatch(new RegExp(`${TOKEN_SECRET}|${ADMIN_TOKEN}|redis://`));
    const data = gke.plain(secret).stringData;
    expect(Object.keys(data).sort()).toEqual(['SLUICE_ADMIN_TOKEN', 'SLUICE_REDIS_URL', 'SLUICE_TOKEN_SECRET']);
    expect(data.SLUICE_ADMIN_TOKEN).toBe(ADMIN_TOKEN);
    const hash = (r: Rendered) => r.plain(r.one(K.deployment)).spec.template.metadata.annotations['sluice.dev/secret-env-sha256'];
    // Another generated admin token (the mocks derive it from the project; a real rotation is `pulumi up --replace`).
    const other = await renderGke({ 'sluice:project': 'sluice-other-project' });
    expect(hash(other)).toMatch(/^[0-9a-f]{64}$/);
    expect(hash(other)).not.toBe(hash(gke));
  });
});

describe('GKE Service, Gateway and policies', () => {
  it('the Service is the Gateway backend on the public port only', () => {
    const svc = gke.plain(gke.one(K.service)).spec;
    expect(svc.type).toBe('ClusterIP');
    expect(svc.ports).toEqual([expect.objectContaining({ port: 4000, targetPort: 'ws', protocol: 'TCP' })]);
    const route = gke.plain(gke.one(K.route)).spec;
    expect(route.rules[0].backendRefs).toEqual([{ name: 'sluice-server', port: 4000 }]);
    expect(gke.plain(gke.one(K.gateway)).spec.gatewayClassName).toBe('gke-l7-global-external-managed');
  });

  it('GCPBackendPolicy: timeoutSec is the maximum WebSocket lifetime, draining from the contract', () => {
    const p = gke.plain(gke.one(K.backendPolicy)).spec;
    expect(p.targetRef).toEqual({ group: '', kind: 'Service', name: 'sluice-server' });
    expect(p.default.timeoutSec).toBe(defaultTimeouts.lb.maxConnectionLifetimeSec);
    expect(p.default.connectionDraining).toEqual({ drainingTimeoutSec: defaultTimeouts.lb.connectionDrainingSec });
  });

  it('HealthCheckPolicy probes /readyz with the numbers behind the endpoint-removal bound', () => {
    const p = gke.plain(gke.one(K.healthPolicy)).spec;
    expect(p.targetRef).toEqual({ group: '', kind: 'Service', name: 'sluice-server' });
    expect(p.default).toMatchObject({
      checkIntervalSec: 5,
      timeoutSec: 5,
      healthyThreshold: 2,
      unhealthyThreshold: 2,
      config: { type: 'HTTP', httpHealthCheck: { port: 4000, requestPath: '/readyz' } },
    });
  });

  it('with a domain: HTTPS on 443 with a managed certificate, 80 redirects, wss:// URL', async () => {
    const r = await renderGke({ 'sluice:domain': 'ws.example.com' });
    const listeners = r.plain(r.one(K.gateway)).spec.listeners;
    expect(listeners.map((l: any) => [l.name, l.port])).toEqual([
      ['http', 80],
      ['https', 443],
    ]);
    expect(
      r
        .all(K.route)
        .map((x) => r.plain(x).spec.parentRefs[0].sectionName)
        .sort(),
    ).toEqual(['http', 'https']);
    expect(r.outputs.url.value).toBe('wss://ws.example.com/socket/websocket');
  });
});

describe('GKE PDB, HPA and NetworkPolicy', () => {
  it('the PDB lets voluntary disruptions take one pod at a time', () => {
    expect(gke.plain(gke.one(K.pdb)).spec).toMatchObject({
      maxUnavailable: 1,
      selector: { matchLabels: { 'app.kubernetes.io/name': 'sluice' } },
    });
  });

  it('the HPA scales in after a window longer than a drain, one pod per grace period, from regions[0].replicas', () => {
    const h = gke.plain(gke.one(K.hpa)).spec;
    expect(h.minReplicas).toBe(3);
    expect(h.maxReplicas).toBe(12);
    expect(h.behavior.scaleDown.stabilizationWindowSeconds).toBe(defaultGkeTimeouts.hpaScaleDownStabilizationSec);
    expect(h.behavior.scaleDown.stabilizationWindowSeconds).toBeGreaterThan(defaultGkeTimeouts.terminationGracePeriodSec);
    expect(h.behavior.scaleDown.policies).toEqual([
      { type: 'Pods', value: 1, periodSeconds: defaultGkeTimeouts.terminationGracePeriodSec },
    ]);
  });

  it('the NetworkPolicy admits only the LB ranges on the public port; the admin port is in no rule', () => {
    const n = gke.plain(gke.one(K.netpol)).spec;
    expect(n.policyTypes).toEqual(['Ingress']);
    expect(n.ingress).toEqual([
      { from: [{ ipBlock: { cidr: '35.191.0.0/16' } }, { ipBlock: { cidr: '130.211.0.0/22' } }], ports: [{ protocol: 'TCP', port: 4000 }] },
    ]);
    expect(JSON.stringify(n)).not.toMatch(/9090|0\.0\.0\.0\/0/);
  });
});

describe('GKE cluster, provider and identity', () => {
  it('every Kubernetes resource goes through the one explicit k8s provider; no VM fleet is declared', () => {
    const [provider] = gke.all(K.k8sProvider);
    expect(gke.all(K.k8sProvider)).toHaveLength(1);
    const k8sResources = gke.resources.filter((r) => r.type.startsWith('kubernetes:'));
    expect(k8sResources.length).toBeGreaterThanOrEqual(12);
    for (const r of k8sResources) expect(r.provider?.startsWith(`${provider.urn}::`)).toBe(true);
    expect(gke.all(K.mig)).toHaveLength(0);
  });

  it('creates a regional Autopilot cluster: VPC-native, Gateway API, private nodes, a dedicated node account', () => {
    const c = gke.plain(gke.one(K.cluster));
    expect(c).toMatchObject({
      location: 'us-central1',
      enableAutopilot: true,
      networkingMode: 'VPC_NATIVE',
      gatewayApiConfig: { channel: 'CHANNEL_STANDARD' },
      privateClusterConfig: { enablePrivateNodes: true },
      deletionProtection: true,
    });
    expect(c.clusterAutoscaling.autoProvisioningDefaults.serviceAccount).toBe(
      'sluice-test-node@sluice-test-project.iam.gserviceaccount.com',
    );
  });

  it('Standard: Workload Identity, Dataplane V2 and a surge-only node pool in the stack zones', async () => {
    const r = await renderGke({
      'sluice:gke': { cluster: { create: 'standard', machineType: 'e2-standard-4', nodesPerZone: { min: 1, max: 4 } } },
    });
    const c = r.plain(r.one(K.cluster));
    expect(c).toMatchObject({
      workloadIdentityConfig: { workloadPool: 'sluice-test-project.svc.id.goog' },
      datapathProvider: 'ADVANCED_DATAPATH',
      removeDefaultNodePool: true,
    });
    const pool = r.plain(r.one(K.nodePool));
    expect(pool).toMatchObject({
      nodeLocations: ['us-central1-a', 'us-central1-b', 'us-central1-c'],
      upgradeSettings: { strategy: 'SURGE', maxSurge: 1, maxUnavailable: 0 },
      nodeConfig: { machineType: 'e2-standard-4', workloadMetadataConfig: { mode: 'GKE_METADATA' } },
    });
  });

  it('an existing cluster is read, not created (and nothing else of a cluster is declared)', async () => {
    const r = await renderGke({
      'sluice:redisTier': 'none',
      'sluice:regions': [{ region: 'us-central1', zones: ['us-central1-a'], replicas: 1, subnetCidr: '10.30.0.0/20' }],
      'sluice:gke': { cluster: { existing: { name: 'shared', location: 'us-central1' } } },
    });
    expect(r.all(K.cluster)).toHaveLength(0);
    expect(r.all(K.nodePool)).toHaveLength(0);
    expect(r.all('gcp:compute/network:Network')).toHaveLength(0);
    expect(r.outputs.cluster.value).toBe('shared');
    expect(r.all(K.k8sProvider)).toHaveLength(1);
  });

  it("Workload Identity binds exactly the server pods' Kubernetes service account to their Google account", () => {
    const m = gke.plain(gke.one(K.saMember));
    expect(m.role).toBe('roles/iam.workloadIdentityUser');
    expect(m.member).toBe('serviceAccount:sluice-test-project.svc.id.goog[sluice/sluice-server]');
    expect(m.serviceAccountId).toBe(
      'projects/sluice-test-project/serviceAccounts/sluice-test-pod@sluice-test-project.iam.gserviceaccount.com',
    );
    expect(gke.plain(gke.one(K.ksa)).metadata.annotations['iam.gke.io/gcp-service-account']).toBe(
      'sluice-test-pod@sluice-test-project.iam.gserviceaccount.com',
    );
    // The pods' account holds no project role.
    const projectRoles = gke.all('gcp:projects/iAMMember:IAMMember').map((x) => gke.plain(x).member);
    expect(projectRoles.filter((mb) => mb.includes('sluice-test-pod'))).toEqual([]);
  });
});

describe('GKE config: refused before any resource is declared', () => {
  it('a grace period shorter than the drain', async () => {
    const r = await refusal({ 'sluice:gke': { timeouts: { terminationGracePeriodSec: 20 } } });
    expect(r.registered).toBe(0);
    expect(r.issues).toEqual([expect.objectContaining({ key: 'sluice:gke.timeouts', rule: 'gke-grace-covers-prestop-drain' })]);
  });

  it('a container memory limit that cannot hold the smallest budget with its V8 heap limit', async () => {
    const r = await refusal({ 'sluice:gke': { resources: { cpu: '500m', memory: '256Mi' } } });
    expect(r.registered).toBe(0);
    expect(r.issues).toEqual([
      {
        key: 'sluice:gke.resources.memory',
        message: expect.stringMatching(
          /^the server's smallest memory budget 16 MiB needs 296 MiB of process memory .* but 256Mi gives 256 MiB: raise the memory$/,
        ),
      },
    ]);
    expect((await refusal({ 'sluice:gke': { resources: { cpu: '500m', memory: '296Mi' } } })).issues).toEqual([]);
  });

  it('an HPA window shorter than a drain, a drain that ends before the endpoint left the LB', async () => {
    expect((await refusal({ 'sluice:gke': { timeouts: { hpaScaleDownStabilizationSec: '30' } } })).issues.map((i) => i.rule)).toEqual([
      'gke-hpa-scale-down-exceeds-drain',
    ]);
    expect((await refusal({ 'sluice:timeouts': { drain: { deadlineMs: 19_000 } } })).issues.map((i) => i.rule)).toEqual([
      'gke-drain-outlasts-endpoint-removal',
    ]);
  });

  it('GCE-only keys, a proxy Network LB, two regions, unknown keys, sluice:gke on a GCE stack', async () => {
    const keys = async (o: Record<string, unknown>) => (await refusal(o)).issues.map((i) => i.key);
    expect(await keys({ 'sluice:bootImage': 'cos-121-18867-90-97' })).toEqual(['sluice:bootImage']);
    expect(await keys({ 'sluice:lbKind': 'external-proxy-network' })).toEqual(['sluice:lbKind']);
    expect(
      await keys({
        'sluice:regions': [
          { region: 'us-central1', zones: ['us-central1-a'], replicas: 2, subnetCidr: '10.30.0.0/20' },
          { region: 'europe-west1', zones: ['europe-west1-b'], replicas: 2, subnetCidr: '10.31.0.0/20' },
        ],
      }),
    ).toEqual(['sluice:regions']);
    expect(await keys({ 'sluice:gke': { replicas: 3 } })).toEqual(['sluice:gke']);
    expect(await keys({ 'sluice:gke': { timeouts: { graceSec: 30 } } })).toEqual(['sluice:gke.timeouts']);
    expect(
      await keys({
        'sluice:platform': 'gce',
        'sluice:bootImage': 'cos-121-18867-90-97',
        'sluice:regions': BASE_CONFIG['sluice:regions'],
        'sluice:gke': {},
      }),
    ).toEqual(['sluice:gke']);
  });
});

describe('GKE: what the cluster must provide (issue 22 point 8)', () => {
  const CRD_READ = 'kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition';

  it('each custom resource waits for the read of its own CRD (Established, serving v1) before it is sent', async () => {
    const r = await renderGke({ 'sluice:domain': 'signal.example.com' });
    const expected: Array<[string, string, number]> = [
      [K.gateway, 'gateway', 1],
      [K.route, 'httproute', 2],
      [K.backendPolicy, 'gcpbackendpolicy', 1],
      [K.healthPolicy, 'healthcheckpolicy', 1],
    ];
    for (const [type, crd, n] of expected) {
      const resources = r.all(type);
      expect(resources).toHaveLength(n);
      for (const res of resources) expect(res.dependsOn.some((u) => u.includes(`${CRD_READ}::sluice-crd-${crd}`))).toBe(true);
    }
  });

  it('the Service port names no appProtocol (kubernetes.io/ws is an optional Gateway API feature GKE does not document)', () => {
    const ports = gke.plain(gke.one(K.service)).spec.ports as Array<Record<string, unknown>>;
    expect(ports).toHaveLength(1);
    expect(ports[0].appProtocol).toBeUndefined();
  });
});
