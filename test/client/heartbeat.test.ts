/** The heartbeat's two clocks, on fake time: fixed cadence, per-heartbeat timeout, silence bound. */
import { Heartbeat } from '../../app/client/heartbeat';
import { defaultTimeouts, resolveTimeouts, Timeouts } from '../../app/contract/timeouts';

const t = defaultTimeouts.client;

// setImmediate stays real: a due deadline defers its verdict to after pending I/O (afterPendingIo).
beforeEach(() => jest.useFakeTimers({ now: 0, doNotFake: ['setImmediate'] }));
afterEach(() => jest.useRealTimers());

/**
 * Fake time forward, then the immediates it queued: a due deadline gives its verdict after the
 * I/O already waiting (afterPendingIo), as the event loop does after its timers phase.
 */
async function advance(ms: number): Promise<void> {
  jest.advanceTimersByTime(ms);
  await new Promise((resolve) => setImmediate(resolve));
}

function rig(c: Timeouts['client'] = t) {
  const sent: Array<{ ref: string; at: number }> = [];
  const dead: Array<{ at: number; silentMs: number; unanswered: number }> = [];
  let n = 0;
  const hb = new Heartbeat(c, () => String(++n), {
    send: (ref) => {
      sent.push({ ref, at: Date.now() });
      return true;
    },
    onDead: (info) => dead.push({ at: Date.now(), ...info }),
  });
  return { hb, sent, dead };
}

test('beats on a fixed cadence and stays alive while answered', async () => {
  const { hb, sent, dead } = rig();
  hb.start();
  for (let i = 0; i < 10; i++) {
    await advance(t.heartbeatIntervalMs);
    hb.ack(sent[sent.length - 1].ref);
  }
  expect(sent.map((s) => s.at)).toEqual(Array.from({ length: 10 }, (_, i) => (i + 1) * t.heartbeatIntervalMs));
  expect(dead).toEqual([]);
  hb.stop();
});

test('worst case (silence right after a reply) is detected exactly at deadPeerDetectionMs', async () => {
  const { hb, sent, dead } = rig();
  hb.start();
  await advance(t.heartbeatIntervalMs);
  hb.ack(sent[0].ref); // last sign of life at t = interval
  const lastReply = Date.now();
  await advance(t.deadPeerDetectionMs - 1);
  expect(dead).toEqual([]);
  await advance(1);
  // The verdict comes after everything else due at that instant, the heartbeat due then included:
  // every heartbeat sent in the silence is unanswered.
  const inSilence = t.deadPeerDetectionMs / t.heartbeatIntervalMs;
  expect(dead).toEqual([{ at: lastReply + t.deadPeerDetectionMs, silentMs: t.deadPeerDetectionMs, unanswered: inSilence }]);
  // Stopped itself: nothing more is sent or reported.
  await advance(10 * t.heartbeatIntervalMs);
  expect(dead).toHaveLength(1);
  expect(sent).toHaveLength(1 + inSilence);
});

test('one unanswered heartbeat is given up on after heartbeatTimeoutMs', async () => {
  const { hb, sent, dead } = rig();
  hb.start();
  await advance(t.heartbeatIntervalMs); // heartbeat 1 after one interval, never answered
  await advance(t.heartbeatTimeoutMs);
  expect(dead).toHaveLength(1);
  expect(dead[0].at).toBe(sent[0].at + t.heartbeatTimeoutMs);
});

test('a late reply to a newer heartbeat also answers the older ones', async () => {
  // Two heartbeats can be out at once only where the reply timeout is longer than the interval (the
  // default contract's 7.5 s + 7.5 s gives up on the first as the second goes out): a valid contract
  // with a 5 s interval and a 10 s timeout.
  const c = resolveTimeouts({ client: { heartbeatIntervalMs: 5_000, heartbeatTimeoutMs: 10_000 } }).client;
  const { hb, sent, dead } = rig(c);
  hb.start();
  await advance(2 * c.heartbeatIntervalMs); // two heartbeats out
  expect(hb.ack(sent[1].ref)).toBe(true);
  expect(hb.ack(sent[0].ref)).toBe(false); // already covered
  expect(hb.ack('not-ours')).toBe(false);
  await advance(c.heartbeatTimeoutMs - 1);
  expect(dead).toEqual([]);
  hb.stop();
});

test('a reply already waiting when the deadline fires is read first: no false verdict after a stall', async () => {
  const { hb, sent, dead } = rig();
  hb.start();
  await advance(t.heartbeatIntervalMs); // heartbeat 1 out
  // The loop stalls past the reply timeout; the reply arrived meanwhile and is read (poll phase)
  // after the due timer ran but before its deferred verdict.
  jest.advanceTimersByTime(t.heartbeatTimeoutMs);
  hb.ack(sent[0].ref);
  await new Promise((resolve) => setImmediate(resolve));
  expect(dead).toEqual([]);
  // Still watching: silence from now on is detected on time.
  await advance(t.deadPeerDetectionMs);
  expect(dead).toHaveLength(1);
  hb.stop();
});
