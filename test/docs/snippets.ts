/**
 * The shell commands of the docs, as a reader would type them: every fenced ```sh / ```bash block
 * of README.md, CONTRIBUTING.md and docs/*.md, split into commands (comments dropped, `\` line
 * continuations joined, `a && b` split, `export` and `NAME=value` prefixes kept as the environment),
 * and how the doc test checks each one (`checkOf`). A block fenced `sh cloud-only` needs a GCP
 * project or the Pulumi CLI; its pulumi/gcloud commands are not run, its npm commands are.
 * Pure: no I/O but reading the files; test/docs/commands.test.ts runs the checks.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse, quote } from 'shell-quote';

export const ROOT = path.resolve(__dirname, '../..');

export interface Block {
  file: string;
  line: number;
  lang: string;
  tags: string[];
  body: string;
}

/** The Markdown files whose commands must run: the README, CONTRIBUTING.md, every docs/*.md, the SDK's README. */
export function docFiles(root = ROOT): string[] {
  const docs = fs
    .readdirSync(path.join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`);
  return ['README.md', 'CONTRIBUTING.md', ...docs, 'app/client/README.md'];
}

/** Every fenced code block (``` at any indentation, closed at the same indentation). */
export function fencedBlocks(file: string, markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(.*)$/.exec(lines[i]);
    if (!open) continue;
    const [lang = '', ...tags] = open[2].trim().split(/\s+/).filter(Boolean);
    const close = lines.findIndex((l, j) => j > i && l === `${open[1]}\`\`\``);
    if (close < 0) throw new Error(`${file}:${i + 1}: a code fence that is never closed`);
    const body = lines
      .slice(i + 1, close)
      .map((l) => (l.startsWith(open[1]) ? l.slice(open[1].length) : l))
      .join('\n');
    blocks.push({ file, line: i + 1, lang, tags, body });
    i = close;
  }
  return blocks;
}

export const isShell = (b: Block) => b.lang === 'sh' || b.lang === 'bash';

export interface Command {
  file: string;
  line: number;
  /** The words as the shell passes them on (quotes removed), without the NAME=value prefixes. */
  words: string[];
  /** `export`s earlier in the block plus this command's own NAME=value prefixes. */
  env: Record<string, string>;
  cloudOnly: boolean;
  /** Shell operators other than `&&` (pipes, redirections, `<placeholder>`s read as redirections). */
  ops: string[];
}

/** The command line to hand to `bash -c`: the same words, quoted again. */
export const commandLine = (c: Command) => quote(c.words);

export function shellCommands(block: Block): Command[] {
  const cloudOnly = block.tags.includes('cloud-only');
  const env: Record<string, string> = {};
  const out: Command[] = [];
  const lines = block.body.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = block.line + 1 + i;
    let text = lines[i];
    while (/\\\s*$/.test(text) && i + 1 < lines.length) text = text.replace(/\\\s*$/, ' ') + lines[++i];
    // Variables stay as written ($PROJECT): these commands are checked, never expanded by us.
    const tokens = parse(text, (key) => `$${key}`);
    let current: Array<string> = [];
    let ops: string[] = [];
    const flush = () => {
      if (current.length === 0) return;
      const own: Record<string, string> = {};
      while (current.length > 0 && /^[A-Z_][A-Z0-9_]*=/.test(current[0])) {
        const [k, ...v] = current.shift()!.split('=');
        own[k] = v.join('=');
      }
      if (current[0] === 'export') {
        for (const a of current.slice(1)) {
          const [k, ...v] = a.split('=');
          env[k] = v.join('=');
        }
      } else {
        out.push({ file: block.file, line, words: current, env: { ...env, ...own }, cloudOnly, ops });
      }
      current = [];
      ops = [];
    };
    for (const t of tokens) {
      if (typeof t === 'string') current.push(t);
      else if ('comment' in t) break;
      else if ('op' in t && t.op === '&&') flush();
      else if ('op' in t) ops.push(t.op === 'glob' ? t.pattern : t.op);
    }
    flush();
  }
  return out;
}

/** npm scripts whose CLI is built on commander, so parse-only.cjs can check their arguments. */
export const COMMANDER_SCRIPTS = new Set(['start', 'drill', 'peer', 'token', 'plan', 'plan:diff', 'rollout']);

/**
 * `npm ...` commands quoted inline in the prose (`npm run drill -- --quick`), outside code blocks.
 * One with a `<placeholder>` is a template (`--stack <name>`) and is left out.
 */
