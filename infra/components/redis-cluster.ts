import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';

export interface RegionalRedisClusterArgs {
  region: string;
  /** The servers' VPC (one global network: every region's servers reach every region's endpoints). */
  network: pulumi.Input<string>;
  /** A dedicated regular subnet in `region` for the cluster's Private Service Connect endpoints. */
  pscSubnetCidr: string;
  shards: number;
  replicas: number;
  persistence: 'aof' | 'rdb' | 'none';
  nodeType: string;
  /** Weekly window (UTC) for disruptive maintenance; regions get different hours (redis-cluster-config.ts staggeredHour). */
  maintenance: { day: string; hour: number };
  /** Network tag of the server VMs: the egress rule's target. */
  serverTag: string;
  /** IAM authentication (AUTH with an IAM access token) instead of no AUTH at all. Default off (config). */
  iamAuth: boolean;
  /** TLS between the servers and the cluster (server authentication with the cluster's CA). Default off (config). */
  transitEncryption: boolean;
}

/**
 * The role the servers need to authenticate: "a user requires the redis.clusters.connect permission
 * to authenticate with a cluster. To get this permission, you can bind the user or service account
 * to the predefined Redis Cluster DB Connection User (roles/redis.dbConnectionUser) role"
 * (cloud.google.com/memorystore/docs/cluster/about-iam-auth).
 */
export const CLUSTER_CONNECT_ROLE = 'roles/redis.dbConnectionUser';

/**
 * The servers' one grant for every region's cluster: CLUSTER_CONNECT_ROLE for their service account
 * on the project, without a condition. "By default, IAM policy bindings are applied at the
 * project-level, such that principals receive role permissions for all Memorystore instances in the
 * project. However, IAM policy bindings can be restricted to a particular cluster"
 * (about-iam-auth). The stored docs did not show the form of that restriction, and IAM's list of
 * services whose resource names a condition can test ("The resource name attribute can control
 * access to the following Google Cloud services", cloud.google.com/iam/docs/configuring-resource-based-access)
 * does not name Memorystore; a condition IAM cannot evaluate would deny every AUTH. So: the project,
 * one role holding the connect permission (redis.editor, for one, does not: it has "All redis
 * permissions except for redis.clusters.create redis.clusters.delete redis.clusters.connect",
 * cloud.google.com/memorystore/docs/cluster/access-control), for this one account. docs/backplane.md
 * says what that leaves open.
 */
export function clusterConnectGrant(
  name: string,
  project: string,
  member: pulumi.Input<string>,
  opts?: pulumi.CustomResourceOptions,
): gcp.projects.IAMMember {
  return new gcp.projects.IAMMember(`${name}-redis-connect`, { project, role: CLUSTER_CONNECT_ROLE, member }, opts);
}

/** The cluster's CA chain(s) as one PEM bundle ('' without in-transit encryption): what a TLS client must trust. */
export function caBundle(cas: Array<{ caCerts?: Array<{ certificates?: string[] }> }> | undefined): string {
  return (cas ?? [])
    .flatMap((ca) => ca.caCerts ?? [])
    .flatMap((c) => c.certificates ?? [])
    .map((pem) => pem.trim())
    .join('\n');
}

/**
 * The server env lines that match a cluster's security (app/backplane/redis/security.ts):
 * SLUICE_REDIS_TLS_CA with every region's CA bundle (a server reaches every region's cluster; the
 * PEM on one line, newlines written as `\n`, as env files take one line per variable) and
 * SLUICE_REDIS_IAM_AUTH=1. '' when both are off.
 */
export function clusterSecurityEnv(caBundles: string[], iamAuth: boolean): string {
  const pem = caBundles
    .map((b) => b.trim())
    .filter((b) => b !== '')
    .join('\n');
  return `${pem ? `SLUICE_REDIS_TLS_CA=${pem.replace(/\r?\n/g, '\\n')}\n` : ''}${iamAuth ? 'SLUICE_REDIS_IAM_AUTH=1\n' : ''}`;
}

