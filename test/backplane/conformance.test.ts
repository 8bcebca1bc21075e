/**
 * The Backplane contract, checked on both implementations with the same scenario: MemoryBackplane
 * is the reference, RedisBackplane must behave the same against a real redis-server and against a
 * real Redis Cluster (3 primaries + 3 replicas, test/helpers/redis-cluster.ts).
 */
import { MemoryBackplane } from '../../app/backplane/memory';
import { RedisBackplane } from '../../app/backplane/redis/backplane';
import { Backplane, BackplaneError, Delivery, PresenceEvent } from '../../app/backplane/types';
import { RedisCluster } from '../helpers/redis-cluster';
import { until } from '../helpers/server';
import { RedisProc, shortGraceTimeouts, startRedis, untilPresenceSettled } from './helpers';

const j = (v: unknown) => JSON.stringify(v);
/** Per-recipient history bytes in these tests: both backplanes must trim by it alike. */
const HISTORY_BYTES = 4_000;

// Short grace so expiry is observable (helpers.ts shortGraceTimeouts).
const timeouts = shortGraceTimeouts({ historyMaxMessages: 3, historyMaxAgeMs: 60_000, dedupeWindowMs: 120_000 });

let redis: RedisProc;
let cluster: RedisCluster;
const open: Backplane[] = [];

beforeAll(async () => {
  [redis, cluster] = await Promise.all([startRedis(), RedisCluster.start()]);
}, 60_000);
afterAll(async () => {
  await Promise.all(open.map((b) => b.close()));
  await Promise.all([redis?.destroy(), cluster?.destroy()]);
});

type Factory = () => Promise<{ a: Backplane; b: Backplane; sa: string; sb: string }>;

let n = 0;
const factories: Array<[string, Factory]> = [
  [
    'memory',
    async () => {
      const m = new MemoryBackplane(timeouts.resume, { budget: { historyMaxBytesPerPeer: HISTORY_BYTES } });
      open.push(m);
      return { a: m, b: m, sa: 'mem-a', sb: 'mem-b' };
    },
  ],
  [
    'redis',
    async () => {
      // Two instances (two servers) with their own prefix: each test starts from an empty keyspace.
      const prefix = `t${++n}:`;
      const budget = { historyMaxBytesPerPeer: HISTORY_BYTES };
      const a = new RedisBackplane({ url: redis.url, serverId: 'red-a', timeouts, prefix, budget });
      const b = new RedisBackplane({ url: redis.url, serverId: 'red-b', timeouts, prefix, budget });
      open.push(a, b);
      await Promise.all([a.whenReady(), b.whenReady()]);
      await untilPresenceSettled(b);
      return { a, b, sa: 'red-a', sb: 'red-b' };
    },
  ],
  [
    'redis-cluster',
    async () => {
      const prefix = `c${++n}:`;
      const budget = { historyMaxBytesPerPeer: HISTORY_BYTES };
      const a = new RedisBackplane({ cluster: cluster.seeds, serverId: 'cl-a', timeouts, prefix, budget });
      const b = new RedisBackplane({ cluster: cluster.seeds, serverId: 'cl-b', timeouts, prefix, budget });
      open.push(a, b);
      await Promise.all([a.whenReady(), b.whenReady()]);
      await untilPresenceSettled(b);
      return { a, b, sa: 'cl-a', sb: 'cl-b' };
    },
  ],
];

function collector(ok = true) {
  const got: Delivery[] = [];
  let evicted = 0;
  return {
    got,
    evictions: () => evicted,
    opts: { deliver: (d: Delivery) => (ok ? (got.push(d), true) : false), onEvicted: () => void evicted++ },
  };
}

async function reason(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return err instanceof BackplaneError ? err.reason : String(err);
  }
}

