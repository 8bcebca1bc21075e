import type { Evidence } from '../../app/rollout/gates';
import type { GateSource } from '../../app/rollout/source';

/**
 * Cloud Monitoring (a GCE fleet): the servers' drain reports reach it as metrics of the Ops Agent's
 * Prometheus receiver or as log-based metrics of the drain log line. Not wired in this repository
 * (no cloud here): every call fails, so a rollout that relies on it halts instead of passing unseen.
 * The queries it has to answer, per region and since the step began (PromQL over Managed Service for Prometheus):
 *   resets      sum by (region) (increase(sluice_drain_reset[STEP]))                        must be 0
 *   duration    the drain log line's finishedAt - startedAt                               < drain.deadlineMs
 *   reconnects  sum(sluice_connections{survivor}) after - before / drained totals          >= 0.9
 *   heartbeats  sum(increase(sluice_heartbeat_timeouts_total[STEP]))                       <= 1% of connections
 *   watcher     min by (instance) (sluice_lifecycle_watcher_up)                            1 on every VM
 */
export class CloudMonitoringGateSource implements GateSource {
  readonly name = 'Cloud Monitoring';
  constructor(private readonly project: string) {}
  private fail(): never {
    throw new Error(`Cloud Monitoring gate source for ${this.project} is not wired yet (infra/rollout/sources.ts): no evidence, so the gate cannot pass`);
  }
  async begin(): Promise<void> {
    this.fail();
  }
  async sample(): Promise<void> {
    this.fail();
  }
  evidence(): Evidence {
    return this.fail();
  }
  async end(): Promise<void> {}
}
