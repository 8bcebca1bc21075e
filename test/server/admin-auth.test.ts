/**
 * Admin authentication: with SLUICE_ADMIN_TOKEN set every admin route but GET /metrics needs the
 * bearer token (401 + WWW-Authenticate without it, 403 with a wrong one), refusals are logged
 * without the token, and a server whose admin listener would be unprotected refuses to start.
 */
import pino from 'pino';
import { SluiceServer } from '../../app/server/server';
import { spawnServer } from '../helpers/process';
import { startServer, testConfig } from '../helpers/server';

const ADMIN_TOKEN = 'admin-token-0123456789-abcdefghijklmnop';

function logged() {
  const lines: Array<Record<string, unknown>> = [];
  const text: string[] = [];
  const stream = {
    write: (s: string) => {
      text.push(s);
      lines.push(JSON.parse(s) as Record<string, unknown>);
    },
  };
  return { lines, text, logger: pino({ level: 'info' }, stream) };
}

describe('admin listener with SLUICE_ADMIN_TOKEN', () => {
  const logs = logged();
  let server: SluiceServer;
  let admin: string;
  beforeAll(async () => {
    server = new SluiceServer({ config: testConfig({ adminToken: ADMIN_TOKEN }), logger: logs.logger });
    admin = `http://127.0.0.1:${(await server.start()).adminPort}`;
  });
  afterAll(() => server.shutdown());

  const get = (path: string, auth?: string, method = 'GET') =>
    fetch(`${admin}${path}`, { method, headers: auth === undefined ? {} : { Authorization: auth } });

  it('answers 401 with WWW-Authenticate: Bearer on every route without a token, even unknown ones', async () => {
    for (const [method, path] of [
      ['GET', '/status'],
      ['GET', '/presence'],
      ['GET', '/presence/stream'],
      ['POST', '/drain'],
      ['POST', '/drain?wait=1'],
      ['GET', '/nope'],
      ['DELETE', '/status'],
    ]) {
      const res = await get(path, undefined, method);
      expect([method, path, res.status]).toEqual([method, path, 401]);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
    }
    expect((await get('/status', `Basic ${Buffer.from(`x:${ADMIN_TOKEN}`).toString('base64')}`)).status).toBe(401);
    expect((await get('/status', 'Bearer')).status).toBe(401);
  });

  it('answers 403 to a wrong token of any length (digests are compared, so no length leaks or throws)', async () => {
    for (const wrong of [`${ADMIN_TOKEN}x`, ADMIN_TOKEN.slice(0, -1), 'x', ADMIN_TOKEN.toUpperCase(), 'y'.repeat(4096)]) {
      expect((await get('/status', `Bearer ${wrong}`)).status).toBe(403);
    }
    expect((await get('/drain', 'Bearer wrong-token', 'POST')).status).toBe(403);
    expect(server.state).toBe('serving'); // the refused drain did not start
  });

  it('serves every route with the right token; GET /metrics needs none', async () => {
    const status = await get('/status', `Bearer ${ADMIN_TOKEN}`);
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({ state: 'serving' });
    expect((await get('/presence', `bearer ${ADMIN_TOKEN}`)).status).toBe(200); // the scheme is case-insensitive
    expect((await get('/nope', `Bearer ${ADMIN_TOKEN}`)).status).toBe(404);
    expect((await get('/status', `Bearer ${ADMIN_TOKEN}`, 'PUT')).status).toBe(405);
    const metrics = await get('/metrics');
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/sluice_admin_refused_total\{reason="missing_token"\} \d+/);
    expect((await get('/metrics', undefined, 'POST')).status).toBe(401);
  });

  it('logs refusals with route and reason, never the token', async () => {
    await get('/status', `Bearer ${ADMIN_TOKEN}-wrong-secret-part`);
    const refused = logs.lines.filter((l) => l.msg === 'admin request refused');
    expect(refused.length).toBeGreaterThan(5);
    expect(refused).toContainEqual(expect.objectContaining({ route: 'GET /status', reason: 'wrong' }));
    expect(refused).toContainEqual(expect.objectContaining({ route: 'GET /status', reason: 'missing' }));
    const all = logs.text.join('');
    expect(all).not.toContain(ADMIN_TOKEN);
    expect(all).not.toContain('wrong-secret-part');
  });

  it('still drains on POST /drain with the token', async () => {
    const res = await get('/drain', `Bearer ${ADMIN_TOKEN}`, 'POST');
    expect(res.status).toBe(202);
    expect(server.state).not.toBe('serving');
  });
});

describe('admin listener without a token (development, loopback)', () => {
  it('stays open as before', async () => {
    const ts = await startServer();
    try {
      expect((await fetch(`${ts.adminUrl}/status`)).status).toBe(200);
    } finally {
      await ts.server.shutdown();
    }
  });
});

describe('a server whose admin listener would be unprotected', () => {
  it.each([
    [{ SLUICE_ADMIN_HOST: '0.0.0.0' }, /SLUICE_ADMIN_TOKEN: required when SLUICE_ADMIN_HOST \(0\.0\.0\.0\) is not a loopback address/],
    [{ SLUICE_ENV: 'production', SLUICE_TOKEN_SECRET: 's'.repeat(40) }, /SLUICE_ADMIN_TOKEN: required when SLUICE_ENV=production/],
  ])('refuses to start: %j', async (env, message) => {
    await expect(spawnServer(env)).rejects.toThrow(message);
  });

  // (Tests bind loopback only: 0.0.0.0 with a token is accepted by loadConfig, test/server/config-limits.test.ts.)
  it('starts in production with a token, and enforces it', async () => {
    const srv = await spawnServer({ SLUICE_ENV: 'production', SLUICE_TOKEN_SECRET: 's'.repeat(40), SLUICE_ADMIN_TOKEN: ADMIN_TOKEN });
    try {
      expect((await fetch(`http://127.0.0.1:${srv.adminPort}/status`)).status).toBe(401);
      expect(
        (await fetch(`http://127.0.0.1:${srv.adminPort}/status`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } })).status,
      ).toBe(200);
      expect(srv.logs.find((l) => l.msg === 'server listening')).toMatchObject({ adminHost: '127.0.0.1', adminAuth: 'bearer' });
    } finally {
      srv.proc.kill('SIGKILL');
      await srv.exited;
    }
  });
});
