import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import type { Timeouts } from '../../app/contract/timeouts';
import { HEALTH_PATH, SERVER_PORT } from '../../app/protocol/endpoints';
import { cloudInit, shutdownScript } from './vm-boot';

/** Named port of the MIGs that the backend service targets. */
export const NAMED_PORT = { name: 'ws', port: SERVER_PORT } as const;

/** COS boot + image pull + server start before autohealing may judge a new VM. */
export const AUTOHEAL_INITIAL_DELAY_SEC = 180;
/** After connection draining, deletion "can take up to 60 seconds" more (instanceGroupManagers.deleteInstances). */
export const DELETE_AFTER_DRAINING_SEC = 60;

/** How a region's rolling update proceeds (used by the MIG, the plan and the docs/deploy-gce.md timeline). */
export interface RolloutShape {
  /** New VMs created per wave (maxSurgeFixed): >= zones (regional MIG rule), < replicas. */
  surge: number;
  /** Waves until every VM runs the new template. */
  waves: number;
  /** Upper bound of one wave in seconds: boot + minReadySec + connection draining + deletion. */
  waveSec: number;
  /** `pulumi up` waits this long for the MIG to reach UPDATED (waitForInstances): every wave, twice over. */
  timeoutMin: number;
}

/**
 * The updater "considered available" test is the autohealing one: RUNNING, "currentAction is NONE (in
 * particular its liveness health check result was observed to be HEALTHY at least once as it passed
 * VERIFYING)" (Compute API, InstanceGroupManagerAutoHealingPolicy.maxUnavailable). /healthz is
 * liveness, so gce.minReadySec (rule min-ready-covers-lb-health) keeps the old VM until the LB
 * has had time to see the new one healthy on /readyz.
 */
export function rolloutShape(replicas: number, zones: number, surge: number | undefined, t: Timeouts): RolloutShape {
  const s = surge ?? zones;
  const waves = Math.ceil(replicas / s);
  const waveSec = AUTOHEAL_INITIAL_DELAY_SEC + t.gce.minReadySec + t.lb.connectionDrainingSec + DELETE_AFTER_DRAINING_SEC;
  return { surge: s, waves, waveSec, timeoutMin: Math.ceil((2 * waves * waveSec) / 60) };
}

export interface ServerFleetArgs {
  region: string;
  /** Zones the regional MIG spreads over (evenly). */
  zones: string[];
  /** Target number of VMs. */
  replicas: number;
  /** maxSurgeFixed (default: the number of zones, the smallest a regional MIG accepts). */
  surge?: number;
  /** A canary: this many VMs run `canary.image` (versions[].targetSize), the rest the primary image. */
  canary?: { image: string; targetSize: number };
  /** Resources the MIG's first boot needs (secret accessors, image reader, watcher grant), and the previous region's MIG. */
  dependsOn: pulumi.Input<pulumi.Resource>[];
  machineType: string;
  /** Boot image: the self link of a pinned Container-Optimized OS image (never a family). */
  sourceImage: pulumi.Input<string>;
  /** Subnet of this region (no access config: the VMs get no external IP). */
  subnetwork: pulumi.Input<string>;
  /** Network tag the firewall admits the load balancer to. */
  networkTag: string;
  /** The server VMs' service account (ServerIdentity). */
  serviceAccountEmail: pulumi.Input<string>;
  serviceAccountMember: pulumi.Input<string>;

  /** Server container image (pinned). */
  image: string;
  /** Secret Manager version with the server's secret env file (this region's). */
  secretVersion: pulumi.Input<string>;
  /** Secret Manager version with SLUICE_ADMIN_TOKEN. */
  adminTokenVersion: pulumi.Input<string>;
  /** Artifact Registry host for docker-credential-gcr, when the image is there. */
  registryHost?: string;
  /** The resolved timeouts contract: drives the shutdown script wait, `docker stop -t` and the server's env. */
  timeouts: Timeouts;
  /** An autoscaler owns the size (FleetAutoscaler): `replicas` is the initial size and later updates leave targetSize alone. */
  autoscaled?: boolean;
}