/**
 * One region's backplane as a Memorystore for Redis Cluster (docs/regions.md: each peer's state
 * lives in its home region's cluster; every server, in every region, reaches every cluster).
 *
 * - Private Service Connect through a service connection policy: "The purpose of the policy is to
 *   allow Memorystore to automate private connectivity to the Memorystore service" and "Use the
 *   service class gcp-memorystore-redis" (cloud.google.com/memorystore/docs/cluster/networking).
 *   "You can create only one service connection policy for each combination of network, region,
 *   and service class", and its subnets "must be regular subnets, and they must be in the same
 *   region as the service connection policy. ... we recommend that you avoid using the subnets for
 *   other resources" (cloud.google.com/vpc/docs/about-service-connection-policies): a subnet of its
 *   own per region.
 * - Other regions' servers connect too: "You can access a Memorystore for Redis Cluster instance
 *   from a client located in a different region than where the Memorystore instance is located"
 *   (cloud.google.com/memorystore/docs/cluster/connect-cluster-instance). One global VPC carries it.
 * - Ports: "For all of your cluster's Private Service Connect endpoints, you must allow TCP port
 *   6379, as well as TCP ports 11000 through 13047" (same page): an egress rule from the servers.
 * - Replicas across zones and persistence: "HA is the first line of defense against individual node
 *   failures and zonal outages. Persistence provides disaster recovery for rare events when all
 *   nodes in a shard fail and HA can't help"; AOF "can persist data every second (or for every
 *   write)", RDB snapshots "save data on an hourly basis"
 *   (cloud.google.com/memorystore/docs/cluster/persistence-overview).
 * - Maintenance: a weekly window, "Start time of the window in UTC" (ClusterWeeklyMaintenanceWindow,
 *   Memorystore for Redis Cluster v1 API reference); staggered per region by the caller.
 *
 * - IAM authentication when configured (default off until the server side lands): "IAM based authentication integrates with Redis AUTH, letting you
 *   seamlessly rotate credentials (IAM tokens) without relying on static passwords"
 *   (cloud.google.com/memorystore/docs/cluster/about-iam-auth); the grant is clusterConnectGrant.
 * - In-transit encryption when configured (default off, same reason): "When in-transit encryption is enabled, Redis clients
 *   communicate exclusively across a secure connection. Redis clients that aren't configured for
 *   TLS are blocked", and "You can only enable in-transit encryptions when you initially create
 *   your Memorystore cluster" (cloud.google.com/memorystore/docs/cluster/manage-in-transit-encryption):
 *   a choice made at creation, so on from the first deploy. The CA the clients must trust is
 *   `managedServerCas` ("This field will only be populated if Redis Cluster's transitEncryptionMode
 *   is TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION", @pulumi/gcp redis.Cluster), exported as `ca`.
 * - The server side: clusterSecurityEnv gives the servers the CA (SLUICE_REDIS_TLS_CA) and turns on
 *   IAM AUTH with a metadata-server token (SLUICE_REDIS_IAM_AUTH; app/backplane/redis/security.ts,
 *   iam-token.ts). Config still defaults both to false until that runs against a real cluster: docs/backplane.md "Memorystore Cluster security".
 */
export class RegionalRedisCluster extends pulumi.ComponentResource {
  /** `redis-cluster://<discovery address>:<port>`: the cluster's discovery endpoint as a seed node. */
  readonly url: pulumi.Output<string>;
  /** The PEM bundle of the cluster's CA ('' without in-transit encryption). */
  readonly ca: pulumi.Output<string>;

  constructor(name: string, args: RegionalRedisClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super('sluice:infra:RegionalRedisCluster', name, {}, opts);
    const parent = { parent: this };

    const subnet = new gcp.compute.Subnetwork(
      `${name}-psc`,
      {
        network: args.network,
        region: args.region,
        ipCidrRange: args.pscSubnetCidr,
        description: 'Private Service Connect endpoints of the sluice backplane cluster (nothing else)',
      },
      parent,
    );
    const policy = new gcp.networkconnectivity.ServiceConnectionPolicy(
      name,
      {
        location: args.region,
        network: args.network,
        serviceClass: 'gcp-memorystore-redis',
        description: 'sluice backplane: Memorystore for Redis Cluster endpoints',
        pscConfig: { subnetworks: [subnet.id] },
      },
      parent,
    );
    const cluster = new gcp.redis.Cluster(
      name,
      {
        region: args.region,
        shardCount: args.shards,
        replicaCount: args.replicas,
        nodeType: args.nodeType,
        pscConfigs: [{ network: args.network }],
        zoneDistributionConfig: { mode: 'MULTI_ZONE' },
        authorizationMode: args.iamAuth ? 'AUTH_MODE_IAM_AUTH' : 'AUTH_MODE_DISABLED',
        transitEncryptionMode: args.transitEncryption
          ? 'TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION'
          : 'TRANSIT_ENCRYPTION_MODE_DISABLED',
        // Presence and replay history live here; eviction would silently drop them.
        redisConfigs: { 'maxmemory-policy': 'noeviction' },
        persistenceConfig:
          args.persistence === 'aof'
            ? { mode: 'AOF', aofConfig: { appendFsync: 'EVERYSEC' } }
            : args.persistence === 'rdb'
              ? { mode: 'RDB', rdbConfig: { rdbSnapshotPeriod: 'ONE_HOUR' } }
              : { mode: 'DISABLED' },
        maintenancePolicy: {
          weeklyMaintenanceWindows: [
            { day: args.maintenance.day, startTime: { hours: args.maintenance.hour, minutes: 0, seconds: 0, nanos: 0 } },
          ],
        },
        deletionProtectionEnabled: true,
      },
      { ...parent, dependsOn: [policy] },
    );
    new gcp.compute.Firewall(
      `${name}-egress`,
      {
        network: args.network,
        description: `sluice servers to the ${args.region} backplane cluster's PSC endpoints (6379, 11000-13047)`,
        direction: 'EGRESS',
        priority: 1000,
        targetTags: [args.serverTag],
        destinationRanges: [args.pscSubnetCidr],
        allows: [{ protocol: 'tcp', ports: ['6379', '11000-13047'] }],
      },
      parent,
    );

    this.url = cluster.discoveryEndpoints.apply((eps) => {
      const ep = eps?.[0];
      // The server reads this scheme as a Redis Cluster's seed node (app/backplane/index.ts CLUSTER_SCHEME).
      return ep?.address ? `redis-cluster://${ep.address}:${ep.port ?? 6379}` : '';
    });
    this.ca = cluster.managedServerCas.apply((cas) => caBundle(cas));
    this.registerOutputs({ url: this.url, ca: this.ca });
  }
}
