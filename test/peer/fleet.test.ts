/** The fleet module: pairing, percentiles, and whole fleets against real servers. */
import { MemoryBackplane } from '../../app/backplane/memory';
import { pairPeers, percentiles, runFleet } from '../../app/peer/fleet';
import { DrillPeer } from '../../app/peer/peer';
import pino from 'pino';
import { fastTimeouts } from '../client/helpers';
import { SECRET, startServer, until } from '../helpers/server';

test('pairs clients with gateways; an odd one out talks to gateway 0', () => {
  expect(pairPeers(4, 'x')).toEqual([
    { id: 'x-c-0', kind: 'client', to: 'x-g-0' },
    { id: 'x-c-1', kind: 'client', to: 'x-g-1' },
    { id: 'x-g-0', kind: 'gateway', to: 'x-c-0' },
    { id: 'x-g-1', kind: 'gateway', to: 'x-c-1' },
  ]);
  expect(pairPeers(3, 'x').find((p) => p.id === 'x-c-1')).toEqual({ id: 'x-c-1', kind: 'client', to: 'x-g-0' });
  expect(pairPeers(1, 'x')).toEqual([{ id: 'x-c-0', kind: 'client', to: 'x-c-0' }]);
  expect(() => pairPeers(0)).toThrow(/positive integer/);
});

test('a drill peer counts distinct numbers, duplicates and holes per sender', () => {
  const peer = new DrillPeer(
    { id: 'gw-count', kind: 'gateway', to: 'c-count' },
    { url: 'ws://127.0.0.1:1/socket/websocket', token: 'unused', peerId: 'gw-count' },
    pino({ level: 'silent' }),
  );
  let seq = 0;
  const deliver = (from: string, n: unknown) =>
    peer.client.emit('signal', { from, id: `${from}-${String(n)}`, seq: ++seq, data: { n }, replayed: false });
  for (const n of [1, 2, 2, 4, 3, 3, 1]) deliver('c-count', n);
  for (const n of [1, 3, 'x', 0]) deliver('c-other', n);
  expect(peer.stats.received).toBe(6);
  expect(peer.stats.duplicated).toBe(3);
  expect(peer.holesFrom('c-count')).toBe(0);
  expect(peer.holesFrom('c-other')).toBe(1);
  expect(peer.holesFrom('nobody')).toBe(0);
});

test('nearest-rank percentiles', () => {
  expect(percentiles([])).toEqual({ count: 0, p50: 0, p90: 0, p99: 0, max: 0 });
  const values = Array.from({ length: 100 }, (_, i) => 100 - i); // 1..100, unsorted
  expect(percentiles(values)).toEqual({ count: 100, p50: 50, p90: 90, p99: 99, max: 100 });
  expect(percentiles([7])).toMatchObject({ p50: 7, p99: 7 });
});

test('a fleet spread over two servers survives one of them dying (RST), nothing lost', async () => {
  // This test is about a reset (noticed at once through TCP), not about silent servers: heartbeats
  // at FAST_CLIENT's 200/400 ms timed out healthy connections on A whenever 2 servers + 21 clients
  // in this one process stalled for 400 ms beside other busy processes (the old exact count then
  // saw 14 reconnects). At 1 s / 2 s only a real fault reconnects a peer on A.
  const timeouts = fastTimeouts({ client: { heartbeatIntervalMs: 1_000, heartbeatTimeoutMs: 2_000, deadPeerDetectionMs: 3_000 } });
  const backplane = new MemoryBackplane(timeouts.resume);
  const a = await startServer({ serverId: 'a', backplane });
  const b = await startServer({ serverId: 'b', backplane });
  const fleet = runFleet({ urls: [a.socketUrl, b.socketUrl], count: 21, tokenSecret: SECRET, timeouts, intervalMs: 50, seed: 3 });
  const heartbeatTimeouts: string[] = [];
  try {
    await fleet.ready();
    for (const p of fleet.peers)
      p.client.on('disconnected', (i) => i.reason === 'heartbeat_timeout' && heartbeatTimeouts.push(p.client.peerId ?? '?'));
    const onB = fleet.peers.filter((_, i) => i % 2 === 1); // peer i starts on urls[i % 2]
    expect(a.server.connectionCount).toBe(11);
    expect(b.server.connectionCount).toBe(10);
    await until(() => fleet.peers.every((p) => p.stats.acked >= 3), 5_000, 'exchange started');
    // B goes away without a drain: every socket reset, listener closed.
    await b.server.shutdown();
    await until(() => a.server.connectionCount === 21 && fleet.peers.every((p) => p.client.state === 'joined'), 5_000, 'everyone on A');
    const before = fleet.snapshot().delivered;
    await until(() => fleet.snapshot().delivered >= before + 21 * 3, 5_000, 'exchange continuing');
    const s = await fleet.stop();
    expect(s).toMatchObject({ peers: 21, lost: 0, duplicated: 0, failed: 0, unacked: 0, settled: true });
    expect(s.delivered).toBe(s.sent);
    // Every peer of B came back; a peer of A reconnects only after a (logged) heartbeat timeout.
    expect(onB.every((p) => p.stats.reconnects >= 1)).toBe(true);
    expect(s.reconnects).toBeGreaterThanOrEqual(10);
    expect(s.reconnects).toBeLessThanOrEqual(10 + heartbeatTimeouts.length);
    expect(s.gapMs.count).toBe(s.reconnects);
    expect(s.longestGapMs).toBe(s.gapMs.max);
    expect(fleet.peers.every((p) => p.client.state === 'stopped')).toBe(true);
    await expect(fleet.done).resolves.toEqual(s);
  } finally {
    await fleet.stop();
    await a.server.shutdown();
    await b.server.shutdown();
    await backplane.close();
  }
});

test('durationMs stops the fleet by itself', async () => {
  const srv = await startServer();
  try {
    const fleet = runFleet({
      urls: [srv.socketUrl],
      count: 4,
      tokenSecret: SECRET,
      timeouts: fastTimeouts(),
      intervalMs: 20,
      durationMs: 500,
      prefix: 'short',
    });
    const s = await fleet.done;
    expect(s.peers).toBe(4);
    expect(s.sent).toBeGreaterThan(0);
    expect(s).toMatchObject({ lost: 0, duplicated: 0, settled: true, reconnects: 0 });
    expect(s.durationMs).toBeGreaterThanOrEqual(500);
    await expect(fleet.stop()).resolves.toEqual(s);
  } finally {
    await srv.server.shutdown();
  }
});
