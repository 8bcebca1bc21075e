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
 *  - The four CRDs the stack's custom resources need, waited for (bounded retry, crd-wait.ts), read
 *    from the cluster and required to be Established and to serve the version used, before any of
 *    those resources is sent.
 */
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { MockMonitor } from '@pulumi/pulumi/runtime/mocks';
import { CRD_WAIT, CrdFacts, crdProblem, execCredentialToken, kubeApiReader, waitForServedCrds } from './crd-wait';

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

/** Where the cluster's API server is: its endpoint (host or IP) and masterAuth.clusterCaCertificate (base64 PEM). */
export interface ClusterApi {
  endpoint: string;
  caCertificate: string;
}

/**
 * Wait (bounded retry, crd-wait.ts) until every required CRD is Established and serves its version,
 * then read each through the cluster's provider (after `dependsOn`: the cluster and its node pool, or
 * the checked existing cluster) and resolve, per kind, once the read confirms it. Custom resources take
 * `gate(kind)` into their metadata, so none is sent before its CRD is served; a CRD that never comes
 * fails the deployment with the CRD named and why.
 *
 * The wait reads the live cluster, so it runs only against a real engine: under mocks (the offline
 * plan, the tests) there is no cluster to reach and the reads follow at once. A preview reads once
 * (no waiting: it creates nothing); `pulumi up` waits up to CRD_WAIT.timeoutMs.
 */
export function servedCrds(
  name: string,
  opts: pulumi.CustomResourceOptions,
  api: pulumi.Input<ClusterApi>,
  wait: (api: ClusterApi) => Promise<unknown> = waitOnLiveCluster,
): { reads: pulumi.Resource[]; gate(kind: RequiredKind): pulumi.Output<true> } {
  const waited = pulumi.output(api).apply(async (a) => {
    if (!(pulumi.runtime.getMonitor() instanceof MockMonitor)) await wait(a);
    return true;
  });
  const reads = new Map<RequiredKind, k8s.apiextensions.v1.CustomResourceDefinition>();
  for (const [kind, { crd }] of Object.entries(REQUIRED_CRDS) as Array<[RequiredKind, { crd: string }]>) {
    const id = waited.apply(() => crd);
    reads.set(kind, k8s.apiextensions.v1.CustomResourceDefinition.get(`${name}-crd-${kind.toLowerCase()}`, id, opts));
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

/** The real wait: the deploying identity's token, then CRD_WAIT's bounded retry (one read in a preview). */
async function waitOnLiveCluster(api: ClusterApi): Promise<void> {
  const token = await execCredentialToken();
  const ca = Buffer.from(api.caCertificate, 'base64').toString('utf8');
  const bounds = pulumi.runtime.isDryRun() ? { timeoutMs: 0, intervalMs: CRD_WAIT.intervalMs } : CRD_WAIT;
  await waitForServedCrds(kubeApiReader(`https://${api.endpoint}`, ca, token), Object.values(REQUIRED_CRDS), bounds);
}
