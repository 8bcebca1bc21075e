/**
 * Shared by every benchmark: the machine and load context of a run, medians, and the writer of
 * bench/results/<name>.{md,json} (Markdown for people, JSON for diffs and docs/benchmarks.md).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Machine {
  date: string;
  node: string;
  cpus: number;
  cpuModel: string;
  memGiB: number;
  kernel: string;
  /** 1-minute load average when the run started and ended: other work on the same cores. */
  loadavgStart: number;
  loadavgEnd?: number;
  openFileLimit: string;
}

export function machine(): Machine {
  let limit = 'unknown';
  try {
    const line = fs
      .readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    if (line)
      limit = line
        .split(/\s{2,}/)
        .slice(1, 3)
        .join(' / ');
  } catch {
    /* not Linux */
  }
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    loadavgStart: Number(os.loadavg()[0].toFixed(2)),
    openFileLimit: limit,
  };
}

export function machineLine(m: Machine): string {
  return (
    `${m.date.slice(0, 16).replace('T', ' ')} UTC, Node ${m.node}, ${m.cpus} x ${m.cpuModel}, ${m.memGiB} GiB, ${m.kernel}, ` +
    `open files (soft / hard) ${m.openFileLimit}, load average ${m.loadavgStart} at start, ${m.loadavgEnd ?? '?'} at end ` +
    '(the cores are shared with other work: figures are medians of interleaved runs).'
  );
}

export function median(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

export const ms = (x: number, digits = 1) => (Number.isFinite(x) ? `${x.toFixed(digits)} ms` : 'n/a');
export const kb = (bytes: number) => (Number.isFinite(bytes) ? `${(bytes / 1024).toFixed(1)} KiB` : 'n/a');
export const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(2)}x` : 'n/a');

export function table(head: string[], rows: Array<Array<string | number>>): string {
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** A report's two middle sections: its goals (measured, met or not), then the figures side by side under `title`. */
export function goalsAndFigures(
  goals: Array<Array<string | number>>,
  title: string,
  head: string[],
  rows: Array<Array<string | number>>,
): string {
  return ['## Goals', '', table(['goal', 'measured', 'status'], goals), '', `## ${title}`, '', table(head, rows)].join('\n');
}

export const RESULTS_DIR = path.join(__dirname, '..', 'results');

/** Writes bench/results/<name>.md and .json; prints the Markdown. */
export function writeResults(name: string, m: Machine, markdown: string, data: object): void {
  m.loadavgEnd = Number(os.loadavg()[0].toFixed(2));
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const md = `${markdown.trimEnd()}\n\nMachine: ${machineLine(m)}\n`;
  fs.writeFileSync(path.join(RESULTS_DIR, `${name}.md`), md);
  fs.writeFileSync(path.join(RESULTS_DIR, `${name}.json`), `${JSON.stringify({ machine: m, ...data }, null, 2)}\n`);
  process.stdout.write(`${md}\n`);
}

/** Runs main and exits with its outcome (a benchmark never hangs on a leftover handle). */
export function run(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: Error) => {
      process.stderr.write(`${err.stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}

export const sleep = (msec: number) => new Promise<void>((r) => setTimeout(r, msec));
