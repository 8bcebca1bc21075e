/**
 * Issue 22 point 8: the GKE preStop hook drains and must NOT end the container while it runs ("the hook
 * must complete before the TERM signal to stop the container can be sent"; a container process that
 * ends aborts the handler: FailedPreStopHook). The rendered preStop script (infra/gke/render.ts) runs
 * for real against a real server and the real ShutdownController: the peers get 1012, the hook gets
 * its answer, the process stays up drained (no exit), and the SIGTERM that follows ends it with 0.
 * A plain admin drain (no stay=1) still exits 0 after the drain, as before.
 */
import { spawn } from 'node:child_process';
import pino from 'pino';
import { mergeTimeouts, defaultTimeouts } from '../../app/contract/timeouts';
import { SluiceServer } from '../../app/server/server';
import { ShutdownController } from '../../app/server/shutdown';
import { preStopScript } from '../../infra/gke/render';
import { closed, openRaw, testConfig, token } from '../helpers/server';

const ADMIN_TOKEN = 'admin-token-for-the-prestop-stay-test-0123456789';
const FAST = mergeTimeouts(defaultTimeouts, { drain: { windowMs: 300, deadlineMs: 1_000, marginMs: 500 } });

async function serverWithController() {
  const config = { ...testConfig({ adminToken: ADMIN_TOKEN }), timeouts: FAST };
  const log = pino({ level: 'silent' });
  const server = new SluiceServer({ config, logger: log });
  const { port, adminPort } = await server.start();
  const exits: number[] = [];
  let exited!: (code: number) => void;
  const exitedP = new Promise<number>((r) => (exited = r));
  const controller = new ShutdownController({
    server,
    backplane: server.backplane,
    log,
    exit: (code) => {
      exits.push(code);
      exited(code);
    },
  });
  return { server, port, adminPort, exits, exitedP, controller };
}

function runPreStop(adminPort: number): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', preStopScript(FAST)], {
      env: { PATH: process.env.PATH ?? '', SLUICE_ADMIN_URL: `http://127.0.0.1:${adminPort}`, SLUICE_ADMIN_TOKEN: ADMIN_TOKEN },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout }));
  });
}

describe('preStop drain (POST /drain?wait=1&stay=1)', () => {
  it('drains, answers the hook, stays up drained without exiting; SIGTERM then exits 0', async () => {
    const s = await serverWithController();
    const ws = await openRaw(`ws://127.0.0.1:${s.port}/socket/websocket?vsn=2.0.0&token=${await token('peer-1')}`);
    const wsClosed = closed(ws);
    const hook = await runPreStop(s.adminPort);
    expect(hook.code).toBe(0);
    expect(hook.stdout).toMatch(/drain answered 200 .*"reason":"admin_stay"/);
    expect((await wsClosed)[0]).toBe(1012);
    // The controller adopted the drain as admin_stay: it ends drained and does not exit.
    expect(await s.controller.begin('admin_stay')).toBe('stay-drained');
    expect(s.controller.reason).toBe('admin_stay');
    expect(s.server.state).toBe('drained');
    expect(s.exits).toEqual([]);
    // The kubelet's SIGTERM after the hook ends the process with 0.
    void s.controller.begin('sigterm');
    expect(await s.exitedP).toBe(0);
    expect(s.exits).toEqual([0]);
  });

  it('a plain admin drain (no stay=1) still exits 0 once drained', async () => {
    const s = await serverWithController();
    const res = await fetch(`http://127.0.0.1:${s.adminPort}/drain?wait=1`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(res.status).toBe(200);
    expect(await s.exitedP).toBe(0);
    expect(s.controller.reason).toBe('admin');
  });
});
