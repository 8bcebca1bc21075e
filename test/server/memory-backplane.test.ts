/** MemoryBackplane: the reference semantics every backplane must match, and its memory budget. */
import { historyEntryBytes, MemoryBudget } from '../../app/backplane/budget';
import { MemoryBackplane } from '../../app/backplane/memory';
import { BackplaneError, Delivery, PresenceEvent } from '../../app/backplane/types';
import { defaultTimeouts } from '../../app/contract/timeouts';

const j = (v: unknown) => JSON.stringify(v);

const resume = { historyMaxMessages: 5, historyMaxAgeMs: 60_000, dedupeWindowMs: 60_000, awayGraceMs: 30_000 };

function setup(now = { t: 1_000_000 }) {
  const bp = new MemoryBackplane(resume, { now: () => now.t });
  const got: Delivery[] = [];
  const evicted: string[] = [];
  const attach = (id: string, server = 's1', sink = got) =>
    bp.attach({ id, kind: 'gateway' }, server, {
      deliver: (d) => {
        sink.push(d);
        return true;
      },
      onEvicted: () => evicted.push(`${id}@${server}`),
    });
  return { bp, got, evicted, attach, now };
}

describe('MemoryBackplane', () => {
  it('numbers deliveries per recipient without holes and routes them to the owner', async () => {
    const { bp, got, attach } = setup();
    await attach('gw');
    for (let i = 0; i < 3; i++)
      expect(await bp.publish({ from: 'c', to: 'gw', id: `m${i}`, data: j(i) })).toEqual({ status: 'delivered', seq: i + 1 });
    expect(got.map((d) => [d.seq, d.id, d.data])).toEqual([
      [1, 'm0', '0'],
      [2, 'm1', '1'],
      [3, 'm2', '2'],
    ]);
  });

  it('deduplicates (sender, id) and does not deliver twice', async () => {
    const { bp, got, attach } = setup();
    await attach('gw');
    await bp.publish({ from: 'c', to: 'gw', id: 'x', data: j(1) });
    expect(await bp.publish({ from: 'c', to: 'gw', id: 'x', data: j(1) })).toEqual({ status: 'duplicate', seq: 1 });
    expect(await bp.publish({ from: 'other', to: 'gw', id: 'x', data: j(2) })).toEqual({ status: 'delivered', seq: 2 });
    expect(got).toHaveLength(2);
  });

  it('forgets dedupe keys after the window', async () => {
    const { bp, attach, now } = setup();
    await attach('gw');
    await bp.publish({ from: 'c', to: 'gw', id: 'x', data: j(1) });
    now.t += resume.dedupeWindowMs + 1;
    expect((await bp.publish({ from: 'c', to: 'gw', id: 'x', data: j(1) })).status).toBe('delivered');
  });

  it('refuses unknown peers, stores for away peers until their grace ends', async () => {
    const { bp, attach } = setup();
    await expect(bp.publish({ from: 'c', to: 'nobody', id: '1', data: j(1) })).rejects.toMatchObject({ reason: 'unknown_peer' });
    const s = await attach('gw');
    await s.close();
    expect(await bp.publish({ from: 'c', to: 'gw', id: '1', data: j(1) })).toEqual({ status: 'stored', seq: 1 });
    expect((await bp.presence())[0]).toMatchObject({ peerId: 'gw', state: 'away' });
  });

  it('replays what a peer missed, reports trimmed gaps and sequence resets', async () => {
    const { bp, attach, now } = setup();
    await attach('gw');
    for (let i = 1; i <= 8; i++) await bp.publish({ from: 'c', to: 'gw', id: `m${i}`, data: j(i) });
    expect(await bp.replay('gw', 6)).toMatchObject({ lastSeq: 8, deliveries: [{ seq: 7 }, { seq: 8 }] });
    expect((await bp.replay('gw', 6)).gap).toBeUndefined();
    // History holds 5 (seq 4..8): asking from 1 misses 2..3.
    const r = await bp.replay('gw', 1);
    expect(r.deliveries.map((d) => d.seq)).toEqual([4, 5, 6, 7, 8]);
    expect(r.gap).toEqual({ reason: 'trimmed', missedFrom: 2, missedTo: 3 });
    expect((await bp.replay('gw', 20)).gap).toEqual({ reason: 'seq_reset', missedFrom: 9, missedTo: 20 });
    expect(await bp.replay('gw', null)).toEqual({ deliveries: [], more: false, lastSeq: 8 });
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
    await bp.publish({ from: 'c', to: 'gw', id: '1', data: j(1) });
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
      await expect(bp.publish({ from: 'c', to: 'gw', id: '1', data: j(1) })).rejects.toBeInstanceOf(BackplaneError);
    } finally {
      jest.useRealTimers();
    }
  });

  it('keeps history bounded per peer', async () => {
    const { bp, attach } = setup();
    await attach('gw');
    for (let i = 0; i < 100; i++) await bp.publish({ from: 'c', to: 'gw', id: `m${i}`, data: j(i) });
    expect((await bp.replay('gw', 0)).deliveries).toHaveLength(resume.historyMaxMessages);
  });

  it('keeps the encoded JSON text it was given, and hands out the same string (never parsed)', async () => {
    const { bp, got, attach } = setup();
    await attach('gw');
    const text = '[{},{},{"a":[1,2,"\u00e9"]}]';
    await bp.publish({ from: 'c', to: 'gw', id: 'x', data: text });
    expect(got[0].data).toBe(text);
    expect((await bp.replay('gw', 0)).deliveries[0].data).toBe(text);
  });

  it('pages a replay: at most `limit` per call, `more` until the end, contiguous seqs', async () => {
    const { bp, attach } = setup();
    await attach('gw');
    for (let i = 1; i <= 5; i++) await bp.publish({ from: 'c', to: 'gw', id: `m${i}`, data: j(i) });
    const seen: number[] = [];
    let after = 0;
    for (let calls = 0; calls < 10; calls++) {
      const page = await bp.replay('gw', after, 2);
      expect(page.deliveries.length).toBeLessThanOrEqual(2);
      seen.push(...page.deliveries.map((d) => d.seq));
      if (!page.more) break;
      after = page.deliveries[page.deliveries.length - 1].seq;
    }
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    expect((await bp.replay('gw', 4, 2)).more).toBe(false);
  });

  it("caps each recipient's history in bytes and reports what it dropped as a trimmed gap", async () => {
    const now = { t: 1_000_000 };
    const entry = historyEntryBytes('c', 'm10', j('x'.repeat(1_000)));
    const bp = new MemoryBackplane(
      { ...resume, historyMaxMessages: 1_000 },
      { now: () => now.t, budget: { historyMaxBytesPerPeer: 10 * entry } },
    );
    await bp.attach({ id: 'gw', kind: 'gateway' }, 's1', { deliver: () => true, onEvicted: () => undefined });
    for (let i = 1; i <= 50; i++) await bp.publish({ from: 'c', to: 'gw', id: `m${i}`, data: j('x'.repeat(1_000)) });
    expect(bp.stats().historyBytes).toBeLessThanOrEqual(10 * entry);
    expect(bp.stats().historyEntries).toBe(10);
    const r = await bp.replay('gw', 0, 100);
    expect(r.deliveries.map((d) => d.seq)).toEqual([41, 42, 43, 44, 45, 46, 47, 48, 49, 50]);
    expect(r.gap).toEqual({ reason: 'trimmed', missedFrom: 1, missedTo: 40 });
    await bp.close();
  });

  it('holds the whole process to its budget: the oldest history of any peer goes first, then dedupe records', async () => {
    const now = { t: 1_000_000 };
    const data = j('y'.repeat(2_000));
    const entry = historyEntryBytes('c', 'm000', data);
    const memory = new MemoryBudget(20 * entry);
    const bp = new MemoryBackplane({ ...resume, historyMaxMessages: 1_000 }, { now: () => now.t, memory });
    for (const p of ['a', 'b']) await bp.attach({ id: p, kind: 'gateway' }, 's1', { deliver: () => true, onEvicted: () => undefined });
    // a gets 15 first, then b 15: a's oldest must make room for b's.
    for (let i = 0; i < 15; i++) await bp.publish({ from: 'c', to: 'a', id: `a${String(i).padStart(3, '0')}`, data });
    for (let i = 0; i < 15; i++) await bp.publish({ from: 'c', to: 'b', id: `b${String(i).padStart(3, '0')}`, data });
    expect(memory.total).toBeLessThanOrEqual(memory.limit);
    expect(memory.evicted.history).toBeGreaterThan(0);
    const a = await bp.replay('a', 0, 100);
    const b = await bp.replay('b', 0, 100);
    expect(b.gap).toBeUndefined(); // the newest peer kept everything
    expect(b.deliveries).toHaveLength(15);
    expect(a.gap).toMatchObject({ reason: 'trimmed', missedFrom: 1 });
    expect(a.deliveries.map((d) => d.seq)).toEqual(Array.from({ length: 15 - a.gap!.missedTo }, (_, i) => a.gap!.missedTo + 1 + i));
    // The newest dedupe records survive, so a re-send of a recent signal is still a duplicate.
    expect((await bp.publish({ from: 'c', to: 'b', id: 'b014', data })).status).toBe('duplicate');
    expect(memory.used.history).toBe(bp.stats().historyHeapBytes);
    expect(memory.used.dedupe).toBe(bp.stats().dedupeBytes);

    // Dedupe records alone past the budget: history is empty by then, the oldest records go.
    const tiny = new MemoryBudget(2_000);
    const bp2 = new MemoryBackplane(resume, { now: () => now.t, memory: tiny });
    await bp2.attach({ id: 'a', kind: 'gateway' }, 's1', { deliver: () => true, onEvicted: () => undefined });
    for (let i = 0; i < 100; i++) await bp2.publish({ from: 'c', to: 'a', id: `d${i}`, data: '0' });
    expect(tiny.total).toBeLessThanOrEqual(tiny.limit);
    expect(tiny.evicted.dedupe).toBeGreaterThan(0);
    expect((await bp2.publish({ from: 'c', to: 'a', id: 'd99', data: '0' })).status).toBe('duplicate');
    await Promise.all([bp.close(), bp2.close()]);
    expect([memory.total, tiny.total]).toEqual([0, 0]);
  });

  it("deletes a departed peer's history and the dedupe records on a timer, not on its next publish", async () => {
    jest.useFakeTimers();
    try {
      const r = { historyMaxMessages: 100, historyMaxAgeMs: 2_000, dedupeWindowMs: 2_000, awayGraceMs: 1_000 };
      const bp = new MemoryBackplane(r);
      const s = await bp.attach({ id: 'gw', kind: 'gateway' }, 's1', { deliver: () => true, onEvicted: () => undefined });
      for (let i = 0; i < 10; i++) await bp.publish({ from: 'c', to: 'gw', id: `m${i}`, data: j('z'.repeat(500)) });
      await s.close();
      expect(bp.stats()).toMatchObject({ histories: 1, historyEntries: 10, dedupeRecords: 10 });
      expect(bp.memory.total).toBeGreaterThan(5_000);
      jest.advanceTimersByTime(1_001); // grace over: offline; its history stays replayable for the history age
      expect(bp.stats()).toMatchObject({ peers: 0, histories: 1 });
      jest.advanceTimersByTime(r.historyMaxAgeMs + 1_000); // nobody publishes or replays: the sweeper does it
      expect(bp.stats()).toEqual({
        peers: 0,
        histories: 0,
        historyEntries: 0,
        historyBytes: 0,
        historyHeapBytes: 0,
        dedupeRecords: 0,
        dedupeBytes: 0,
      });
      expect(bp.memory.total).toBe(0);
      // Gone means gone: it starts from 0 again if it ever comes back.
      expect(await bp.replay('gw', null)).toEqual({ deliveries: [], more: false, lastSeq: 0 });
      await bp.close();
    } finally {
      jest.useRealTimers();
    }
  });

  it("keeps an online peer's numbering, and holds nothing for a replay of a peer nobody wrote to", async () => {
    const { bp, attach, now } = setup();
    await attach('gw');
    await bp.publish({ from: 'c', to: 'gw', id: 'x', data: '1' });
    now.t += resume.historyMaxAgeMs + resume.dedupeWindowMs;
    bp.sweep();
    expect(await bp.replay('gw', 0)).toMatchObject({ lastSeq: 1, deliveries: [], gap: { reason: 'trimmed', missedFrom: 1, missedTo: 1 } });
    await bp.replay('stranger', null);
    await bp.replay('stranger', 5);
    expect(bp.stats()).toMatchObject({ histories: 1, dedupeRecords: 0 });
    await bp.close();
  });
});
