/** The heartbeat's two clocks, on fake time: fixed cadence, per-heartbeat timeout, silence bound. */
import { Heartbeat } from '../../app/client/heartbeat';
import { defaultTimeouts } from '../../app/contract/timeouts';

const t = defaultTimeouts.client;

beforeEach(() => jest.useFakeTimers({ now: 0 }));
afterEach(() => jest.useRealTimers());

function rig() {
  const sent: Array<{ ref: string; at: number }> = [];
  const dead: Array<{ at: number; silentMs: number; unanswered: number }> = [];
  let n = 0;
  const hb = new Heartbeat(t, () => String(++n), {
    send: (ref) => {
      sent.push({ ref, at: Date.now() });
      return true;
    },
    onDead: (info) => dead.push({ at: Date.now(), ...info }),
  });
  return { hb, sent, dead };
}

test('beats on a fixed cadence and stays alive while answered', () => {
  const { hb, sent, dead } = rig();
  hb.start();
  for (let i = 0; i < 10; i++) {
    jest.advanceTimersByTime(t.heartbeatIntervalMs);
    hb.ack(sent[sent.length - 1].ref);
  }
  expect(sent.map((s) => s.at)).toEqual(Array.from({ length: 10 }, (_, i) => (i + 1) * t.heartbeatIntervalMs));
  expect(dead).toEqual([]);
  hb.stop();
});

test('worst case (silence right after a reply) is detected exactly at deadPeerDetectionMs', () => {
  const { hb, sent, dead } = rig();
  hb.start();
  jest.advanceTimersByTime(t.heartbeatIntervalMs);
  hb.ack(sent[0].ref); // last sign of life at t = interval
  const lastReply = Date.now();
  jest.advanceTimersByTime(t.deadPeerDetectionMs - 1);
  expect(dead).toEqual([]);
  jest.advanceTimersByTime(1);
  expect(dead).toEqual([{ at: lastReply + t.deadPeerDetectionMs, silentMs: t.deadPeerDetectionMs, unanswered: 2 }]);
  // Stopped itself: nothing more is sent or reported.
  jest.advanceTimersByTime(10 * t.heartbeatIntervalMs);
  expect(dead).toHaveLength(1);
  expect(sent).toHaveLength(3);
});

test('one unanswered heartbeat is given up on after heartbeatTimeoutMs', () => {
  const { hb, sent, dead } = rig();
  hb.start();
  jest.advanceTimersByTime(t.heartbeatIntervalMs); // heartbeat 1 at 5 s, never answered
  jest.advanceTimersByTime(t.heartbeatTimeoutMs);
  expect(dead).toHaveLength(1);
  expect(dead[0].at).toBe(sent[0].at + t.heartbeatTimeoutMs);
});

test('a late reply to a newer heartbeat also answers the older ones', () => {
  const { hb, sent, dead } = rig();
  hb.start();
  jest.advanceTimersByTime(2 * t.heartbeatIntervalMs); // two heartbeats out
  expect(hb.ack(sent[1].ref)).toBe(true);
  expect(hb.ack(sent[0].ref)).toBe(false); // already covered
  expect(hb.ack('not-ours')).toBe(false);
  jest.advanceTimersByTime(t.heartbeatTimeoutMs - 1);
  expect(dead).toEqual([]);
  hb.stop();
});
