/**
 * The server process's memory, one home: the memory budget's default and the V8 heap limit derived
 * from it, with the process (VM or container) memory it needs. Everything that starts the server in
 * production takes its node flags from here: the image's NODE_OPTIONS (Dockerfile, checked by
 * test/contract/memory.test.ts), the GCE unit's env file and the GKE pod's env (infra/components/server-env.ts),
 * `npm start` / `npm run server` (package.json, checked too) and the local region's child servers; the
 * server checks at start that it got them (app/server/heap.ts), the Pulumi config checks that the
 * machine or container can hold them (infra/config-checks.ts, infra/gke/config.ts).
 *
 * Why a limit at all (docs/benchmarks.md, "issue 27, session 5"): without --max-old-space-size V8
 * sizes its heap from the machine (4 GiB here, on 24 GiB) and collects the old generation lazily, so
 * under 5k msg/s the heap grew to 432 MiB and RSS to 643 MiB while the budget charged ~175 MiB: a
 * budget the heap outgrows is not a budget.
 *
 * The reasoning, from measurements (2026-12-06/07, Node 20, docs/benchmarks.md):
 *   - what the budget charges is an upper bound of what its records cost the heap (heap / charged
 *     0.73-0.77 after full GCs, bench/record-cost.ts), so at a full budget the records hold <= budget;
 *   - the rest of the live heap: 10k idle joined connections hold 4.2 KiB each (42 MiB), the code,
 *     the contract and Node's own state ~30 MiB: HEAP_BASE_BYTES;
 *   - V8 needs room above the live set to collect without thrashing (it starts incremental marking
 *     before the limit and fails with "heap out of memory" at it): HEAP_GC_ROOM more than the budget;
 *   - the young generation is 3 semi-spaces (V8's heap_size_limit = old space + 3 x semi-space,
 *     measured: --max-old-space-size=480 gives 528 MiB with the default 16 MiB semi-space);
 *   - what the process holds outside V8's heap: Node's code and its libraries, malloc arenas, the
 *     native socket and libuv handle per connection (~1.7 KiB of RSS at 10k), Buffers of frames in
 *     flight: NATIVE_RESERVE_BYTES.
 */

export const MIB = 1024 * 1024;

/** What the process holds for peers by default (history + dedupe records + queued frames). */
export const DEFAULT_MEMORY_BUDGET_BYTES = 256 * MIB;
/** The smallest budget the server accepts (SLUICE_MEMORY_BUDGET_BYTES). */
export const MIN_MEMORY_BUDGET_BYTES = 16 * MIB;

/** Live heap besides the budget's records: 10k joined connections (4.2 KiB each) and the process's own state. */
export const HEAP_BASE_BYTES = 96 * MIB;
/** Old space = budget x this + HEAP_BASE_BYTES: room for garbage between mark-compacts at a full budget. */
export const HEAP_GC_ROOM = 1.5;
/** V8's own semi-space size on 64-bit (what Node 20 runs with when no flag is given). */
export const V8_DEFAULT_SEMI_SPACE_MIB = 16;
/** The semi-space the server runs with (docs/benchmarks.md: measured on the relay's p99 and CPU per signal). */
export const SEMI_SPACE_MIB = V8_DEFAULT_SEMI_SPACE_MIB;
/** The process's memory outside V8's heap (code, malloc, native socket state, Buffers in flight). */
export const NATIVE_RESERVE_BYTES = 128 * MIB;

export interface HeapPlan {
  budgetBytes: number;
  /** --max-old-space-size, MiB. */
  maxOldSpaceMiB: number;
  /** --max-semi-space-size, MiB. */
  semiSpaceMiB: number;
  /** What V8 reports as heap_size_limit with these flags: old space + 3 semi-spaces. */
  heapLimitBytes: number;
  /** The memory the process needs: the heap limit + NATIVE_RESERVE_BYTES (a VM's or container's floor). */
  processMemoryBytes: number;
}

