/**
 * The GKE lines of the plan's contract summary (infra/offline-preview/preview.ts): the numbers of the rolling-update
 * timeline in docs/deploy-gke.md, each from the one function that derives it.
 */
import { endpointRemovalBoundSec, gkeGraceNeededSec, GkeTimeouts, preStopWaitSec } from '../../app/contract/gke';
import { backendTimeoutSec, drainEndBoundMs, READINESS_PROBE, Timeouts } from '../../app/contract/timeouts';

export function gkeContractSummary(t: Timeouts, g: GkeTimeouts): string[] {
  const s = (ms: number) => `${ms / 1000} s`;
  return [
    `gke preStop: POST /drain?wait=1 at once, waits up to ${preStopWaitSec(t)} s (drain deadline ${s(t.drain.deadlineMs)} + margin ${s(t.drain.marginMs)})`,
    `gke terminationGracePeriodSeconds: ${g.terminationGracePeriodSec} s >= preStop wait ${preStopWaitSec(t)} s + margin ${s(t.drain.marginMs)} = ${gkeGraceNeededSec(t)} s`,
    `gke endpoint removal: <= ${endpointRemovalBoundSec()} s (HealthCheckPolicy on /readyz: ${READINESS_PROBE.unhealthyThreshold} x ${READINESS_PROBE.intervalSec} s + ${READINESS_PROBE.timeoutSec} s), + margin ${s(t.drain.marginMs)} <= RST at ${s(t.drain.deadlineMs)}`,
    `gke GCPBackendPolicy: timeoutSec ${backendTimeoutSec(t)} s (maximum WebSocket lifetime), connectionDraining ${t.lb.connectionDrainingSec} s >= drain deadline + margin ${s(drainEndBoundMs(t))}`,
    `gke HPA scale-down: window ${g.hpaScaleDownStabilizationSec} s >= grace ${g.terminationGracePeriodSec} s + margin ${s(t.drain.marginMs)}; at most 1 pod per ${g.terminationGracePeriodSec} s`,
  ];
}
