/**
 * The drill's VM networks in their own process (app/local/network/network-host.ts): a proxy there forwards,
 * its counters follow the child's, a black hole swallows the server's close (recorded, not passed
 * on), a VM deletion resets the client, and closing the host ends the child.
 */
import net from 'node:net';
import type { BlackholeProxy } from '../../app/local/network/blackhole-proxy';
import { NetworkHost, startNetworkHost } from '../../app/local/network/network-host';

jest.setTimeout(60_000);

/** A server that answers the first bytes with a 101 (what the proxy counts as a WebSocket), then echoes. */
async function upgradeEcho(): Promise<{ port: number; sockets: net.Socket[]; close(): Promise<void> }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    sockets.push(s);
    s.on('error', () => undefined);
    let first = true;
    s.on('data', (d) => {
      if (first) {
        first = false;
        s.write('HTTP/1.1 101 Switching Protocols\r\n\r\n');
      } else s.write(d);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    sockets,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

async function until(pred: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const read = (s: net.Socket) => new Promise<string>((resolve) => s.once('data', (d) => resolve(d.toString('latin1'))));

let host: NetworkHost;
afterEach(async () => {
  await host?.close();
});

test('a proxy in the child forwards, reports its counters, black-holes and resets', async () => {
  const target = await upgradeEcho();
  host = await startNetworkHost();
  const proxy: BlackholeProxy = await host.open(target.port);
  expect(proxy.mode).toBe('forward');
  const client = net.connect(proxy.port, '127.0.0.1');
  const events: string[] = [];
  client.on('error', (e: NodeJS.ErrnoException) => events.push(`error ${e.code}`));
  client.on('end', () => events.push('end'));
  client.on('close', () => events.push('close'));
  client.write('GET / HTTP/1.1\r\n\r\n');
  expect(await read(client)).toMatch(/^HTTP\/1\.1 101/);
  client.write('ping');
  expect(await read(client)).toBe('ping');
  await until(() => proxy.upgraded === 1 && proxy.connections === 1, 'the counters of the child');

  // The switch resolves once applied: the counters it carries are the child's at that moment.
  await proxy.blackhole();
  expect(proxy.mode).toBe('blackhole');
  expect(proxy.upgraded).toBe(1);
  // The server closes its end: recorded by the child, not passed on to the client.
  const before = Date.now();
  target.sockets[0].destroy();
  await until(() => proxy.serverClosed.length === 1, 'the server close recorded');
  expect(proxy.serverClosed[0].closedAt).toBeGreaterThanOrEqual(before);
  expect(proxy.serverClosed[0].lastToServerAt).toBeLessThanOrEqual(before);
  expect(events).toEqual([]);

  // The VM deletion: the client gets a reset.
  const closed = new Promise<void>((r) => client.once('close', () => r()));
  await proxy.resetAll();
  await closed;
  expect(events).toContain('error ECONNRESET');
  await until(() => proxy.connections === 0, 'no connection left');
  await proxy.close();
  await target.close();
});

test('closing the host ends its process', async () => {
  host = await startNetworkHost();
  const pid = host.pid;
  expect(() => process.kill(pid, 0)).not.toThrow();
  await host.close();
  expect(() => process.kill(pid, 0)).toThrow();
});
