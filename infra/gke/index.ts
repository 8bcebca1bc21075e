/**
 * The GKE variant of the sluice stack (`sluice:platform: gke`): the same server image, the same
 * timeouts contract, on one regional GKE cluster. infra/program.ts calls gkeStack() with the stack's
 * GCP provider; every Kubernetes resource goes through the cluster's explicit k8s.Provider.
 */
import * as pulumi from '@pulumi/pulumi';
import { Backplane } from '../components/backplane';
import { Network } from '../components/network';
import { SERVER_PORT } from '../../app/protocol/endpoints';
import { artifactRegistryRepo } from '../components/vm-boot';
import type { StackConfig } from '../config';
import { GKE_NODE_TAG, GkeCluster } from './cluster';
import { ServerGateway } from './gateway';
import { PodIdentity } from './identity';
import { refusal } from './requirements';
import { SERVER_KSA, ServerWorkload } from './workload';

export interface GkeStackOutputs {
  /** Where clients connect. */
  url: pulumi.Output<string>;
  /** The Gateway's global IP (the A record for sluice:domain). */
  ipAddress: pulumi.Output<string>;
  /** For `gcloud container clusters get-credentials` and kubectl. */
  cluster: pulumi.Output<string>;
  namespace: pulumi.Output<string>;
}

export function gkeStack(cfg: StackConfig, opts: pulumi.ComponentResourceOptions): GkeStackOutputs {
  const gke = cfg.gke;
  if (!gke) throw new Error('gkeStack needs the validated sluice:gke config');
  const region = cfg.regions[0];
  const stackName = `sluice-${pulumi.getStack()}`.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  const repo = artifactRegistryRepo(cfg.image);
  const created = !('existing' in gke.cluster);

  const network = created
    ? new Network(
        'sluice',
        { subnets: [{ region: region.region, cidr: region.subnetCidr }], serverPort: SERVER_PORT, serverTag: GKE_NODE_TAG },
        opts,
      )
    : undefined;
  const cluster = new GkeCluster(
    'sluice',
    {
      project: cfg.project,
      region: region.region,
      zones: region.zones,
      cluster: gke.cluster,
      stackName,
      network: network?.network.id,
      subnetwork: network?.subnetworks[region.region],
      imageRepository: repo && { project: repo.project, location: repo.location, repository: repo.repository },
    },
    opts,
  );

  const backplane = cfg.redis
    ? new Backplane(
        `sluice-${region.region}`,
        {
          region: region.region,
          network: network ? network.network.id : cluster.network,
          tier: cfg.redis.tier,
          memorySizeGb: cfg.redis.memorySizeGb,
          maintenance: cfg.redis.maintenance,
        },
        opts,
      )
    : undefined;

  const identity = new PodIdentity(
    'sluice-gke-server',
    {
      stackName,
      workloadPool: cluster.workloadPool,
      namespace: gke.namespace,
      kubernetesServiceAccount: SERVER_KSA,
      dependsOn: cluster.ready,
    },
    opts,
  );

  // The preStop hook reads SLUICE_ADMIN_TOKEN from the container's environment (sluice:adminToken).
  const secretEnv = pulumi.secret(
    pulumi.all([cfg.tokenSecret, cfg.adminToken, backplane?.url]).apply(([token, adminToken, redisUrl]) => ({
      SLUICE_TOKEN_SECRET: token,
      SLUICE_ADMIN_TOKEN: adminToken,
      ...(redisUrl ? { SLUICE_REDIS_URL: redisUrl } : {}),
    })),
  );

  const k8sOpts: pulumi.ComponentResourceOptions = { providers: [...providersOf(opts), cluster.provider], dependsOn: cluster.ready };
  const workload = new ServerWorkload(
    'sluice',
    {
      namespace: gke.namespace,
      image: cfg.image,
      timeouts: cfg.timeouts,
      gke: gke.timeouts,
      resources: gke.resources,
      maxSurge: gke.maxSurge,
      minReplicas: gke.minReplicas,
      maxReplicas: gke.maxReplicas,
      targetCpuUtilization: gke.targetCpuUtilization,
      googleServiceAccountEmail: identity.email,
      secretEnv,
      redis: Boolean(backplane),
      clusterChecked: refusal(cluster.name, cluster.problems),
    },
    k8sOpts,
  );

  const gateway = new ServerGateway(
    'sluice',
    {
      namespace: workload.namespace,
      serviceName: workload.serviceName,
      timeouts: cfg.timeouts,
      domain: cfg.domain,
      clusterReady: cluster.ready,
      clusterApi: cluster.api,
    },
    k8sOpts,
  );

  return { url: gateway.url, ipAddress: gateway.ipAddress, cluster: cluster.name, namespace: workload.namespace };
}

function providersOf(opts: pulumi.ComponentResourceOptions): pulumi.ProviderResource[] {
  const p = opts.providers;
  if (!p) return [];
  return Array.isArray(p) ? p : Object.values(p);
}
