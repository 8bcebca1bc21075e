/** Config of the hardening limits: admin token rules, the connection cap against `ulimit -n`, token lifetime. */
import { ConfigError, connectionCap, FD_RESERVE, httpTimeouts, isLoopbackHost, joinDeadlineMs, loadConfig } from '../../app/server/config';
import { defaultTimeouts } from '../../app/contract/timeouts';

const TOKEN = 'a'.repeat(32);
const RESERVED = FD_RESERVE.publicHttp + FD_RESERVE.admin + FD_RESERVE.process;
const load = (env: Record<string, string>, fdLimit = 20_000) => loadConfig({ SLUICE_TOKEN_SECRET: 's'.repeat(32), ...env }, { fdLimit });

describe('SLUICE_ADMIN_TOKEN', () => {
  it.each([
    [{ SLUICE_ENV: 'production' }, /SLUICE_ADMIN_TOKEN: required when SLUICE_ENV=production/],
    [{ SLUICE_ADMIN_HOST: '0.0.0.0' }, /SLUICE_ADMIN_TOKEN: required when SLUICE_ADMIN_HOST \(0\.0\.0\.0\) is not a loopback address/],
    [{ SLUICE_ADMIN_HOST: '::' }, /SLUICE_ADMIN_TOKEN: required when SLUICE_ADMIN_HOST/],
    [{ SLUICE_ADMIN_HOST: '10.0.0.5' }, /SLUICE_ADMIN_TOKEN: required when SLUICE_ADMIN_HOST/],
    [{ SLUICE_ADMIN_TOKEN: 'short' }, /SLUICE_ADMIN_TOKEN: must be at least 32 characters/],
  ])('%j is refused naming the variable', (env, message) => {
    expect(() => load(env)).toThrow(ConfigError);
    expect(() => load(env)).toThrow(message);
  });

  it('is optional on loopback in development, and carried when set', () => {
    expect(load({}).adminToken).toBeUndefined();
    expect(load({ SLUICE_ADMIN_HOST: '127.0.0.2' }).adminToken).toBeUndefined();
    expect(load({ SLUICE_ENV: 'production', SLUICE_ADMIN_TOKEN: TOKEN }).adminToken).toBe(TOKEN);
    expect(load({ SLUICE_ADMIN_HOST: '0.0.0.0', SLUICE_ADMIN_TOKEN: TOKEN }).adminHost).toBe('0.0.0.0');
  });

  it('SLUICE_HOST: loopback in development unless told otherwise, every interface in production', () => {
    expect(load({}).host).toBe('127.0.0.1');
    expect(load({ SLUICE_HOST: '0.0.0.0' }).host).toBe('0.0.0.0');
    expect(load({ SLUICE_ENV: 'production', SLUICE_ADMIN_TOKEN: TOKEN }).host).toBe('0.0.0.0');
  });

  it('knows loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', '::ffff:127.0.0.1', 'localhost']) expect(isLoopbackHost(h)).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', '::ffff:10.0.0.1', 'example.com', '']) expect(isLoopbackHost(h)).toBe(false);
  });
});

describe('SLUICE_MAX_CONNECTIONS and the open-file limit', () => {
  it('defaults to 10,000, or the limit minus the reserve when that is lower', () => {
    expect(load({}, 20_000).limits.maxConnections).toBe(10_000);
    expect(load({}, 1024).limits.maxConnections).toBe(1024 - RESERVED);
    expect(load({}, 256).limits.maxConnections).toBe(256 - RESERVED);
    expect(connectionCap(Infinity)).toBe(10_000);
  });

  it('refuses a cap that does not fit below ulimit -n, or a limit with no room at all', () => {
    expect(() => load({ SLUICE_MAX_CONNECTIONS: '5000' }, 1024)).toThrow(
      /SLUICE_MAX_CONNECTIONS: 5000 does not fit the open-file limit \(ulimit -n 1024\): at most 896/,
    );
    expect(() => load({}, RESERVED)).toThrow(/SLUICE_MAX_CONNECTIONS: the open-file limit \(ulimit -n 128\) leaves no room/);
    expect(load({ SLUICE_MAX_CONNECTIONS: '500' }, 1024).limits.maxConnections).toBe(500);
  });

  it.each([
    [{ SLUICE_MAX_CONNECTIONS: '0' }, /SLUICE_MAX_CONNECTIONS/],
    [{ SLUICE_MAX_CONNECTIONS: 'lots' }, /SLUICE_MAX_CONNECTIONS/],
    [{ SLUICE_MAX_CONNECTIONS_PER_PEER: '0' }, /SLUICE_MAX_CONNECTIONS_PER_PEER/],
    [{ SLUICE_MAX_CONNECTIONS_PER_PEER: '2.5' }, /SLUICE_MAX_CONNECTIONS_PER_PEER/],
    [{ SLUICE_TOKEN_MAX_TTL_SEC: '10' }, /SLUICE_TOKEN_MAX_TTL_SEC/],
    [{ SLUICE_TOKEN_MAX_TTL_SEC: 'week' }, /SLUICE_TOKEN_MAX_TTL_SEC/],
  ])('%j is refused naming the variable', (env, message) => {
    expect(() => load(env)).toThrow(ConfigError);
    expect(() => load(env)).toThrow(message);
  });
});

describe('derived bounds', () => {
  it('join deadline = connect + join timeouts; HTTP requests bounded under 10 s', () => {
    expect(joinDeadlineMs(defaultTimeouts)).toBe(10_000);
    expect(httpTimeouts(defaultTimeouts)).toEqual({
      headersTimeoutMs: 5_000,
      requestTimeoutMs: 5_000,
      checkIntervalMs: 1_000,
      boundMs: 6_000,
      keepAliveTimeoutMs: 605_000,
    });
    const slow = { ...defaultTimeouts, client: { ...defaultTimeouts.client, connectTimeoutMs: 60_000 } };
    expect(httpTimeouts(slow).boundMs).toBeLessThanOrEqual(10_000);
  });
});
