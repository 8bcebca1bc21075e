import { Pinger } from '../../app/server/pinger';

const conn = () => ({ pings: [] as number[], ping(this: { pings: number[] }) { this.pings.push(Date.now()); } });

describe('Pinger', () => {
  beforeEach(() => jest.useFakeTimers({ now: 0 }));
  afterEach(() => jest.useRealTimers());

  it('pings every connection once per interval, spread over the interval instead of all at once', () => {
    const p = new Pinger<ReturnType<typeof conn>>(5_000);
    const conns = Array.from({ length: 10_000 }, conn);
    for (const c of conns) p.add(c);
    p.start();
    jest.advanceTimersByTime(3 * 5_000);
    p.stop();
    for (const c of conns) expect(c.pings).toHaveLength(3);
    // Consecutive pings of one connection are exactly one interval apart.
    for (const c of conns.slice(0, 50)) expect(c.pings[1] - c.pings[0]).toBe(5_000);
    // No tick pings more than its share (10k over 500 slots of 10 ms: 20 per tick).
    const perTick = new Map<number, number>();
    for (const c of conns) perTick.set(c.pings[0], (perTick.get(c.pings[0]) ?? 0) + 1);
    expect(Math.max(...perTick.values())).toBeLessThanOrEqual(Math.ceil(10_000 / p.slots));
    expect(perTick.size).toBe(p.slots);
  });

  it('pings a new connection within one interval, never after it is deleted, and survives a throwing ping', () => {
    const p = new Pinger<{ ping(): void }>(1_000);
    p.start();
    jest.advanceTimersByTime(333);
    const c = conn();
    const bad = { ping: () => { throw new Error('socket gone'); } };
    p.add(bad);
    p.add(c);
    jest.advanceTimersByTime(1_000);
    expect(c.pings).toHaveLength(1);
    expect(c.pings[0]).toBeLessThanOrEqual(333 + 1_000);
    p.delete(c);
    jest.advanceTimersByTime(5_000);
    expect(c.pings).toHaveLength(1);
    expect(p.size).toBe(1);
    p.stop();
  });

  it('a short interval gets one slot per ~10 ms, at least one', () => {
    expect(new Pinger(200).slots).toBe(20);
    expect(new Pinger(5).slots).toBe(1);
    expect(() => new Pinger(0)).toThrow(/positive/);
  });
});
