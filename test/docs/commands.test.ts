/**
 * Every shell command of README.md, CONTRIBUTING.md and docs/*.md runs as written (test/docs/snippets.ts
 * says how each is checked): offline npm scripts (plan, rollout, token, plan:diff) really run with a
 * bound; the long-running CLIs (start, drill, peer) parse their arguments with their own commander
 * definitions and stop (parse-only.cjs); `npm run server`'s environment goes through the server's
 * config validation; jest commands list their tests; pulumi/gcloud only inside `sh cloud-only`
 * blocks. Every code fence names its language, so output is never mistaken for a command.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../app/server/config';
import {
  Check,
  checkOf,
  Command,
  commandLine,
  COMMANDER_SCRIPTS,
  docFiles,
  fencedBlocks,
  inlineNpmCommands,
  isShell,
  ROOT,
  shellCommands,
} from './snippets';

const scripts = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
const blocks = docFiles().flatMap((f) => fencedBlocks(f, fs.readFileSync(path.join(ROOT, f), 'utf8')));
const commands = blocks
  .filter(isShell)
  .flatMap(shellCommands)
  .map((c) => ({ c, check: checkOf(c, scripts) }));
/** Inline `npm ...` commands of the prose, once each, and not again when a code block has them. */
const fenced = new Set(commands.map(({ c }) => commandLine(c)));
const inline = [
  ...new Map(
    docFiles()
      .flatMap((f) => inlineNpmCommands(f, fs.readFileSync(path.join(ROOT, f), 'utf8')))
      .filter((c) => !fenced.has(commandLine(c)))
      .map((c) => [commandLine(c), c]),
  ).values(),
];
const scriptOf = (c: Command) => (c.words[1] === 'run' ? c.words[2] : c.words[1]);
const where = (c: Command) => `${c.file}:${c.line}: ${commandLine(c)}`;

interface Ran {
  code: number | null;
  out: string;
}
function bash(line: string, env: Record<string, string>, timeoutMs: number): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      'bash',
      ['-c', line],
      { cwd: ROOT, env: { ...process.env, ...env }, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 << 20 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, out: `${stdout}\n${stderr}` }),
    );
  });
}

/** `npm test ...` / `npx jest ...` with `--listTests`: jest parses every option and resolves the paths. */
const listTests = (c: Command) => {
  const line = commandLine(c);
  return c.words[0] === 'npm' && !c.words.includes('--') ? `${line} -- --listTests` : `${line} --listTests`;
};

test('every code fence names its language (sh/bash for commands, text/json/ts/... for the rest)', () => {
  expect(blocks.length).toBeGreaterThan(20);
  expect(blocks.filter((b) => b.lang === '').map((b) => `${b.file}:${b.line}`)).toEqual([]);
});

test('every command has a check, and the docs still hold the ones this test exists for', () => {
  expect(
    commands.filter(({ check }) => check.kind === 'refused').map(({ c, check }) => `${where(c)}: ${(check as { reason: string }).reason}`),
  ).toEqual([]);
  const lines = commands.map(({ c }) => commandLine(c));
  expect(lines).toContain('npm install');
  expect(lines).toContain('npm start');
  expect(lines).toContain('npm test');
  expect(commands.filter(({ c }) => c.cloudOnly).length).toBeGreaterThan(5);
});

test('npm run server: the environment each command sets passes the server config validation', () => {
  const servers = commands.filter(({ check }) => check.kind === 'env');
  expect(servers.length).toBeGreaterThan(0);
  for (const { c } of servers) expect(() => loadConfig({ ...c.env })).not.toThrow();
});

test('npx tsx: the script exists', () => {
  for (const { check } of commands) if (check.kind === 'file') expect(fs.existsSync(path.join(ROOT, check.file))).toBe(true);
});

test('walkthrough programs are installed where the docs use them', async () => {
  const programs = [...new Set(commands.flatMap(({ check }) => (check.kind === 'installed' ? [check.program] : [])))];
  for (const p of programs) expect({ p, ...(await bash(`command -v ${p}`, {}, 10_000)) }).toMatchObject({ p, code: 0 });
});

/** One process per command, two at a time (2 cores shared). */
async function each(kinds: Check['kind'][], run: (c: Command, check: Check) => Promise<void>, list = commands): Promise<number> {
  const todo = list.filter(({ check }) => kinds.includes(check.kind));
  let next = 0;
  await Promise.all(
    [0, 1].map(async () => {
      while (next < todo.length) {
        const { c, check } = todo[next++];
        await run(c, check);
      }
    }),
  );
  return todo.length;
}

const preload = path.join(__dirname, 'parse-only.cjs');
/** Runs `c` with parse-only.cjs: exit 0 after the CLI's own parser took every argument (or printed its --help). */
async function parses(c: Command, failed: string[]): Promise<void> {
  const r = await bash(commandLine(c), { ...c.env, NODE_OPTIONS: `--require=${preload}` }, 60_000);
  if (r.code !== 0 || !(r.out.includes('{"parseOnly":') || (c.words.includes('--help') && r.out.includes('Usage:'))))
    failed.push(`${where(c)}: exit ${r.code}\n${r.out.slice(-600)}`);
}

test('long-running CLIs (npm start, drill, peer): their own parser accepts the arguments as written', async () => {
  const failed: string[] = [];
  const n = await each(['parse'], (c) => parses(c, failed));
  expect(n).toBeGreaterThan(5);
  expect(failed).toEqual([]);
}, 600_000);

test('inline npm commands of the prose: the script exists; a commander CLI given arguments parses them as written', async () => {
  expect(inline.filter((c) => !(scriptOf(c) in scripts)).map(where)).toEqual([]);
  const failed: string[] = [];
  const n = await each(
    ['parse'],
    (c) => parses(c, failed),
    inline
      .filter((c) => COMMANDER_SCRIPTS.has(scriptOf(c)) && c.words.includes('--'))
      .map((c) => ({ c, check: { kind: 'parse' } as Check })),
  );
  expect(n).toBeGreaterThan(5);
  expect(failed).toEqual([]);
}, 600_000);

test('offline npm scripts (plan, rollout, token) run as written and exit 0; jest commands list their tests', async () => {
  const failed: string[] = [];
  const n = await each(['run', 'list-tests'], async (c, check) => {
    const line = check.kind === 'list-tests' ? listTests(c) : commandLine(c);
    const r = await bash(line, c.env, check.kind === 'run' ? check.timeoutMs : 120_000);
    if (r.code !== 0) failed.push(`${where(c)}: exit ${r.code}\n${r.out.slice(-600)}`);
    else if (check.kind === 'list-tests') expect(r.out).toMatch(/\.test\.ts$/m);
  });
  expect(n).toBeGreaterThan(3);
  expect(failed).toEqual([]);
}, 900_000);
