/** Summaries of a V8 `.cpuprofile` (from `node --cpu-prof`): self and inclusive time per function. */
import fs from 'node:fs';
import path from 'node:path';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface FnTime {
  fn: string;
  selfMs: number;
  totalMs: number;
  selfPct: number;
  totalPct: number;
}

export function summarize(file: string, top = 25): { totalMs: number; idlePct: number; gcPct: number; byFunction: FnTime[] } {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) selfUs.set(p.samples[i], (selfUs.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  const label = (n: Node) => {
    const f = n.callFrame;
    const where = f.url
      ? `${f.url
          .replace(/^file:\/\//, '')
          .replace(/.*\/node_modules\//, '')
          .replace(/.*\/work\/main\//, '')}:${f.lineNumber + 1}`
      : '';
    return `${f.functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
  };
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let all = 0;
  for (const [id, us] of selfUs) {
    all += us;
    const n = byId.get(id)!;
    self.set(label(n), (self.get(label(n)) ?? 0) + us);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const l = label(byId.get(cur)!);
      if (seen.has(l)) continue;
      seen.add(l);
      total.set(l, (total.get(l) ?? 0) + us);
    }
  }
  const pct = (x: number) => (100 * x) / all;
  const idle = [...self].filter(([k]) => k.startsWith('(idle)')).reduce((s, [, v]) => s + v, 0);
  const gc = [...self].filter(([k]) => k.startsWith('(garbage collector)')).reduce((s, [, v]) => s + v, 0);
  const byFunction = [...self.entries()]
    .filter(([k]) => !k.startsWith('(idle)'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([fn, us]) => ({
      fn,
      selfMs: us / 1000,
      totalMs: (total.get(fn) ?? us) / 1000,
      selfPct: pct(us),
      totalPct: pct(total.get(fn) ?? us),
    }));
  return { totalMs: all / 1000, idlePct: pct(idle), gcPct: pct(gc), byFunction };
}

export function newestProfile(dir: string): string {
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => path.join(dir, f));
  if (files.length === 0) throw new Error(`no .cpuprofile in ${dir}`);
  // The main thread's profile is the largest (loader worker threads write small ones beside it).
  return files.sort((a, b) => fs.statSync(b).size - fs.statSync(a).size)[0];
}
