/**
 * The incident's failure mode, end to end: the server side goes silent (no FIN, no RST) behind a
 * TCP proxy. With the contract's DEFAULT timeouts the client must notice within
 * client.deadPeerDetectionMs (15 s), terminate the socket itself, and be joined again right after.
 *
 * Worst case on purpose: the black hole starts right after a heartbeat reply, so the next heartbeat
 * leaves up to one interval later and the full bound is needed.
 */
import { SluiceClient } from '../../app/client/index';
import { defaultTimeouts } from '../../app/contract/timeouts';
import { startBlackholeProxy } from '../../app/local/network/blackhole-proxy';
import { seeded, startServer, token } from '../helpers/server';
import { next } from './helpers';

/** setTimeout fires at or after its due time; this is the lateness we accept on a loaded test box. */
const TIMER_SLACK_MS = 100;
/** Loopback TCP connect + upgrade + join. */
const CONNECT_SLACK_MS = 500;

test('a black-holed connection is detected within the contract bound and the client rejoins', async () => {
  const srv = await startServer();
  const proxy = await startBlackholeProxy(srv.port);
  const c = new SluiceClient({
    // Through the proxy first; the next attempt rotates to the server directly (the proxy is a hole).
    url: [`ws://127.0.0.1:${proxy.port}/socket/websocket`, srv.socketUrl],
    token: await token('gw-blackhole', 'gateway'),
    random: seeded(7),
  });
  try {
    expect(c.timeouts).toBe(defaultTimeouts);
    c.connect();
    await c.ready();
    await next(c, 'heartbeat');
    proxy.blackhole();
    const t0 = Date.now();

    const [lost] = await next(c, 'disconnected');
    const detectedMs = Date.now() - t0;
    const [joined] = await next(c, 'connected');
    const rejoinedMs = Date.now() - t0;

    expect(lost).toMatchObject({ reason: 'heartbeat_timeout', wasJoined: true, willReconnect: true });
    expect(joined).toMatchObject({ url: srv.socketUrl, reconnects: 1 });
    // Not a false alarm: at least one whole heartbeat timeout passed.
    expect(detectedMs).toBeGreaterThanOrEqual(defaultTimeouts.client.heartbeatTimeoutMs);
    expect(detectedMs).toBeLessThanOrEqual(defaultTimeouts.client.deadPeerDetectionMs + TIMER_SLACK_MS);
    // First backoff after a joined session is random(0, reconnectBaseMs).
    expect(rejoinedMs - detectedMs).toBeLessThanOrEqual(defaultTimeouts.client.reconnectBaseMs + CONNECT_SLACK_MS);
    console.log(
      `black hole: detected after ${detectedMs} ms (bound ${defaultTimeouts.client.deadPeerDetectionMs} ms), joined again after ${rejoinedMs} ms`,
    );
  } finally {
    await c.close();
    await proxy.close();
    await srv.server.shutdown();
  }
}, 30_000);
