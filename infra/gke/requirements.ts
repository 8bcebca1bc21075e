/**
 * What the GKE stack needs from a cluster before its objects mean anything, checked rather than assumed
 * (issue 22 point 8):
 *
 *  - NetworkPolicy enforcement. "Your cluster must use a network plugin that supports NetworkPolicy
 *    enforcement" (kubernetes.io/docs/concepts/services-networking/network-policies); without one the
 *    policy is stored and does nothing. On GKE: "Kubernetes Network policy is always on in clusters with
 *    Dataplane V2" (datapathProvider ADVANCED_DATAPATH; "GKE Dataplane V2 is always enabled in new
 *    Autopilot clusters", cloud.google.com/kubernetes-engine/docs/how-to/dataplane-v2), or, on the older
 *    dataplane, the cluster's networkPolicy (Calico) enabled. An existing cluster is read and refused
 *    without either; a created one always has Dataplane V2 (cluster.ts).
 *  - The Gateway API. "The Gateway API is supported on VPC-native clusters only" and "Your cluster must
 *    have the HttpLoadBalancing add-on enabled" (cloud.google.com/kubernetes-engine/docs/how-to/deploying-gateways);
 *    the cluster's gatewayApiConfig channel must not be CHANNEL_DISABLED.
 *  - The four CRDs the stack's custom resources need, read from the cluster and required to be
 *    Established and to serve the version used, before any of those resources is sent.
 */
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';

/** The CRDs behind the custom resources of ServerGateway: `<plural>.<group>` and the version the stack sends. */
export const REQUIRED_CRDS = {
  Gateway: { crd: 'gateways.gateway.networking.k8s.io', version: 'v1' },
  HTTPRoute: { crd: 'httproutes.gateway.networking.k8s.io', version: 'v1' },
  GCPBackendPolicy: { crd: 'gcpbackendpolicies.networking.gke.io', version: 'v1' },
  HealthCheckPolicy: { crd: 'healthcheckpolicies.networking.gke.io', version: 'v1' },
} as const;
export type RequiredKind = keyof typeof REQUIRED_CRDS;

/** The fields of a gcp.container.Cluster the checks read. */
export interface ClusterFacts {
  name: string;
  datapathProvider?: string;
  enableAutopilot?: boolean;
  networkPolicy?: { enabled?: boolean; provider?: string };
  gatewayApiConfig?: { channel?: string };
  addonsConfig?: { httpLoadBalancing?: { disabled?: boolean } };
}

/** Why the cluster cannot run the stack as declared (empty: it can). */
export function clusterProblems(c: ClusterFacts): string[] {
  const out: string[] = [];
  const dataplaneV2 = c.datapathProvider === 'ADVANCED_DATAPATH' || c.enableAutopilot === true;
  if (!dataplaneV2 && c.networkPolicy?.enabled !== true) {
    out.push(
      `cluster ${c.name} does not enforce NetworkPolicy (datapathProvider ${c.datapathProvider ?? 'unset'}, networkPolicy ${c.networkPolicy?.enabled ? 'enabled' : 'disabled'}): the server's ingress policy would be stored and ignored. Use Dataplane V2 or enable network policy enforcement (gcloud container clusters update ${c.name} --enable-network-policy), then run again`,
    );
  }
  const channel = c.gatewayApiConfig?.channel;
  if (!channel || channel === 'CHANNEL_DISABLED') {
    out.push(
      `cluster ${c.name} has the Gateway API off (gatewayApiConfig ${channel ?? 'unset'}): gcloud container clusters update ${c.name} --gateway-api=standard`,
    );
  }
  if (c.addonsConfig?.httpLoadBalancing?.disabled === true) {
    out.push(`cluster ${c.name} has the HttpLoadBalancing add-on disabled: the GKE Gateway controller needs it`);
  }
  return out;
}

/**
 * Resolves once `problems` is empty; otherwise fails the deployment with them. The namespace takes it
 * into its metadata, so on an unfit cluster nothing of the workload is sent.
 */
export function refusal(cluster: pulumi.Input<string>, problems: pulumi.Input<string[]>): pulumi.Output<true> {
  return pulumi.all([cluster, problems]).apply(([n, p]) => {
    if (p.length > 0) throw new Error(`sluice GKE: refusing cluster ${n}:\n  - ${p.join('\n  - ')}`);
    return true as const;
  });
}

/** The CRD object fields the readiness check reads. */
export interface CrdFacts {
  spec?: { versions?: Array<{ name?: string; served?: boolean }> };
  status?: { conditions?: Array<{ type?: string; status?: string }>; acceptedNames?: { kind?: string } };
}

/** Why a CRD cannot take objects of `version` yet (undefined: it is Established and serves it). */
export function crdProblem(name: string, version: string, crd: CrdFacts | undefined): string | undefined {
  if (!crd) return `CRD ${name} is not installed`;
  const established = crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
  if (!established) return `CRD ${name} is not Established yet`;
  if (!crd.spec?.versions?.some((v) => v.name === version && v.served === true)) return `CRD ${name} does not serve ${version}`;
  return undefined;
}

/**
 * Read every required CRD through the cluster's provider (after `dependsOn`: the cluster and its node
 * pool, or the checked existing cluster) and resolve, per kind, once it is Established and serves
 * the version. Custom resources take `gate(kind)` into their metadata, so none is sent before its CRD
 * is served; a missing or unserved CRD fails the deployment with the CRD named.
 */
export function servedCrds(
  name: string,
  opts: pulumi.CustomResourceOptions,
): { reads: pulumi.Resource[]; gate(kind: RequiredKind): pulumi.Output<true> } {
  const reads = new Map<RequiredKind, k8s.apiextensions.v1.CustomResourceDefinition>();
  for (const [kind, { crd }] of Object.entries(REQUIRED_CRDS) as Array<[RequiredKind, { crd: string }]>) {
    reads.set(kind, k8s.apiextensions.v1.CustomResourceDefinition.get(`${name}-crd-${kind.toLowerCase()}`, crd, opts));
  }
  return {
    reads: [...reads.values()],
    gate: (kind) => {
      const { crd, version } = REQUIRED_CRDS[kind];
      const read = reads.get(kind)!;
      return pulumi.all([read.spec, read.status]).apply(([spec, status]) => {
        const problem = crdProblem(crd, version, { spec: spec as CrdFacts['spec'], status: status as CrdFacts['status'] });
        if (problem)
          throw new Error(`sluice GKE: ${problem}; GKE installs it with the Gateway API (gatewayApiConfig): run again once it is`);
        return true as const;
      });
    },
  };
}
