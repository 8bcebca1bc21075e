/**
 * The paths and ports that the server, the tools and the Pulumi program must agree on have one home,
 * app/protocol/endpoints.ts. This test fails when code (not a comment, not prose) writes one of them
 * again: a quoted path, a URL built with one, a health-check line, or a port default.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ADMIN_PORT, HEALTH_PATH, READINESS_PATH, SERVER_PORT, SOCKET_PATH } from '../../app/protocol/endpoints';

const ROOT = path.resolve(__dirname, '../..');
const HOME = 'app/protocol/endpoints.ts';

function sources(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((d) => {
    const rel = `${dir}/${d.name}`;
    if (d.isDirectory()) return sources(rel);
    return /\.(ts|cjs|js)$/.test(d.name) ? [rel] : [];
  });
}

/** The code of a file without its comments (block comments and `//` to the end of a line, outside strings well enough for this check). */
function code(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .split('\n')
    .map((l) => l.replace(/(^|\s)\/\/.*$/, ''))
    .join('\n');
}

const paths = [SOCKET_PATH, HEALTH_PATH, READINESS_PATH].map((p) => p.replace(/\//g, '\\/')).join('|');
const RETYPED: Array<[string, RegExp]> = [
  ['a quoted endpoint path', new RegExp(`['"\`](${paths})['"\`?]`)],
  ['a URL built with an endpoint path', new RegExp(`[}\\d](${paths})\\b`)],
  ['a health check of a literal path', new RegExp(`GET (${paths})\\b`)],
  [
    'a literal default port',
    new RegExp(
      `port\\((${SERVER_PORT}|${ADMIN_PORT})\\)|PORT = (${SERVER_PORT}|${ADMIN_PORT})\\b|127\\.0\\.0\\.1:(${SERVER_PORT}|${ADMIN_PORT})\\b`,
    ),
  ],
];

test('every endpoint path and port is imported from app/protocol/endpoints.ts, not written again', () => {
  const found: string[] = [];
  for (const file of ['app', 'infra', 'bench'].flatMap(sources).filter((f) => f !== HOME)) {
    const lines = code(fs.readFileSync(path.join(ROOT, file), 'utf8')).split('\n');
    lines.forEach((line, i) => {
      for (const [what, re] of RETYPED) if (re.test(line)) found.push(`${file}:${i + 1}: ${what}: ${line.trim().slice(0, 120)}`);
    });
  }
  expect(found).toEqual([]);
});

test('the check finds a path or port written again', () => {
  const hits = (line: string) => RETYPED.filter(([, re]) => re.test(code(line))).map(([what]) => what);
  expect(hits("if (path === '/healthz') return ok;")).toEqual(['a quoted endpoint path']);
  expect(hits('const url = `ws://127.0.0.1:${port}/socket/websocket`;')).toEqual(['a URL built with an endpoint path']);
  expect(hits("'  option httpchk GET /readyz',")).toEqual(['a health check of a literal path']);
  expect(hits('SLUICE_PORT: port(4000),')).toEqual(['a literal default port']);
  expect(hits('// the LB probes /readyz')).toEqual([]);
});
