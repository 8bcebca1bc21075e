import { createHash } from 'node:crypto';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import type { GkeTimeouts } from '../../app/contract/gke';
import type { Timeouts } from '../../app/contract/timeouts';
import { GOOGLE_LB_RANGES } from '../components/network';
import { SERVER_PORT } from '../../app/protocol/endpoints';
import { PORT_NAME, podSpec } from './render';

/** The Kubernetes service account of the server pods (Workload Identity binds exactly this one). */
export const SERVER_KSA = 'sluice-server';

export interface ServerWorkloadArgs {
  namespace: string;
  image: string;
  timeouts: Timeouts;
  gke: GkeTimeouts;
  resources: { cpu: string; memory: string };
  /** The rolling update's surge; maxUnavailable is always 0 (a new pod is LB-ready before an old one drains). */
  maxSurge: number;
  minReplicas: number;
  maxReplicas: number;
  targetCpuUtilization: number;
  /** The server's Google service account (Workload Identity: the Kubernetes SA acts as it). */
  googleServiceAccountEmail: pulumi.Input<string>;
  /** SLUICE_TOKEN_SECRET, SLUICE_ADMIN_TOKEN and (with a backplane) SLUICE_REDIS_URL, as a Pulumi secret. */
  secretEnv: pulumi.Input<Record<string, string>>;
  redis: boolean;
  /** Resolves once the cluster is fit (GkeCluster.requirementsMet): the namespace, and so everything, waits for it. */
  clusterChecked: pulumi.Input<true>;
}

/**
 * The server on Kubernetes: namespace, service account, Secret, Deployment, Service (the Gateway's
 * backend, container-native through NEGs), PodDisruptionBudget, HorizontalPodAutoscaler and a
 * NetworkPolicy. Every timer comes from the contract (render.ts renders the pod).
 */
export class ServerWorkload extends pulumi.ComponentResource {
  readonly namespace: pulumi.Output<string>;
  readonly serviceName: pulumi.Output<string>;

  constructor(name: string, args: ServerWorkloadArgs, opts?: pulumi.ComponentResourceOptions) {
    super('sluice:gke:ServerWorkload', name, {}, opts);
    const parent = { parent: this };
    const labels = { 'app.kubernetes.io/name': 'sluice', 'app.kubernetes.io/component': 'server' };

    const ns = new k8s.core.v1.Namespace(
      name,
      {
        // Pod Security Admission: the restricted profile, which this pod spec meets. Sent only once the
        // cluster is known to enforce the NetworkPolicy below (an unfit existing cluster is refused).
        metadata: pulumi
          .output(args.clusterChecked)
          .apply(() => ({ name: args.namespace, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } })),
      },
      parent,
    );
    this.namespace = ns.metadata.name;
    const meta = (n: string) => ({ name: n, namespace: this.namespace, labels });

    new k8s.core.v1.ServiceAccount(
      name,
      {
        metadata: { ...meta(SERVER_KSA), annotations: { 'iam.gke.io/gcp-service-account': args.googleServiceAccountEmail } },
        automountServiceAccountToken: false,
      },
      parent,
    );

    const secret = new k8s.core.v1.Secret(
      `${name}-env`,
      {
        metadata: meta('sluice-server-env'),
        type: 'Opaque',
        stringData: pulumi.secret(args.secretEnv),
        immutable: false,
      },
      parent,
    );

    const spec = podSpec({
      image: args.image,
      timeouts: args.timeouts,
      gke: args.gke,
      resources: args.resources,
      labels,
      serviceAccountName: SERVER_KSA,
      secretName: 'sluice-server-env',
      redis: args.redis,
    });

