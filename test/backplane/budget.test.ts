/**
 * The Redis backplane's share of the memory budget, against a real redis-server: history capped per
 * recipient in bytes (not only in entries), replays read in pages (XRANGE ... COUNT), and every key
 * a departed peer leaves behind (seq, history, dedupe, owner record) expires without anyone
 * publishing to it or replaying it again.
 */
import Redis from 'ioredis';
import { historyEntryBytes } from '../../app/backplane/budget';

/** These suites measure history trimming for an online recipient: the inbound quota (quota.ts, test/backplane/quota.test.ts) is lifted. */
const UNMETERED = { recipientSignalsPerSec: 1e9, recipientBytesPerSec: 1e12 };
import { RedisBackplane } from '../../app/backplane/redis/backplane';
import { keys } from '../../app/backplane/redis/keys';
import { until } from '../helpers/server';
import { RedisProc, shortGraceTimeouts, startRedis, untilPresenceSettled } from './helpers';

// Short grace and history age so expiry is observable (helpers.ts shortGraceTimeouts).
const timeouts = shortGraceTimeouts(
  { historyMaxMessages: 1_000, historyMaxAgeMs: 1_500, dedupeWindowMs: 1_500 },
  // The dedupe window must cover the outbox (rule dedupe-covers-outbox): both short here.
  { outboxMaxAgeMs: 1_500 },
);

let redis: RedisProc;
let admin: Redis;
const open: RedisBackplane[] = [];
let n = 0;

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
});
afterAll(async () => {
  await Promise.all(open.map((b) => b.close()));
  admin?.disconnect();
  await redis?.destroy();
});

async function backplane(historyMaxBytesPerPeer?: number): Promise<{ bp: RedisBackplane; prefix: string }> {
  const prefix = `b${++n}:`;
  const bp = new RedisBackplane({
    url: redis.url,
    serverId: `srv-${n}`,
    timeouts,
    prefix,
    budget: { ...UNMETERED, ...(historyMaxBytesPerPeer ? { historyMaxBytesPerPeer } : {}) },
  });
  open.push(bp);
  await bp.whenReady();
  await untilPresenceSettled(bp);
  return { bp, prefix };
}

const attachSink = (bp: RedisBackplane, id: string) =>
  bp.attach({ id, kind: 'gateway' }, bp.serverId, { deliver: () => true, onEvicted: () => undefined });

describe('redis backplane memory', () => {
  test('history is capped in bytes per recipient: 300 signals of 60 KiB leave at most the budget in Redis', async () => {
    const { bp, prefix } = await backplane(); // default budget: 4 MiB per recipient
    await attachSink(bp, 'victim');
    const data = JSON.stringify('v'.repeat(60 * 1024));
    for (let i = 1; i <= 300; i++) await bp.publish({ from: 'flood', to: 'victim', id: `f${i}`, data });
    const k = keys(prefix);
    const entries = await admin.xlen(k.history('victim'));
    const entry = historyEntryBytes('flood', 'f300', data);
    const budget = 4 * 1024 * 1024;
    expect(entries).toBe(Math.floor(budget / entry)); // 68 of 300 (count alone would have kept all)
    const usage = Number(await admin.memory('USAGE', k.history('victim'), 'SAMPLES', 0));
    expect(usage).toBeLessThan(budget * 1.1);
    // A page the way the server reads one (app/server/channel.ts: at most 1 MiB of frames, 16 of
    // 64 KiB): one reply of the whole 4 MiB history overran the 200 ms command timeout on a busy machine.
    const r = await bp.replay('victim', 0, 16);
    expect(r.gap).toEqual({ reason: 'trimmed', missedFrom: 1, missedTo: 300 - entries });
  });

  test('a replay is read in pages: each reply holds at most the page, seqs contiguous to the end', async () => {
    const { bp } = await backplane();
    await attachSink(bp, 'reader');
    for (let i = 1; i <= 100; i++) await bp.publish({ from: 'x', to: 'reader', id: `r${i}`, data: String(i) });
    const seqs: number[] = [];
    let after = 0;
    let calls = 0;
    for (;;) {
      const page = await bp.replay('reader', after, 16);
      calls++;
      expect(page.deliveries.length).toBeLessThanOrEqual(16);
      seqs.push(...page.deliveries.map((d) => d.seq));
      if (!page.more) break;
      after = page.deliveries[page.deliveries.length - 1].seq;
    }
    expect(seqs).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(calls).toBe(7);
  });

  test("a departed peer's seq, history, dedupe and owner keys all expire after grace + history age", async () => {
    const { bp, prefix } = await backplane();
    const k = keys(prefix);
    const s = await attachSink(bp, 'leaver');
    for (let i = 1; i <= 5; i++) await bp.publish({ from: 'sender', to: 'leaver', id: `d${i}`, data: '{}' });
    const all = [
      k.seq('leaver'),
      k.history('leaver'),
      k.peer('leaver'),
      ...[1, 2, 3, 4, 5].map((i) => k.dedupe('leaver', 'sender', `d${i}`)),
    ];
    expect(await admin.exists(...all)).toBe(all.length);
    // Online: numbering and history never expire.
    expect(await admin.pttl(k.seq('leaver'))).toBe(-1);
    expect(await admin.pttl(k.history('leaver'))).toBe(-1);
    const left = Date.now();
    await s.close();
    const grace = timeouts.resume.awayGraceMs;
    const age = timeouts.resume.historyMaxAgeMs;
    for (const key of [k.seq('leaver'), k.history('leaver')]) {
      const ttl = await admin.pttl(key);
      expect(ttl).toBeGreaterThan(grace + age - 500);
      expect(ttl).toBeLessThanOrEqual(grace + age);
    }
    await until(async () => (await admin.exists(...all)) === 0, grace + age + 3_000, 'every key of the departed peer to expire');
    expect(Date.now() - left).toBeGreaterThanOrEqual(grace + age - 100);
    expect(await admin.zscore(k.away(k.bucketOf('leaver')), 'leaver')).toBeNull(); // the reaper took it off the away set
    // Nothing of it is left to replay; the name is free.
    expect(await bp.replay('leaver', null)).toEqual({ deliveries: [], more: false, lastSeq: 0 });
    expect(await admin.exists(k.seq('leaver'), k.history('leaver'))).toBe(0); // a replay creates nothing
  });
});
