/**
 * The sluice stack: one VPC, a Redis backplane, the servers' identity, one ServerFleet (regional MIG)
 * per configured region, and one global load balancer in front of all of them. Every timer comes
 * from `cfg.timeouts`, the contract resolved and validated in config.ts.
 */
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { FleetAutoscaler } from './components/autoscaling';
import { Backplane } from './components/backplane';
import { clusterConnectGrant, clusterSecurityEnv, RegionalRedisCluster } from './components/redis-cluster';
import { DEFAULT_NODE_TYPE, staggeredHour } from './redis-cluster-config';
import { Edge } from './components/edge';
import { NAMED_PORT, ServerFleet } from './components/fleet';
import { ServerIdentity } from './components/identity';
import { LoadBalancer } from './components/load-balancer';
import { Network } from './components/network';
import { Operations } from './components/operations';
import { SERVER_PORT } from '../app/protocol/endpoints';
import { artifactRegistryRepo } from './components/vm-boot';
import { ParsedStackConfig, RegionRelease, regionReleases, StackConfig } from './config';
import { StackSecrets } from './components/secrets';
import { gkeStack, GkeStackOutputs } from './gke';

/** Every region's cluster URL by region (SLUICE_REGION_REDIS_URLS), or undefined without sluice:redisCluster. */
function regionClusters(
  cfg: StackConfig,
  network: pulumi.Input<string>,
  opts: pulumi.ComponentResourceOptions,
): { urls: pulumi.Output<Record<string, string>>; securityEnv: pulumi.Output<string> } | undefined {
  const rc = cfg.redisCluster;
  if (!rc) return undefined;
  const made = cfg.regions.map(
    (r, i) =>
      new RegionalRedisCluster(
        `sluice-${r.region}`,
        {
          region: r.region,
          network,
          pscSubnetCidr: rc.pscSubnets[r.region],
          shards: rc.shards,
          replicas: rc.replicas,
          persistence: rc.persistence,
          nodeType: rc.nodeType ?? DEFAULT_NODE_TYPE,
          maintenance: { day: rc.maintenance.day, hour: staggeredHour(rc.maintenance.hour, i) },
          serverTag: SERVER_TAG,
          iamAuth: rc.iamAuth,
          transitEncryption: rc.transitEncryption,
        },
        opts,
      ),
  );
  return {
    urls: pulumi.all(made.map((c) => c.url)).apply((us) => Object.fromEntries(cfg.regions.map((r, i) => [r.region, us[i]]))),
    // TLS: every region's CA (a server reaches every region's cluster); IAM: the token setting.
    securityEnv: pulumi.all(made.map((c) => c.ca)).apply((cas) => clusterSecurityEnv(cas, rc.iamAuth)),
  };
}

/** Network tag of the server VMs (the firewall rule's target). */
export const SERVER_TAG = 'sluice-server';
/** Google's public project of Container-Optimized OS images. */
export const COS_IMAGE_PROJECT = 'cos-cloud';

export interface StackOutputs {
  /** Where clients connect. */
  url: pulumi.Output<string>;
  /** The load balancer's global IP (the A record for sluice:domain). */
  ipAddress: pulumi.Output<string>;
  /** MIG name per region (for `gcloud compute instance-groups managed ...`). */
  migs: pulumi.Output<Record<string, string>>;
  /** What each region runs (its image pin and canary): `npm run rollout` starts from the deployed releases. */
  releases: pulumi.Output<Record<string, Omit<RegionRelease, 'region'>>>;
  /**
   * sluice:redisCluster only: every region's backplane (its cluster's discovery endpoint), the map each
   * server gets as SLUICE_REGION_REDIS_URLS: every server reaches every region's (docs/regions.md).
   */
  regionBackplanes?: pulumi.Output<Record<string, string>>;
}

