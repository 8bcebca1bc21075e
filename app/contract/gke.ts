/**
 * The GKE rules of the timeouts contract (stack config `sluice:platform: gke`, infra/gke). The same server and the same drain, on
 * Kubernetes: what changes is who removes a pod from the load balancer and when. Kubernetes starts
 * the pod's preStop hook and the endpoint removal at the same time ("At the same time as the kubelet
 * is starting graceful shutdown of the Pod, the control plane evaluates whether to remove that
 * shutting-down Pod from EndpointSlice objects", kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle),
 * so the timers below must nest whichever of the two is faster. These rules run only for GKE stacks
 * (validateGke), after validate(); the GKE values are not part of Timeouts, so the server and the
 * GCE stacks never see them. Plain data and functions, like ./timeouts.
 */
import { ContractRule, defineRule, sec, secondsCoverDrain } from './rule';
import { shutdownScriptWaitSec } from './bounds';
import { READINESS_PROBE } from './defaults';
import { Timeouts, TimeoutsContractError, Violation } from './types';
import { failingFields, INTEGER_UNITS, Unit } from './units';

export interface GkeTimeouts {
  /** Pod `terminationGracePeriodSeconds`: SIGKILL this long after the pod's deletion started (preStop included). */
  terminationGracePeriodSec: number;
  /** HPA `behavior.scaleDown.stabilizationWindowSeconds`: scale-in looks at the highest recommendation over this window. */
  hpaScaleDownStabilizationSec: number;
}

export const defaultGkeTimeouts: GkeTimeouts = { terminationGracePeriodSec: 35, hpaScaleDownStabilizationSec: 300 };

/** The unit of each GKE value (the same schema idea as UNITS: a field without one does not compile). */
export const GKE_UNITS: { [K in keyof GkeTimeouts]-?: Unit } = { terminationGracePeriodSec: 's', hpaScaleDownStabilizationSec: 's' };

/** The preStop hook's wait for POST /drain?wait=1: the drain deadline plus margin (same bound as the GCE shutdown script). */
export function preStopWaitSec(t: Timeouts): number {
  return shutdownScriptWaitSec(t);
}

/** What terminationGracePeriodSeconds must cover: the preStop wait, then SIGTERM and exit within one margin. */
export function gkeGraceNeededSec(t: Timeouts): number {
  return preStopWaitSec(t) + Math.ceil(t.drain.marginMs / 1000);
}

/**
 * Longest the LB keeps sending NEW connections to a pod after its deletion started: the endpoint
 * removal lag. Two paths remove it, whichever is first: the NEG controller detaches the terminating
 * endpoint (it does so at once by design: "This is the intended behavior of NEG controller. It
 * optimized to lower the programming latency", github.com/kubernetes/ingress-gce/issues/1574; Google
 * documents no bound), and the LB health check on /readyz, which the drain turns 503 the moment
 * preStop starts it: a probe starts within one interval and `unhealthyThreshold` consecutive failures
 * mark the endpoint unhealthy. The documented, controlled figure is therefore the health-check bound:
 * unhealthyThreshold x intervalSec + timeoutSec (2 x 5 s + 5 s = 15 s with READINESS_PROBE).
 */
export function endpointRemovalBoundSec(): number {
  return READINESS_PROBE.unhealthyThreshold * READINESS_PROBE.intervalSec + READINESS_PROBE.timeoutSec;
}

type GkeRule = ContractRule<[Timeouts, GkeTimeouts]>;
const gkeRule = defineRule<[Timeouts, GkeTimeouts]>;

/** The whole-second GKE values as `[gke.field, value]` (the Kubernetes API takes them in [1, 3600]). */
function gkeIntegerFields(g: GkeTimeouts): Array<[string, number]> {
  return (Object.keys(GKE_UNITS) as Array<keyof GkeTimeouts>)
    .filter((k) => INTEGER_UNITS.includes(GKE_UNITS[k]))
    .map((k) => [`gke.${k}`, g[k]]);
}
const kubernetesSeconds = (v: number) => Number.isInteger(v) && v >= 1 && v <= 3600;

