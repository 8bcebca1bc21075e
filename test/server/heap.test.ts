/**
 * The start-up check of the V8 heap limit against the memory budget (app/server/heap.ts), and the
 * real server refusing to start in production without the derived flags.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { heapFlags, heapPlan, MIB } from '../../app/contract/memory';
import { checkHeap, heapFacts } from '../../app/server/heap';

const ROOT = path.resolve(__dirname, '../..');
const BUDGET = 256 * MIB;
const plan = heapPlan(BUDGET);
const facts = (heapLimitBytes: number, memoryBytes = 8192 * MIB) => ({ heapLimitBytes, memoryBytes, memorySource: 'the machine' });

describe('checkHeap', () => {
  it('passes the planned limit', () => {
    expect(checkHeap(BUDGET, true, facts(plan.heapLimitBytes))).toEqual({});
  });

  it('refuses a limit below the plan, in development too', () => {
    const r = checkHeap(BUDGET, false, facts(plan.heapLimitBytes - 64 * MIB));
    expect(r.error).toMatch(/V8 heap limit is 464 MiB, below what SLUICE_MEMORY_BUDGET_BYTES 256 MiB plans 528 MiB for/);
    expect(r.error).toMatch(/--max-old-space-size=480/);
  });

  it("refuses V8's own sizing (no flag) in production, warns in development", () => {
    expect(checkHeap(BUDGET, true, facts(4144 * MIB)).error).toMatch(/4144 MiB, above what .* the heap can outgrow the budget/);
    const dev = checkHeap(BUDGET, false, facts(4144 * MIB));
    expect(dev.error).toBeUndefined();
    expect(dev.warning).toMatch(/--max-old-space-size=480/);
  });

  it('refuses a budget the memory cannot hold, naming the field and where the memory came from', () => {
    const r = checkHeap(BUDGET, false, {
      heapLimitBytes: plan.heapLimitBytes,
      memoryBytes: 512 * MIB,
      memorySource: "the container's memory limit (cgroup)",
    });
    expect(r.error).toMatch(
      /^SLUICE_MEMORY_BUDGET_BYTES 256 MiB needs 656 MiB .* but the container's memory limit \(cgroup\) gives 512 MiB/,
    );
  });

  it("reads this process's heap limit and memory", () => {
    const f = heapFacts();
    expect(f.heapLimitBytes).toBeGreaterThan(0);
    expect(f.memoryBytes).toBeGreaterThan(0);
  });
});

/** Runs app/server/main.ts in production with `flags`; resolves with its exit code and stderr, or 'listening'. */
function startProduction(flags: string[]): Promise<{ code: number | null; out: string }> {
  const proc = spawn(process.execPath, [...flags, '--import', 'tsx', path.join(ROOT, 'app/server/main.ts')], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      SLUICE_ENV: 'production',
      SLUICE_HOST: '127.0.0.1',
      SLUICE_PORT: '0',
      SLUICE_ADMIN_PORT: '0',
      SLUICE_TOKEN_SECRET: 's'.repeat(40),
      SLUICE_ADMIN_TOKEN: 'a'.repeat(40),
      SLUICE_LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolve) => {
    proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('server listening')) {
        proc.kill('SIGKILL');
        resolve({ code: null, out: 'listening' });
      }
    });
    proc.once('exit', (code) => resolve({ code, out }));
  });
}

describe('the server in production', () => {
  it('refuses to start without the heap flags, naming the budget and the flag', async () => {
    const r = await startProduction([]);
    expect(r.code).toBe(2);
    expect(r.out).toMatch(
      /invalid configuration: the V8 heap limit is \d+ MiB, above what SLUICE_MEMORY_BUDGET_BYTES 256 MiB plans 528 MiB for/,
    );
    expect(r.out).toContain('--max-old-space-size=480');
  }, 30_000);

  it('starts with them', async () => {
    expect((await startProduction(heapFlags(plan))).out).toBe('listening');
  }, 30_000);
});
