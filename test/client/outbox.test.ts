/** The outbox's bookkeeping: stable ids, order, re-send after a lost connection, final vs transient errors. */
import { Outbox } from '../../app/client/outbox';
import { SendError } from '../../app/client/index';
import { defaultTimeouts } from '../../app/contract/timeouts';

const MAX_AGE = defaultTimeouts.client.outboxMaxAgeMs;

test('ids are unique per instance and across instances', () => {
  const a = new Outbox(MAX_AGE);
  const b = new Outbox(MAX_AGE);
  const ids = new Set([a.nextId(), a.nextId(), b.nextId(), b.nextId()]);
  expect(ids.size).toBe(4);
});

test('in-flight entries go back to pending, in send order, when the connection is lost', () => {
  const o = new Outbox(MAX_AGE);
  const e1 = o.add('p', 1, 'i1');
  const e2 = o.add('p', 2, 'i2');
  const e3 = o.add('p', 3, 'i3');
  o.markSent(e1, 'r1');
  o.markSent(e2, 'r2');
  expect(o.pending().map((e) => e.id)).toEqual(['i3']);
  o.connectionLost();
  expect(o.pending().map((e) => e.id)).toEqual(['i1', 'i2', 'i3']);
  // A reply for a ref of the old connection is not ours any more.
  expect(o.settle('r1', 'ok', { status: 'delivered' })).toEqual({ kind: 'unknown' });
  expect(o.size).toBe(3);
  void e3;
});

test('ok resolves, a final error rejects, a transient error keeps the entry', async () => {
  const o = new Outbox(MAX_AGE);
  const ok = o.add('p', 1, 'ok');
  const bad = o.add('p', 1, 'bad');
  const flaky = o.add('p', 1, 'flaky');
  o.markSent(ok, 'r1');
  o.markSent(bad, 'r2');
  o.markSent(flaky, 'r3');
  expect(o.settle('r1', 'ok', { status: 'duplicate' })).toEqual({ kind: 'done' });
  expect(o.settle('r2', 'error', { reason: 'unknown_peer' })).toEqual({ kind: 'done' });
  expect(o.settle('r3', 'error', { reason: 'backplane_unavailable' })).toMatchObject({ kind: 'retry' });
  await expect(ok.promise).resolves.toBe('duplicate');
  await expect(bad.promise).rejects.toBeInstanceOf(SendError);
  await expect(bad.promise).rejects.toMatchObject({ reason: 'unknown_peer', signalId: 'bad' });
  expect(o.pending().map((e) => e.id)).toEqual(['flaky']);
  expect(flaky.failures).toBe(1);
  // The same id again while pending is the same send.
  expect(o.add('p', 1, 'flaky')).toBe(flaky);
});

describe('max age (client.outboxMaxAgeMs): never re-sent after it, the dedupe window covers it', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  function clocked(maxAgeMs: number) {
    const clock = { t: 1_000 };
    return { clock, o: new Outbox(maxAgeMs, () => clock.t) };
  }
  const advance = (clock: { t: number }, ms: number) => {
    clock.t += ms;
    jest.advanceTimersByTime(ms);
  };

  test('a pending entry is rejected with expired at its max age, by the timer, without any reconnect', async () => {
    const { clock, o } = clocked(10_000);
    const a = o.add('p', 1, 'a');
    advance(clock, 4_000);
    const b = o.add('p', 2, 'b');
    advance(clock, 5_999);
    expect(o.size).toBe(2);
    advance(clock, 1);
    await expect(a.promise).rejects.toMatchObject({ reason: 'expired', signalId: 'a' });
    expect(o.size).toBe(1);
    advance(clock, 4_000);
    await expect(b.promise).rejects.toMatchObject({ reason: 'expired', signalId: 'b' });
    expect(o.size).toBe(0);
  });

  test('an entry in flight is not expired (its reply decides), but is not re-sent once its connection is lost past max age', async () => {
    const { clock, o } = clocked(10_000);
    const a = o.add('p', 1, 'a');
    o.markSent(a, 'r1');
    advance(clock, 20_000);
    expect(o.size).toBe(1);
    expect(o.settle('r1', 'ok', { status: 'delivered' })).toEqual({ kind: 'done' });
    await expect(a.promise).resolves.toBe('delivered');

    const b = o.add('p', 2, 'b');
    o.markSent(b, 'r2');
    advance(clock, 12_000);
    o.connectionLost();
    expect(o.pending()).toEqual([]);
    await expect(b.promise).rejects.toMatchObject({ reason: 'expired' });
  });

  test('a transiently refused entry is retried only within its max age', async () => {
    const { clock, o } = clocked(10_000);
    const a = o.add('p', 1, 'a');
    o.markSent(a, 'r1');
    advance(clock, 3_000);
    expect(o.settle('r1', 'error', { reason: 'recipient_busy', retry_after_ms: 500 })).toMatchObject({ kind: 'retry' });
    expect(o.pending().map((e) => e.id)).toEqual(['a']);
    advance(clock, 7_000);
    expect(o.pending()).toEqual([]);
    await expect(a.promise).rejects.toBeInstanceOf(SendError);
  });

  test('failAll clears the expiry timer', () => {
    const { o } = clocked(10_000);
    o.add('p', 1, 'a');
    expect(jest.getTimerCount()).toBe(1);
    o.failAll(new SendError('closed', 'a', {}));
    expect(jest.getTimerCount()).toBe(0);
  });
});
