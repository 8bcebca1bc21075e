/**
 * Builds @sluice/client into dist/: the SDK and the in-repo sources it imports (app/contract's
 * timeouts, app/protocol's Phoenix frames) compiled into one file per format, so the package needs
 * nothing of the repository and nothing of the server.
 *
 *   dist/index.cjs          Node, require()         ws and zod stay dependencies
 *   dist/index.mjs          Node, import            same
 *   dist/browser/index.mjs  browsers (ES module)    the native WebSocket (socket.browser.ts), zod and
 *                                                   the `events` EventEmitter bundled in: no dependency
 *   dist/types/             declarations (tsc), client/index.d.ts first
 *
 * esbuild bundles (one job: these three files); tsc writes the types, which esbuild does not.
 * `node build.mjs --out <dir>` writes the same files elsewhere (a test that must not race `npm pack`).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const at = process.argv.indexOf('--out');
const dist = at > 0 ? path.resolve(process.argv[at + 1]) : path.join(here, 'dist');
fs.rmSync(dist, { recursive: true, force: true });

const common = { entryPoints: [path.join(here, 'index.ts')], bundle: true, target: 'es2022', sourcemap: true, logLevel: 'warning' };
const node = { ...common, platform: 'node', external: ['ws', 'zod'] };
await build({ ...node, format: 'cjs', outfile: path.join(dist, 'index.cjs') });
await build({ ...node, format: 'esm', outfile: path.join(dist, 'index.mjs') });

/** In the browser build, ./socket (ws) is replaced by ./socket.browser (the native WebSocket). */
const browserSocket = {
  name: 'browser-socket',
  setup(b) {
    b.onResolve({ filter: /^\.\/socket$/ }, () => ({ path: path.join(here, 'socket.browser.ts') }));
  },
};
await build({
  ...common,
  platform: 'browser',
  format: 'esm',
  minify: true,
  outfile: path.join(dist, 'browser', 'index.mjs'),
  plugins: [browserSocket],
});

const tsc = path.join(here, '..', '..', 'node_modules', 'typescript', 'bin', 'tsc');
execFileSync(process.execPath, [tsc, '-p', path.join(here, 'tsconfig.build.json'), '--outDir', path.join(dist, 'types')], {
  stdio: 'inherit',
});
