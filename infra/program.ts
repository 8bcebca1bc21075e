/**
 * The sluice stack: one VPC, a Redis backplane, the servers' identity, one ServerFleet (regional MIG)
 * per configured region, and one global load balancer in front of all of them. Every timer comes
 * from `cfg.timeouts`, the contract resolved and validated in config.ts.
 */
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { Backplane } from './components/backplane';
import { NAMED_PORT, ServerFleet } from './components/fleet';
import { ServerIdentity } from './components/identity';
import { LoadBalancer } from './components/load-balancer';
import { Network } from './components/network';
import { artifactRegistryRepo, SERVER_PORT } from './components/vm-boot';
import type { StackConfig } from './config';

/** Network tag of the server VMs (the firewall rule's target). */
export const SERVER_TAG = 'sluice-server';

export interface StackOutputs {
  /** Where clients connect. */
  url: pulumi.Output<string>;
  /** The load balancer's global IP (the A record for sluice:domain). */
  ipAddress: pulumi.Output<string>;
  /** MIG name per region (for `gcloud compute instance-groups managed ...`). */
  migs: pulumi.Output<Record<string, string>>;
}

export function sluiceStack(cfg: StackConfig): StackOutputs {
  const stack = pulumi.getStack();
  const provider = new gcp.Provider('gcp', {
    project: cfg.project,
    region: cfg.regions[0].region,
    defaultLabels: { app: 'sluice', stack: labelValue(stack) },
  });
  const opts: pulumi.ComponentResourceOptions = { providers: [provider] };

  const network = new Network('sluice', {
    subnets: cfg.regions.map((r) => ({ region: r.region, cidr: r.subnetCidr })),
    serverPort: SERVER_PORT,
    serverTag: SERVER_TAG,
  }, opts);

  const backplane = cfg.redis
    ? new Backplane('sluice', { region: cfg.redis.region, network: network.network.id, tier: cfg.redis.tier, memorySizeGb: cfg.redis.memorySizeGb }, opts)
    : undefined;

  const secretEnv = pulumi.secret(pulumi.all([cfg.tokenSecret, backplane?.url]).apply(([token, redisUrl]) =>
    `SLUICE_TOKEN_SECRET=${token}\n${redisUrl ? `SLUICE_REDIS_URL=${redisUrl}\n` : ''}`));

  const repo = artifactRegistryRepo(cfg.image);
  const identity = new ServerIdentity('sluice', {
    project: cfg.project,
    stackName: `sluice-${stack}`.toLowerCase().replace(/[^a-z0-9-]/g, '-'),
    secretEnv,
    imageRepository: repo && { project: repo.project, location: repo.location, repository: repo.repository },
  }, opts);

  const fleets = cfg.regions.map((r) => new ServerFleet(`sluice-${r.region}`, {
    region: r.region,
    zones: r.zones,
    replicas: r.replicas,
    machineType: cfg.machineType,
    sourceImage: cfg.cosImage,
    subnetwork: network.subnetworks[r.region],
    networkTag: SERVER_TAG,
    serviceAccountEmail: identity.email,
    serviceAccountMember: identity.member,
    watcherRole: identity.watcherRole,
    project: cfg.project,
    image: cfg.image,
    secretVersion: identity.secretVersion,
    registryHost: repo?.host,
    timeouts: cfg.timeouts,
  }, opts));

  const lb = new LoadBalancer('sluice', {
    kind: cfg.lbKind,
    backends: fleets.map((f) => f.instanceGroup),
    timeouts: cfg.timeouts,
    portName: NAMED_PORT.name,
    serverPort: SERVER_PORT,
    domain: cfg.domain,
  }, opts);

  return {
    url: lb.url,
    ipAddress: lb.ipAddress,
    migs: pulumi.all(fleets.map((f) => f.migName)).apply((names) =>
      Object.fromEntries(cfg.regions.map((r, i) => [r.region, names[i]]))),
  };
}

/** Label values: lowercase letters, digits, _ and -, at most 63 characters. */
function labelValue(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9_-]/g, '-').slice(0, 63);
}