/** The V8 heap limit and the process memory a server with this memory budget needs. */
export function heapPlan(budgetBytes: number = DEFAULT_MEMORY_BUDGET_BYTES, semiSpaceMiB: number = SEMI_SPACE_MIB): HeapPlan {
  if (!(Number.isSafeInteger(budgetBytes) && budgetBytes > 0))
    throw new RangeError(`memory budget must be a positive integer of bytes, got ${budgetBytes}`);
  const maxOldSpaceMiB = Math.ceil((budgetBytes * HEAP_GC_ROOM + HEAP_BASE_BYTES) / MIB);
  const heapLimitBytes = (maxOldSpaceMiB + 3 * semiSpaceMiB) * MIB;
  return { budgetBytes, maxOldSpaceMiB, semiSpaceMiB, heapLimitBytes, processMemoryBytes: heapLimitBytes + NATIVE_RESERVE_BYTES };
}

/** The node flags of a plan (the semi-space only when it differs from V8's default). */
export function heapFlags(plan: HeapPlan = heapPlan()): string[] {
  const flags = [`--max-old-space-size=${plan.maxOldSpaceMiB}`];
  if (plan.semiSpaceMiB !== V8_DEFAULT_SEMI_SPACE_MIB) flags.push(`--max-semi-space-size=${plan.semiSpaceMiB}`);
  return flags;
}

/**
 * The heap flags of a server started with this environment: its SLUICE_MEMORY_BUDGET_BYTES, else the
 * default budget (the local region's child servers, the test and bench servers).
 */
export function serverHeapFlags(env: Readonly<Record<string, string | undefined>> = {}): string[] {
  const budget = env.SLUICE_MEMORY_BUDGET_BYTES;
  return heapFlags(heapPlan(budget ? Number(budget) : undefined));
}

/** NODE_OPTIONS for a server with this budget. */
export function heapNodeOptions(budgetBytes: number = DEFAULT_MEMORY_BUDGET_BYTES): string {
  return heapFlags(heapPlan(budgetBytes)).join(' ');
}

/** The largest budget (whole MiB) whose plan fits in `memoryBytes` of process memory; 0 when none does. */
export function budgetForMemory(memoryBytes: number): number {
  const heapRoom = memoryBytes - NATIVE_RESERVE_BYTES - 3 * SEMI_SPACE_MIB * MIB - HEAP_BASE_BYTES;
  let mibs = Math.max(0, Math.floor(heapRoom / HEAP_GC_ROOM / MIB));
  // heapPlan rounds the old space up to whole MiB: step down until the plan fits.
  while (mibs > 0 && heapPlan(mibs * MIB).processMemoryBytes > memoryBytes) mibs--;
  return mibs * MIB;
}

/** Bytes as whole MiB, for messages ("256 MiB"). */
export const mib = (b: number) => `${(b / MIB).toFixed(0)} MiB`;

/**
 * Whether a budget fits the process memory: undefined when it does, else the reason, naming
 * `budgetField` (where the budget came from) and `memoryField` (where the memory did).
 */
export function memoryFitProblem(budgetBytes: number, memoryBytes: number, budgetField: string, memoryField: string): string | undefined {
  const plan = heapPlan(budgetBytes);
  if (plan.processMemoryBytes <= memoryBytes) return undefined;
  const fits = budgetForMemory(memoryBytes);
  return (
    `${budgetField} ${mib(budgetBytes)} needs ${mib(plan.processMemoryBytes)} of process memory ` +
    `(V8 old space ${plan.maxOldSpaceMiB} MiB = ${HEAP_GC_ROOM} x budget + ${mib(HEAP_BASE_BYTES)}, young generation ${3 * plan.semiSpaceMiB} MiB, ` +
    `${mib(NATIVE_RESERVE_BYTES)} outside the heap), but ${memoryField} gives ${mib(memoryBytes)}: ` +
    (fits >= MIN_MEMORY_BUDGET_BYTES ? `lower the budget to ${mib(fits)} or raise the memory` : `raise the memory`)
  );
}
