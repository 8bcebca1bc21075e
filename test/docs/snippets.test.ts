/**
 * The doc test's extraction and classification (test/docs/snippets.ts), on small documents: what
 * counts as a command, and that a command the test cannot check fails instead of passing silently.
 */
import { checkOf, commandLine, fencedBlocks, inlineNpmCommands, shellCommands } from './snippets';

const scripts = {
  start: 'tsx app/local/main.ts',
  test: 'jest',
  plan: 'tsx infra/offline-preview/cli.ts',
  server: 'tsx app/server/main.ts',
  drill: 'x',
};
const commandsOf = (md: string) => fencedBlocks('doc.md', md).flatMap(shellCommands);

test('fences: language and tags, indented fences, the line of each block; an unclosed fence is an error', () => {
  const md = ['# t', '```sh cloud-only', 'pulumi up', '```', '- a list:', '  ```text', '  output', '  ```', '```', 'x', '```'].join('\n');
  expect(fencedBlocks('doc.md', md).map((b) => [b.line, b.lang, b.tags, b.body])).toEqual([
    [2, 'sh', ['cloud-only'], 'pulumi up'],
    [6, 'text', [], 'output'],
    [9, '', [], 'x'],
  ]);
  expect(() => fencedBlocks('doc.md', '```sh\nnpm start\n')).toThrow(/doc.md:1: a code fence that is never closed/);
});

test('commands: comments dropped, continuations joined, && split, export and NAME=value kept as env', () => {
  const md = [
    '```sh',
    '# a comment line',
    'export SLUICE_REDIS_URL=redis://127.0.0.1:6379',
    'SLUICE_PORT=4001 npm run server      # terminal 2',
    'npm run peer -- --count 2 \\',
    '  --url ws://a,ws://b',
    'npm run plan -- --stack gke && pulumi preview',
    '```',
  ].join('\n');
  const cs = commandsOf(md);
  expect(cs.map((c) => [c.line, commandLine(c), c.env])).toEqual([
    [4, 'npm run server', { SLUICE_REDIS_URL: 'redis://127.0.0.1:6379', SLUICE_PORT: '4001' }],
    [5, 'npm run peer -- --count 2 --url ws\\://a\\,ws\\://b', { SLUICE_REDIS_URL: 'redis://127.0.0.1:6379' }],
    [7, 'npm run plan -- --stack gke', { SLUICE_REDIS_URL: 'redis://127.0.0.1:6379' }],
    [7, 'pulumi preview', { SLUICE_REDIS_URL: 'redis://127.0.0.1:6379' }],
  ]);
  expect(cs[1].words).toEqual(['npm', 'run', 'peer', '--', '--count', '2', '--url', 'ws://a,ws://b']);
});

test('checks: each command gets one, and what cannot be checked is refused with the reason', () => {
  const kind = (md: string) =>
    commandsOf(md).map((c) => {
      const k = checkOf(c, scripts);
      return k.kind === 'refused' ? `refused: ${k.reason}` : k.kind;
    });
  expect(kind('```sh\nnpm install && npm start\nnpm test -- --selectProjects=unit\nnpm run plan -- --stack dev\n```')).toEqual([
    'allowed',
    'parse',
    'list-tests',
    'run',
  ]);
  expect(kind('```sh\nSLUICE_PORT=1 npm run server\nnpx jest test/x.test.ts\nnpx tsx test/contract/rules-table.ts\n```')).toEqual([
    'env',
    'list-tests',
    'file',
  ]);
  expect(kind('```sh\npulumi up\n```')).toEqual(['refused: pulumi outside a `sh cloud-only` block']);
  expect(kind('```sh cloud-only\npulumi stack init <org>/dev\n```')).toEqual(['allowed']);
  expect(kind('```sh\nnpm run rollout -- --release <image>\n```')[0]).toMatch(
    /^refused: shell operators < > \(a <placeholder> is a redirection\)/,
  );
  expect(kind('```sh\nnpm run nosuch\n```')).toEqual(['refused: no npm script "nosuch" in package.json']);
  expect(kind('```sh\nrm -rf build\n```')).toEqual(['refused: "rm" has no check in test/docs/snippets.ts']);
});

test('inline npm commands: from the prose only, templates with <placeholders> left out', () => {
  const md =
    'Run `npm run drill -- --quick`, or `npm run plan -- --stack <name>`.\n\n```text\n`npm start`\n```\nThen `npm test`, `npm run peer --\n--count 2`.';
  expect(inlineNpmCommands('doc.md', md).map((c) => [c.line, commandLine(c)])).toEqual([
    [1, 'npm run drill -- --quick'],
    [6, 'npm test'],
    [6, 'npm run peer -- --count 2'],
  ]);
});
