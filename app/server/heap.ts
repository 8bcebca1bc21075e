/**
 * The start-up check of the process's memory against its budget (app/contract/memory.ts): the V8
 * heap limit the process got must be the one derived from SLUICE_MEMORY_BUDGET_BYTES, and the
 * machine or container must hold it. Run by main() before the server listens.
 *
 *   - a heap limit below the plan's: the heap would run out (V8 "heap out of memory": the process
 *     dies with every peer's in-memory history) before the budget evicts anything: refused;
 *   - a heap limit well above the plan's (no --max-old-space-size: V8 sizes the heap from the
 *     machine): the heap can outgrow the budget: refused in production, a warning in development;
 *   - less memory than the plan needs (the cgroup's limit, else the machine's): refused.
 */
import os from 'node:os';
import v8 from 'node:v8';
import { heapNodeOptions, heapPlan, memoryFitProblem, MIB, mib } from '../contract/memory';

/** A heap limit up to this much above the plan's is the plan (rounding, a larger semi-space). */
const ABOVE_PLAN = 1.25;

export interface HeapFacts {
  /** v8.getHeapStatistics().heap_size_limit. */
  heapLimitBytes: number;
  /** The memory this process may use: its cgroup's limit when it has one, else the machine's. */
  memoryBytes: number;
  /** Where memoryBytes came from, for the message. */
  memorySource: string;
}

/** This process's facts. */
export function heapFacts(): HeapFacts {
  const total = os.totalmem();
  // Node 20: the cgroup's memory limit, or 0 / a huge number when there is none.
  const constrained = typeof process.constrainedMemory === 'function' ? Number(process.constrainedMemory()) : 0;
  const inCgroup = constrained > 0 && constrained < total;
  return {
    heapLimitBytes: v8.getHeapStatistics().heap_size_limit,
    memoryBytes: inCgroup ? constrained : total,
    memorySource: inCgroup ? "the container's memory limit (cgroup)" : "the machine's memory",
  };
}

export interface HeapCheck {
  /** Why the server must not start. */
  error?: string;
  /** What is wrong but tolerated (development only). */
  warning?: string;
}

export function checkHeap(budgetBytes: number, production: boolean, facts: HeapFacts = heapFacts()): HeapCheck {
  const fit = memoryFitProblem(budgetBytes, facts.memoryBytes, 'SLUICE_MEMORY_BUDGET_BYTES', facts.memorySource);
  if (fit) return { error: fit };
  const plan = heapPlan(budgetBytes);
  // Flags on node's command line win over NODE_OPTIONS (npm start / npm run server set the default's there).
  const want = `${heapNodeOptions(budgetBytes)} (on node's command line, or in NODE_OPTIONS)`;
  const limit = `the V8 heap limit is ${mib(facts.heapLimitBytes)}`;
  const planned = `SLUICE_MEMORY_BUDGET_BYTES ${mib(budgetBytes)} plans ${mib(plan.heapLimitBytes)}`;
  // V8 rounds its limit to pages: a MiB of slack below the plan is the plan.
  if (facts.heapLimitBytes < plan.heapLimitBytes - MIB)
    return { error: `${limit}, below what ${planned} for: the heap would run out before the budget evicts; start node with ${want}` };
  if (facts.heapLimitBytes > plan.heapLimitBytes * ABOVE_PLAN) {
    const message = `${limit}, above what ${planned} for: the heap can outgrow the budget; start node with ${want}`;
    return production ? { error: message } : { warning: message };
  }
  return {};
}
