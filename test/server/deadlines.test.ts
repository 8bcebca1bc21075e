import { DeadlineWheel, Timed } from '../../app/server/deadlines';

class Item implements Timed {
  wheelSlot = -1;
  fired: number[] = [];
  constructor(private readonly onDue: (now: number, self: Item) => void = () => undefined) {}
  onDeadline(now: number): void {
    this.fired.push(now);
    this.onDue(now, this);
  }
}

function wheel(tickMs = 20) {
  const clock = { t: 1_000 };
  const w = new DeadlineWheel<Item>(tickMs, () => clock.t);
  return {
    w,
    clock,
    at: (t: number) => {
      clock.t = t;
      w.tick();
    },
  };
}

afterEach(() => jest.useRealTimers());

test('an item fires at the first tick at or after its time, never before', () => {
  const { w, at } = wheel();
  const a = new Item();
  w.schedule(a, 1_050);
  at(1_040);
  expect(a.fired).toEqual([]);
  at(1_059);
  expect(a.fired).toEqual([]); // slot 1060 has not come
  at(1_060);
  expect(a.fired).toEqual([1_060]);
  expect(a.fired[0]).toBeGreaterThanOrEqual(1_050);
  expect(w.size).toBe(0);
  at(2_000);
  expect(a.fired).toHaveLength(1); // once
});

test('a time already passed fires on the next tick; reschedule replaces, cancel removes', () => {
  const { w, at } = wheel();
  const a = new Item();
  const b = new Item();
  w.schedule(a, 500);
  w.schedule(b, 1_100);
  w.schedule(b, 1_300);
  expect(w.size).toBe(2);
  at(1_021);
  expect(a.fired).toEqual([1_021]);
  at(1_200);
  expect(b.fired).toEqual([]);
  w.cancel(b);
  w.cancel(b);
  expect(w.size).toBe(0);
  at(1_400);
  expect(b.fired).toEqual([]);
});

test('an item that reschedules itself while it fires waits for a later tick (no loop within one tick)', () => {
  const { w, at } = wheel();
  const a = new Item((now, self) => w.schedule(self, now - 100));
  w.schedule(a, 1_030);
  at(1_040);
  expect(a.fired).toEqual([1_040]);
  expect(w.size).toBe(1);
  at(1_060);
  expect(a.fired).toEqual([1_040, 1_060]);
});

test('after a stall every overdue item fires once, in deadline order; a throwing item does not stop the others', () => {
  const { w, at } = wheel();
  const order: number[] = [];
  const items = [5_000, 1_100, 900_000, 3_000].map((t, i) => {
    const it = new Item(() => {
      order.push(t);
      if (i === 1) throw new Error('boom');
    });
    w.schedule(it, t);
    return it;
  });
  at(800_000);
  expect(order).toEqual([1_100, 3_000, 5_000]);
  expect(items[2].fired).toEqual([]);
  expect(w.size).toBe(1);
});

test('its timer runs only while something is scheduled', () => {
  jest.useFakeTimers();
  const w = new DeadlineWheel<Item>(20, () => Date.now()); // the faked clock
  const a = new Item();
  expect(jest.getTimerCount()).toBe(0);
  w.schedule(a, Date.now() + 50);
  expect(jest.getTimerCount()).toBe(1);
  jest.advanceTimersByTime(100);
  expect(a.fired).toHaveLength(1);
  expect(jest.getTimerCount()).toBe(0);
});

test('refuses a tick that is not positive', () => {
  expect(() => new DeadlineWheel(0)).toThrow(/deadline tick must be positive, got 0/);
});
