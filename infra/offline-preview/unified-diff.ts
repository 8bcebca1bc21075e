/**
 * The plan diff: a line-based unified diff (3 lines of context) from the well-kept `diff` package,
 * plus the added/removed counts the plan summary prints. Same output everywhere (no system diff).
 */
import { structuredPatch } from 'diff';

export interface DiffResult {
  changed: boolean;
  added: number;
  removed: number;
  text: string;
}

export function unifiedDiff(before: string, after: string, fromLabel: string, toLabel: string, context = 3): DiffResult {
  const patch = structuredPatch(fromLabel, toLabel, before, after, '', '', { context });
  let added = 0;
  let removed = 0;
  const out = [`--- ${fromLabel}`, `+++ ${toLabel}`];
  for (const h of patch.hunks) {
    out.push(`@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@`);
    for (const line of h.lines) {
      if (line.startsWith('\\')) continue; // "\ No newline at end of file"
      if (line[0] === '+') added++;
      else if (line[0] === '-') removed++;
      out.push(line);
    }
  }
  if (patch.hunks.length === 0) return { changed: false, added: 0, removed: 0, text: '' };
  return { changed: true, added, removed, text: out.join('\n') };
}