    const deployment = new k8s.apps.v1.Deployment(
      name,
      {
        metadata: meta('sluice-server'),
        spec: {
          // No `replicas`: the HPA owns the count (Pulumi re-applying a fixed number would undo a scale-out).
          selector: { matchLabels: labels },
          revisionHistoryLimit: 5,
          // A new pod counts as available only when ready, and GKE holds it unready until the LB sees it
          // healthy (NEG readiness gate, "cloud.google.com/load-balancer-neg-ready"): "Readiness gates
          // control the rate of a rolling update" (cloud.google.com/kubernetes-engine/docs/concepts/container-native-load-balancing).
          strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: args.maxSurge, maxUnavailable: 0 } },
          template: {
            metadata: {
              labels,
              // A new secret value rolls the pods (env vars are read at start only).
              // The digest is not secret (SHA-256 of high-entropy values); unsecret keeps the pod spec reviewable.
              annotations: {
                'sluice.dev/secret-env-sha256': pulumi.unsecret(pulumi.output(args.secretEnv).apply((d) => sha256(JSON.stringify(d)))),
              },
            },
            spec,
          },
        },
      },
      { parent: this, dependsOn: [secret] },
    );

    const service = new k8s.core.v1.Service(
      name,
      {
        metadata: meta('sluice-server'),
        spec: {
          type: 'ClusterIP',
          selector: labels,
          // The Gateway sends to pod IPs through zonal NEGs: "Kubernetes Services correspond to Compute
          // Engine network endpoint groups, while Kubernetes Pods correspond to Compute Engine network
          // endpoints. The NEG controller component of the control plane manages this."
          // (cloud.google.com/kubernetes-engine/docs/how-to/standalone-neg)
          // No appProtocol: `kubernetes.io/ws` is an extended (optional) Gateway API feature
          // (gateway-api.sigs.k8s.io/guides/backend-protocol) and no GKE page says its controller reads it;
          // the GCP LB upgrades WebSockets to an HTTP backend as it is (kubernetes/ingress-gce examples/websocket).
          ports: [{ name: PORT_NAME, port: SERVER_PORT, targetPort: PORT_NAME, protocol: 'TCP' }],
        },
      },
      parent,
    );
    this.serviceName = service.metadata.name;

    // Voluntary disruptions (node drains for upgrades, autoscaler scale-down) evict one pod at a time;
    // each eviction runs the full preStop drain within the grace period.
    new k8s.policy.v1.PodDisruptionBudget(
      name,
      {
        metadata: meta('sluice-server'),
        spec: { maxUnavailable: 1, selector: { matchLabels: labels }, unhealthyPodEvictionPolicy: 'AlwaysAllow' },
      },
      parent,
    );

    // Scale-in waits out a drain (rule gke-hpa-scale-down-exceeds-drain) and removes one pod per grace
    // period, so two drains never overlap; scale-out is immediate.
    new k8s.autoscaling.v2.HorizontalPodAutoscaler(
      name,
      {
        metadata: meta('sluice-server'),
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name },
          minReplicas: args.minReplicas,
          maxReplicas: args.maxReplicas,
          metrics: [
            { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: args.targetCpuUtilization } } },
          ],
          behavior: {
            scaleDown: {
              stabilizationWindowSeconds: args.gke.hpaScaleDownStabilizationSec,
              selectPolicy: 'Min',
              policies: [{ type: 'Pods', value: 1, periodSeconds: args.gke.terminationGracePeriodSec }],
            },
            scaleUp: { stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] },
          },
        },
      },
      parent,
    );

    // Ingress only to the public port, only from Google's LB proxies and health checkers. The admin
    // listener (9090) binds 127.0.0.1 and is in no rule. The kubelet's probes are not affected: "traffic
    // to and from the node where a Pod is running is always allowed, regardless of the IP address of
    // the Pod or the node" (kubernetes.io/docs/concepts/services-networking/network-policies).
    new k8s.networking.v1.NetworkPolicy(
      name,
      {
        metadata: meta('sluice-server'),
        spec: {
          podSelector: { matchLabels: labels },
          policyTypes: ['Ingress'],
          ingress: [
            {
              from: GOOGLE_LB_RANGES.map((cidr) => ({ ipBlock: { cidr } })),
              ports: [{ protocol: 'TCP', port: SERVER_PORT }],
            },
          ],
        },
      },
      parent,
    );

    this.registerOutputs({ namespace: this.namespace, serviceName: this.serviceName });
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
