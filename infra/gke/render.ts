/**
 * What a sluice pod is, as plain data: the preStop script and the pod template of the Deployment.
 * Pure functions of plain values (no Pulumi), so tests read them, snapshot them and run the script.
 *
 * The drain layers on GKE:
 *   1. preStop: POST /drain?wait=1&stay=1 on the admin listener (loopback, bearer token) the moment the
 *      pod starts terminating, and wait for the drain to finish (RST deadline); /readyz turns 503 at once.
 *      `stay=1`: the server does NOT exit after this drain: the kubelet's handling "blocks until the
 *      action is complete, unless the container process fails, in which case the handler is aborted"
 *      (core/v1 Lifecycle), so an exit would abort the hook (FailedPreStopHook). It stays up drained
 *      until the SIGTERM the kubelet sends once the hook has returned ("the hook must complete before
 *      the TERM signal to stop the container can be sent", kubernetes.io container lifecycle hooks).
 *   2. SIGTERM after preStop: the server (drained) exits 0.
 *   3. terminationGracePeriodSeconds: SIGKILL only after the drain (rule gke-grace-covers-prestop-drain).
 * The kubelet runs preStop first ("Each container's pre-stop hook runs, then its main process receives
 * SIGTERM"), and its countdown includes it ("The Pod's termination grace period countdown begins before
 * the PreStop hook is executed", kubernetes.io/docs/concepts/containers/container-lifecycle-hooks).
 */
import type * as k8s from '@pulumi/kubernetes';
import { GkeTimeouts, preStopWaitSec } from '../../app/contract/gke';
import { budgetForMemory } from '../../app/contract/memory';
import { READINESS_PROBE, Timeouts } from '../../app/contract/timeouts';
import { ADMIN_PORT, HEALTH_PATH, READINESS_PATH, SERVER_PORT } from '../../app/protocol/endpoints';
import { serverEnv } from '../components/server-env';
import { memoryBytes } from './config';

/** Liveness probes use HEALTH_PATH: 200 while the process lives, whatever the backplane or the drain (never /readyz). */
export const CONTAINER_NAME = 'sluice';
export const PORT_NAME = 'ws';
/** The Kubernetes Secret's keys, each the environment variable it becomes. */
export const SECRET_ENV_KEYS = ['SLUICE_TOKEN_SECRET', 'SLUICE_ADMIN_TOKEN', 'SLUICE_REDIS_URL'] as const;
/** A non-root uid/gid for the server process (runAsNonRoot needs a numeric id when the image names none). */
export const RUN_AS = 10001;

/**
 * The preStop hook (drain layer 1), a Node.js script run with the image's own `node` (no shell or curl
 * needed in the image). It reads the admin token from the container's environment, so the token is
 * never in the pod spec or a command line. Exit 0 always: a missing answer (already drained, not
 * running) must not delay SIGTERM, which drains too. `SLUICE_ADMIN_URL` overrides the address (tests).
 */
export function preStopScript(t: Timeouts): string {
  const wait = preStopWaitSec(t);
  return `// sluice preStop (infra/gke/render.ts): POST /drain?wait=1&stay=1 and wait up to ${wait} s (drain deadline + margin);
// the server stays up drained until the kubelet's SIGTERM.
const url = (process.env.SLUICE_ADMIN_URL || 'http://127.0.0.1:${ADMIN_PORT}') + '/drain?wait=1&stay=1';
const headers = { authorization: 'Bearer ' + (process.env.SLUICE_ADMIN_TOKEN || '') };
fetch(url, { method: 'POST', headers, signal: AbortSignal.timeout(${wait * 1000}) })
  .then(async (r) => console.log('sluice preStop: drain answered ' + r.status + ' ' + (await r.text())))
  .catch((e) => console.log('sluice preStop: no drain answer (' + e.message + '); SIGTERM drains'))
  .finally(() => process.exit(0));
`;
}

export interface PodSpecArgs {
  image: string;
  timeouts: Timeouts;
  gke: GkeTimeouts;
  resources: { cpu: string; memory: string };
  /** Pod labels (the Deployment's selector, the Service's, the spread constraints'). */
  labels: Record<string, string>;
  serviceAccountName: string;
  /** Kubernetes Secret holding SECRET_ENV_KEYS. */
  secretName: string;
  /** Whether the Secret carries SLUICE_REDIS_URL (no backplane: a single server). */
  redis: boolean;
}

