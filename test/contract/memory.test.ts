/**
 * The V8 heap limit derived from the memory budget (app/contract/memory.ts), and every place that
 * starts the server in production using it: the image, `npm start` / `npm run server`.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  budgetForMemory,
  DEFAULT_MEMORY_BUDGET_BYTES,
  heapFlags,
  heapNodeOptions,
  heapPlan,
  memoryFitProblem,
  MIB,
  MIN_MEMORY_BUDGET_BYTES,
  serverHeapFlags,
} from '../../app/contract/memory';
import { DEFAULT_BUDGET } from '../../app/backplane/budget';

const ROOT = path.resolve(__dirname, '../..');

describe('heapPlan', () => {
  it('gives the default budget of 256 MiB 480 MiB of old space and needs 656 MiB of process memory', () => {
    expect(DEFAULT_BUDGET.memoryBudgetBytes).toBe(DEFAULT_MEMORY_BUDGET_BYTES);
    const plan = heapPlan();
    expect(plan.maxOldSpaceMiB).toBe(480);
    expect(plan.heapLimitBytes).toBe((480 + 48) * MIB);
    expect(plan.processMemoryBytes).toBe(656 * MIB);
    expect(heapFlags(plan)).toEqual(['--max-old-space-size=480']);
    expect(heapNodeOptions()).toBe('--max-old-space-size=480');
  });

  it("gives a server started with an environment its budget's flags, the default's without one", () => {
    expect(serverHeapFlags()).toEqual(['--max-old-space-size=480']);
    expect(serverHeapFlags({ SLUICE_MEMORY_BUDGET_BYTES: '' })).toEqual(['--max-old-space-size=480']);
    expect(serverHeapFlags({ SLUICE_MEMORY_BUDGET_BYTES: String(64 * MIB) })).toEqual(['--max-old-space-size=192']);
    expect(() => serverHeapFlags({ SLUICE_MEMORY_BUDGET_BYTES: 'lots' })).toThrow(
      /memory budget must be a positive integer of bytes, got NaN/,
    );
  });

  it('names the semi-space only when it is not V8 default', () => {
    expect(heapFlags(heapPlan(64 * MIB, 32))).toEqual(['--max-old-space-size=192', '--max-semi-space-size=32']);
  });

  it('is the heap limit V8 itself reports with those flags (heap_size_limit = old space + 3 semi-spaces)', () => {
    for (const plan of [heapPlan(), heapPlan(100 * MIB, 32)]) {
      const r = spawnSync(process.execPath, [...heapFlags(plan), '-p', 'require("v8").getHeapStatistics().heap_size_limit'], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '' },
      });
      expect(Number(r.stdout.trim())).toBe(plan.heapLimitBytes);
    }
  });

  it('refuses a budget that is not a positive integer', () => {
    expect(() => heapPlan(0)).toThrow(/positive integer/);
    expect(() => heapPlan(1.5)).toThrow(/positive integer/);
  });
});

describe('budgetForMemory', () => {
  it('is the largest budget whose plan fits the memory', () => {
    for (const mib of [296, 384, 512, 768, 1024, 4096]) {
      const memory = mib * MIB;
      const b = budgetForMemory(memory);
      expect(heapPlan(b).processMemoryBytes).toBeLessThanOrEqual(memory);
      expect(heapPlan(b + MIB).processMemoryBytes).toBeGreaterThan(memory);
    }
    expect(budgetForMemory(512 * MIB)).toBe(160 * MIB);
    expect(budgetForMemory(296 * MIB)).toBe(MIN_MEMORY_BUDGET_BYTES);
    expect(budgetForMemory(200 * MIB)).toBe(0);
  });
});

describe('memoryFitProblem', () => {
  it('passes a budget that fits and names both fields when it does not', () => {
    expect(memoryFitProblem(DEFAULT_MEMORY_BUDGET_BYTES, 656 * MIB, 'B', 'M')).toBeUndefined();
    const p = memoryFitProblem(DEFAULT_MEMORY_BUDGET_BYTES, 512 * MIB, 'SLUICE_MEMORY_BUDGET_BYTES', 'the container')!;
    expect(p).toMatch(/^SLUICE_MEMORY_BUDGET_BYTES 256 MiB needs 656 MiB of process memory/);
    expect(p).toMatch(/but the container gives 512 MiB: lower the budget to 160 MiB or raise the memory/);
  });
});

describe('where node starts', () => {
  it("the image's NODE_OPTIONS is the default budget's", () => {
    const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
    const env = /^\s*NODE_OPTIONS=(.+)$/m.exec(dockerfile);
    expect(env?.[1].trim()).toBe(heapNodeOptions());
  });

  it('npm start, npm run server and server:dist start node with the default budget heap flags', () => {
    const scripts = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    for (const name of ['start', 'server', 'server:dist']) {
      const argv = scripts[name].split(/\s+/);
      const node = argv.indexOf('node');
      expect(node).toBeGreaterThanOrEqual(0);
      expect(argv.slice(node + 1, node + 1 + heapFlags().length)).toEqual(heapFlags());
    }
  });
});
