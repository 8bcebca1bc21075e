/**
 * Several regions (docs/regions.md): the home rule every server must agree on, and the three
 * variables that configure it, refused with the variable's name when wrong.
 */
import { homeRegion } from '../../app/backplane/regions';
import { ConfigError, loadConfig } from '../../app/server/config';
import { regionsFromEnv } from '../../app/server/regions-config';

const URLS = JSON.stringify({ r1: 'redis://127.0.0.1:7001', r2: 'redis://127.0.0.1:7002' });

describe('homeRegion', () => {
  const rule = { regions: ['r1', 'r2', 'r3'] };
  const peers = Array.from({ length: 3000 }, (_, i) => `acct/peer-${i}`);

  test('a pinned account wins; otherwise the same address always gets the same home', () => {
    expect(homeRegion('eu-tenant/gw-1', { ...rule, accountHomes: { 'eu-tenant': 'r3' } })).toBe('r3');
    for (const p of peers.slice(0, 50)) expect(homeRegion(p, rule)).toBe(homeRegion(p, { regions: ['r3', 'r1', 'r2'] }));
  });

  test('spreads peers over the regions, and removing a region moves only its own peers', () => {
    const before = new Map(peers.map((p) => [p, homeRegion(p, rule)]));
    const counts = ['r1', 'r2', 'r3'].map((r) => [...before.values()].filter((h) => h === r).length);
    for (const c of counts) expect(c).toBeGreaterThan(800); // about 1000 each
    for (const p of peers) {
      const after = homeRegion(p, { regions: ['r1', 'r2'] });
      if (before.get(p) !== 'r3') expect(after).toBe(before.get(p));
    }
  });
});

describe('regionsFromEnv', () => {
  test('all unset: one region', () => {
    expect(regionsFromEnv({})).toEqual({ problems: [] });
  });

  test('a valid map, region and homes', () => {
    const r = regionsFromEnv({ SLUICE_REGION: 'r2', SLUICE_REGION_REDIS_URLS: URLS, SLUICE_ACCOUNT_HOMES: '{"a":"r1"}' });
    expect(r.problems).toEqual([]);
    expect(r.regions).toEqual({
      region: 'r2',
      redisUrls: { r1: 'redis://127.0.0.1:7001', r2: 'redis://127.0.0.1:7002' },
      accountHomes: { a: 'r1' },
    });
  });

  test.each([
    [{ SLUICE_REGION_REDIS_URLS: URLS }, 'SLUICE_REGION: required with SLUICE_REGION_REDIS_URLS (one of r1, r2)'],
    [{ SLUICE_REGION: 'r9', SLUICE_REGION_REDIS_URLS: URLS }, 'SLUICE_REGION: r9 is not in SLUICE_REGION_REDIS_URLS (r1, r2)'],
    [{ SLUICE_REGION: 'r1', SLUICE_REGION_REDIS_URLS: 'not json' }, 'SLUICE_REGION_REDIS_URLS: must be a JSON object'],
    [
      { SLUICE_REGION: 'r1', SLUICE_REGION_REDIS_URLS: URLS, SLUICE_ACCOUNT_HOMES: '{"a":"r7"}' },
      'SLUICE_ACCOUNT_HOMES: account a is homed in r7, not one of r1, r2',
    ],
    [
      { SLUICE_REGION: 'r1', SLUICE_REGION_REDIS_URLS: URLS, SLUICE_REDIS_URL: 'redis://127.0.0.1:9' },
      'SLUICE_REDIS_URL: differs from SLUICE_REGION_REDIS_URLS.r1; set one of them (the map wins for regions)',
    ],
    [{ SLUICE_ACCOUNT_HOMES: '{}' }, 'SLUICE_ACCOUNT_HOMES: only with SLUICE_REGION_REDIS_URLS'],
  ])('%j is refused: %s', (env, problem) => {
    expect(regionsFromEnv(env).problems).toContain(problem);
  });

  test('a region may name a Redis Cluster by its seed nodes; bad seed nodes are refused', () => {
    const ok = regionsFromEnv({
      SLUICE_REGION: 'r1',
      SLUICE_REGION_REDIS_URLS: JSON.stringify({ r1: 'redis-cluster://10.0.0.2:6379,10.0.0.3:6379', r2: 'redis://127.0.0.1:7002' }),
    });
    expect(ok.problems).toEqual([]);
    const bad = regionsFromEnv({ SLUICE_REGION: 'r1', SLUICE_REGION_REDIS_URLS: JSON.stringify({ r1: 'redis-cluster://10.0.0.2' }) });
    expect(bad.problems.join('\n')).toContain('seed nodes: "10.0.0.2" is not host:port');
  });

  test('loadConfig refuses a bad region with the variable named', () => {
    expect(() => loadConfig({ SLUICE_REGION: 'r9', SLUICE_REGION_REDIS_URLS: URLS }, { fdLimit: 100_000 })).toThrow(ConfigError);
    expect(() => loadConfig({ SLUICE_REGION: 'r9', SLUICE_REGION_REDIS_URLS: URLS }, { fdLimit: 100_000 })).toThrow(/SLUICE_REGION: r9/);
    expect(loadConfig({ SLUICE_REGION: 'r1', SLUICE_REGION_REDIS_URLS: URLS }, { fdLimit: 100_000 }).regions?.region).toBe('r1');
  });
});
