/** `npm run peer` as a process: JSON lines out, a summary last, exit codes. */
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { SluiceServer } from '../../app/server/server';
import { SECRET, startServer, testConfig, TestServer, token } from '../helpers/server';

const ROOT = path.resolve(__dirname, '../..');
const TSX = path.join(ROOT, 'node_modules/.bin/tsx');

interface Run {
  code: number | null;
  lines: Array<Record<string, unknown>>;
  stderr: string;
}

/** The arguments of a run against `url` for DURATION_SEC, a signal every 50 ms, logging at `level`. */
const timedRun = (url: string, level: string) => [
  '--url',
  url,
  '--duration',
  String(DURATION_SEC),
  '--interval',
  '50',
  '--log-level',
  level,
];

function peerCli(args: string[], env: Record<string, string> = {}, onLine?: (line: Record<string, unknown>) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(TSX, ['app/peer/cli.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      const before = out.length;
      out += d.toString();
      if (!onLine) return;
      // Whole lines completed by this chunk, as they arrive (the CLI writes one JSON object per line).
      const start = out.lastIndexOf('\n', before - 1) + 1;
      const done = out.lastIndexOf('\n');
      if (done >= start)
        for (const l of out.slice(start, done).split('\n').filter(Boolean)) onLine(JSON.parse(l) as Record<string, unknown>);
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const lines = out
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code, lines, stderr: err });
    });
  });
}

/**
 * --duration counts from the start of the run, connecting and joining included: under CPU contention
 * (load average ~20 on 2 cores) a 1 s run ended with peers joined but nothing sent yet. 3 s leaves
 * the exchange time to start.
 */
const DURATION_SEC = 3;

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer();
});
afterAll(async () => {
  await srv.server.shutdown();
});

test('a fleet logs state changes as JSON lines and prints its summary last', async () => {
  const run = await peerCli(['--count', '4', '--url', srv.socketUrl, '--duration', String(DURATION_SEC), '--interval', '50'], {
    SLUICE_TOKEN_SECRET: SECRET,
  });
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  const summary = run.lines[run.lines.length - 1];
  expect(summary).toMatchObject({ event: 'summary', peers: 4, lost: 0, duplicated: 0, settled: true, urls: [srv.socketUrl] });
  expect(summary.sent as number).toBeGreaterThan(0);
  const states = run.lines.filter((l) => l.event === 'state');
  expect(states.some((l) => l.peer === 'fleet-g-1' && l.from === 'joining' && l.to === 'joined')).toBe(true);
  expect(run.lines.filter((l) => l.event === 'connected')).toHaveLength(4);
}, 30_000);

test('a single peer uses SLUICE_TOKEN and talks to its partner', async () => {
  const run = await peerCli(['--kind', 'gateway', '--id', 'gw-cli', '--to', 'gw-cli', ...timedRun(srv.socketUrl, 'warn')], {
    SLUICE_TOKEN: await token('gw-cli', 'gateway'),
  });
  expect(run.code).toBe(0);
  expect(run.lines).toHaveLength(1);
  expect(run.lines[0]).toMatchObject({ event: 'summary', peer: 'gw-cli', to: 'gw-cli', lost: 0, duplicated: 0 });
  expect(run.lines[0].delivered as number).toBeGreaterThan(0);
}, 30_000);

test('a bad token stops the peer with an error instead of retrying', async () => {
  // No --duration: the peer must end by itself once its token is refused.
  const run = await peerCli(['--id', 'c-cli', '--to', 'gw-x', '--url', srv.socketUrl], {
    SLUICE_TOKEN_SECRET: 'a-different-secret-of-at-least-32-chars',
  });
  expect(run.code).toBe(3);
  const connecting = run.lines.filter((l) => l.event === 'state' && l.to === 'connecting');
  expect(connecting).toHaveLength(1);
  expect(run.lines.some((l) => l.event === 'error' && l.code === 'unauthorized')).toBe(true);
  expect(run.lines[run.lines.length - 1]).toMatchObject({ event: 'summary', sent: 0, fatal: 'unauthorized' });
}, 30_000);