/** `sluice:platform: gke` runs the same server on GKE (infra/gke); the default is the MIGs below. */
export function sluiceStack(parsed: ParsedStackConfig): StackOutputs | GkeStackOutputs {
  const stack = pulumi.getStack();
  // The token-signing secret and the admin token: made by the stack, never typed (infra/components/secrets.ts).
  const secrets = new StackSecrets('sluice');
  const cfg: StackConfig = { ...parsed, tokenSecret: secrets.tokenSecret, adminToken: secrets.adminToken };
  const provider = new gcp.Provider('gcp', {
    project: cfg.project,
    region: cfg.regions[0].region,
    defaultLabels: { app: 'sluice', stack: labelValue(stack) },
  });
  const opts: pulumi.ComponentResourceOptions = { providers: [provider] };
  if (cfg.platform === 'gke') return gkeStack(cfg, opts);

  const network = new Network(
    'sluice',
    {
      subnets: cfg.regions.map((r) => ({ region: r.region, cidr: r.subnetCidr })),
      serverPort: SERVER_PORT,
      serverTag: SERVER_TAG,
    },
    opts,
  );

  // One backplane per region: a server talks only to the Redis of its own region (no cross-region
  // dependency on the data path, and one Memorystore maintenance event touches one region only).
  const backplanes = Object.fromEntries(
    cfg.regions.map((r, i) => [
      r.region,
      cfg.redis
        ? new Backplane(
            `sluice-${r.region}`,
            {
              region: r.region,
              network: network.network.id,
              tier: cfg.redis.tier,
              memorySizeGb: cfg.redis.memorySizeGb,
              maintenance: { day: cfg.redis.maintenance.day, hour: staggeredHour(cfg.redis.maintenance.hour, i) },
            },
            opts,
          )
        : undefined,
    ]),
  );
  // sluice:redisCluster: a Memorystore Cluster per region, and every server reaches all of them
  // (docs/regions.md): a signal goes to its recipient's home region's cluster.
  const clusters = regionClusters(cfg, network.network.id, opts);
  const secretEnv = Object.fromEntries(
    cfg.regions.map((r) => [
      r.region,
      pulumi.secret(
        clusters
          ? pulumi
              .all([cfg.tokenSecret, clusters.urls, clusters.securityEnv])
              .apply(
                ([token, urls, security]) =>
                  `SLUICE_TOKEN_SECRET=${token}\nSLUICE_REGION=${r.region}\nSLUICE_REGION_REDIS_URLS=${JSON.stringify(urls)}\n${security}`,
              )
          : pulumi
              .all([cfg.tokenSecret, backplanes[r.region]?.url])
              .apply(([token, redisUrl]) => `SLUICE_TOKEN_SECRET=${token}\n${redisUrl ? `SLUICE_REDIS_URL=${redisUrl}\n` : ''}`),
      ),
    ]),
  );

  const repo = artifactRegistryRepo(cfg.image);
  const identity = new ServerIdentity(
    'sluice',
    {
      project: cfg.project,
      stackName: `sluice-${stack}`.toLowerCase().replace(/[^a-z0-9-]/g, '-'),
      secretEnv,
      adminToken: cfg.adminToken,
      imageRepository: repo && { project: repo.project, location: repo.location, repository: repo.repository },
    },
    opts,
  );

  // sluice:redisCluster with IAM authentication: the servers' account may AUTH to the clusters (redis-cluster.ts).
  if (cfg.redisCluster?.iamAuth) identity.grants.push(clusterConnectGrant('sluice', cfg.project, identity.member, { provider }));

  // The pinned boot image, resolved (and checked) at preview: "If `name` is specified, it will fetch
  // the corresponding image. If `family` is specified, it will return the latest image that is part of
  // an image family" (@pulumi/gcp getImage). A name, never a family: autoheal and surge VMs boot the
  // reviewed image. LTS milestones "are intended for production use and supported for longer
  // duration" (https://cloud.google.com/container-optimized-os/docs/concepts/versioning).
  const bootImage = pulumi.output(gcp.compute.getImage({ project: COS_IMAGE_PROJECT, name: cfg.bootImage }, { provider })).apply((img) => {
    if (!/^cos-[0-9]+-lts$/.test(img.family))
      throw new Error(`sluice:bootImage ${cfg.bootImage} is in family "${img.family}", not a cos-NNN-lts family`);
    return img.selfLink;
  });

  const fleets: ServerFleet[] = [];
  const releases = regionReleases(cfg);
  for (const [i, r] of cfg.regions.entries()) {
    fleets.push(
      new ServerFleet(
        `sluice-${r.region}`,
        {
          region: r.region,
          zones: r.zones,
          replicas: r.replicas,
          surge: r.maxSurge,
          // The region's release pin: its own image and canary, else the stack's (config.ts regionReleases).
          canary: releases[i].canary,
          machineType: cfg.machineType,
          sourceImage: bootImage,
          subnetwork: network.subnetworks[r.region],
          networkTag: SERVER_TAG,
          serviceAccountEmail: identity.email,
          serviceAccountMember: identity.member,
          image: releases[i].image,
          secretVersion: identity.secretVersions[r.region],
          adminTokenVersion: identity.adminTokenVersion,
          registryHost: repo?.host,
          timeouts: cfg.timeouts,
          autoscaled: cfg.ops.autoscaling !== undefined,
          // First boots need every grant; regions roll one after the other (the previous MIG must reach UPDATED).
          dependsOn: [...identity.grants, ...fleets.slice(-1).map((f) => f.mig)],
        },
        opts,
      ),
    );
  }

  // Issue 13: one autoscaler per MIG (scale-in one VM per drain window), the edge policies, operations.
  if (cfg.ops.autoscaling) {
    for (const [i, r] of cfg.regions.entries()) {
      new FleetAutoscaler(
        `sluice-${r.region}`,
        { region: r.region, target: fleets[i].mig.selfLink, ...cfg.ops.autoscaling[r.region] },
        opts,
      );
    }
  }
  const edge = new Edge('sluice', { kind: cfg.lbKind, tls: cfg.domain !== undefined, ...cfg.ops.edge }, opts);

  const lb = new LoadBalancer(
    'sluice',
    {
      kind: cfg.lbKind,
      backends: fleets.map((f) => f.instanceGroup),
      timeouts: cfg.timeouts,
      portName: NAMED_PORT.name,
      serverPort: SERVER_PORT,
      domain: cfg.domain,
      sslPolicy: edge.sslPolicy?.id,
      securityPolicy: edge.securityPolicy.id,
      logSampleRate: cfg.ops.edge.lbLogSampleRate,
      capacityScalers: cfg.regions.map((r) => cfg.ops.capacity[r.region]),
    },
    opts,
  );

  new Operations(
    'sluice',
    {
      project: cfg.project,
      lbKind: cfg.lbKind,
      domain: cfg.domain,
      ipAddress: lb.ipAddress,
      timeouts: cfg.timeouts,
      alertEmail: cfg.ops.alerts.email,
      alertChannel: cfg.ops.alerts.channel,
    },
    opts,
  );

  return {
    url: lb.url,
    ipAddress: lb.ipAddress,
    migs: pulumi.all(fleets.map((f) => f.migName)).apply((names) => Object.fromEntries(cfg.regions.map((r, i) => [r.region, names[i]]))),
    releases: pulumi.output(Object.fromEntries(releases.map(({ region, ...release }) => [region, release]))),
    ...(clusters ? { regionBackplanes: clusters.urls } : {}),
  };
}

/** Label values: lowercase letters, digits, _ and -, at most 63 characters. */
function labelValue(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, '-')
    .slice(0, 63);
}