export const GKE_RULES: readonly GkeRule[] = [
  gkeRule(
    'gke-integer-values',
    'The Kubernetes API takes whole, positive seconds for the grace period and the HPA window (at most 3600 s).',
    (_t, g) => failingFields(gkeIntegerFields(g), kubernetesSeconds) === undefined,
    (_t, g) => {
      const bad = failingFields(gkeIntegerFields(g), kubernetesSeconds)!;
      return { message: `must be integers in [1, 3600]: ${bad.keys}`, values: bad.values };
    },
  ),
  gkeRule(
    'gke-grace-covers-prestop-drain',
    'The grace period counts from the start of preStop: it covers the preStop wait for the drain (deadline + margin), then SIGTERM and exit within one more margin, so the kubelet never SIGKILLs a draining server.',
    (t, g) => g.terminationGracePeriodSec >= gkeGraceNeededSec(t),
    (t, g) => ({
      message: `gke.terminationGracePeriodSec (${g.terminationGracePeriodSec}) must be >= preStop wait (drain.deadlineMs + drain.marginMs = ${preStopWaitSec(t)} s) + drain.marginMs (${sec(t.drain.marginMs)} s) = ${gkeGraceNeededSec(t)} s`,
      values: { terminationGracePeriodSec: g.terminationGracePeriodSec, deadlineMs: t.drain.deadlineMs, marginMs: t.drain.marginMs },
    }),
  ),
  gkeRule(
    'gke-lb-draining-covers-drain',
    'The NEG endpoint can be detached the moment the pod starts terminating; the LB keeps its connections only for connection draining, so that covers the whole drain to its RST deadline, with margin.',
    ...secondsCoverDrain('lb.connectionDrainingSec'),
  ),
  gkeRule(
    'gke-drain-outlasts-endpoint-removal',
    'The LB may send new connections until the endpoint removal lag has passed (15 s: the /readyz health-check bound); the server answers them (503, Retry-After) until its RST deadline, so it must not exit while still in rotation.',
    (t) => endpointRemovalBoundSec() * 1000 + t.drain.marginMs <= t.drain.deadlineMs,
    (t) => ({
      message: `endpoint removal bound (${READINESS_PROBE.unhealthyThreshold} probes x ${READINESS_PROBE.intervalSec} s + ${READINESS_PROBE.timeoutSec} s = ${endpointRemovalBoundSec()} s) + drain.marginMs (${sec(t.drain.marginMs)} s) must be <= drain.deadlineMs (${sec(t.drain.deadlineMs)} s)`,
      values: { endpointRemovalBoundSec: endpointRemovalBoundSec(), marginMs: t.drain.marginMs, deadlineMs: t.drain.deadlineMs },
    }),
  ),
  gkeRule(
    'gke-hpa-scale-down-exceeds-drain',
    "A scale-in moves a drained pod's peers onto the others: the HPA scale-down window outlasts a whole pod termination plus margin, so it never scales in again on numbers taken mid-drain.",
    (t, g) => g.hpaScaleDownStabilizationSec * 1000 >= g.terminationGracePeriodSec * 1000 + t.drain.marginMs,
    (t, g) => ({
      message: `gke.hpaScaleDownStabilizationSec (${g.hpaScaleDownStabilizationSec}) must be >= gke.terminationGracePeriodSec (${g.terminationGracePeriodSec}) + drain.marginMs (${sec(t.drain.marginMs)} s)`,
      values: {
        hpaScaleDownStabilizationSec: g.hpaScaleDownStabilizationSec,
        terminationGracePeriodSec: g.terminationGracePeriodSec,
        marginMs: t.drain.marginMs,
      },
    }),
  ),
];

/** Every GKE rule the pair breaks (run after validate(t) holds); empty when sound. */
export function validateGke(t: Timeouts, g: GkeTimeouts): Violation[] {
  return GKE_RULES.map((r) => r.check(t, g)).filter((v): v is Violation => v !== undefined);
}

/** GKE defaults merged with overrides; unknown keys throw TimeoutsContractError (rule known-keys). */
export function mergeGkeTimeouts(overrides: Partial<Record<string, unknown>> = {}, base: GkeTimeouts = defaultGkeTimeouts): GkeTimeouts {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(overrides)) {
    if (!(k in base))
      throw new TimeoutsContractError([
        {
          rule: 'known-keys',
          message: `unknown GKE timeouts key "gke.${k}" (known: ${Object.keys(base).join(', ')})`,
          values: { key: `gke.${k}` },
        },
      ]);
    if (v !== undefined) out[k] = v;
  }
  return out as unknown as GkeTimeouts;
}

export function describeGkeRules(): Array<{ name: string; why: string }> {
  return GKE_RULES.map((r) => ({ name: r.name, why: r.why }));
}