test('a revoked peer exits 3 and says it was revoked, without retrying', async () => {
  let joined!: () => void;
  const connected = new Promise<void>((resolve) => (joined = resolve));
  const run = peerCli(
    ['--id', 'c-revoked', '--to', 'c-revoked', '--url', srv.socketUrl, '--interval', '100'],
    { SLUICE_TOKEN: await token('c-revoked') },
    (l) => l.event === 'connected' && joined(),
  );
  await connected;
  expect((await fetch(`${srv.adminUrl}/revoke?account=default&sub=c-revoked`, { method: 'POST' })).status).toBe(201);
  const done = await run;
  expect(done.code).toBe(3);
  expect(done.stderr).toMatch(/stopped by itself: "revoked" \(revoked: the operator revoked this token or disconnected this peer/);
  expect(done.lines.filter((l) => l.event === 'state' && l.to === 'connecting')).toHaveLength(1);
  expect(done.lines[done.lines.length - 1]).toMatchObject({ event: 'summary', fatal: 'revoked' });
}, 60_000);

/** A server that refuses query tokens (SLUICE_TOKEN_IN_QUERY=off, as in production). */
async function strictServer(): Promise<{ url: string; server: SluiceServer }> {
  const server = new SluiceServer({ config: { ...testConfig({ serverId: 'strict' }), tokenInQuery: false } });
  const { port } = await server.start();
  return { url: `ws://127.0.0.1:${port}/socket/websocket`, server };
}

test('the token rides in the header: a server refusing query tokens serves the CLI fleet', async () => {
  const strict = await strictServer();
  try {
    const ok = await peerCli(['--count', '2', '--url', strict.url, '--duration', String(DURATION_SEC), '--interval', '50'], {
      SLUICE_TOKEN_SECRET: SECRET,
    });
    expect(ok.code).toBe(0);
    expect(ok.lines[ok.lines.length - 1]).toMatchObject({ event: 'summary', peers: 2, lost: 0, duplicated: 0 });
    expect(ok.lines[ok.lines.length - 1].delivered as number).toBeGreaterThan(0);
  } finally {
    await strict.server.shutdown();
  }
}, 30_000);

test('--token-in-query against a server refusing query tokens: 401, the peer stops (exit 3)', async () => {
  const strict = await strictServer();
  try {
    const old = await peerCli(['--id', 'c-old', '--to', 'c-old', '--url', strict.url, '--token-in-query'], { SLUICE_TOKEN_SECRET: SECRET });
    expect(old.code).toBe(3);
    expect(old.lines[old.lines.length - 1]).toMatchObject({ event: 'summary', fatal: 'unauthorized' });
    const refused = (await strict.server.metrics.upgradesRejected.get()).values.find((v) => v.labels.reason === 'token_in_query_disabled');
    expect(refused?.value).toBe(1);
  } finally {
    await strict.server.shutdown();
  }
}, 30_000);

test('bad arguments exit 2 with a message', async () => {
  const run = await peerCli(['--count', '0']);
  expect(run.code).toBe(2);
  expect(run.stderr).toMatch(/--count.*positive integer/);
  const single = await peerCli(['--url', srv.socketUrl]);
  expect(single.code).toBe(2);
  expect(single.stderr).toMatch(/--id and --to/);
}, 30_000);

test('a peer that never connected exits 4 and says so; signals refused for good (unknown partner) exit 5 with the hint', async () => {
  // A port nothing listens on: every attempt is refused until --duration ends.
  const free = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
  const never = await peerCli(
    [
      '--id',
      'c-lonely',
      '--to',
      'gw-lonely',
      '--url',
      `ws://127.0.0.1:${free}/socket/websocket`,
      '--duration',
      '2',
      '--log-level',
      'silent',
    ],
    { SLUICE_TOKEN_SECRET: SECRET },
  );
  expect({ code: never.code, stderr: never.stderr }).toEqual({
    code: 4,
    stderr: expect.stringMatching(
      /^peer: never connected \(ws:\/\/127\.0\.0\.1:\d+\/socket\/websocket: .+\); is the server or region running\?\n$/,
    ) as string,
  });
  const alone = await peerCli(['--id', 'c-alone', '--to', 'gw-nobody', ...timedRun(srv.socketUrl, 'silent')], {
    SLUICE_TOKEN_SECRET: SECRET,
  });
  expect({ code: alone.code, stderr: alone.stderr }).toEqual({
    code: 5,
    stderr: expect.stringMatching(
      /signals refused for good: \{"unknown_peer":\d+\} \(unknown_peer: the partner \(--to\) must be connected; start it too\)/,
    ) as string,
  });
}, 30_000);
