/**
 * The server's Redis connections with TLS (SLUICE_REDIS_TLS_CA) and IAM AUTH (SLUICE_REDIS_IAM_AUTH),
 * against real redis-server processes: one with --tls-port and a CA + certificate made here with
 * openssl, one with --requirepass set to the token a fake metadata server (127.0.0.1) hands out.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { closeClients, createClients, redisTiming, type RedisClients } from '../../app/backplane/redis/clients';
import { TOKEN_PATH } from '../../app/backplane/redis/iam-token';
import { redisSecurityFromEnv } from '../../app/backplane/redis/security';
import { defaultTimeouts } from '../../app/contract/timeouts';

const timing = redisTiming(defaultTimeouts);
let dir: string;
const procs: ChildProcess[] = [];
const open: RedisClients[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-redis-tls-'));
  const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=sluice test CA');
  ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'other.key', '-out', 'other.pem', '-days', '1', '-subj', '/CN=other CA');
  ossl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  ossl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '1',
    '-extfile',
    'san.ext',
  );
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => closeClients(c, 500)));
});

afterAll(() => {
  for (const p of procs) p.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** A redis-server on a free loopback port; resolves once it accepts connections. */
async function startRedis(args: string[], tls: boolean): Promise<number> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    const portArgs = tls
      ? [
          '--port',
          '0',
          '--tls-port',
          String(port),
          '--tls-cert-file',
          join(dir, 'server.pem'),
          '--tls-key-file',
          join(dir, 'server.key'),
          '--tls-ca-cert-file',
          join(dir, 'ca.pem'),
          '--tls-auth-clients',
          'no',
        ]
      : ['--port', String(port)];
    const p = spawn('redis-server', [...portArgs, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    procs.push(p);
    const ok = await new Promise<boolean>((resolve) => {
      let out = '';
      p.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('Ready to accept connections')) resolve(true);
      });
      p.on('exit', () => resolve(false));
    });
    if (ok) return port;
  }
  throw new Error('redis-server did not start on 5 random ports');
}

const readyOne = (r: RedisClients['command']) =>
  new Promise<void>((resolve) => (r.status === 'ready' ? resolve() : r.once('ready', () => resolve())));
/** Every connection ready (closing one mid-TLS-handshake is another test's subject). */
const ready = (c: RedisClients) => Promise.all([c.command, c.sub, ...c.readers.map((r) => r.conn)].map(readyOne));

describe('SLUICE_REDIS_TLS_CA / SLUICE_REDIS_IAM_AUTH parsing', () => {
  test('a path, inline PEM with \\n escapes, and errors that name the variable', () => {
    const pem = execFileSync('cat', [join(dir, 'ca.pem')]).toString();
    expect(redisSecurityFromEnv({ SLUICE_REDIS_TLS_CA: join(dir, 'ca.pem') }).tlsCa).toBe(pem);
    expect(redisSecurityFromEnv({ SLUICE_REDIS_TLS_CA: pem.trim().replace(/\n/g, '\\n') }).tlsCa).toBe(pem.trim());
    expect(() => redisSecurityFromEnv({ SLUICE_REDIS_TLS_CA: join(dir, 'missing.pem') })).toThrow(/SLUICE_REDIS_TLS_CA: cannot read/);
    expect(() => redisSecurityFromEnv({ SLUICE_REDIS_TLS_CA: join(dir, 'san.ext') })).toThrow(/SLUICE_REDIS_TLS_CA: .* holds no/);
    expect(() => redisSecurityFromEnv({ SLUICE_REDIS_IAM_AUTH: 'yes' })).toThrow(/SLUICE_REDIS_IAM_AUTH: expected 1 or 0/);
    expect(redisSecurityFromEnv({ SLUICE_REDIS_IAM_AUTH: '1' }).iamMetadataUrl).toBe('http://metadata.google.internal');
    expect(redisSecurityFromEnv({ SLUICE_REDIS_IAM_AUTH: '0' }).iamMetadataUrl).toBeUndefined();
    expect(() => redisSecurityFromEnv({ SLUICE_REDIS_IAM_AUTH: '1', SLUICE_REDIS_METADATA_URL: 'http://10.0.0.1:80' })).toThrow(
      /SLUICE_REDIS_METADATA_URL: expected .*loopback/,
    );
    expect(redisSecurityFromEnv({ SLUICE_REDIS_IAM_AUTH: '1', SLUICE_REDIS_METADATA_URL: 'http://127.0.0.1:9' }).iamMetadataUrl).toBe(
      'http://127.0.0.1:9',
    );
  });
});

