/**
 * Half-open: a middlebox silently stops forwarding an established connection (no FIN, no RST).
 * The server must notice from the missing pongs/frames and drop it within its idle limit.
 */
import { openRaw, startServer, TestServer, until } from '../helpers/server';
import { BlackholeProxy, startBlackholeProxy } from '../../app/local/network/blackhole-proxy';

const timeouts = {
  client: { heartbeatIntervalMs: 500, heartbeatTimeoutMs: 1_000, deadPeerDetectionMs: 1_500 },
  server: { pingIntervalMs: 500, idleTimeoutMs: 2_000 },
};

describe('half-open connection', () => {
  let ts: TestServer;
  let proxy: BlackholeProxy;
  beforeAll(async () => {
    ts = await startServer({ timeouts });
    proxy = await startBlackholeProxy(ts.port);
  });
  afterAll(async () => {
    await proxy.close();
    await ts.server.shutdown();
  });

  it('is terminated by the server within its idle limit', async () => {
    const url = (await ts.urlFor('ghost')).replace(`:${ts.port}/`, `:${proxy.port}/`);
    const ws = await openRaw(url);
    // Prove the path works first: the server's pings reach us and our pongs keep us alive past the limit.
    let pings = 0;
    ws.on('ping', () => pings++);
    await until(() => pings >= 5, 5_000, 'five server pings');
    expect(ts.server.connectionCount).toBe(1);

    let clientSawClose = false;
    ws.on('close', () => {
      clientSawClose = true;
    });
    proxy.blackhole();
    const t0 = Date.now();
    await until(() => ts.server.connectionCount === 0, timeouts.server.idleTimeoutMs + 1_000, 'server to drop the connection');
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeLessThanOrEqual(timeouts.server.idleTimeoutMs + 100);
    expect(elapsed).toBeGreaterThan(timeouts.server.idleTimeoutMs - timeouts.server.pingIntervalMs - 100);
    const metrics = await (await fetch(`${ts.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/^sluice_heartbeat_timeouts_total 1$/m);
    expect(metrics).toMatch(/^sluice_connections_closed_total\{reason="idle_timeout"\} 1$/m);
    // The black hole kept the client in the dark: detecting this is the client SDK's job.
    expect(clientSawClose).toBe(false);
    ws.terminate();
  });
});
