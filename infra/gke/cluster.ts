import * as gcp from '@pulumi/gcp';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import type { GkeClusterConfig } from './config';
import { ClusterApi, clusterProblems } from './requirements';

/** Network tag on the GKE nodes: the Network component's LB firewall rule targets it (pod IPs are node alias IPs). */
export const GKE_NODE_TAG = 'sluice-server';

/**
 * The node service account's one role: "Kubernetes Engine Default Node Service Account", the minimum
 * a node needs (logs, metrics, metadata) instead of the broad default compute account.
 */
export const NODE_ROLES = ['roles/container.defaultNodeServiceAccount'] as const;

export interface GkeClusterArgs {
  project: string;
  region: string;
  zones: string[];
  cluster: GkeClusterConfig;
  /** Short stack-unique name (lowercase, digits, hyphens) for the cluster and account ids. */
  stackName: string;
  /** The VPC and the region's subnet (created clusters only). */
  network?: pulumi.Input<string>;
  subnetwork?: pulumi.Input<string>;
  /** Artifact Registry repository the nodes pull the image from (reader on it only). */
  imageRepository?: { project: string; location: string; repository: string };
}

/** A kubeconfig that authenticates with gke-gcloud-auth-plugin (no credential in it, nothing stored). */
export function renderKubeconfig(name: string, endpoint: string, caData: string): string {
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name, cluster: { server: `https://${endpoint}`, 'certificate-authority-data': caData } }],
      contexts: [{ name, context: { cluster: name, user: name } }],
      'current-context': name,
      users: [
        {
          name,
          user: {
            exec: {
              apiVersion: 'client.authentication.k8s.io/v1beta1',
              command: 'gke-gcloud-auth-plugin',
              installHint: 'Install gke-gcloud-auth-plugin: gcloud components install gke-gcloud-auth-plugin',
              provideClusterInfo: true,
            },
          },
        },
      ],
    },
    null,
    2,
  );
}

/**
 * The regional cluster the server runs on, and the explicit Kubernetes provider every Kubernetes
 * resource of the stack goes through. Created clusters are VPC-native (Gateway API needs it: "The
 * Gateway API is supported on VPC-native clusters only", cloud.google.com/kubernetes-engine/docs/how-to/configure-gateway-resources),
 * have the Gateway API on, private nodes, Workload Identity, Dataplane V2 (it enforces NetworkPolicy)
 * and a dedicated node service account. An existing cluster is read, never changed.
 */
export class GkeCluster extends pulumi.ComponentResource {
  readonly provider: k8s.Provider;
  readonly name: pulumi.Output<string>;
  /** The cluster's VPC (the Redis backplane peers with it). */
  readonly network: pulumi.Output<string>;
  /** `<project>.svc.id.goog`: Workload Identity members are `serviceAccount:<pool>[<ns>/<ksa>]`. */
  readonly workloadPool: string;
  /** Resources the Kubernetes resources wait for (the cluster, its node pool). */
  readonly ready: pulumi.Resource[];
  /** The API server's endpoint and CA (the CRD wait reads it directly, as the provider does). */
  readonly api: pulumi.Output<ClusterApi>;
  /**
   * What the cluster (created or read) reports against the requirements (requirements.ts: NetworkPolicy
   * enforcement, the Gateway API); empty when fit. gkeStack refuses the cluster on any (refusal()).
   */
  readonly problems: pulumi.Output<string[]>;

