/**
 * sluice:redisCluster (docs/regions.md): a Memorystore Cluster per region with its Private Service
 * Connect policy, maintenance staggered, the servers' egress to its ports, and every region's
 * servers given every region's backplane: the two regions relay. Bad settings are refused with
 * the key named, before any resource.
 */
import { parseStackConfig, StackConfigError } from '../../infra/config';
import { caBundle, clusterSecurityEnv } from '../../infra/components/redis-cluster';
import { BASE_CONFIG, imageAt, render, toRaw } from './harness';

const TWO_REGIONS = {
  'sluice:regions': [
    { region: 'us-central1', zones: ['us-central1-a', 'us-central1-b'], replicas: 4, subnetCidr: '10.10.0.0/20' },
    { region: 'europe-west1', zones: ['europe-west1-b', 'europe-west1-c'], replicas: 4, subnetCidr: '10.10.16.0/20' },
  ],
  'sluice:image': imageAt('1.2.3'),
  'sluice:redisMaintenance': { day: 'SUNDAY', hour: 22 },
  'sluice:redisCluster': {
    shards: 3,
    replicas: 1,
    persistence: 'aof',
    pscSubnets: { 'us-central1': '10.10.32.0/24', 'europe-west1': '10.10.33.0/24' },
  },
};

const CLUSTER = 'gcp:redis/cluster:Cluster';
const POLICY = 'gcp:networkconnectivity/serviceConnectionPolicy:ServiceConnectionPolicy';

test('a cluster per region, each behind its own PSC policy, maintenance 4 h apart, every server given both', async () => {
  const s = await render(TWO_REGIONS);
  expect(s.all('gcp:redis/instance:Instance')).toHaveLength(0);
  const clusters = s.all(CLUSTER);
  expect(clusters.map((c) => c.inputs.region).sort()).toEqual(['europe-west1', 'us-central1']);
  for (const c of clusters) {
    expect(c.inputs).toMatchObject({
      shardCount: 3,
      replicaCount: 1,
      zoneDistributionConfig: { mode: 'MULTI_ZONE' },
      persistenceConfig: { mode: 'AOF', aofConfig: { appendFsync: 'EVERYSEC' } },
      redisConfigs: { 'maxmemory-policy': 'noeviction' },
    });
  }
  const hour = (r: string) =>
    s.plain(clusters.find((c) => c.inputs.region === r)!).maintenancePolicy.weeklyMaintenanceWindows[0].startTime.hours;
  expect([hour('us-central1'), hour('europe-west1')]).toEqual([22, 2]);
  // One policy per region, service class gcp-memorystore-redis, on a subnet of its own in that region.
  for (const region of ['us-central1', 'europe-west1']) {
    const policy = s.all(POLICY).find((p) => p.inputs.location === region)!;
    expect(policy.inputs.serviceClass).toBe('gcp-memorystore-redis');
    const subnet = s.one('gcp:compute/subnetwork:Subnetwork', `sluice-${region}-psc`);
    expect(subnet.inputs.region).toBe(region);
    expect(s.plain(policy).pscConfig.subnetworks).toEqual([expect.stringContaining(`/regions/${region}/subnetworks/sluice-${region}-psc`)]);
    const egress = s.one('gcp:compute/firewall:Firewall', `sluice-${region}-egress`);
    expect(egress.inputs).toMatchObject({
      direction: 'EGRESS',
      destinationRanges: [subnet.inputs.ipCidrRange],
      targetTags: ['sluice-server'],
    });
    expect(egress.inputs.allows).toEqual([{ protocol: 'tcp', ports: ['6379', '11000-13047'] }]);
  }
  // Each region's servers: their own region, and the map of BOTH regions' backplanes.
  const versions = s.all('gcp:secretmanager/secretVersion:SecretVersion').filter((v) => v.name.startsWith('sluice-server-env-'));
  expect(versions).toHaveLength(2);
  const urls = s.outputs.regionBackplanes.value as Record<string, string>;
  expect(Object.keys(urls).sort()).toEqual(['europe-west1', 'us-central1']);
  expect(urls['us-central1']).not.toBe(urls['europe-west1']);
  for (const v of versions) {
    const region = v.name.replace('sluice-server-env-', '');
    const env = String(s.plain(v).secretData);
    expect(env).toContain(`SLUICE_REGION=${region}\n`);
    const map = JSON.parse(/SLUICE_REGION_REDIS_URLS=(.*)\n/.exec(env)![1]) as Record<string, string>;
    expect(map).toEqual(urls);
    expect(env).not.toContain('SLUICE_REDIS_URL=');
  }
});

