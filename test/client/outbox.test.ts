/** The outbox's bookkeeping: stable ids, order, re-send after a lost connection, final vs transient errors. */
import { Outbox } from '../../app/client/outbox';
import { SendError } from '../../app/client/index';

test('ids are unique per instance and across instances', () => {
  const a = new Outbox();
  const b = new Outbox();
  const ids = new Set([a.nextId(), a.nextId(), b.nextId(), b.nextId()]);
  expect(ids.size).toBe(4);
});

test('in-flight entries go back to pending, in send order, when the connection is lost', () => {
  const o = new Outbox();
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
  const o = new Outbox();
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