  constructor(name: string, args: GkeClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super('sluice:gke:GkeCluster', name, {}, opts);
    const parent = { parent: this };
    let cluster: gcp.container.Cluster;

    if ('existing' in args.cluster) {
      const e = args.cluster.existing;
      const project = e.project ?? args.project;
      this.workloadPool = `${project}.svc.id.goog`;
      cluster = gcp.container.Cluster.get(name, `projects/${project}/locations/${e.location}/clusters/${e.name}`, undefined, parent);
      this.ready = [];
    } else {
      this.workloadPool = `${args.project}.svc.id.goog`;
      const nodeAccount = new gcp.serviceaccount.Account(
        `${name}-node`,
        {
          accountId: `${args.stackName}-node`.slice(0, 30).replace(/-+$/, ''),
          displayName: `sluice GKE nodes (${args.stackName})`,
          description: 'GKE node service account: logs, metrics, image pulls. Managed by Pulumi.',
        },
        parent,
      );
      for (const role of NODE_ROLES) {
        new gcp.projects.IAMMember(
          `${name}-node-${role.split('/')[1].replace(/\./g, '-')}`,
          { project: args.project, role, member: nodeAccount.member },
          parent,
        );
      }
      if (args.imageRepository) {
        new gcp.artifactregistry.RepositoryIamMember(
          `${name}-node-image-reader`,
          {
            ...args.imageRepository,
            role: 'roles/artifactregistry.reader',
            member: nodeAccount.member,
          },
          parent,
        );
      }
      const scopes = ['https://www.googleapis.com/auth/cloud-platform'];
      const common: gcp.container.ClusterArgs = {
        name: args.stackName.slice(0, 40),
        location: args.region,
        network: args.network,
        subnetwork: args.subnetwork,
        networkingMode: 'VPC_NATIVE',
        // GKE creates the Pod and Service secondary ranges in the subnet.
        ipAllocationPolicy: { clusterIpv4CidrBlock: '/17', servicesIpv4CidrBlock: '/22' },
        releaseChannel: { channel: 'REGULAR' },
        gatewayApiConfig: { channel: 'CHANNEL_STANDARD' },
        privateClusterConfig: { enablePrivateNodes: true },
        deletionProtection: true,
      };
      if (args.cluster.create === 'autopilot') {
        // Autopilot: Workload Identity and Dataplane V2 are always on.
        cluster = new gcp.container.Cluster(
          name,
          {
            ...common,
            enableAutopilot: true,
            clusterAutoscaling: { autoProvisioningDefaults: { serviceAccount: nodeAccount.email, oauthScopes: scopes } },
            nodePoolAutoConfig: { networkTags: { tags: [GKE_NODE_TAG] } },
          },
          parent,
        );
        this.ready = [cluster];
      } else {
        cluster = new gcp.container.Cluster(
          name,
          {
            ...common,
            nodeLocations: args.zones,
            removeDefaultNodePool: true,
            initialNodeCount: 1,
            workloadIdentityConfig: { workloadPool: this.workloadPool },
            datapathProvider: 'ADVANCED_DATAPATH',
          },
          parent,
        );
        const pool = new gcp.container.NodePool(
          `${name}-pool`,
          {
            cluster: cluster.id,
            location: args.region,
            nodeLocations: args.zones,
            autoscaling: { minNodeCount: args.cluster.nodesPerZone.min, maxNodeCount: args.cluster.nodesPerZone.max },
            management: { autoRepair: true, autoUpgrade: true },
            // Node upgrades surge a node before draining one; each drain respects the PDB and the grace period.
            upgradeSettings: { strategy: 'SURGE', maxSurge: 1, maxUnavailable: 0 },
            nodeConfig: {
              machineType: args.cluster.machineType,
              serviceAccount: nodeAccount.email,
              oauthScopes: scopes,
              workloadMetadataConfig: { mode: 'GKE_METADATA' },
              shieldedInstanceConfig: { enableSecureBoot: true, enableIntegrityMonitoring: true },
              tags: [GKE_NODE_TAG],
            },
          },
          parent,
        );
        this.ready = [cluster, pool];
      }
    }

    this.problems = pulumi
      .all([
        cluster.name,
        cluster.datapathProvider,
        cluster.enableAutopilot,
        cluster.networkPolicy,
        cluster.gatewayApiConfig,
        cluster.addonsConfig,
      ])
      .apply(([n, datapathProvider, enableAutopilot, networkPolicy, gatewayApiConfig, addonsConfig]) =>
        clusterProblems({ name: n, datapathProvider, enableAutopilot, networkPolicy, gatewayApiConfig, addonsConfig }),
      );
    this.name = cluster.name;
    this.network = cluster.network.apply((n) => n ?? '');
    this.api = pulumi
      .all([cluster.endpoint, cluster.masterAuth])
      .apply(([endpoint, auth]) => ({ endpoint, caCertificate: auth?.clusterCaCertificate ?? '' }));
    const kubeconfig = pulumi
      .all([cluster.name, cluster.endpoint, cluster.masterAuth])
      .apply(([n, endpoint, auth]) => renderKubeconfig(`gke_${n}`, endpoint, auth?.clusterCaCertificate ?? ''));
    this.provider = new k8s.Provider(`${name}-k8s`, { kubeconfig, enableServerSideApply: true }, { parent: this, dependsOn: this.ready });
    this.registerOutputs({ name: this.name });
  }
}
