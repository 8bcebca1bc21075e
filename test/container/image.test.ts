/**
 * The server image, built and drained for real (issue 22): the repository's Dockerfile built with
 * podman on a local stand-in for node:20-bookworm-slim (.ci/node-base.sh), run with the VM unit's own
 * flags (infra/components/vm-boot.ts: --init --network host, env files) and the environment a VM
 * gets (serverEnv: production, the resolved contract), peers connected through it, then
 * `podman stop -t <gce.dockerStopTimeoutSec>` as `systemctl stop` does on a VM:
 *   every peer gets 1012, the server exits 0 by itself before the stop timeout (no SIGKILL: 137),
 *   and the image runs as non-root with no dev dependency, source or build-time secret inside.
 * Skipped, with the reason printed, only where podman or the base image is missing.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { signToken } from '../../app/auth/token';
import { socketRequest } from '../../app/client/wire';
import { heapNodeOptions, heapPlan } from '../../app/contract/memory';
import { defaultTimeouts } from '../../app/contract/timeouts';
import { SOCKET_PATH } from '../../app/protocol/endpoints';
import { serverEnv } from '../../infra/components/server-env';
import { DOCKER_RUN_FLAGS } from '../../infra/components/vm-boot';
import { request } from '../helpers/server';
import { buildImage, HOST_CA_BUNDLE, podman, PODMAN_ENV, unavailable } from './podman';

const reason = unavailable();
if (reason) process.stdout.write(`container test SKIPPED: ${reason}\n`);
const maybe = reason ? describe.skip : describe;

const PEERS = 40;
const TOKEN_SECRET = 'container-test-token-secret-at-least-32-chars';
const ADMIN_TOKEN = 'container-test-admin-token-at-least-32-characters';
const TAG = `localhost/sluice:container-test-${process.pid}`;
const NAME = `sluice-container-test-${process.pid}`;

/** A free loopback port (the container shares the host's network). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net
      .createServer()
      .once('error', reject)
      .listen(0, '127.0.0.1', () => {
        const { port } = s.address() as net.AddressInfo;
        s.close(() => resolve(port));
      });
  });
}

const run = (args: string[]): Promise<string> => podman(args).then((r) => r.stdout.trim());

maybe('the server image (Dockerfile, podman, the VM unit flags)', () => {
  const timings: Record<string, number> = {};
  let tmp: string;

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-container-'));
    const t0 = Date.now();
    await buildImage(TAG);
    timings.buildMs = Date.now() - t0;
  }, 10 * 60_000);

  afterAll(async () => {
    await podman(['rm', '-f', NAME]).catch(() => undefined);
    await podman(['rmi', '-f', TAG]).catch(() => undefined);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    process.stdout.write(
      `container test timings (${new Date().toISOString()}, load ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}): ${JSON.stringify(timings)}\n`,
    );
  });

  it('runs as a non-root user, exec-form entry point, no dev dependency, no source, no build-time CA or npmrc', async () => {
    const config = JSON.parse(await run(['image', 'inspect', '--format', '{{json .Config}}', TAG])) as {
      User: string;
      Entrypoint: string[];
      Env: string[];
    };
    expect(config.User).toBe('1000:1000');
    expect(config.Entrypoint).toEqual(['node', '--enable-source-maps', 'dist/server.js']);
    expect(config.Env.filter((e) => /TOKEN|SECRET|PASSWORD|KEY=/i.test(e))).toEqual([]);
    // The V8 heap limit derived from the default memory budget (app/contract/memory.ts), and node in the image gets it.
    expect(config.Env).toContain(`NODE_OPTIONS=${heapNodeOptions()}`);
    const limit = await run(['run', '--rm', '--entrypoint', 'node', TAG, '-p', 'require("v8").getHeapStatistics().heap_size_limit']);
    expect(Number(limit.trim())).toBe(heapPlan().heapLimitBytes);

    const sh = (script: string, user = '1000') => run(['run', '--rm', '--user', user, '--entrypoint', '/bin/sh', TAG, '-c', script]);
    expect(await run(['run', '--rm', '--entrypoint', '/bin/sh', TAG, '-c', 'id -u; id -g'])).toBe('1000\n1000');
    // /app holds the bundle and package.json only: no node_modules (so no devDependency), no TypeScript.
    expect((await sh('ls -A /app; ls -A /app/dist')).split('\n').sort()).toEqual(
      ['dist', 'package.json', 'server.js', 'server.js.map', 'token.js', 'token.js.map'].sort(),
    );
    // Not one node_modules anywhere but npm's own (which the base ships).
    expect(
      await sh(
        'find / -xdev -type d -name node_modules -not -path "/usr/local/lib/node_modules" -not -path "/usr/local/lib/node_modules/npm/*" -not -path "/proc/*" -prune -print',
        '0',
      ),
    ).toBe('');
    for (const dev of ['tsx', 'typescript', 'jest', 'esbuild', '@swc/core']) {
      expect(await sh(`cd /app && node -e "require.resolve('${dev}')" 2>/dev/null && echo found || echo absent`)).toBe('absent');
    }
    // The build mounted the host's CA bundle and an npmrc: neither is in the image.
    expect(await sh('test -e /usr/local/etc/npmrc && echo present || echo absent')).toBe('absent');
    const inImage = await sh(`sha256sum ${HOST_CA_BUNDLE} | cut -d' ' -f1`);
    const onHost = createHash('sha256').update(fs.readFileSync(HOST_CA_BUNDLE)).digest('hex');
    expect(inImage).not.toBe(onHost);
  }, 120_000);

  it('drains under `podman stop -t gce.dockerStopTimeoutSec`: every peer gets 1012, exit 0 before the timeout', async () => {
    const timeouts = defaultTimeouts;
    const stopSec = timeouts.gce.dockerStopTimeoutSec;
    const [port, adminPort] = [await freePort(), await freePort()];
    // What a VM's env files hold (server.env from serverEnv, secret.env, admin.env, instance.env), on
    // loopback ports of this machine (no metadata server here: the lifecycle watcher stays off).
    const env: Record<string, string> = {
      ...serverEnv({ timeouts }),
      SLUICE_HOST: '127.0.0.1',
      SLUICE_PORT: String(port),
      SLUICE_ADMIN_PORT: String(adminPort),
      SLUICE_GCE_WATCHER: 'off',
      SLUICE_SERVER_ID: 'container-test',
      SLUICE_TOKEN_SECRET: TOKEN_SECRET,
      SLUICE_ADMIN_TOKEN: ADMIN_TOKEN,
    };
    const envFile = path.join(tmp, 'server.env');
    fs.writeFileSync(
      envFile,
      Object.entries(env)
        .map(([k, v]) => `${k}=${v}\n`)
        .join(''),
      { mode: 0o600 },
    );

    const started = Date.now();
    const child = spawn('podman', ['run', '--rm', '--name', NAME, ...DOCKER_RUN_FLAGS, '--env-file', envFile, TAG], {
      env: PODMAN_ENV,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: string[] = [];
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          lines.push(buf.slice(0, i));
          if (buf.slice(0, i).includes('"server listening"')) resolve();
          buf = buf.slice(i + 1);
        }
      });
      void exited.then((code) => reject(new Error(`container exited (${code}) before listening:\n${stderr}\n${lines.join('\n')}`)));
    });
    timings.startMs = Date.now() - started;

    const peers = await Promise.all(
      Array.from({ length: PEERS }, async (_, i) => {
        const t = await signToken(TOKEN_SECRET, { sub: `peer-${i}`, kind: i % 2 ? 'gateway' : 'client' }, 600);
        const req = socketRequest(`ws://127.0.0.1:${port}${SOCKET_PATH}`, t);
        const ws = new WebSocket(req.url, req.protocols);
        await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
        const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
        // Joined, as a real peer is (an unjoined socket is closed at the join deadline, 4408).
        expect((await request(ws, ['1', '1', `peer:peer-${i}`, 'phx_join', {}]))[4].status).toBe('ok');
        return { ws, closed };
      }),
    );
    const status = await fetch(`http://127.0.0.1:${adminPort}/status`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({ connections: PEERS });

    const stopStart = Date.now();
    const stop = podman(['stop', '-t', String(stopSec), NAME], (stopSec + 30) * 1000);
    const codes = await Promise.all(peers.map((p) => p.closed));
    timings.lastPeerClosedMs = Date.now() - stopStart;
    const exitCode = await exited;
    timings.stopToExitMs = Date.now() - stopStart;
    await stop;

    expect(codes).toEqual(Array(PEERS).fill(1012));
    // 0: node drained and exited by itself. SIGKILL at the stop timeout would be 137, SIGTERM unhandled 143.
    expect({ exitCode, stderr }).toEqual({ exitCode: 0, stderr: expect.any(String) });
    expect(timings.stopToExitMs).toBeLessThan(stopSec * 1000);
    // The drain spread its 1012s over the contract's window and finished within its deadline.
    const finished = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'drain finished');
    expect(finished).toMatchObject({ reason: 'sigterm', total: PEERS, closeSent: PEERS, reset: 0 });
    expect(Number(finished!.durationMs)).toBeLessThanOrEqual(timeouts.drain.deadlineMs);
    expect(lines.some((l) => l.includes('"exiting after drain"') && l.includes('"code":0'))).toBe(true);
  }, 120_000);
});