/** The server's environment: the GCE one (ports, loopback admin, the whole contract) minus the GCE watcher. */
export function podEnv(args: Pick<PodSpecArgs, 'timeouts' | 'resources' | 'secretName' | 'redis'>): k8s.types.input.core.v1.EnvVar[] {
  const plain = {
    // The largest budget whose V8 heap limit, young generation and native reserve fit the container's
    // memory limit (app/contract/memory.ts), and NODE_OPTIONS with that heap limit: the heap stays
    // below the limit instead of growing until the container is OOM-killed: "memory limits are
    // enforced by the kernel with out of memory (OOM) kills. When a container uses more than its
    // memory limit, the kernel may terminate it" (kubernetes.io/docs/concepts/configuration/manage-resources-containers/).
    ...serverEnv({ timeouts: args.timeouts, memoryBudgetBytes: budgetForMemory(memoryBytes(args.resources.memory)) }),
    // No MIG on GKE: the kubelet's preStop is the removal signal.
    SLUICE_GCE_WATCHER: 'off',
  };
  return [
    ...Object.entries(plain)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([name, value]) => ({ name, value })),
    // The pod name: unique, and the name `kubectl` shows (the Redis backplane claims it per process).
    { name: 'SLUICE_SERVER_ID', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    ...SECRET_ENV_KEYS.filter((k) => args.redis || k !== 'SLUICE_REDIS_URL').map((k) => ({
      name: k,
      valueFrom: { secretKeyRef: { name: args.secretName, key: k } },
    })),
  ];
}

/** The Deployment's pod template spec. */
export function podSpec(args: PodSpecArgs): k8s.types.input.core.v1.PodSpec {
  const httpGet = (path: string) => ({ path, port: PORT_NAME, scheme: 'HTTP' });
  return {
    serviceAccountName: args.serviceAccountName,
    // The server calls no Kubernetes API; GKE Workload Identity works through the metadata server.
    automountServiceAccountToken: false,
    terminationGracePeriodSeconds: args.gke.terminationGracePeriodSec,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: RUN_AS,
      runAsGroup: RUN_AS,
      fsGroup: RUN_AS,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    // Spread over zones (and nodes within a zone). ScheduleAnyway: in a zone outage the surviving
    // zones must still take the replacement pods and the HPA's scale-out.
    topologySpreadConstraints: ['topology.kubernetes.io/zone', 'kubernetes.io/hostname'].map((topologyKey) => ({
      maxSkew: 1,
      topologyKey,
      whenUnsatisfiable: 'ScheduleAnyway',
      labelSelector: { matchLabels: args.labels },
    })),
    containers: [
      {
        name: CONTAINER_NAME,
        image: args.image,
        ports: [{ name: PORT_NAME, containerPort: SERVER_PORT, protocol: 'TCP' }],
        env: podEnv(args),
        // Requests = limits: Autopilot sets them equal anyway, and the memory budget is derived from the limit.
        resources: { requests: { ...args.resources }, limits: { ...args.resources } },
        // /healthz answers once the listeners are up; 30 x 1 s before liveness takes over.
        startupProbe: { httpGet: httpGet(HEALTH_PATH), periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 30 },
        // Liveness never follows the backplane: /healthz stays 200 through a Redis outage, so the
        // kubelet never restarts every pod of a region at once for it.
        livenessProbe: { httpGet: httpGet(HEALTH_PATH), periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 },
        // Readiness reads the server's own verdict: /readyz is 503 from the first moment of a drain, and
        // stays 200 (status degraded) through a backplane outage shorter than the contract's
        // backplaneReadinessGraceMs (one presence TTL); the same numbers as the LB's HealthCheckPolicy.
        readinessProbe: {
          httpGet: httpGet(READINESS_PATH),
          periodSeconds: READINESS_PROBE.intervalSec,
          timeoutSeconds: READINESS_PROBE.timeoutSec,
          failureThreshold: READINESS_PROBE.unhealthyThreshold,
          successThreshold: 1,
        },
        lifecycle: { preStop: { exec: { command: ['node', '-e', preStopScript(args.timeouts)] } } },
        securityContext: {
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          runAsNonRoot: true,
          capabilities: { drop: ['ALL'] },
        },
        volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
      },
    ],
    // The root filesystem is read-only; Node and its libraries may still write temporary files.
    volumes: [{ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } }],
  };
}
