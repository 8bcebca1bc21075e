import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { verifyToken } from '../../app/auth/token';
import { DEV_TOKEN_SECRET } from '../../app/auth/token';
import { ConfigError, loadConfig } from '../../app/server/config';

const ROOT = path.resolve(__dirname, '../..');

describe('server config', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({}, { fdLimit: 20_000 });
    expect(c).toMatchObject({
      env: 'development',
      port: 4000,
      adminPort: 9090,
      adminHost: '127.0.0.1',
      tokenSecret: DEV_TOKEN_SECRET,
      gceWatcher: false,
    });
    expect(c.limits).toEqual({
      maxFrameBytes: 65536,
      ratePerSec: 50,
      rateBurst: 100,
      maxBufferedBytes: 1048576,
      bytesPerSec: 256 * 1024,
      bytesBurst: 512 * 1024,
      maxConnections: 10_000,
      maxConnectionsPerPeer: 4,
      tokenMaxTtlSec: 604_800,
      historyMaxBytesPerPeer: 4 * 1024 * 1024,
      memoryBudgetBytes: 256 * 1024 * 1024,
      recipientSignalsPerSec: 100,
      recipientBytesPerSec: 1024 * 1024,
      senderHistoryShare: 0.25,
    });
    expect(c.signalPolicy).toEqual({ sameKind: false });
    expect(c).toMatchObject({ tokenIssuer: 'sluice', tokenAudience: 'sluice', jwks: undefined });
    expect(c.adminToken).toBeUndefined();
    expect(c.timeouts.client.heartbeatIntervalMs).toBe(7_500);
  });

  it.each([
    [{ SLUICE_PORT: 'abc' }, /SLUICE_PORT/],
    [{ SLUICE_PORT: '70000' }, /SLUICE_PORT/],
    [{ SLUICE_LOG_LEVEL: 'loud' }, /SLUICE_LOG_LEVEL/],
    [{ SLUICE_TOKEN_SECRET: 'short' }, /SLUICE_TOKEN_SECRET: must be at least 32 characters/],
    [{ SLUICE_ENV: 'production' }, /SLUICE_TOKEN_SECRET: required when SLUICE_ENV=production/],
    [{ SLUICE_ADMIN_PORT: '4000' }, /SLUICE_ADMIN_PORT: must differ from SLUICE_PORT/],
    [{ SLUICE_TIMEOUTS: '{oops' }, /SLUICE_TIMEOUTS: must be a JSON object/],
    [{ SLUICE_TIMEOUTS: '{"lb":{"idleTimeoutSec":5}}' }, /\[lb-idle-exceeds-heartbeats\]/],
    [{ SLUICE_REDIS_URL: 'not a url' }, /SLUICE_REDIS_URL/],
    [{ SLUICE_REDIS_CLUSTER: '127.0.0.1' }, /SLUICE_REDIS_CLUSTER: "127.0.0.1" is not host:port/],
    [
      { SLUICE_REDIS_CLUSTER: '127.0.0.1:7000,127.0.0.1:99999' },
      /SLUICE_REDIS_CLUSTER: "127.0.0.1:99999" is not host:port \(port 1-65535\)/,
    ],
    [
      { SLUICE_REDIS_CLUSTER: '127.0.0.1:7000', SLUICE_REDIS_URL: 'redis://127.0.0.1:6379' },
      /SLUICE_REDIS_URL and SLUICE_REDIS_CLUSTER are both set/,
    ],
    [{ SLUICE_REDIS_BUCKETS: '0' }, /SLUICE_REDIS_BUCKETS/],
    [{ SLUICE_REDIS_NAT_MAP: '{oops' }, /SLUICE_REDIS_NAT_MAP: expected a JSON object/],
    [{ SLUICE_REDIS_NAT_MAP: '{"127.0.0.1:7000":"relay"}' }, /SLUICE_REDIS_NAT_MAP.127.0.0.1:7000: "relay" is not host:port/],
    [{ SLUICE_REDIS_WAIT_REPLICAS: '-1' }, /SLUICE_REDIS_WAIT_REPLICAS/],
    [{ SLUICE_RECIPIENT_SIGNALS_PER_SEC: '0' }, /SLUICE_RECIPIENT_SIGNALS_PER_SEC: must be >= 1, got 0/],
    [
      { SLUICE_RECIPIENT_BYTES_PER_SEC: '100000' },
      /SLUICE_RECIPIENT_BYTES_PER_SEC: must be an integer >= 2 x SLUICE_MAX_FRAME_BYTES \(131072\)/,
    ],
    [{ SLUICE_SENDER_HISTORY_SHARE: '1.5' }, /SLUICE_SENDER_HISTORY_SHARE: must be in \(0, 1\], got 1.5/],
    [{ SLUICE_SIGNAL_SAME_KIND: 'yes' }, /SLUICE_SIGNAL_SAME_KIND/],
    [{ SLUICE_JWKS_URL: 'http://issuer.example/jwks.json' }, /SLUICE_JWKS_URL: must be https/],
    [{ SLUICE_JWKS_URL: 'https://issuer.example/jwks.json', SLUICE_JWKS_FILE: '/etc/jwks.json' }, /set one, not both/],
  ])('rejects %j naming the field', (env, message) => {
    expect(() => loadConfig(env as NodeJS.ProcessEnv)).toThrow(ConfigError);
    expect(() => loadConfig(env as NodeJS.ProcessEnv)).toThrow(message);
  });

  it('reads a Redis Cluster backplane from SLUICE_REDIS_CLUSTER (seed nodes) and its buckets', () => {
    const c = loadConfig({ SLUICE_REDIS_CLUSTER: '127.0.0.1:7000, [::1]:7001', SLUICE_REDIS_BUCKETS: '32' });
    expect(c.redisCluster).toEqual([
      { host: '127.0.0.1', port: 7000 },
      { host: '::1', port: 7001 },
    ]);
    expect(c.redisUrl).toBeUndefined();
    expect(c.redisBuckets).toBe(32);
    expect(loadConfig({}).redisBuckets).toBe(16);
  });

  it('reads the cluster NAT map (announced address -> where to reach it) and the WAIT replicas', () => {
    const c = loadConfig({ SLUICE_REDIS_NAT_MAP: '{"127.0.0.1:7000":"127.0.0.1:41000"}', SLUICE_REDIS_WAIT_REPLICAS: '1' });
    expect(c.redisNatMap).toEqual({ '127.0.0.1:7000': { host: '127.0.0.1', port: 41000 } });
    expect(c.redisWaitReplicas).toBe(1);
    expect(loadConfig({}).redisWaitReplicas).toBe(0);
  });

  it('applies valid timeout overrides', () => {
    const c = loadConfig({ SLUICE_TIMEOUTS: JSON.stringify({ drain: { windowMs: 5_000 } }) });
    expect(c.timeouts.drain.windowMs).toBe(5_000);
    expect(c.timeouts.drain.deadlineMs).toBe(20_000);
  });

  it('npm run token prints a token the server accepts', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'app/cli/token.ts', '--sub', 'gw-1', '--kind', 'gateway'],
      { cwd: ROOT, env: { PATH: process.env.PATH } },
    );
    expect(await verifyToken(DEV_TOKEN_SECRET, stdout.trim())).toEqual({ sub: 'gw-1', kind: 'gateway', account: 'default' });
  });
});