function issues(overrides: Record<string, unknown>): string[] {
  try {
    parseStackConfig(toRaw({ ...BASE_CONFIG, ...TWO_REGIONS, ...overrides }), new Set());
    return [];
  } catch (err) {
    if (err instanceof StackConfigError) return err.issues.map((i) => `${i.key}: ${i.message}`);
    throw err;
  }
}

test.each([
  [{ pscSubnets: { 'us-central1': '10.10.32.0/24' } }, 'sluice:redisCluster.pscSubnets.europe-west1: missing'],
  [
    { pscSubnets: { 'us-central1': '10.10.32.0/24', 'europe-west1': '10.10.16.0/24' } },
    'overlaps sluice:regions[1].subnetCidr (10.10.16.0/20)',
  ],
  [
    { pscSubnets: { 'us-central1': '10.10.32.0/24', 'europe-west1': '10.10.32.0/25' } },
    'overlaps sluice:redisCluster.pscSubnets.us-central1',
  ],
  [
    { pscSubnets: { 'us-central1': '10.10.32.0/24', 'europe-west1': '10.10.33.0/24', 'asia-east1': '10.10.34.0/24' } },
    'sluice:redisCluster.pscSubnets.asia-east1: asia-east1 is not a configured region',
  ],
  [{ replicas: 0, persistence: 'none' }, 'replicas 0 and persistence none'],
])('sluice:redisCluster %j is refused: %s', (change, problem) => {
  const rc = { ...TWO_REGIONS['sluice:redisCluster'], ...change };
  expect(issues({ 'sluice:redisCluster': rc }).join('\n')).toContain(problem);
});

test('a cluster and an instance are not both configured', () => {
  expect(issues({ 'sluice:redisTier': 'STANDARD_HA' })).toContain(
    'sluice:redisTier: set sluice:redisCluster or sluice:redisTier, not both (a cluster replaces the instance)',
  );
});

