/**
 * The server pings a connection only after a silence (contract: livenessSchedule, serverPingDueMs):
 * a peer that speaks within the client heartbeat interval is never pinged; a silent one gets its
 * pings at 1.1 client intervals of silence and one ping interval later, so two pings still go out
 * before the idle limit (rule server-idle-covers-two-pings), and it is terminated at the idle
 * limit, not before.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { livenessSchedule, resolveTimeouts, serverPingDueMs } from '../../app/contract/timeouts';
import { ConnectionEndings } from '../../app/server/endings';
import { closed, request, startServer, TestServer, until } from '../helpers/server';

const overrides = {
  client: { heartbeatIntervalMs: 500, heartbeatTimeoutMs: 1_000, deadPeerDetectionMs: 1_500 },
  server: { pingIntervalMs: 500, idleTimeoutMs: 2_000 },
};
const timeouts = resolveTimeouts(overrides);
const P = timeouts.server.pingIntervalMs;
const schedule = livenessSchedule(timeouts);

function open(url: string, autoPong: boolean): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { autoPong });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

describe('server pings after a silence only', () => {
  let ts: TestServer;
  beforeAll(async () => {
    ts = await startServer({ timeouts: overrides });
  });
  afterAll(async () => {
    await ts.server.shutdown();
  });

  it('derives the schedule from the contract: 1.1 client intervals, then every ping interval, two before the idle limit', () => {
    const C = timeouts.client.heartbeatIntervalMs;
    expect(serverPingDueMs(timeouts, 0)).toBe(C + C / 10);
    expect(serverPingDueMs(timeouts, 1)).toBe(C + C / 10 + P);
    expect(serverPingDueMs(timeouts, 2)).toBe(C + C / 10 + 2 * P);
    expect(schedule.firstPingMs).toBe(serverPingDueMs(timeouts, 0));
    expect(schedule.secondPingMs).toBe(serverPingDueMs(timeouts, 1));
    // The second ping leaves at least one ping interval for its pong, inside the limit.
    expect(schedule.secondPingMs + P).toBeLessThanOrEqual(timeouts.server.idleTimeoutMs);
  });

  it('never pings a peer whose heartbeats arrive within the interval, and keeps it open past the idle limit', async () => {
    const ws = await open(await ts.urlFor('talker'), true);
    let pings = 0;
    ws.on('ping', () => pings++);
    await request(ws, ['1', '1', 'peer:talker', 'phx_join', {}]);
    // Half the interval: a beat late by up to 300 ms (a loaded machine) still arrives in time.
    let ref = 10;
    const beat = setInterval(() => ws.send(JSON.stringify([null, String(ref++), 'phoenix', 'heartbeat', {}])), P / 2);
    const t0 = Date.now();
    await until(() => Date.now() - t0 >= timeouts.server.idleTimeoutMs + P, timeouts.server.idleTimeoutMs + 2 * P, 'past the idle limit');
    clearInterval(beat);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(pings).toBe(0);
    ws.terminate();
  });

  it('keeps a peer that answers every ping, with one deadline firing per ping sent', async () => {
    // The pong moves the deadline at once (endings.ts ponged): no firing in between that finds nothing due.
    const deadlines = jest.spyOn(ConnectionEndings.prototype, 'onDeadline');
    try {
      const ws = await open(await ts.urlFor('ponger'), true);
      const pingsAt: number[] = [];
      ws.on('ping', () => pingsAt.push(performance.now()));
      await request(ws, ['1', '1', 'peer:ponger', 'phx_join', {}]);
      let closeCode: number | undefined;
      ws.once('close', (code) => (closeCode = code));
      await until(() => pingsAt.length >= 5 || closeCode !== undefined, 5 * timeouts.server.idleTimeoutMs, 'five pings');
      expect(closeCode).toBeUndefined();
      expect(pingsAt.length).toBeGreaterThanOrEqual(5);
      const calls = deadlines.mock.contexts.filter((c) => c.peer.sub === 'ponger').length;
      // One wheel firing per ping sent (the join deadline may add one); the lazy deadline fired twice per round
      // (a pong held up past the second ping's time draws that ping too, and its firing counts a ping).
      expect(calls).toBeLessThanOrEqual(pingsAt.length + 1);
      ws.terminate();
    } finally {
      deadlines.mockRestore();
    }
  });

  it('pings a silent peer at the due silences, twice before the idle limit, and ends it at the limit', async () => {
    // Server and client share this process's event loop: a timer can fire no earlier than due and
    // no later than due + the loop's worst stall meanwhile (a busy machine takes the CPU away for
    // hundreds of ms). The upper bounds add that measured stall instead of a guessed slack.
    const stall = monitorEventLoopDelay({ resolution: 10 });
    stall.enable();
    // autoPong off: this peer never answers, so nothing it sends resets the silence after its join.
    const ws = await open(await ts.urlFor('mute'), false);
    const pingsAt: number[] = [];
    let closedAt = Infinity;
    ws.on('ping', () => pingsAt.push(performance.now()));
    const end = closed(ws);
    ws.once('close', () => (closedAt = performance.now()));
    const joinSent = performance.now();
    await request(ws, ['1', '1', 'peer:mute', 'phx_join', {}]);
    await end;
    stall.disable();
    const lateMs = stall.max / 1e6;
    const endedAfter = closedAt - joinSent;
    const rel = pingsAt.map((t) => t - joinSent);
    // The server heard the join at or after joinSent: no ping comes before its due silence.
    expect(rel.length).toBeGreaterThanOrEqual(2);
    expect(rel[0]).toBeGreaterThanOrEqual(serverPingDueMs(timeouts, 0) - 5);
    expect(rel[1]).toBeGreaterThanOrEqual(serverPingDueMs(timeouts, 1) - 5);
    // Both pings reach the peer before the server ends it at the idle limit, the second no later than
    // its due silence plus the wheel's tick and the loop's measured stall.
    expect(rel[1]).toBeLessThan(endedAfter);
    expect(rel[1]).toBeLessThan(schedule.secondPingMs + 250 + lateMs);
    expect(endedAfter).toBeGreaterThanOrEqual(timeouts.server.idleTimeoutMs - 5);
    expect(endedAfter).toBeLessThan(timeouts.server.idleTimeoutMs + 500 + lateMs);
  });
});
