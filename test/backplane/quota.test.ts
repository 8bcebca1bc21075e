/**
 * Per-recipient inbound quota and fair history (app/backplane/quota.ts, the Redis publish script),
 * the same on both backplanes, then the flood on a Redis region of two servers:
 *   - over signals/s into one recipient the sender is refused `recipient_busy` with a retry hint;
 *   - while the recipient is away, a sender holds at most its share of the history, and entries
 *     accepted during the away period are never pushed out: a full history refuses the sender;
 *   - entries from before it went away make room first.
 */
import { DEFAULT_SIGNAL_POLICY } from '../../app/auth/policy';
import { signToken, TokenSubject } from '../../app/auth/token';
import { BudgetLimits, DEFAULT_BUDGET } from '../../app/backplane/budget';
import { MemoryBackplane } from '../../app/backplane/memory';
import { RecipientBusyError } from '../../app/backplane/quota';
import { RedisBackplane } from '../../app/backplane/redis/backplane';
import { Backplane, Delivery } from '../../app/backplane/types';
import { resolveTimeouts } from '../../app/contract/timeouts';
import { SECRET } from '../helpers/server';
import { FAST, RawPeer, RedisProc, RedisTestServer, startAll, startRedis, startRedisServer, untilPresenceSettled } from './helpers';

const timeouts = resolveTimeouts({ ...FAST, resume: { historyMaxMessages: 8 } });
const j = (v: unknown) => JSON.stringify(v);
let redis: RedisProc;
const open: Backplane[] = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await Promise.all(open.map((b) => b.close()));
  await redis?.destroy();
});

let n = 0;
const factories: Array<[string, (budget: Partial<BudgetLimits>) => Promise<{ a: Backplane; b: Backplane; sa: string }>]> = [
  [
    'memory',
    async (budget) => {
      const m = new MemoryBackplane(timeouts.resume, { budget });
      open.push(m);
      return { a: m, b: m, sa: 'mem-a' };
    },
  ],
  [
    'redis',
    async (budget) => {
      const prefix = `q${++n}:`;
      const a = new RedisBackplane({ url: redis.url, serverId: 'q-a', timeouts, prefix, budget });
      const b = new RedisBackplane({ url: redis.url, serverId: 'q-b', timeouts, prefix, budget });
      open.push(a, b);
      await Promise.all([a.whenReady(), b.whenReady()]);
      await untilPresenceSettled(b);
      return { a, b, sa: 'q-a' };
    },
  ],
];

const sink = { deliver: (_d: Delivery) => true, onEvicted: () => undefined };
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    const r = (await p) as { status: string };
    return r.status;
  } catch (err) {
    return err instanceof RecipientBusyError ? `busy:${err.retryAfterMs}` : String((err as Error).message);
  }
}

describe.each(factories)('%s backplane', (_name, make) => {
  test('signals per second into one recipient, whoever sends them: busy with a retry hint', async () => {
    // One signal per second: a burst of four at once (from three senders) gets one through, the
    // rest refused with a hint of at most a second, whatever the load makes each publish cost.
    const { a, b, sa } = await make({ recipientSignalsPerSec: 1 });
    await a.attach({ id: 'r1', kind: 'gateway' }, sa, sink);
    const got = await Promise.all([0, 1, 2, 3].map((i) => outcome(b.publish({ from: `s${i % 3}`, to: 'r1', id: `m${i}`, data: j(i) }))));
    expect(got.filter((o) => o === 'delivered')).toHaveLength(1);
    const hints = got.filter((o) => o.startsWith('busy:')).map((o) => Number(o.slice(5)));
    expect(hints).toHaveLength(3);
    for (const h of hints) expect(h).toBeGreaterThan(0);
    for (const h of hints) expect(h).toBeLessThanOrEqual(1_000);
    await new Promise((r) => setTimeout(r, Math.max(...hints) + 20));
    expect(await outcome(b.publish({ from: 's0', to: 'r1', id: 'late', data: j(0) }))).toBe('delivered');
  });

  test('away: shares per sender, accepted signals never pushed out, older delivered entries make room', async () => {
    // 8 entries, a share of 0.25: 2 per sender.
    const { a, b, sa } = await make({ senderHistoryShare: 0.25 });
    const s = await a.attach({ id: 'r2', kind: 'gateway' }, sa, sink);
    for (let i = 0; i < 6; i++) expect(await outcome(b.publish({ from: 'old', to: 'r2', id: `o${i}`, data: j(i) }))).toBe('delivered');
    await s.close(); // away
    expect(await outcome(b.publish({ from: 'legit', to: 'r2', id: 'important-1', data: j('keep me') }))).toBe('stored');
    const flood: string[] = [];
    for (let k = 0; k < 5; k++)
      for (let i = 0; i < 3; i++) flood.push(await outcome(b.publish({ from: `att${k}`, to: 'r2', id: `f${k}-${i}`, data: j(i) })));
    // Each attacker: two stored, its third refused for its share; once the history holds only
    // away-period entries (1 + 2 x 3 + 1 = 8), the next attacker is refused for a full history.
    expect(flood.filter((o) => o === 'stored')).toHaveLength(7);
    expect(flood.filter((o) => o.startsWith('busy:'))).toHaveLength(8);
    const r = await a.replay('r2', 6, 32);
    expect(r.gap).toBeUndefined();
    expect(r.deliveries[0]).toMatchObject({ from: 'legit', id: 'important-1', seq: 7 });
    expect(r.deliveries).toHaveLength(7 + 1);
  });
});

