/**
 * Every request handler is total: a request target that is not a URL (`//x:99999/status` made
 * `new URL()` throw out of the admin handler and killed the process), odd methods, absolute forms,
 * upgrades to nowhere, all get an HTTP answer on both listeners, and the process keeps serving.
 */
import net from 'node:net';
import { spawnServer, ServerProcess } from '../helpers/process';
import { upgradeRequest } from '../helpers/server';

const ADMIN_TOKEN = 'admin-token-for-tests-0123456789abcdef';

/** Write raw bytes, half-close, and resolve with what came back before the server closed. */
export function exchange(port: number, bytes: string | Buffer, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within ${timeoutMs} ms; got ${JSON.stringify(got.slice(0, 200))}`));
    }, timeoutMs);
    socket.on('data', (d) => {
      got += d.toString('latin1');
    });
    socket.on('error', () => undefined); // a reset is an answer too
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
    socket.end(bytes);
  });
}

const status = (raw: string) => Number(/^HTTP\/1\.1 (\d{3}) /.exec(raw)?.[1] ?? 0);

/** Not URLs at all: `new URL(target, base)` throws on each. They get 400. */
const NOT_URLS = ['//x:99999/status', '//x:99999/socket/websocket?vsn=2.0.0', 'http://[/', '//[::1/x', '//@:0/'];
/** Odd but parseable: any HTTP answer will do. */
const ODD = ['http://a:1/status', '*', '/%zz', '/status?%', '/socket/websocket?token=%%%'];
const TARGETS = [...NOT_URLS, ...ODD];
const upgrade = (target: string) => upgradeRequest(target, 'x');

describe('request handlers are total', () => {
  let srv: ServerProcess;
  beforeAll(async () => {
    srv = await spawnServer({ SLUICE_ADMIN_TOKEN: ADMIN_TOKEN });
  }, 30_000);
  afterAll(async () => {
    srv.proc.kill('SIGKILL');
    await srv.exited;
  });

  const answered = (code: number, target: string) => {
    if (NOT_URLS.includes(target)) expect(code).toBe(400);
    else expect(code).toBeGreaterThanOrEqual(200);
    expect(code).toBeLessThan(500);
  };

  it.each(TARGETS)('GET %s is answered on the admin listener, with and without the token', async (target) => {
    for (const auth of ['', `Authorization: Bearer ${ADMIN_TOKEN}\r\n`]) {
      answered(status(await exchange(srv.adminPort, `GET ${target} HTTP/1.1\r\nHost: x\r\n${auth}\r\n`)), target);
    }
    expect(srv.proc.exitCode).toBeNull();
  });

  it.each(TARGETS)('GET %s (plain and as an upgrade) is answered on the public listener', async (target) => {
    answered(status(await exchange(srv.port, `GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`)), target);
    const up = status(await exchange(srv.port, upgrade(target)));
    answered(up, target);
    if (!NOT_URLS.includes(target)) expect(up).toBeGreaterThanOrEqual(400); // no valid token: never upgraded
    expect(srv.proc.exitCode).toBeNull();
  });

  it('keeps serving afterwards', async () => {
    expect((await fetch(`http://127.0.0.1:${srv.port}/healthz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${srv.adminPort}/status`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } })).status).toBe(
      200,
    );
    expect(srv.logs.filter((l) => l.msg === 'upgrade failed' || l.msg === 'request failed' || l.msg === 'admin request failed')).toEqual(
      [],
    );
  });
});

describe('an Upgrade request to the admin listener', () => {
  it('is answered like any request (a stray upgrade listener once left it hanging)', async () => {
    const srv = await spawnServer({ SLUICE_ADMIN_TOKEN: ADMIN_TOKEN });
    try {
      expect(status(await exchange(srv.adminPort, upgrade('/')))).toBe(401);
      expect(
        status(
          await exchange(srv.adminPort, upgrade('/status').replace('Host: x\r\n', `Host: x\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\n`)),
        ),
      ).toBe(200);
    } finally {
      srv.proc.kill('SIGKILL');
      await srv.exited;
    }
  });
});
