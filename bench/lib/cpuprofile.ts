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

/** Where a busy stretch of the main thread went, by what its samples were doing (ms). */
export interface Stretch {
  /** Start, ms after the profile began. */
  atMs: number;
  ms: number;
  /** V8's collector: the sample's own frame is (garbage collector). */
  gcMs: number;
  /** Writes of the turn's batch (app/server/batch.ts flush) and any other writev. */
  writeMs: number;
  /** Reading and handling frames (socket reads: onStreamRead), writes excluded. */
  framesMs: number;
  otherMs: number;
  /** The largest self frames of the stretch. */
  top: Array<[string, number]>;
}

/**
 * The main thread's busy stretches longer than `minMs` (consecutive samples without an idle one:
 * one or more event-loop turns that ran without waiting), each split into GC, writes, frame
 * handling and the rest: what a relay's long turns are made of.
 */
export function longStretches(file: string, minMs: number, fromMs = 0): Stretch[] {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const kind = new Map<number, 'idle' | 'gc' | 'write' | 'frames' | 'other'>();
  const classify = (id: number) => {
    let k = kind.get(id);
    if (k) return k;
    const self = byId.get(id)!.callFrame.functionName;
    if (self === '(idle)') k = 'idle';
    else if (self === '(garbage collector)') k = 'gc';
    else {
      let frames = false;
      let write = false;
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        const f = byId.get(cur)!.callFrame;
        if (f.functionName === 'writev' || f.functionName === 'writevGeneric' || (f.functionName === 'flush' && f.url.includes('batch')))
          write = true;
        if (f.functionName === 'onStreamRead') frames = true;
      }
      k = write ? 'write' : frames ? 'frames' : 'other';
    }
    kind.set(id, k);
    return k;
  };
  const out: Stretch[] = [];
  let t = 0;
  let cur: { at: number; end: number; ms: Record<string, number>; self: Map<string, number> } | undefined;
  const close = () => {
    if (cur && cur.end - cur.at > minMs && cur.at >= fromMs) {
      out.push({
        atMs: cur.at,
        ms: cur.end - cur.at,
        gcMs: cur.ms.gc ?? 0,
        writeMs: cur.ms.write ?? 0,
        framesMs: cur.ms.frames ?? 0,
        otherMs: cur.ms.other ?? 0,
        top: [...cur.self].sort((a, b) => b[1] - a[1]).slice(0, 4),
      });
    }
    cur = undefined;
  };
  for (let i = 0; i < p.samples.length; i++) {
    const dt = (p.timeDeltas[i] ?? 0) / 1000;
    t += dt;
    const k = classify(p.samples[i]);
    if (k === 'idle') {
      close();
      continue;
    }
    cur ??= { at: t - dt, end: t, ms: {}, self: new Map() };
    cur.end = t;
    cur.ms[k] = (cur.ms[k] ?? 0) + dt;
    const fn = byId.get(p.samples[i])!.callFrame.functionName || '(anonymous)';
    cur.self.set(fn, (cur.self.get(fn) ?? 0) + dt);
  }
  close();
  return out;
}