export function inlineNpmCommands(file: string, markdown: string): Command[] {
  const prose = markdown.replace(/^([ \t]*)```[\s\S]*?^\1```/gm, (m) => m.replace(/[^\n]/g, ' '));
  const out: Command[] = [];
  for (const m of prose.matchAll(/`(npm (?:run|start|test)\b[^`]*)`/g)) {
    if (m[1].includes('<')) continue;
    const line = prose.slice(0, m.index).split('\n').length;
    // A code span may wrap onto the next line; it is still one command.
    out.push(...shellCommands({ file, line: line - 1, lang: 'sh', tags: [], body: m[1].replace(/\n/g, ' ') }));
  }
  return out;
}

export type Check =
  | { kind: 'run'; timeoutMs: number }
  | { kind: 'parse' }
  | { kind: 'env' }
  | { kind: 'list-tests' }
  | { kind: 'file'; file: string }
  | { kind: 'installed'; program: string; reason: string }
  | { kind: 'allowed'; reason: string }
  | { kind: 'refused'; reason: string };

/** npm scripts the test runs for real: offline, bounded, side-effect free. */
const RUN_SCRIPTS: Record<string, number> = { token: 60_000, plan: 180_000, 'plan:diff': 180_000, rollout: 240_000, build: 120_000 };
/** npm scripts built on commander: their arguments are parsed by the CLI itself (parse-only.cjs), not run. */
const PARSE_SCRIPTS = new Set(['start', 'drill', 'peer']);
/** npm scripts the test does not run, each with where it runs instead. */
const ELSEWHERE: Record<string, string> = {
  typecheck: 'CI runs it (.ci/run), before the tests',
  bench: 'benchmarks are not tests: 15 minutes, run by hand; results in bench/results/',
  'bench:soak': 'the 10-minute soak, run by hand; results in bench/results/soak.md',
  lint: 'eslint over the whole tree, a minute on 2 cores: run by hand and in CI, not inside the tests',
  'format:check': 'prettier --check over the whole tree: run by hand and in CI, not inside the tests',
  format: 'prettier --write rewrites files: never run by a test',
  'build:client': 'test/client/package.test.ts builds, packs and installs the SDK package',
};
/** Programs a walkthrough uses against servers it started on fixed ports: checked installed, not run. */
const WALKTHROUGH: Record<string, string> = {
  mkdir: 'coreutils',
  'redis-server': "the walkthrough's Redis on a fixed port; test/backplane/ runs the same on ephemeral ports",
  'redis-cli': 'talks to that Redis',
  curl: "talks to the walkthrough's servers on fixed ports; the admin routes are tested in test/server/",
  fuser: "SIGKILLs the walkthrough's server s3; test/backplane/sigkill.test.ts does it on ephemeral ports",
};
/** Need a GCP project, the Pulumi CLI, a registry (docker push) or GitHub (gh): only in `sh cloud-only` blocks. */
const CLOUD = new Set(['pulumi', 'gcloud', 'docker', 'gh']);

/** How the doc test checks one command; `refused` fails the test with its reason. */
export function checkOf(c: Command, scripts: Record<string, string>): Check {
  const [cmd, sub, name] = c.words;
  if (c.ops.length > 0 && !c.cloudOnly)
    return { kind: 'refused', reason: `shell operators ${c.ops.join(' ')} (a <placeholder> is a redirection): write a runnable command` };
  if (CLOUD.has(cmd))
    return c.cloudOnly
      ? { kind: 'allowed', reason: 'cloud-only: needs a GCP project / the Pulumi CLI' }
      : { kind: 'refused', reason: `${cmd} outside a \`sh cloud-only\` block` };
  if (c.ops.length > 0) return { kind: 'refused', reason: `shell operators ${c.ops.join(' ')} in an npm command` };
  if (cmd === 'npm') {
    if (sub === 'install' || sub === 'ci') return { kind: 'allowed', reason: 'the install itself; CI runs npm ci (.ci/run)' };
    const script = sub === 'run' ? name : sub;
    if (!script || !(script in scripts)) return { kind: 'refused', reason: `no npm script "${script}" in package.json` };
    if (script === 'test' || script === 'test:quick') return { kind: 'list-tests' };
    if (script === 'server') return { kind: 'env' };
    if (script in RUN_SCRIPTS) return { kind: 'run', timeoutMs: RUN_SCRIPTS[script] };
    if (PARSE_SCRIPTS.has(script)) return { kind: 'parse' };
    if (script in ELSEWHERE) return { kind: 'allowed', reason: ELSEWHERE[script] };
    return { kind: 'refused', reason: `npm script "${script}" has no check in test/docs/snippets.ts` };
  }
  if (cmd === 'npx' && sub === 'jest') return { kind: 'list-tests' };
  if (cmd === 'npx' && sub === 'tsx') return { kind: 'file', file: name };
  if (cmd === 'bash' && sub === '.ci/run') return { kind: 'allowed', reason: 'it is CI' };
  if (cmd in WALKTHROUGH) return { kind: 'installed', program: cmd, reason: WALKTHROUGH[cmd] };
  return { kind: 'refused', reason: `"${cmd}" has no check in test/docs/snippets.ts` };
}
