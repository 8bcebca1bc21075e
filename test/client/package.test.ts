/**
 * @sluice/client as a package, the way a user gets it: `npm run build:client`, `npm pack`, the
 * tarball installed into an empty directory (outside the repository, so nothing of it resolves),
 * then the Node examples of app/client/README.md run there as written, CommonJS and ES module,
 * against a local server whose recipient gw-1 is connected. Without SLUICE_TOKEN the example fails
 * at once with an error that names the token.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MemoryBackplane } from '../../app/backplane/memory';
import { defaultTimeouts } from '../../app/contract/timeouts';
import type { ReceivedSignal } from '../../app/client/index';
import { fencedBlocks, ROOT } from '../docs/snippets';
import { startServer, TestServer, token, until } from '../helpers/server';
import { client, closeClients } from './helpers';

jest.setTimeout(600_000);

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}
function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}, timeoutMs = 240_000): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { cwd, env: { ...process.env, ...env }, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
    );
  });
}

/** The README's example files: ```js file=<name>. */
const examples = new Map(
  fencedBlocks('app/client/README.md', fs.readFileSync(path.join(ROOT, 'app/client/README.md'), 'utf8')).flatMap((b) =>
    b.tags.filter((t) => t.startsWith('file=')).map((t) => [t.slice(5), b.body] as const),
  ),
);

let dir: string;
let server: TestServer;
let backplane: MemoryBackplane;
const received: ReceivedSignal[] = [];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-client-pkg-'));
  const built = await run('npm', ['run', 'build:client'], ROOT);
  expect(built).toMatchObject({ code: 0 });
  const packed = await run('npm', ['pack', '-w', '@sluice/client', '--pack-destination', dir, '--json'], ROOT);
  expect(packed).toMatchObject({ code: 0 });
  const [{ filename, files }] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  // What the tarball holds: the builds, the types, the README; no source, no test, no server.
  expect(files.map((f) => f.path).filter((p) => !/^(dist\/|README\.md$|package\.json$)/.test(p))).toEqual([]);
  expect(files.map((f) => f.path)).toEqual(
    expect.arrayContaining(['dist/index.cjs', 'dist/index.mjs', 'dist/browser/index.mjs', 'dist/types/client/index.d.ts']),
  );
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'sdk-user', private: true }));
  const installed = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', path.join(dir, filename)], dir);
  expect(installed).toMatchObject({ code: 0 });
  for (const [name, body] of examples) fs.writeFileSync(path.join(dir, name), body);

  backplane = new MemoryBackplane(defaultTimeouts.resume);
  server = await startServer({ serverId: 'pkg', backplane });
  const gw = await client(server.socketUrl, 'gw-1');
  gw.on('signal', (s) => received.push(s));
  await gw.connect().ready();
});

afterAll(async () => {
  await closeClients();
  await server?.server.shutdown();
  await backplane?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test("the installed package depends on ws and zod only (events is Node's own), its browser build on nothing, and no server code is in it", () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'node_modules/@sluice/client/package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  expect(Object.keys(pkg.dependencies).sort()).toEqual(['ws', 'zod']);
  for (const f of ['index.cjs', 'index.mjs', 'browser/index.mjs']) {
    const code = fs.readFileSync(path.join(dir, 'node_modules/@sluice/client/dist', f), 'utf8');
    // Comments may name the server; code may not use it.
    expect(code).not.toMatch(/class (SluiceServer|MemoryBackplane|RedisBackplane)\b/);
    const specifiers = [...code.matchAll(/(?:require\(|\bfrom\s*)["']([^"']+)["']/g)].map((m) => m[1]);
    expect([...new Set(specifiers)].sort()).toEqual(f.startsWith('browser') ? [] : ['events', 'ws', 'zod']);
  }
});

test.each(['example.cjs', 'example.mjs'])('README example %s runs as written: joins, and gw-1 gets the signal', async (file) => {
  expect(examples.has(file)).toBe(true);
  const before = received.length;
  const r = await run(process.execPath, [file], dir, { SLUICE_URL: server.socketUrl, SLUICE_TOKEN: await token('c-1') }, 60_000);
  expect(r).toMatchObject({ code: 0, stderr: '' });
  expect(r.stdout).toContain('sent: delivered');
  await until(() => received.length > before, 5_000, 'gw-1 receiving');
  expect(received[received.length - 1]).toMatchObject({ from: 'c-1', data: { offer: 'v=0' } });
});

test('without SLUICE_TOKEN the example stops at once and says the token is missing', async () => {
  const r = await run(process.execPath, ['example.cjs'], dir, { SLUICE_URL: server.socketUrl, SLUICE_TOKEN: '' }, 30_000);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(
    /SluiceClient: token is required: a string \(a JWT, e\.g\. from `npm run token`\) or a function returning one; got an empty string/,
  );
  expect(r.stderr).not.toContain('is not a function');
});

test('a recipient that does not exist is a clear refusal (unknown_peer), not a hang', async () => {
  fs.writeFileSync(path.join(dir, 'nobody.cjs'), examples.get('example.cjs')!.replace("client.send('gw-1'", "client.send('gw-nobody'"));
  const r = await run(process.execPath, ['nobody.cjs'], dir, { SLUICE_URL: server.socketUrl, SLUICE_TOKEN: await token('c-2') }, 30_000);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/unknown_peer/);
});