describe.each(factories)('%s backplane', (_name, make) => {
  test('publish: delivered, duplicate, unknown_peer, stored; seq without holes; routed to the owner', async () => {
    const { a, b, sa } = await make();
    const p1 = collector();
    await a.attach({ id: 'p1', kind: 'gateway' }, sa, p1.opts);
    // Published through the other instance: the owner (a) hands it over.
    expect(await b.publish({ from: 'x', to: 'p1', id: 'm1', data: j({ n: 1 }) })).toEqual({ status: 'delivered', seq: 1 });
    expect(await a.publish({ from: 'y', to: 'p1', id: 'm1', data: j([2]) })).toEqual({ status: 'delivered', seq: 2 });
    expect(await b.publish({ from: 'x', to: 'p1', id: 'm1', data: j('again') })).toEqual({ status: 'duplicate', seq: 1 });
    expect(await reason(b.publish({ from: 'x', to: 'nobody', id: 'm2', data: j(1) }))).toBe('unknown_peer');
    expect(p1.got.map((d) => [d.from, d.id, d.seq, d.data])).toEqual([
      ['x', 'm1', 1, '{"n":1}'],
      ['y', 'm1', 2, '[2]'],
    ]);

    const slow = collector(false); // a socket that cannot take the bytes
    await a.attach({ id: 'p2', kind: 'client' }, sa, slow.opts);
    expect(await b.publish({ from: 'x', to: 'p2', id: 'm3', data: j(null) })).toEqual({ status: 'stored', seq: 1 });
  });

  test('replay: from a seq, from null, trimmed gap, seq_reset', async () => {
    const { a, b, sa } = await make();
    const p = collector();
    await a.attach({ id: 'p3', kind: 'client' }, sa, p.opts);
    for (let i = 1; i <= 5; i++) await b.publish({ from: 'x', to: 'p3', id: `r${i}`, data: j(i) });
    const r = await b.replay('p3', 0);
    expect(r.deliveries.map((d) => d.seq)).toEqual([3, 4, 5]); // historyMaxMessages = 3
    expect(r.lastSeq).toBe(5);
    expect(r.gap).toEqual({ reason: 'trimmed', missedFrom: 1, missedTo: 2 });
    expect(await b.replay('p3', 4)).toMatchObject({ lastSeq: 5, deliveries: [{ seq: 5, id: 'r5', data: '5' }] });
    expect((await b.replay('p3', 4)).gap).toBeUndefined();
    expect(await b.replay('p3', null)).toEqual({ deliveries: [], more: false, lastSeq: 5 });
    const reset = await b.replay('p3', 9);
    expect(reset.deliveries).toEqual([]);
    expect(reset.gap).toEqual({ reason: 'seq_reset', missedFrom: 6, missedTo: 9 });
  });

  test('newest attachment wins; detach turns away, grace expiry turns offline; presence events', async () => {
    const { a, b, sa, sb } = await make();
    const events: PresenceEvent[] = [];
    const unsub = a.subscribePresence((ev) => events.push(ev));
    const first = collector();
    const second = collector();
    const s1 = await a.attach({ id: 'p4', kind: 'client' }, sa, first.opts);
    const s2 = await b.attach({ id: 'p4', kind: 'client' }, sb, second.opts);
    await until(() => first.evictions() === 1, 2_000, 'eviction of the older attachment');
    expect(second.evictions()).toBe(0);
    await s1.close(); // the stale connection goes: must not turn the new one away
    expect((await a.presence()).find((e) => e.peerId === 'p4')).toMatchObject({ state: 'online', serverId: sb });
    expect(await a.publish({ from: 'x', to: 'p4', id: 'e1', data: j(1) })).toMatchObject({ status: 'delivered' });
    expect(second.got).toHaveLength(1);

    await s2.close();
    const away = (await b.presence()).find((e) => e.peerId === 'p4');
    expect(away).toMatchObject({ state: 'away', serverId: sb, kind: 'client' });
    expect(away?.awayUntil).toBeGreaterThan(Date.now() - 1_000);
    expect(await a.publish({ from: 'x', to: 'p4', id: 'e2', data: j(2) })).toEqual({ status: 'stored', seq: 2 });

    await until(() => events.some((e) => e.type === 'offline' && e.peerId === 'p4'), 5_000, 'offline after the grace');
    expect(await reason(a.publish({ from: 'x', to: 'p4', id: 'e3', data: j(3) }))).toBe('unknown_peer');
    expect((await a.presence()).find((e) => e.peerId === 'p4')).toBeUndefined();
    const mine = events.filter((e) => (e.type === 'offline' ? e.peerId : e.entry.peerId) === 'p4').map((e) => e.type);
    expect(mine).toEqual(['online', 'online', 'away', 'offline']);
    unsub();
  });

  test('history is encoded text, paged, and capped per recipient in bytes (trimmed gap)', async () => {
    const { a, b, sa } = await make();
    const p = collector();
    await a.attach({ id: 'p5', kind: 'client' }, sa, p.opts);
    const text = '[{},{"k":"\u00e9"},[1,2]]';
    await b.publish({ from: 'x', to: 'p5', id: 't1', data: text });
    expect(p.got[0].data).toBe(text);
    expect((await b.replay('p5', 0)).deliveries[0].data).toBe(text);
    // Pages of one: each call returns the next entry and says whether more follow.
    await b.publish({ from: 'x', to: 'p5', id: 't2', data: j(2) });
    await b.publish({ from: 'x', to: 'p5', id: 't3', data: j(3) });
    const pages = [await b.replay('p5', 0, 1), await b.replay('p5', 1, 1), await b.replay('p5', 2, 1)];
    expect(pages.map((r) => [r.deliveries.map((d) => d.seq), r.more])).toEqual([
      [[1], true],
      [[2], true],
      [[3], false],
    ]);
    // 1.5 KB entries against a 4,000-byte budget: only the newest two fit (count allows three).
    const big = j('b'.repeat(1_500));
    for (let i = 4; i <= 7; i++) await b.publish({ from: 'x', to: 'p5', id: `t${i}`, data: big });
    const r = await a.replay('p5', 0, 10);
    expect(r.deliveries.map((d) => d.seq)).toEqual([6, 7]);
    expect(r.gap).toEqual({ reason: 'trimmed', missedFrom: 1, missedTo: 5 });
    // One entry larger than the whole budget leaves nothing behind, and says so.
    await b.publish({ from: 'x', to: 'p5', id: 't8', data: j('c'.repeat(5_000)) });
    expect(await a.replay('p5', 7, 10)).toMatchObject({
      lastSeq: 8,
      deliveries: [],
      gap: { reason: 'trimmed', missedFrom: 8, missedTo: 8 },
    });
    expect(p.got.map((d) => d.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]); // delivery itself is unaffected
  });
});
