import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';

export interface BackplaneArgs {
  /** Region of the instance: one backplane per region, used only by that region's servers. */
  region: string;
  /** Weekly window (UTC) for disruptive maintenance; regions get different hours so one event never hits two. */
  maintenance: { day: string; hour: number };
  /** VPC the instance peers with (private IP only). */
  network: pulumi.Input<string>;
  /** BASIC (one node) or STANDARD_HA (replica with automatic failover). */
  tier: 'BASIC' | 'STANDARD_HA';
  memorySizeGb: number;
}

/**
 * The servers' shared backplane: Memorystore for Redis on the private network, AUTH on. Direct
 * peering, internal IP only (https://cloud.google.com/memorystore/docs/redis/networking). In-transit
 * encryption is off: it needs the server CA on every client, and the traffic never leaves the VPC
 * peering; switch `transitEncryptionMode` to SERVER_AUTHENTICATION once the server trusts the CA.
 */
export class Backplane extends pulumi.ComponentResource {
  /** `redis://:<auth>@<host>:<port>` as a Pulumi secret (it carries the AUTH string). */
  readonly url: pulumi.Output<string>;

  constructor(name: string, args: BackplaneArgs, opts?: pulumi.ComponentResourceOptions) {
    super('sluice:infra:Backplane', name, {}, opts);

    const redis = new gcp.redis.Instance(
      name,
      {
        region: args.region,
        tier: args.tier,
        memorySizeGb: args.memorySizeGb,
        authorizedNetwork: args.network,
        connectMode: 'DIRECT_PEERING',
        redisVersion: 'REDIS_7_2',
        authEnabled: true,
        transitEncryptionMode: 'DISABLED',
        displayName: 'sluice backplane',
        // Presence and replay history live here; eviction would silently drop them.
        redisConfigs: { 'maxmemory-policy': 'noeviction' },
        // "Maintenance windows allow you to select a time and day of the week when you want disruptive
        // maintenance updates to occur. Disruptive updates only occur during maintenance windows"; and
        // "Both Basic Tier and Standard Tier instances undergo a connection reset during maintenance"
        // (https://cloud.google.com/memorystore/docs/redis/maintenance-policy). The window is 1 hour.
        maintenancePolicy: {
          weeklyMaintenanceWindows: [
            { day: args.maintenance.day, startTime: { hours: args.maintenance.hour, minutes: 0, seconds: 0, nanos: 0 } },
          ],
        },
      },
      { parent: this, additionalSecretOutputs: ['authString'] },
    );

    this.url = pulumi.secret(pulumi.interpolate`redis://:${redis.authString.apply(encodeURIComponent)}@${redis.host}:${redis.port}`);
    this.registerOutputs({ url: this.url });
  }
}
