import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';

/**
 * Source ranges of Google's load-balancer proxies (GFEs) and health-check probers: the only clients
 * the servers accept (https://cloud.google.com/load-balancing/docs/health-check-concepts#ip-ranges;
 * the global external ALB and proxy NLB connect to backends from the same ranges).
 */
export const GOOGLE_LB_RANGES = ['35.191.0.0/16', '130.211.0.0/22'] as const;

export interface NetworkArgs {
  /** One subnet, Cloud Router and Cloud NAT per region (the VMs have no external IP). */
  subnets: Array<{ region: string; cidr: string }>;
  /**
   * The single TCP port the firewall opens, to GOOGLE_LB_RANGES only: the servers' public port.
   * The admin port is never opened (it listens on loopback anyway).
   */
  serverPort: number;
  /** Network tag carried by the server VMs: the firewall rule's target. */
  serverTag: string;
}

/**
 * A dedicated VPC for the servers: custom-mode subnets with Private Google Access (the VMs reach
 * the Compute, Secret Manager and Artifact Registry APIs without external IPs), Cloud NAT for any
 * other egress, and one ingress rule admitting the load balancer and its health checks.
 */
export class Network extends pulumi.ComponentResource {
  readonly network: gcp.compute.Network;
  /** Subnet self links by region. */
  readonly subnetworks: Record<string, pulumi.Output<string>>;

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super('sluice:infra:Network', name, {}, opts);
    const parent = { parent: this };

    this.network = new gcp.compute.Network(
      name,
      {
        autoCreateSubnetworks: false,
        routingMode: 'GLOBAL',
        description: 'sluice servers (managed by Pulumi)',
      },
      parent,
    );

    this.subnetworks = {};
    for (const s of args.subnets) {
      const subnet = new gcp.compute.Subnetwork(
        `${name}-${s.region}`,
        {
          network: this.network.id,
          region: s.region,
          ipCidrRange: s.cidr,
          privateIpGoogleAccess: true,
          logConfig: { aggregationInterval: 'INTERVAL_5_MIN', flowSampling: 0.1, metadata: 'INCLUDE_ALL_METADATA' },
        },
        parent,
      );
      const router = new gcp.compute.Router(`${name}-${s.region}`, { network: this.network.id, region: s.region }, parent);
      new gcp.compute.RouterNat(
        `${name}-${s.region}`,
        {
          router: router.name,
          region: s.region,
          natIpAllocateOption: 'AUTO_ONLY',
          sourceSubnetworkIpRangesToNat: 'LIST_OF_SUBNETWORKS',
          subnetworks: [{ name: subnet.id, sourceIpRangesToNats: ['ALL_IP_RANGES'] }],
          logConfig: { enable: true, filter: 'ERRORS_ONLY' },
        },
        parent,
      );
      this.subnetworks[s.region] = subnet.selfLink;
    }

    new gcp.compute.Firewall(
      `${name}-allow-lb`,
      {
        network: this.network.id,
        description: `Google LB proxies and health checks to the servers' public port ${args.serverPort} only`,
        direction: 'INGRESS',
        priority: 1000,
        sourceRanges: [...GOOGLE_LB_RANGES],
        targetTags: [args.serverTag],
        allows: [{ protocol: 'tcp', ports: [String(args.serverPort)] }],
      },
      parent,
    );

    this.registerOutputs({ network: this.network.id, subnetworks: this.subnetworks });
  }
}
