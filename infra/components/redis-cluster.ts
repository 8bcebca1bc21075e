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
 * Not yet: IAM authentication (the server would send an access token as its password; it sends
 * none today) and in-transit encryption (the server would need the cluster's CA). Until then the
 * endpoints are reachable only inside this VPC, whose only VMs are the servers.
 */
export class RegionalRedisCluster extends pulumi.ComponentResource {
  /** `redis-cluster://<discovery address>:<port>`: the cluster's discovery endpoint as a seed node. */
  readonly url: pulumi.Output<string>;

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
        authorizationMode: 'AUTH_MODE_DISABLED',
        transitEncryptionMode: 'TRANSIT_ENCRYPTION_MODE_DISABLED',
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
    this.registerOutputs({ url: this.url });
  }
}
