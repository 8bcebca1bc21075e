import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import type { Timeouts } from '../../app/contract/timeouts';
import { cloudInit, SERVER_PORT, shutdownScript } from './vm-boot';

/** Named port of the MIGs that the backend service targets. */
export const NAMED_PORT = { name: 'ws', port: SERVER_PORT } as const;

/**
 * Seconds a new VM must stay healthy before the updater moves on (removes an old one): enough for
 * every LB prober to see it healthy (2 checks x 5 s, see LoadBalancer) plus slack.
 */
export const MIN_READY_SEC = 30;
/** COS boot + image pull + server start before autohealing may judge a new VM. */
export const AUTOHEAL_INITIAL_DELAY_SEC = 180;

export interface ServerFleetArgs {
  region: string;
  /** Zones the regional MIG spreads over (evenly). */
  zones: string[];
  /** Target number of VMs. */
  replicas: number;
  machineType: string;
  /** Boot image (a Container-Optimized OS image or family). */
  sourceImage: string;
  /** Subnet of this region (no access config: the VMs get no external IP). */
  subnetwork: pulumi.Input<string>;
  /** Network tag the firewall admits the load balancer to. */
  networkTag: string;
  /** The server VMs' service account (ServerIdentity). */
  serviceAccountEmail: pulumi.Input<string>;
  serviceAccountMember: pulumi.Input<string>;
  /** Custom role for the lifecycle watcher; granted here on this MIG only. */
  watcherRole: pulumi.Input<string>;
  project: string;
  /** Server container image (pinned). */
  image: string;
  /** Secret Manager version with the server's secret env file. */
  secretVersion: pulumi.Input<string>;
  /** Artifact Registry host for docker-credential-gcr, when the image is there. */
  registryHost?: string;
  /** The resolved timeouts contract: drives the shutdown script wait, `docker stop -t` and the server's env. */
  timeouts: Timeouts;
}

/**
 * One region's servers: an instance template (COS, cloud-init running the container, the shutdown
 * script, no external IP, Shielded VM, the dedicated service account), a regional MIG with
 * autohealing on /healthz and a surge-only rolling update (maxUnavailable 0), and the watcher's
 * IAM grant conditioned on this MIG's name.
 */
export class ServerFleet extends pulumi.ComponentResource {
  readonly mig: gcp.compute.RegionInstanceGroupManager;
  /** URL of the MIG's instance group (a backend of the load balancer). */
  readonly instanceGroup: pulumi.Output<string>;
  readonly migName: pulumi.Output<string>;

  constructor(name: string, args: ServerFleetArgs, opts?: pulumi.ComponentResourceOptions) {
    super('sluice:infra:ServerFleet', name, {}, opts);
    const parent = { parent: this };
    const t = args.timeouts;
    const preemptible = t.gce.preemptible;

    const userData = pulumi.output(args.secretVersion).apply((secretVersion) =>
      cloudInit({ image: args.image, timeouts: t, secretVersion, registryHost: args.registryHost }));

    const template = new gcp.compute.InstanceTemplate(`${name}-template`, {
      description: `sluice server ${args.image}`,
      machineType: args.machineType,
      disks: [{ sourceImage: args.sourceImage, boot: true, autoDelete: true, diskType: 'pd-balanced', diskSizeGb: 20 }],
      // No accessConfigs: no external IP. Egress goes through Cloud NAT and Private Google Access.
      networkInterfaces: [{ subnetwork: args.subnetwork }],
      serviceAccount: { email: args.serviceAccountEmail, scopes: ['https://www.googleapis.com/auth/cloud-platform'] },
      metadata: {
        'user-data': userData,
        'shutdown-script': shutdownScript(t),
        'google-logging-enabled': 'true',
        'google-monitoring-enabled': 'true',
        'enable-oslogin': 'TRUE',
        'block-project-ssh-keys': 'TRUE',
      },
      shieldedInstanceConfig: { enableSecureBoot: true, enableVtpm: true, enableIntegrityMonitoring: true },
      scheduling: preemptible
        ? { preemptible: true, provisioningModel: 'SPOT', automaticRestart: false, onHostMaintenance: 'TERMINATE', instanceTerminationAction: 'DELETE' }
        : { preemptible: false, provisioningModel: 'STANDARD', automaticRestart: true, onHostMaintenance: 'MIGRATE' },
      tags: [args.networkTag],
      labels: { role: 'server' },
    }, parent);

    // Liveness, not readiness: a draining server (503 on /readyz) must not be "repaired" mid-drain.
    const autoheal = new gcp.compute.HealthCheck(`${name}-autoheal`, {
      description: 'sluice autohealing: /healthz (liveness)',
      checkIntervalSec: 10,
      timeoutSec: 5,
      healthyThreshold: 2,
      unhealthyThreshold: 3,
      httpHealthCheck: { port: SERVER_PORT, requestPath: '/healthz' },
    }, parent);

    // Regional MIG: a fixed maxSurge must be 0 or >= the number of zones.
    const surge = Math.max(args.zones.length, 1);
    this.mig = new gcp.compute.RegionInstanceGroupManager(name, {
      region: args.region,
      baseInstanceName: name,
      distributionPolicyZones: args.zones,
      distributionPolicyTargetShape: 'EVEN',
      versions: [{ name: 'primary', instanceTemplate: template.selfLinkUnique }],
      targetSize: args.replicas,
      namedPorts: [{ name: NAMED_PORT.name, port: NAMED_PORT.port }],
      autoHealingPolicies: { healthCheck: autoheal.id, initialDelaySec: AUTOHEAL_INITIAL_DELAY_SEC },
      updatePolicy: {
        type: 'PROACTIVE',
        minimalAction: 'REPLACE',
        mostDisruptiveAllowedAction: 'REPLACE',
        replacementMethod: 'SUBSTITUTE',
        maxSurgeFixed: surge,
        maxUnavailableFixed: 0,
        minReadySec: MIN_READY_SEC,
        instanceRedistributionType: 'PROACTIVE',
      },
      instanceLifecyclePolicy: { forceUpdateOnRepair: 'YES', defaultActionOnFailure: 'REPAIR' },
      // `pulumi up` returns once the MIG exists, so the watcher's IAM grant below (which needs the
      // MIG's name) exists before the first VM boots. Follow a rollout with
      // `gcloud compute instance-groups managed wait-until <mig> --version-target-reached --region <r>`.
      waitForInstances: false,
    }, parent);
    this.instanceGroup = this.mig.instanceGroup;
    this.migName = this.mig.name;

    // The watcher may read this MIG and nothing else (IAM condition on the resource name).
    new gcp.projects.IAMMember(`${name}-watcher`, {
      project: args.project,
      role: args.watcherRole,
      member: args.serviceAccountMember,
      condition: {
        title: `sluice watcher: ${name}`,
        description: 'listManagedInstances on its own MIG only',
        expression: pulumi.interpolate`resource.name.endsWith("/instanceGroupManagers/${this.mig.name}")`,
      },
    }, parent);

    this.registerOutputs({ migName: this.migName, instanceGroup: this.instanceGroup });
  }
}