describe('TLS to Redis', () => {
  let port: number;
  beforeAll(async () => {
    port = await startRedis([], true);
  });

  test('with the CA the server trusts, commands run over TLS (single Redis)', async () => {
    const ca = redisSecurityFromEnv({ SLUICE_REDIS_TLS_CA: join(dir, 'ca.pem') }).tlsCa;
    const c = createClients({ url: `redis://127.0.0.1:${port}` }, 1, timing, 'sluice:tls-test', () => undefined, { tlsCa: ca });
    open.push(c);
    await ready(c);
    expect(await c.command.ping()).toBe('PONG');
    const info = String(await c.command.call('CLIENT', 'INFO'));
    expect(info).toContain('name=sluice:tls-test');
  });

  test('a CA that did not sign the server certificate is refused with a certificate error', async () => {
    const other = redisSecurityFromEnv({ SLUICE_REDIS_TLS_CA: join(dir, 'other.pem') }).tlsCa;
    const errors: string[] = [];
    const c = await new Promise<RedisClients>((resolve) => {
      const made = createClients(
        { url: `redis://127.0.0.1:${port}` },
        1,
        timing,
        'sluice:tls-bad',
        (_w, e) => {
          errors.push(e.message);
          if (/certificate/.test(e.message)) resolve(made);
        },
        { tlsCa: other },
      );
      open.push(made);
    });
    expect(errors.find((m) => /certificate/.test(m))).toMatch(/self.signed certificate in certificate chain/);
    expect(c.command.status).not.toBe('ready');
  });

  test('without TLS configured the TLS port does not answer a plaintext client', async () => {
    const msg = await new Promise<string>((resolve) => {
      open.push(createClients({ url: `redis://127.0.0.1:${port}` }, 1, timing, 'sluice:plain', (_w, e) => resolve(e.message), {}));
    });
    expect(msg).not.toBe('');
    expect(open[open.length - 1].command.status).not.toBe('ready');
  });
});

