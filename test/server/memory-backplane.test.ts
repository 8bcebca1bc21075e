/** MemoryBackplane: the reference semantics every backplane must match. */
import { MemoryBackplane } from '../../app/backplane/memory';
import { BackplaneError, Delivery, PresenceEvent } from '../../app/backplane/types';
import { defaultTimeouts } from '../../app/contract/timeouts';

const resume = { historyMaxMessages: 5, historyMaxAgeMs: 60_000, dedupeWindowMs: 60_000, awayGraceMs: 30_000 };

function setup(now = { t: 1_000_000 }) {
  const bp = new MemoryBackplane(resume, () => now.t);
  const got: Delivery[] = [];
  const evicted: string[] = [];
  const attach = (id: string, server = 's1', sink = got) => bp.attach({ id, kind: 'gateway' }, server, {
    deliver: (d) => { sink.push(d); return true; },
    onEvicted: () => evicted.push(`${id}@${server}`),
  });
  return { bp, got, evicted, attach, now };
}

describe('MemoryBackplane', () => {
  it('numbers deliveries per recipient without holes and routes them to the owner', async () => {
    const { bp, got, attach } = setup();
    await attach('gw');
    for (let i = 0; i < 3; i++) expect(await bp.publish({ from: 'c', to: 'gw', id: `m${i}`, data: i })).toEqual({ status: 'delivered', seq: i + 1 });
    expect(got.map((d) => [d.seq, d.id, d.data])).toEqual([[1, 'm0', 0], [2, 'm1', 1], [3, 'm2', 2]]);
  });

  it('deduplicates (sender, id) and does not deliver twice', async () => {
    const { bp, got, attach } = setup();
    await attach('gw');
    await bp.publish({ from: 'c', to: 'gw', id: 'x', data: 1 });
    expect(await bp.publish({ from: 'c', to: 'gw', id: 'x', data: 1 })).toEqual({ status: 'duplicate', seq: 1 });
    expect(await bp.publish({ from: 'other', to: 'gw', id: 'x', data: 2 })).toEqual({ status: 'delivered', seq: 2 });
    expect(got).toHaveLength(2);
  });

  it('forgets dedupe keys after the window', async () => {
    const { bp, attach, now } = setup();
    await attach('gw');
    await bp.publish({ from: 'c', to: 'gw', id: 'x', data: 1 });
    now.t += resume.dedupeWindowMs + 1;
    expect((await bp.publish({ from: 'c', to: 'gw', id: 'x', data: 1 })).status).toBe('delivered');
  });

  it('refuses unknown peers, stores for away peers until their grace ends', async () => {
    const { bp, attach } = setup();
    await expect(bp.publish({ from: 'c', to: 'nobody', id: '1', data: 1 })).rejects.toMatchObject({ reason: 'unknown_peer' });
    const s = await attach('gw');
    await s.close();
    expect(await bp.publish({ from: 'c', to: 'gw', id: '1', data: 1 })).toEqual({ status: 'stored', seq: 1 });
    expect((await bp.presence())[0]).toMatchObject({ peerId: 'gw', state: 'away' });
  });

  it('replays what a peer missed, reports trimmed gaps and sequence resets', async () => {
    const { bp, attach, now } = setup();
    await attach('gw');
    for (let i = 1; i <= 8; i++) await bp.publish({ from: 'c', to: 'gw', id: `m${i}`, data: i });
    expect(await bp.replay('gw', 6)).toMatchObject({ lastSeq: 8, deliveries: [{ seq: 7 }, { seq: 8 }] });
    expect((await bp.replay('gw', 6)).gap).toBeUndefined();
    // History holds 5 (seq 4..8): asking from 1 misses 2..3.
    const r = await bp.replay('gw', 1);
    expect(r.deliveries.map((d) => d.seq)).toEqual([4, 5, 6, 7, 8]);
    expect(r.gap).toEqual({ reason: 'trimmed', missedFrom: 2, missedTo: 3 });
    expect((await bp.replay('gw', 20)).gap).toEqual({ reason: 'seq_reset', missedFrom: 9, missedTo: 20 });
    expect(await bp.replay('gw', null)).toEqual({ deliveries: [], lastSeq: 8 });
    now.t += resume.historyMaxAgeMs + 1;
    expect(await bp.replay('gw', 7)).toMatchObject({ deliveries: [], gap: { reason: 'trimmed', missedFrom: 8, missedTo: 8 } });
  });

  it('lets the newest attachment win and evicts the stale one', async () => {
    const { bp, evicted, attach } = setup();
    const a: Delivery[] = [];
    const b: Delivery[] = [];
    const old = await attach('gw', 's1', a);
    await attach('gw', 's2', b);
    expect(evicted).toEqual(['gw@s1']);
    await old.close(); // the stale connection's detach must not mark the peer away
    await bp.publish({ from: 'c', to: 'gw', id: '1', data: 1 });
    expect([a.length, b.length]).toEqual([0, 1]);
    expect((await bp.presence())[0]).toMatchObject({ serverId: 's2', state: 'online' });
  });

  it('emits presence changes: online, away, then offline after the grace', async () => {
    jest.useFakeTimers();
    try {
      const bp = new MemoryBackplane({ ...defaultTimeouts.resume, awayGraceMs: 1_000 });
      const events: PresenceEvent[] = [];
      bp.subscribePresence((e) => events.push(e));
      const s = await bp.attach({ id: 'gw', kind: 'gateway' }, 's1', { deliver: () => true, onEvicted: () => undefined });
      await s.close();
      jest.advanceTimersByTime(1_001);
      expect(events.map((e) => e.type)).toEqual(['online', 'away', 'offline']);
      expect(await bp.presence()).toEqual([]);
      await expect(bp.publish({ from: 'c', to: 'gw', id: '1', data: 1 })).rejects.toBeInstanceOf(BackplaneError);
    } finally {
      jest.useRealTimers();
    }
  });

  it('keeps history bounded per peer', async () => {
    const { bp, attach } = setup();
    await attach('gw');
    for (let i = 0; i < 100; i++) await bp.publish({ from: 'c', to: 'gw', id: `m${i}`, data: i });
    expect((await bp.replay('gw', 0)).deliveries).toHaveLength(resume.historyMaxMessages);
  });
});