describe('Memorystore Cluster security defaults (IAM authentication, in-transit encryption)', () => {
  const GRANT = 'gcp:projects/iAMMember:IAMMember';
  const connectGrants = (s: Awaited<ReturnType<typeof render>>) =>
    s.all(GRANT).filter((g) => g.inputs.role === 'roles/redis.dbConnectionUser');

  const SECURE = {
    ...TWO_REGIONS,
    'sluice:redisCluster': { ...TWO_REGIONS['sluice:redisCluster'], iamAuth: true, transitEncryption: true },
  };

  test('with both set, every cluster takes only IAM-authenticated TLS clients, and the servers (only) may connect', async () => {
    const s = await render(SECURE);
    for (const c of s.all(CLUSTER)) {
      // "Redis clients that aren't configured for TLS are blocked" (manage-in-transit-encryption).
      expect(c.inputs.authorizationMode).toBe('AUTH_MODE_IAM_AUTH');
      expect(c.inputs.transitEncryptionMode).toBe('TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION');
    }
    // "a user requires the redis.clusters.connect permission ... Redis Cluster DB Connection User
    // (roles/redis.dbConnectionUser)" (about-iam-auth): one grant, the server account, the project.
    const grants = connectGrants(s);
    expect(grants).toHaveLength(1);
    // The same member as the servers' other grants (the log writer role): the server VMs' account.
    const logWriter = s.all(GRANT).find((g) => g.inputs.role === 'roles/logging.logWriter')!;
    expect(String(grants[0].inputs.member)).toMatch(/^serviceAccount:/);
    expect(grants[0].inputs.member).toBe(logWriter.inputs.member);
    expect(grants[0].inputs.project).toBe(BASE_CONFIG['sluice:project']);
    expect(grants[0].inputs.condition).toBeUndefined();
    // No broader Redis role anywhere (redis.admin / redis.editor would also manage the clusters).
    const redisRoles = s
      .all(GRANT)
      .map((g) => String(g.inputs.role))
      .filter((r) => r.startsWith('roles/redis.'));
    expect(redisRoles).toEqual(['roles/redis.dbConnectionUser']);
  });

  test('by default (the server cannot speak TLS or IAM AUTH yet) both are off, and without IAM authentication there is no grant', async () => {
    const s = await render(TWO_REGIONS);
    for (const c of s.all(CLUSTER)) {
      expect(c.inputs.authorizationMode).toBe('AUTH_MODE_DISABLED');
      expect(c.inputs.transitEncryptionMode).toBe('TRANSIT_ENCRYPTION_MODE_DISABLED');
    }
    expect(connectGrants(s)).toHaveLength(0);
  });

  test('a non-boolean setting is refused with its key', () => {
    expect(issues({ 'sluice:redisCluster': { ...TWO_REGIONS['sluice:redisCluster'], iamAuth: 'yes' } }).join('\n')).toContain('iamAuth');
  });

  test('the CA bundle a TLS client must trust is every certificate of every managed CA, in order', () => {
    expect(caBundle(undefined)).toBe('');
    expect(caBundle([{ caCerts: [{ certificates: ['A\n', 'B'] }, { certificates: ['C'] }] }])).toBe('A\nB\nC');
  });

  test('the servers get what the clusters need: the CA of every region on one env line, and IAM AUTH on', async () => {
    const env = (s: Awaited<ReturnType<typeof render>>) =>
      s
        .all('gcp:secretmanager/secretVersion:SecretVersion')
        .filter((v) => v.name.startsWith('sluice-server-env-'))
        .map((v) => String(s.plain(v).secretData));
    const secure = env(await render(SECURE));
    expect(secure).toHaveLength(2);
    for (const e of secure) {
      expect(e).toContain('SLUICE_REDIS_IAM_AUTH=1\n');
      const ca = /^SLUICE_REDIS_TLS_CA=(.*)$/m.exec(e)![1];
      // Both regions' CAs (a server reaches both clusters), one line: the server turns \n back into newlines.
      expect(ca.match(/-----BEGIN CERTIFICATE-----/g)).toHaveLength(2);
      expect(ca).not.toContain('\n-----END');
      expect(ca).toContain('\\n-----END CERTIFICATE-----');
    }
    for (const e of env(await render(TWO_REGIONS))) expect(e).not.toMatch(/SLUICE_REDIS_(TLS_CA|IAM_AUTH)/);
  });

  test('clusterSecurityEnv: nothing when both are off, blank bundles skipped', () => {
    expect(clusterSecurityEnv(['', ''], false)).toBe('');
    expect(clusterSecurityEnv(['', ''], true)).toBe('SLUICE_REDIS_IAM_AUTH=1\n');
    expect(clusterSecurityEnv(['A\nB\n', 'C'], false)).toBe('SLUICE_REDIS_TLS_CA=A\\nB\\nC\n');
  });

  test('the servers wait for the grant before their first boot (a MIG depends on every grant)', async () => {
    const s = await render(SECURE);
    const grant = connectGrants(s)[0];
    const mig = s.all('gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager')[0];
    expect(mig.dependsOn).toEqual(expect.arrayContaining([grant.urn]));
  });
});
