/**
 * Two regions whose backplanes differ (docs/regions.md): r1 a Redis Cluster (3 primaries), r2 one
 * Redis. Two servers, one per region, each holding both through createBackplane as the server's
 * config builds it. Signals go to the recipient's home, wherever the recipient is attached.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { createBackplane } from '../../app/backplane';
import type { RedisBackplane } from '../../app/backplane/redis/backplane';
import { RegionalBackplane } from '../../app/backplane/regions';
import type { Delivery } from '../../app/backplane/types';
import { defaultLimits } from '../../app/server/config';
import { LocalRedis, startRedis } from '../../app/local/region/redis';
import { regionTimeouts } from '../../app/local/region/timeouts';
import { RedisCluster } from '../helpers/redis-cluster';
import { untilPresenceSettled } from './helpers';

const membersOf = (b: RegionalBackplane) => (b as unknown as { members: Map<string, RedisBackplane> }).members;

jest.setTimeout(90_000);

test('a cluster region and a single-Redis region: each signal lands in its recipient home and is delivered', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-regions-cluster-'));
  let cluster: RedisCluster | undefined;
  let redis: LocalRedis | undefined;
  const backplanes: RegionalBackplane[] = [];
  try {
    cluster = await RedisCluster.start({ primaries: 3, replicas: 0 });
    redis = await startRedis(dir);
    const redisUrls = { r1: `redis-cluster://${cluster.seedText}`, r2: redis.url };
    const accountHomes = { a1: 'r1', a2: 'r2' };
    for (const [serverId, region] of [
      ['s-r1', 'r1'],
      ['s-r2', 'r2'],
    ]) {
      const b = createBackplane(
        { serverId, timeouts: regionTimeouts(true), limits: defaultLimits, regions: { region, redisUrls, accountHomes } },
        pino({ level: 'silent' }),
      );
      expect(b).toBeInstanceOf(RegionalBackplane);
      backplanes.push(b as RegionalBackplane);
    }
    const [onR1, onR2] = backplanes;
    for (const b of backplanes)
      for (const r of ['r1', 'r2']) await (b as unknown as { members: Map<string, RedisBackplane> }).members.get(r)!.whenReady();
    // A Redis process first seen starts its recovery window (every bucket beats in the same round):
    // until it has passed, publish answers backplane_unavailable, as after a restart. Wait it out
    // once per region (the window's state is in that region's Redis).
    for (const r of ['r1', 'r2']) await untilPresenceSettled((membersOf(backplanes[0]) as Map<string, RedisBackplane>).get(r)!);
    // Both peers are attached in r2; p1's home is r1 (the cluster), p2's is r2.
    const got: Record<string, Delivery[]> = { 'a1/p1': [], 'a2/p2': [] };
    for (const id of Object.keys(got))
      await onR2.attach({ id, kind: 'gateway' }, 's-r2', { deliver: (d) => got[id].push(d) > 0, onEvicted: () => undefined });
    const first = await onR1.publish({ from: 'a1/c1', to: 'a1/p1', id: 'm1', data: '{"n":1}' });
    const second = await onR1.publish({ from: 'a2/c2', to: 'a2/p2', id: 'm1', data: '{"n":2}' });
    expect([first.status, second.status]).toEqual(['delivered', 'delivered']);
    expect(got['a1/p1'].map((d) => d.data)).toEqual(['{"n":1}']);
    expect(got['a2/p2'].map((d) => d.data)).toEqual(['{"n":2}']);
    // The same signal again, from the other region's server: the dedupe record at the home answers.
    expect((await onR2.publish({ from: 'a1/c1', to: 'a1/p1', id: 'm1', data: '{"n":1}' })).status).toBe('duplicate');
    expect((await onR1.replay('a1/p1', 0)).deliveries.map((d) => d.seq)).toEqual([1]);
    expect(onR1.routing()).toMatchObject({ region: 'r1', publishedTo: { r1: 1, r2: 1 }, crossRegion: 1 });
    expect(onR2.routing()).toMatchObject({ region: 'r2', publishedTo: { r1: 1, r2: 0 }, crossRegion: 1 });
  } finally {
    await Promise.all(backplanes.map((b) => b.close().catch(() => undefined)));
    await redis?.stop();
    await cluster?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
