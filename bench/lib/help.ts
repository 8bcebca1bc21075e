/**
 * `--help` (or `-h`) for every benchmark script: prints the script's own opening doc comment (what it
 * measures, its options, how to reproduce) and exits 0 before anything starts. Imported first, for
 * its effect, by each bench/*.ts: without it, a script ignored `--help` like any flag it did not know
 * and ran in full (a 10k drain, a 10-minute soak) and overwrote its results file.
 */
import fs from 'node:fs';

/** The opening `/** ... *\/` block of a source text, without its comment markers. */
export function openingDoc(source: string): string | undefined {
  const m = /^\s*\/\*\*([\s\S]*?)\*\//.exec(source);
  if (!m) return undefined;
  return m[1]
    .split('\n')
    .map((l) => l.replace(/^\s*\* ?/, ''))
    .join('\n')
    .trim();
}

const script = process.argv[1];
if (script && process.argv.slice(2).some((a) => a === '--help' || a === '-h')) {
  let text: string | undefined;
  try {
    text = openingDoc(fs.readFileSync(script, 'utf8'));
  } catch {
    text = undefined;
  }
  process.stdout.write(`${text ?? `${script}: no description`}\n`);
  process.exit(0);
}
