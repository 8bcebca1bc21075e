/**
 * The drain report's `spread` (app/server/drain.ts): how late the 1012s fired after their planned
 * moments and the most sent within 100 ms. A blocked event loop releases every close due during the
 * block at once: the report must show that clump, and an even drain must not show one.
 */
import { Drainable, Drainer } from '../../app/server/drain';

class Fake implements Drainable {
  isClosed = false;
  closeForRestart(): boolean {
    this.isClosed = true;
    return true;
  }
  reset(): void {
    this.isClosed = true;
  }
}

function busy(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    /* the event loop is blocked, as by a long turn */
  }
}

test('an even drain: closes fire near their moments, no 100 ms holds much more than its share', async () => {
  const drainer = new Drainer({ windowMs: 1_000, deadlineMs: 3_000, marginMs: 500 });
  const conns = Array.from({ length: 20 }, () => new Fake());
  const done = drainer.start(conns, 'test');
  const timer = setInterval(() => {
    for (const c of conns) if (c.isClosed) drainer.connectionClosed(c);
  }, 20);
  const report = await done;
  clearInterval(timer);
  expect(report.closeSent).toBe(20);
  // 20 closes over 1 s: 2 per 100 ms on average, one slot each; a loop that turns keeps any 100 ms at a
  // few (a busy machine delays a turn now and then: bounds a clump of half the drain would break).
  expect(report.spread!.peakPerSec100Ms).toBeLessThanOrEqual(100);
  expect(report.spread!.lateP50Ms).toBeLessThan(250);
});

test('a blocked loop: the closes due during the block leave together, late, and the peak shows it', async () => {
  const drainer = new Drainer({ windowMs: 1_000, deadlineMs: 3_000, marginMs: 500 });
  const conns = Array.from({ length: 40 }, () => new Fake());
  const done = drainer.start(conns, 'test');
  busy(500); // about half the slots fall due while nothing can run
  const timer = setInterval(() => {
    for (const c of conns) if (c.isClosed) drainer.connectionClosed(c);
  }, 20);
  const report = await done;
  clearInterval(timer);
  expect(report.closeSent).toBe(40);
  const spread = report.spread!;
  // ~20 closes were due in the first 500 ms: they fire in the first turn after the block.
  expect(spread.peakPerSec100Ms).toBeGreaterThanOrEqual(150);
  expect(spread.lateMaxMs).toBeGreaterThanOrEqual(400);
  expect(spread.lateP99Ms).toBeLessThanOrEqual(spread.lateMaxMs);
});
