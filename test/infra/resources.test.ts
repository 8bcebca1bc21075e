/**
 * The Pulumi program rendered under mocks: assertions on the real resource inputs the engine would
 * receive (network exposure, health checks, LB timeouts per kind, MIG rollout policy, IAM).
 */
import { backendTimeoutSec, defaultTimeouts } from '../../app/contract/timeouts';
import { GOOGLE_LB_RANGES } from '../../infra/components/network';
import { ADMIN_TOKEN, render, Rendered, T, TOKEN_SECRET } from './harness';

let dev: Rendered;
beforeAll(async () => {
  dev = await render();
});

describe('network exposure', () => {
  it('gives the VMs no external IP', () => {
    const [tpl] = dev.all(T.instanceTemplate);
    expect(tpl.inputs.networkInterfaces).toEqual([{ subnetwork: expect.stringContaining('/subnetworks/sluice-us-central1') }]);
    for (const nic of tpl.inputs.networkInterfaces as Array<Record<string, unknown>>) {
      expect(nic.accessConfigs).toBeUndefined();
      expect(nic.ipv6AccessConfigs).toBeUndefined();
    }
  });

  it('admits only the LB and health-check ranges, only on the public port; never the admin port', () => {
    const rules = dev.all(T.firewall);
    expect(rules).toHaveLength(1);
    const fw = rules[0].inputs as Record<string, any>;
    expect(fw.direction).toBe('INGRESS');
    expect([...fw.sourceRanges].sort()).toEqual([...GOOGLE_LB_RANGES].sort());
    expect(fw.sourceRanges).toEqual(['35.191.0.0/16', '130.211.0.0/22']);
    expect(fw.allows).toEqual([{ protocol: 'tcp', ports: ['4000'] }]);
    expect(fw.targetTags).toEqual(['sluice-server']);
    expect(JSON.stringify(rules.map((r) => r.inputs))).not.toMatch(/9090|0\.0\.0\.0\/0/);
    expect(dev.one(T.instanceTemplate).inputs.tags).toEqual(['sluice-server']);
  });

  it('gives every region a subnet with Private Google Access and a Cloud NAT', () => {
    expect(dev.one(T.subnet).inputs).toMatchObject({ region: 'us-central1', ipCidrRange: '10.10.0.0/20', privateIpGoogleAccess: true });
    expect(dev.one(T.nat).inputs).toMatchObject({ region: 'us-central1', router: 'sluice-us-central1', natIpAllocateOption: 'AUTO_ONLY' });
  });
});

describe('health checks', () => {
  it('the LB probes /readyz (503 while draining); autohealing probes /healthz (liveness) so a draining VM is not repaired', () => {
    const lbCheck = dev.one(T.healthCheck, 'sluice-readyz');
    expect(lbCheck.inputs.httpHealthCheck).toEqual({ port: 4000, requestPath: '/readyz' });
    const heal = dev.one(T.healthCheck, 'sluice-us-central1-autoheal');
    expect(heal.inputs.httpHealthCheck).toEqual({ port: 4000, requestPath: '/healthz' });
    expect(dev.one(T.backendService).inputs.healthChecks).toBe('projects/sluice-test-project/global/healthChecks/sluice-readyz');
    expect((dev.one(T.mig).inputs.autoHealingPolicies as Record<string, unknown>).healthCheck).toBe(
      'projects/sluice-test-project/global/healthChecks/sluice-us-central1-autoheal',
    );
  });
});

