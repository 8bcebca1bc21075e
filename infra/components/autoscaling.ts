/**
 * One regional autoscaler per MIG. Scale-out follows CPU; scale-in is throttled so that the
 * autoscaler never removes more VMs than one drain can move: at most ONE VM per `timeWindowSec`,
 * and that window is at least scaleInWindowMinSec() (the drain of the removed VM, its deletion,
 * and the time the LB needs to see the survivors take the reconnects).
 *
 * Scale-in controls: "Maximum allowed number (or %) of VMs that can be deducted from the peak
 * recommendation during the window autoscaler looks at when computing recommendations. Possibly all
 * these VMs can be deleted at once so user service needs to be prepared to lose that many VMs in one
 * step." (Compute API, AutoscalingPolicyScaleInControl.maxScaledInReplicas). Hence a fixed 1.
 * Connection draining applies to autoscaler deletes (cloud.google.com/load-balancing/docs/enabling-connection-draining),
 * so the removed VM's lifecycle watcher sees DELETING and drains inside lb.connectionDrainingSec.
 */
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { drainCompleteBoundMs, Timeouts } from '../../app/contract/timeouts';
import { DELETE_AFTER_DRAINING_SEC } from './fleet';

/** VMs one scale-in step may remove (maxScaledInReplicas.fixed): one drain at a time. */
export const MAX_SCALED_IN_REPLICAS = 1;
/** Default CPU target of the autoscaler (balancing mode UTILIZATION caps each backend at 0.8). */
export const DEFAULT_CPU_TARGET = 0.6;

/**
 * The shortest scale-in window that lets one removal finish before the next: the LB's connection
 * draining (>= detection + drain deadline + margin, contract rule drain-inside-lb-draining), the up to
 * 60 s deletion after it (instanceGroupManagers.deleteInstances), and gce.minReadySec for the LB to
 * count the survivors' new load before the autoscaler's next recommendation. Rounded up to a minute.
 */
export function scaleInWindowMinSec(t: Timeouts): number {
  const drainSec = Math.max(t.lb.connectionDrainingSec, Math.ceil(drainCompleteBoundMs(t) / 1000));
  return Math.ceil((drainSec + DELETE_AFTER_DRAINING_SEC + t.gce.minReadySec) / 60) * 60;
}

export interface AutoscalingSettings {
  minReplicas: number;
  maxReplicas: number;
  /** Target CPU utilization, 0 < x <= 1 (cpuUtilization.target). */
  cpuTarget: number;
  /** Scale-in window (scaleInControl.timeWindowSec); >= scaleInWindowMinSec (config.ts rejects less). */
  timeWindowSec: number;
  /** autoscalingPolicy.cooldownPeriod: COS boot + image pull + server start (AUTOHEAL_INITIAL_DELAY_SEC). */
  cooldownSec: number;
}

export interface FleetAutoscalerArgs extends AutoscalingSettings {
  region: string;
  /** The MIG's self link (RegionInstanceGroupManager.selfLink). */
  target: pulumi.Input<string>;
}

export class FleetAutoscaler extends pulumi.ComponentResource {
  readonly autoscaler: gcp.compute.RegionAutoscaler;

  constructor(name: string, args: FleetAutoscalerArgs, opts?: pulumi.ComponentResourceOptions) {
    super('sluice:infra:FleetAutoscaler', name, {}, opts);
    this.autoscaler = new gcp.compute.RegionAutoscaler(
      name,
      {
        region: args.region,
        target: args.target,
        description: `sluice: CPU ${args.cpuTarget}, scale-in at most ${MAX_SCALED_IN_REPLICAS} VM per ${args.timeWindowSec} s (one drain at a time)`,
        autoscalingPolicy: {
          minReplicas: args.minReplicas,
          maxReplicas: args.maxReplicas,
          cooldownPeriod: args.cooldownSec,
          mode: 'ON',
          cpuUtilization: { target: args.cpuTarget },
          scaleInControl: { maxScaledInReplicas: { fixed: MAX_SCALED_IN_REPLICAS }, timeWindowSec: args.timeWindowSec },
        },
      },
      { parent: this },
    );
    this.registerOutputs({});
  }
}