/**
 * One region's servers: an instance template (COS, cloud-init running the container, the shutdown
 * script, no external IP, Shielded VM, the dedicated service account), a regional MIG with
 * autohealing on /healthz and a surge-only rolling update (maxUnavailable 0, surge below the replica
 * count, an optional canary), created only after the grants its first boot needs, and awaited by
 * `pulumi up` until every VM runs the new template (waitForInstances, status UPDATED).
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

    const userData = (image: string) =>
      pulumi
        .all([args.secretVersion, args.adminTokenVersion])
        .apply(([secretVersion, adminTokenVersion]) =>
          cloudInit({ image, timeouts: t, secretVersion, adminTokenVersion, registryHost: args.registryHost }),
        );

    const templateOf = (suffix: string, image: string) =>
      new gcp.compute.InstanceTemplate(
        `${name}-${suffix}`,
        {
          description: `sluice server ${image}`,
          machineType: args.machineType,
          disks: [{ sourceImage: args.sourceImage, boot: true, autoDelete: true, diskType: 'pd-balanced', diskSizeGb: 20 }],
          // No accessConfigs: no external IP. Egress goes through Cloud NAT and Private Google Access.
          networkInterfaces: [{ subnetwork: args.subnetwork }],
          serviceAccount: { email: args.serviceAccountEmail, scopes: ['https://www.googleapis.com/auth/cloud-platform'] },
          metadata: {
            'user-data': userData(image),
            'shutdown-script': shutdownScript(t),
            'google-logging-enabled': 'true',
            'google-monitoring-enabled': 'true',
            'enable-oslogin': 'TRUE',
            'block-project-ssh-keys': 'TRUE',
          },
          shieldedInstanceConfig: { enableSecureBoot: true, enableVtpm: true, enableIntegrityMonitoring: true },
          scheduling: preemptible
            ? {
                preemptible: true,
                provisioningModel: 'SPOT',
                automaticRestart: false,
                onHostMaintenance: 'TERMINATE',
                instanceTerminationAction: 'DELETE',
              }
            : { preemptible: false, provisioningModel: 'STANDARD', automaticRestart: true, onHostMaintenance: 'MIGRATE' },
          tags: [args.networkTag],
          labels: { role: 'server' },
        },
        parent,
      );
    const template = templateOf('template', args.image);

    // Liveness, not readiness: a draining server (503 on /readyz) must not be "repaired" mid-drain.
    const autoheal = new gcp.compute.HealthCheck(
      `${name}-autoheal`,
      {
        description: `sluice autohealing: ${HEALTH_PATH} (liveness)`,
        checkIntervalSec: 10,
        timeoutSec: 5,
        healthyThreshold: 2,
        unhealthyThreshold: 3,
        httpHealthCheck: { port: SERVER_PORT, requestPath: HEALTH_PATH },
      },
      parent,
    );

    const shape = rolloutShape(args.replicas, args.zones.length, args.surge, t);
    const versions: gcp.types.input.compute.RegionInstanceGroupManagerVersion[] = [
      { name: 'primary', instanceTemplate: template.selfLinkUnique },
    ];
    if (args.canary) {
      versions.push({
        name: 'canary',
        instanceTemplate: templateOf('canary', args.canary.image).selfLinkUnique,
        targetSize: { fixed: args.canary.targetSize },
      });
    }
    this.mig = new gcp.compute.RegionInstanceGroupManager(
      name,
      {
        region: args.region,
        baseInstanceName: name,
        distributionPolicyZones: args.zones,
        distributionPolicyTargetShape: 'EVEN',
        versions,
        targetSize: args.replicas,
        namedPorts: [{ name: NAMED_PORT.name, port: NAMED_PORT.port }],
        autoHealingPolicies: { healthCheck: autoheal.id, initialDelaySec: AUTOHEAL_INITIAL_DELAY_SEC },
        updatePolicy: {
          type: 'PROACTIVE',
          minimalAction: 'REPLACE',
          mostDisruptiveAllowedAction: 'REPLACE',
          replacementMethod: 'SUBSTITUTE',
          // A regional MIG's fixed surge is 0 or >= its zones; config.ts keeps it below the replicas,
          // so one wave never drains the whole region.
          maxSurgeFixed: shape.surge,
          maxUnavailableFixed: 0,
          minReadySec: t.gce.minReadySec,
          instanceRedistributionType: 'PROACTIVE',
        },
        instanceLifecyclePolicy: { forceUpdateOnRepair: 'YES', defaultActionOnFailure: 'REPAIR' },
        // `pulumi up` fails unless every VM runs the new template and is healthy: a broken image is a red
        // `up`, and the next region (which depends on this MIG) only starts once this one is done.
        waitForInstances: true,
        waitForInstancesStatus: 'UPDATED',
      },
      {
        parent: this,
        dependsOn: args.dependsOn,
        customTimeouts: { create: `${shape.timeoutMin}m`, update: `${shape.timeoutMin}m` },
        // With an autoscaler, `pulumi up` must not reset the size it chose (it would undo a scale-out mid-peak).
        ...(args.autoscaled ? { ignoreChanges: ['targetSize'] } : {}),
      },
    );
    this.instanceGroup = this.mig.instanceGroup;
    this.migName = this.mig.name;

    this.registerOutputs({ migName: this.migName, instanceGroup: this.instanceGroup });
  }
}
