/**
 * What makes two signals the same signal is one definition (app/backplane/dedupe.ts: recipient,
 * sender and id), and both backplanes key by it: the same scenario, run on the MemoryBackplane and
 * on a real redis-server, gives the same outcomes. Before this the memory backplane keyed by sender
 * and id only, so a sender reusing an id for a second recipient got `duplicate` (and the first
 * recipient's seq) there, and a delivery on Redis.
 */
import { dedupeKey } from '../../app/backplane/dedupe';
import { MemoryBackplane } from '../../app/backplane/memory';
import { keys } from '../../app/backplane/redis/keys';
import { RedisBackplane } from '../../app/backplane/redis/backplane';
import type { Backplane, Delivery, PublishOutcome } from '../../app/backplane/types';
import { resolveTimeouts } from '../../app/contract/timeouts';
import { RedisProc, startRedis, untilPresenceSettled } from './helpers';

const timeouts = resolveTimeouts({});
let redis: RedisProc;
const open: Backplane[] = [];

beforeAll(async () => {
  redis = await startRedis();
}, 30_000);
afterAll(async () => {
  await Promise.all(open.map((b) => b.close()));
  await redis?.destroy();
});

/** The scenario: one sender, ids reused across recipients and resent to the same one. */
async function scenario(bp: Backplane, serverId: string): Promise<{ outcomes: PublishOutcome[]; got: Record<string, string[]> }> {
  const got: Record<string, string[]> = { b: [], c: [] };
  for (const p of ['b', 'c'] as const) {
    await bp.attach({ id: `acct/${p}`, kind: 'client' }, serverId, {
      deliver: (d: Delivery) => (got[p].push(`${d.from} ${d.id} ${d.seq}`), true),
      onEvicted: () => undefined,
    });
  }
  const send = (to: string, id: string, from = 'acct/a') => bp.publish({ from, to: `acct/${to}`, id, data: '1' });
  const outcomes = [
    await send('b', 'm1'), // delivered, seq 1 of b
    await send('c', 'm1'), // same sender and id, another recipient: a new signal, seq 1 of c
    await send('b', 'm1'), // resent to b: the first seq back
    await send('c', 'm1'), // resent to c: the first seq back
    await send('b', 'm1', 'acct/x'), // another sender, same id: a new signal, seq 2 of b
    await send('b', 'm2'), // a new id: seq 3 of b
  ];
  return { outcomes, got };
}

test('one definition: recipient, sender and id, as the Redis key layout', () => {
  expect(dedupeKey('acct/b', 'acct/a', 'm:1')).toBe('acct/b:acct/a:m:1');
  const k = keys('p:');
  expect(k.dedupe('acct/b', 'acct/a', 'm:1')).toBe(`p:dd:${k.tag(k.bucketOf('acct/b'))}:${dedupeKey('acct/b', 'acct/a', 'm:1')}`);
});

test('memory and Redis dedupe alike: an id reused for another recipient is a new signal, a resend is not', async () => {
  const memory = new MemoryBackplane(timeouts.resume);
  const red = new RedisBackplane({ url: redis.url, serverId: 'dk-1', timeouts, prefix: 'dk:' });
  open.push(memory, red);
  await red.whenReady();
  await untilPresenceSettled(red);
  const onMemory = await scenario(memory, 'mem-1');
  const onRedis = await scenario(red, 'dk-1');
  const expected = [
    { status: 'delivered', seq: 1 },
    { status: 'delivered', seq: 1 },
    { status: 'duplicate', seq: 1 },
    { status: 'duplicate', seq: 1 },
    { status: 'delivered', seq: 2 },
    { status: 'delivered', seq: 3 },
  ];
  expect(onMemory.outcomes).toEqual(expected);
  expect(onRedis.outcomes).toEqual(expected);
  expect(onMemory.got).toEqual({ b: ['acct/a m1 1', 'acct/x m1 2', 'acct/a m2 3'], c: ['acct/a m1 1'] });
  expect(onRedis.got).toEqual(onMemory.got);
}, 30_000);
