/**
 * Which jest project runs which test file (jest.config.js reads these lists; the architecture test
 * test/architecture/projects.test.ts checks them against what each file really loads):
 *
 *   quick   everything not listed below: pure functions, fake timers, in-process servers on
 *           127.0.0.1 that answer within a second or two. No Pulumi, no child process.
 *           `npm run test:quick`, the one-minute loop.
 *   pulumi  the suites that load the Pulumi SDK (@pulumi/pulumi, @pulumi/gcp): the program under
 *           mocks, the offline plans, the stack config and the rollout built on it.
 *   e2e     real processes (redis-server, HAProxy, Chromium, podman, spawned servers and `npm run`
 *           scripts), fleets of hundreds of peers, and the suites that wait out real timers
 *           (idle limits, slowloris, drains, the lifecycle watcher's polls).
 *
 * Entries are paths from the repository root; one ending in `/` is a whole folder. A file in both
 * lists is e2e (it starts processes besides loading Pulumi).
 */
const PULUMI = [
  'test/infra/autoscaling.test.ts',
  'test/infra/config.test.ts',
  'test/infra/edge.test.ts',
  'test/infra/gcp-facts.test.ts',
  'test/infra/gke-cluster-requirements.test.ts',
  'test/infra/gke-preview.test.ts',
  'test/infra/gke.test.ts',
  'test/infra/k8s-schemas.test.ts',
  'test/infra/operations.test.ts',
  'test/infra/offline-preview.test.ts',
  'test/infra/regions.test.ts',
  'test/infra/resources.test.ts',
  'test/infra/secrets.test.ts',
  'test/infra/vm.test.ts',
  'test/rollout/admin-source.test.ts',
  'test/rollout/deploy-workflow.test.ts',
  'test/rollout/pins.test.ts',
  'test/rollout/release.test.ts',
  'test/rollout/thresholds.test.ts',
];

const E2E = [
  // real processes: redis-server, HAProxy, Chromium, podman, fleets of peers, local regions
  'test/backplane/',
  'test/container/',
  'test/local/',
  'test/peer/',
  'test/rollout/local-region.test.ts',
  'test/rollout/status-rollout.test.ts',
  'test/docs/commands.test.ts',
  'test/docs/bench-help.test.ts',
  'test/client/browser.test.ts',
  'test/client/package.test.ts',
  'test/rollout/presence-gate.test.ts',
  // child processes: spawned servers, `npm run token`, rendered scripts run by node or bash
  'test/auth/token.test.ts',
  'test/infra/crd-wait.test.ts',
  'test/infra/gke-render.test.ts',
  'test/infra/workflow.test.ts',
  'test/server/admin-auth.test.ts',
  'test/server/config.test.ts',
  'test/server/handlers-total.test.ts',
  'test/server/prestop-stay.test.ts',
  'test/contract/memory.test.ts',
  'test/server/heap.test.ts',
  'test/rollout/image-job.test.ts',
  // real timers: drains, idle limits, slowloris, slow consumers, rotation, the watcher's polls
  'test/client/blackhole.test.ts',
  'test/client/drain.test.ts',
  'test/infra/log-lines.test.ts',
  'test/lifecycle/',
  'test/server/amplification.test.ts',
  'test/server/bad-input.test.ts',
  'test/server/acceptors.test.ts',
  'test/server/drain.test.ts',
  'test/server/fd-exhaustion.test.ts',
  'test/server/fuzz.test.ts',
  'test/server/half-open.test.ts',
  'test/server/limits.test.ts',
  'test/server/rotation-and-status.test.ts',
  // wall-clock budgets (a CPU-time bound means something only with a core to itself)
  'test/server/dedupe-window.test.ts',
];

/** The project of a test file (a repository-relative path). */
function projectOf(file) {
  const hit = (list) => list.some((p) => (p.endsWith('/') ? file.startsWith(p) : file === p));
  if (hit(E2E)) return 'e2e';
  if (hit(PULUMI)) return 'pulumi';
  return 'quick';
}

module.exports = { PULUMI, E2E, projectOf };
