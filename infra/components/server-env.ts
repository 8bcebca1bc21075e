/**
 * The server container's non-secret environment, shared by both platforms: the GCE VM's env file
 * (infra/components/vm-boot.ts) and the GKE pod's env (infra/gke/render.ts, which turns the GCE
 * watcher off). Secrets come from Secret Manager (GCE) or a Kubernetes Secret (GKE) at start.
 */
import { DEFAULT_MEMORY_BUDGET_BYTES, heapNodeOptions } from '../../app/contract/memory';
import { Timeouts } from '../../app/contract/timeouts';
import { ADMIN_PORT, SERVER_PORT } from '../../app/protocol/endpoints';

export interface ServerEnvSpec {
  timeouts: Timeouts;
  logLevel?: string;
  /** The process memory budget (SLUICE_MEMORY_BUDGET_BYTES); default DEFAULT_MEMORY_BUDGET_BYTES. */
  memoryBudgetBytes?: number;
}

/** Non-secret environment of the server container (secrets come from Secret Manager at start). */
export function serverEnv(spec: ServerEnvSpec): Record<string, string> {
  return {
    SLUICE_ENV: 'production',
    SLUICE_HOST: '0.0.0.0',
    SLUICE_PORT: String(SERVER_PORT),
    SLUICE_ADMIN_HOST: '127.0.0.1',
    SLUICE_ADMIN_PORT: String(ADMIN_PORT),
    SLUICE_GCE_WATCHER: 'on',
    SLUICE_LOG_LEVEL: spec.logLevel ?? 'info',
    // The whole resolved contract: the server runs exactly the numbers the stack was validated with.
    SLUICE_TIMEOUTS: JSON.stringify(spec.timeouts),
    // The budget and the V8 heap limit derived from it (app/contract/memory.ts): the heap cannot
    // outgrow what the budget plans for; the server refuses to start if they disagree (app/server/heap.ts).
    SLUICE_MEMORY_BUDGET_BYTES: String(spec.memoryBudgetBytes ?? DEFAULT_MEMORY_BUDGET_BYTES),
    NODE_OPTIONS: heapNodeOptions(spec.memoryBudgetBytes ?? DEFAULT_MEMORY_BUDGET_BYTES),
  };
}