describe("the issue's flood on a Redis region of two servers", () => {
  let s1: RedisTestServer;
  let s2: RedisTestServer;
  afterAll(async () => {
    await Promise.all([s1?.stop(), s2?.stop()]);
  });

  test("4 flooding clients cannot push important-1 out of an away gateway's history; they are refused recipient_busy", async () => {
    [s1, s2] = await startAll(
      ['fl-1', 'fl-2'].map((id) => () => startRedisServer(redis.url, id, FAST, undefined, { signalPolicy: DEFAULT_SIGNAL_POLICY })),
      (s) => s.stop(),
    );
    await untilPresenceSettled(s1.backplane);
    const url = async (s: RedisTestServer, id: TokenSubject) => `${s.socketUrl}?vsn=2.0.0&token=${await signToken(SECRET, id)}`;
    const victim = { sub: 'gw-victim', kind: 'gateway' as const, account: 'acme' };
    const { peer: gw } = await RawPeer.join(await url(s2, victim), 'gw-victim');
    const last = gw.lastSeq;
    await gw.terminate(); // away
    const { peer: legit } = await RawPeer.join(await url(s1, { sub: 'c-legit', kind: 'client', account: 'acme' }), 'c-legit');
    await new Promise((r) => setTimeout(r, 200)); // the server notices the terminated socket
    expect(await legit.signal('gw-victim', 'important-1', { sdp: 'offer' })).toMatchObject({
      status: 'ok',
      response: { status: 'stored' },
    });
    const attackers = await Promise.all(
      [0, 1, 2, 3].map(
        async (k) =>
          (await RawPeer.join(await url(k % 2 ? s1 : s2, { sub: `c-attacker-${k}`, kind: 'client', account: 'acme' }), `c-attacker-${k}`))
            .peer,
      ),
    );
    const pad = 'x'.repeat(60 * 1024 - 200);
    const started = Date.now();
    const replies = (
      await Promise.all(
        attackers.map(async (p, k) => {
          const out = [];
          for (let i = 0; i < 30; i++) out.push(await p.signal('gw-victim', `flood-${k}-${i}`, { pad }));
          return out;
        }),
      )
    ).flat();
    const count = (pred: (r: (typeof replies)[number]) => boolean) => replies.filter(pred).length;
    const busy = replies.filter((r) => r.response.reason === 'recipient_busy');
    console.log(
      `flood: 120 x 60 KiB in ${Date.now() - started} ms: stored ${count((r) => r.response.status === 'stored')}, recipient_busy ${busy.length}, other ${count((r) => r.status === 'error' && r.response.reason !== 'recipient_busy')}`,
    );
    // Per sender at most its share of the history bytes (1 MiB of 4 MiB): 17 of these ~60 KiB signals.
    const perSender = Math.floor((DEFAULT_BUDGET.senderHistoryShare * DEFAULT_BUDGET.historyMaxBytesPerPeer) / pad.length);
    expect(count((r) => r.response.status === 'stored')).toBeLessThanOrEqual(4 * perSender);
    expect(busy.length).toBe(120 - count((r) => r.response.status === 'stored'));
    expect(busy.every((r) => typeof r.response.retry_after_ms === 'number' && (r.response.retry_after_ms as number) > 0)).toBe(true);
    expect(count((r) => r.status === 'error' && r.response.reason !== 'recipient_busy')).toBe(0);
    // The victim resumes: important-1 is there, no gap.
    const { peer: back, reply } = await RawPeer.join(await url(s1, victim), 'gw-victim', last);
    expect(reply).toMatchObject({ status: 'ok', response: { gap: null } });
    await back.waitFor(1);
    expect(back.received[0]).toMatchObject({ from: 'c-legit', id: 'important-1' });
    await Promise.all([back, legit, ...attackers].map((p) => p.close()));
  }, 60_000);
});