describe('IAM AUTH with a token from the metadata server', () => {
  let metadata: Server;
  let base: string;
  let token = 'token-A';
  let refuse = false;
  const served: string[] = [];
  let onServe: ((t: string) => void) | undefined;

  beforeAll(async () => {
    metadata = createServer((req, res) => {
      // The real server refuses requests without the header; so does this one.
      if (refuse || req.url !== TOKEN_PATH || req.headers['metadata-flavor'] !== 'Google') {
        res.writeHead(403).end();
        return;
      }
      served.push(token);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ access_token: token, expires_in: 2, token_type: 'Bearer' }));
      onServe?.(token);
    });
    await new Promise<void>((resolve) => metadata.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(metadata.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    metadata.closeAllConnections();
    await new Promise((resolve) => metadata.close(resolve));
  });

  test('connects with the token, and after a rotation a reconnect uses the new one', async () => {
    const port = await startRedis(['--requirepass', 'token-A'], false);
    const admin = new Redis({ port, host: '127.0.0.1', password: 'token-A' });
    try {
      const c = createClients({ url: `redis://127.0.0.1:${port}` }, 1, timing, 'sluice:iam-test', () => undefined, {
        iamMetadataUrl: base,
      });
      open.push(c);
      await ready(c);
      expect(await c.command.ping()).toBe('PONG');
      expect(served[0]).toBe('token-A');

      // Rotation: the metadata server hands out B, Redis now wants B. The open connection keeps
      // working (an authenticated connection outlives its token), new ones need B.
      const seenB = new Promise<void>((resolve) => (onServe = (t) => t === 'token-B' && resolve()));
      token = 'token-B';
      await admin.config('SET', 'requirepass', 'token-B');
      await seenB;
      expect(await c.command.ping()).toBe('PONG');
      // The token source has the new token once the answer is parsed (a few ticks after it was served).
      const deadline = Date.now() + 5_000;
      while (c.tokens?.token !== 'token-B' && Date.now() < deadline) await new Promise((r) => setImmediate(r));
      expect(c.tokens?.token).toBe('token-B');

      // Every sluice connection is cut; each must come back with token B.
      const back = Promise.all(
        [c.command, c.sub, ...c.readers.map((r) => r.conn)].map((r) => new Promise<void>((resolve) => r.once('ready', () => resolve()))),
      );
      const killed = Number(await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes'));
      expect(killed).toBeGreaterThanOrEqual(2);
      await back;
      expect(await c.command.ping()).toBe('PONG');
      // The old token no longer opens a connection.
      const stale = new Redis({ port, host: '127.0.0.1', enableReadyCheck: false, lazyConnect: true });
      await stale.connect();
      await expect(stale.auth('token-A')).rejects.toThrow(/WRONGPASS/);
      stale.disconnect();
    } finally {
      admin.disconnect();
      onServe = undefined;
    }
  });

  test('no token, no connection: a metadata server that refuses leaves the clients unconnected and reports why', async () => {
    const port = await startRedis(['--requirepass', 'x'], false);
    refuse = true;
    const err = await new Promise<Error>((resolve) => {
      open.push(
        createClients({ url: `redis://127.0.0.1:${port}` }, 1, timing, 'sluice:iam-none', (w, e) => w === 'iam-token' && resolve(e), {
          iamMetadataUrl: base,
        }),
      );
    });
    refuse = false;
    expect(err.message).toMatch(/metadata token: HTTP 403/);
    expect(open[open.length - 1].command.status).toBe('wait');
  });

  test('a Redis Cluster over TLS with IAM AUTH: nodes found through the seed use the CA and the token, also after a rotation', async () => {
    token = 'token-C';
    const port = await startRedis(
      [
        '--cluster-enabled',
        'yes',
        '--tls-cluster',
        'yes',
        '--cluster-config-file',
        join(dir, `nodes-${Date.now()}.conf`),
        '--requirepass',
        'token-C',
        '--masterauth',
        'token-C',
        '--cluster-announce-ip',
        '127.0.0.1',
      ],
      true,
    );
    const tls = { ca: redisSecurityFromEnv({ SLUICE_REDIS_TLS_CA: join(dir, 'ca.pem') }).tlsCa };
    const admin = new Redis({ port, host: '127.0.0.1', password: 'token-C', tls });
    try {
      // A cluster of one: this node owns every slot.
      await admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
      const c = createClients({ cluster: [{ host: '127.0.0.1', port }] }, 2, timing, 'sluice:iam-cluster', () => undefined, {
        tlsCa: tls.ca,
        iamMetadataUrl: base,
      });
      open.push(c);
      await ready(c);
      expect(c.cluster).toBe(true);
      await c.command.set('{a}k', '1');
      expect(await c.command.get('{a}k')).toBe('1');

      const seenD = new Promise<void>((resolve) => (onServe = (t) => t === 'token-D' && resolve()));
      token = 'token-D';
      await admin.config('SET', 'requirepass', 'token-D');
      await seenD;
      const deadline = Date.now() + 5_000;
      while (c.tokens?.token !== 'token-D' && Date.now() < deadline) await new Promise((r) => setImmediate(r));
      expect(c.tokens?.token).toBe('token-D');
      // Every connection cut: the cluster clients reconnect with token D (over TLS) and commands run.
      await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
      const until = Date.now() + 10_000;
      let got: string | null | undefined;
      // A command fails at once while the cluster reconnects (no offline queue): poll, yielding to I/O.
      while (got !== '1' && Date.now() < until) {
        got = await c.command.get('{a}k').catch(() => undefined);
        if (got !== '1') await new Promise((r) => setTimeout(r, 20));
      }
      expect(got).toBe('1');
      const names = String(await admin.call('CLIENT', 'LIST'));
      expect(names).toContain('sluice:iam-cluster');
    } finally {
      admin.disconnect();
      onServe = undefined;
    }
  });
});
