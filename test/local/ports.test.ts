/**
 * Issue 25: `npm start`'s ports are checked before anything starts. A taken port is named with the
 * process that holds it and the flag that moves it; a second `npm start` fails at once (exit 2),
 * before Redis, HAProxy or any server has started (no region directory is ever made).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { checkPorts, listenerOf } from '../../app/local/ports';

const ROOT = path.resolve(__dirname, '../..');
jest.setTimeout(60_000);

describe('ports checked before anything starts', () => {
  let taken: net.Server;
  let port: number;
  beforeAll(async () => {
    taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    port = (taken.address() as net.AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => taken.close(() => resolve())));

  it('names the port, its holder and the flag', async () => {
    expect(listenerOf(port)).toEqual({ pid: process.pid, cmd: expect.any(String) as string });
    await expect(
      checkPorts([
        { port, what: 'load balancer', flag: '--port' },
        { port: 0, what: 'status page', flag: '--status-port' },
      ]),
    ).rejects.toThrow(
      new RegExp(
        `^port ${port} \\(load balancer\\) on 127\\.0\\.0\\.1 is in use by pid ${process.pid} \\(.+\\): stop it, or pick another with --port <port> \\(--port 0: any free port\\)$`,
      ),
    );
    await expect(checkPorts([{ port: 0, what: 'load balancer', flag: '--port' }])).resolves.toBeUndefined();
    await expect(
      checkPorts([
        { port: 4321, what: 'load balancer', flag: '--port' },
        { port: 4321, what: 'status page', flag: '--status-port' },
      ]),
    ).rejects.toThrow(/--status-port 4321 is also the load balancer's port \(--port\)/);
  });

  it('a second npm start fails at once, before any part starts', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-ports-'));
    try {
      const proc = spawn(
        process.execPath,
        ['--import', 'tsx', path.join(ROOT, 'app/local/main.ts'), '--port', '0', '--status-port', String(port), '--peers', '0'],
        {
          cwd: ROOT,
          env: { ...process.env, TMPDIR: dir },
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      let err = '';
      proc.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
      });
      const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
      expect({ code, err }).toEqual({
        code: 2,
        err: expect.stringMatching(
          new RegExp(
            `(^|\n)start: port ${port} \\(status page\\) on 127\\.0\\.0\\.1 is in use by pid ${process.pid} .*--status-port <port>`,
          ),
        ) as string,
      });
      expect(fs.readdirSync(dir).filter((d) => d.startsWith('sluice-region-'))).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