describe('load balancer, per kind', () => {
  it('global external ALB: timeoutSec is the maximum WebSocket lifetime, draining from the contract', async () => {
    const bs = dev.one(T.backendService).inputs;
    expect(bs).toMatchObject({
      loadBalancingScheme: 'EXTERNAL_MANAGED',
      protocol: 'HTTP',
      portName: 'ws',
      timeoutSec: defaultTimeouts.lb.maxConnectionLifetimeSec,
      connectionDrainingTimeoutSec: defaultTimeouts.lb.connectionDrainingSec,
    });
    expect(bs.timeoutSec).not.toBe(defaultTimeouts.lb.idleTimeoutSec);
    expect(dev.all(T.urlMap)).toHaveLength(1);
    expect(dev.one(T.httpProxy).inputs.urlMap).toContain('/urlMaps/sluice-urlmap');
    expect(dev.one(T.forwardingRule).inputs).toMatchObject({
      portRange: '80',
      loadBalancingScheme: 'EXTERNAL_MANAGED',
      ipAddress: '203.0.113.10',
    });
    expect(dev.all(T.tcpProxy)).toHaveLength(0);
    expect(dev.outputs.url.value).toBe('ws://203.0.113.10/socket/websocket');
  });

  it('external proxy NLB: timeoutSec is the idle timeout, TCP proxy, no URL map', async () => {
    const r = await render({ 'sluice:lbKind': 'external-proxy-network' });
    const bs = r.one(T.backendService).inputs;
    expect(bs).toMatchObject({
      protocol: 'TCP',
      loadBalancingScheme: 'EXTERNAL_MANAGED',
      timeoutSec: defaultTimeouts.lb.idleTimeoutSec,
      connectionDrainingTimeoutSec: 35,
    });
    expect(r.all(T.urlMap)).toHaveLength(0);
    expect(r.one(T.tcpProxy).inputs.backendService).toContain('/backendServices/sluice-backend');
    expect(r.one(T.forwardingRule).inputs.portRange).toBe('443');
    expect(r.outputs.url.value).toBe('ws://203.0.113.10:443/socket/websocket');
  });

  it('takes both numbers from the contract, not from constants', async () => {
    const timeouts = { lb: { maxConnectionLifetimeSec: 7200, idleTimeoutSec: 45, connectionDrainingSec: 60 } };
    const alb = await render({ 'sluice:timeouts': timeouts });
    expect(alb.one(T.backendService).inputs).toMatchObject({ timeoutSec: 7200, connectionDrainingTimeoutSec: 60 });
    const nlb = await render({ 'sluice:timeouts': timeouts, 'sluice:lbKind': 'external-proxy-network' });
    expect(nlb.one(T.backendService).inputs).toMatchObject({ timeoutSec: 45, connectionDrainingTimeoutSec: 60 });
    expect(backendTimeoutSec({ ...defaultTimeouts, lb: { ...defaultTimeouts.lb, ...timeouts.lb, kind: 'external-proxy-network' } })).toBe(
      45,
    );
  });

  it('with a domain: a managed certificate, HTTPS on 443 and an HTTP->HTTPS redirect (ALB), an SSL proxy (NLB)', async () => {
    const alb = await render({ 'sluice:domain': 'ws.example.com' });
    expect(alb.one(T.cert).inputs.managed).toEqual({ domains: ['ws.example.com'] });
    expect(alb.one(T.httpsProxy).inputs.sslCertificates).toEqual(['projects/sluice-test-project/global/sslCertificates/sluice-cert']);
    const rules = alb
      .all(T.forwardingRule)
      .map((r) => r.inputs.portRange)
      .sort();
    expect(rules).toEqual(['443', '80']);
    expect(alb.one(T.urlMap, 'sluice-redirect').inputs.defaultUrlRedirect).toMatchObject({ httpsRedirect: true });
    expect(alb.outputs.url.value).toBe('wss://ws.example.com/socket/websocket');
    const nlb = await render({ 'sluice:domain': 'ws.example.com', 'sluice:lbKind': 'external-proxy-network' });
    expect(nlb.one(T.sslProxy).inputs.sslCertificates).toHaveLength(1);
    expect(nlb.all(T.tcpProxy)).toHaveLength(0);
  });
});

describe('rolling update', () => {
  it('surges new VMs and never takes an old one away first (maxUnavailable 0), replacing on template change', () => {
    const mig = dev.one(T.mig).inputs as Record<string, any>;
    expect(mig.updatePolicy).toMatchObject({
      type: 'PROACTIVE',
      minimalAction: 'REPLACE',
      replacementMethod: 'SUBSTITUTE',
      maxUnavailableFixed: 0,
      maxSurgeFixed: 2,
      minReadySec: defaultTimeouts.gce.minReadySec,
    });
    expect(mig.updatePolicy.maxSurgeFixed).toBeGreaterThanOrEqual(mig.distributionPolicyZones.length);
    expect(mig.updatePolicy.maxSurgeFixed).toBeLessThan(mig.targetSize);
    expect(mig.versions).toEqual([
      { name: 'primary', instanceTemplate: expect.stringContaining('/instanceTemplates/sluice-us-central1-template?uniqueId=') },
    ]);
    expect(mig).toMatchObject({
      region: 'us-central1',
      targetSize: 4,
      distributionPolicyZones: ['us-central1-a', 'us-central1-b'],
      namedPorts: [{ name: 'ws', port: 4000 }],
    });
  });

  it('with three zones the surge is three (a regional MIG needs 0 or >= zones)', async () => {
    const r = await render({
      'sluice:regions': [
        { region: 'europe-west1', zones: ['europe-west1-b', 'europe-west1-c', 'europe-west1-d'], replicas: 6, subnetCidr: '10.30.0.0/20' },
      ],
    });
    expect((r.one(T.mig).inputs.updatePolicy as Record<string, unknown>).maxSurgeFixed).toBe(3);
  });
});

describe('identity and IAM (least privilege)', () => {
  it('the watcher role holds exactly the permission listManagedInstances needs', () => {
    expect(dev.one(T.customRole).inputs.permissions).toEqual(['compute.instanceGroupManagers.get']);
  });

  it('the service account gets the watcher role (unconditioned: see identity.ts), log and metric writers, nothing else', () => {
    const sa = 'serviceAccount:sluice-test-server@sluice-test-project.iam.gserviceaccount.com';
    const grants = dev.all(T.projectMember).map((r) => r.inputs as Record<string, any>);
    expect(grants.every((g) => g.member === sa)).toBe(true);
    expect(grants.map((g) => g.role).sort()).toEqual([
      'projects/sluice-test-project/roles/sluiceWatcher_sluice_test',
      'roles/logging.logWriter',
      'roles/monitoring.metricWriter',
    ]);
    expect(JSON.stringify(grants)).not.toMatch(/roles\/(owner|editor|compute\.|iam\.)/);
    const accessors = dev.all(T.secretMember).map((m) => m.inputs as Record<string, any>);
    expect(accessors.map((a) => a.secretId).sort()).toEqual([
      'projects/sluice-test-project/secrets/sluice-test-admin-token',
      'projects/sluice-test-project/secrets/sluice-test-server-env-us-central1',
    ]);
    expect(accessors.every((a) => a.role === 'roles/secretmanager.secretAccessor' && a.member === sa)).toBe(true);
    expect(dev.one(T.repoMember).inputs).toMatchObject({
      role: 'roles/artifactregistry.reader',
      member: sa,
      location: 'us',
      project: 'sluice-test-project',
      repository: 'sluice',
    });
  });

  it('two regions: two MIGs behind one backend, one watcher grant for both', async () => {
    const r = await render({
      'sluice:regions': [
        { region: 'us-central1', zones: ['us-central1-a'], replicas: 2, subnetCidr: '10.10.0.0/20' },
        { region: 'europe-west1', zones: ['europe-west1-b'], replicas: 2, subnetCidr: '10.10.16.0/20' },
      ],
    });
    expect(r.all(T.projectMember).filter((m) => String(m.inputs.role).includes('sluiceWatcher'))).toHaveLength(1);
    expect(r.one(T.backendService).inputs.backends).toHaveLength(2);
    expect(r.outputs.migs.value).toEqual({ 'us-central1': 'sluice-us-central1', 'europe-west1': 'sluice-europe-west1' });
  });

  it('VMs run as the dedicated account, never the default compute account', () => {
    expect(dev.one(T.instanceTemplate).inputs.serviceAccount).toEqual({
      email: 'sluice-test-server@sluice-test-project.iam.gserviceaccount.com',
      scopes: ['https://www.googleapis.com/auth/cloud-platform'],
    });
  });
});

describe('secrets and providers', () => {
  it('keeps the token secret and the Redis AUTH string out of plain text', () => {
    const version = dev.one(T.secretVersion, 'sluice-server-env-us-central1');
    expect(version.inputs.secretData).toMatchObject({ value: expect.stringContaining(`SLUICE_TOKEN_SECRET=${TOKEN_SECRET}`) });
    expect(dev.plain(version).secretData).toContain('SLUICE_REDIS_URL=redis://:mock-redis-auth-string@10.200.0.3:6379');
    const admin = dev.one(T.secretVersion, 'sluice-admin-token');
    expect(admin.inputs.secretData).toMatchObject({ value: `SLUICE_ADMIN_TOKEN=${ADMIN_TOKEN}\n` });
    const visible =
      JSON.stringify(dev.resources.filter((r) => r !== version && r !== admin).map((r) => r.inputs)) + JSON.stringify(dev.outputs);
    expect(visible).not.toContain(ADMIN_TOKEN);
    expect(visible).not.toContain(TOKEN_SECRET);
    expect(visible).not.toContain('mock-redis-auth-string');
    expect(Object.keys(dev.outputs).sort()).toEqual(['ipAddress', 'migs', 'releases', 'url']);
  });

  it("every GCP resource uses the stack's explicit provider (never an ambient default project)", () => {
    const provider = dev.one(T.provider);
    expect(provider.inputs).toMatchObject({ project: 'sluice-test-project', region: 'us-central1' });
    const custom = dev.resources.filter((r) => r.custom && r.type.startsWith('gcp:'));
    expect(custom.length).toBeGreaterThan(20);
    for (const r of custom) expect(r.provider).toBe(`${provider.urn}::gcp-id`);
  });

  it('one component per concept, each parenting its resources', () => {
    const components = dev.resources
      .filter((r) => r.type.startsWith('sluice:infra:'))
      .map((r) => r.type)
      .sort();
    expect(components).toEqual([
      'sluice:infra:Backplane',
      'sluice:infra:Edge',
      'sluice:infra:LoadBalancer',
      'sluice:infra:Network',
      'sluice:infra:Operations',
      'sluice:infra:ServerFleet',
      'sluice:infra:ServerIdentity',
      'sluice:infra:StackSecrets',
    ]);
    const urns = new Set(dev.resources.filter((r) => !r.custom).map((r) => r.urn));
    for (const r of dev.resources.filter((x) => x.custom && x.type.startsWith('gcp:'))) expect(urns.has(r.parent ?? '')).toBe(true);
  });

  it('puts Memorystore on the private network with AUTH', () => {
    expect(dev.one(T.redis).inputs).toMatchObject({
      tier: 'BASIC',
      region: 'us-central1',
      authEnabled: true,
      connectMode: 'DIRECT_PEERING',
      authorizedNetwork: 'projects/sluice-test-project/global/networks/sluice',
    });
  });
});
