/**
 * A TCP proxy on 127.0.0.1 for the client suites, with the failures the black-hole proxy in
 * test/helpers does not make:
 *   - cut(): reset (RST) every connection and refuse new ones until heal(): a peer "offline";
 *   - dropReplies(): keep forwarding client -> server, swallow server -> client, so a request is
 *     processed but its answer never arrives (the case the outbox's stable ids exist for).
 */
import net from 'node:net';

export interface FaultProxy {
  port: number;
  url: string;
  cut(): void;
  dropReplies(): void;
  heal(): void;
  readonly connections: number;
  close(): Promise<void>;
}

export async function startFaultProxy(targetPort: number): Promise<FaultProxy> {
  let mode: 'forward' | 'cut' | 'drop_replies' = 'forward';
  const pairs = new Set<[net.Socket, net.Socket]>();
  const server = net.createServer((client) => {
    client.on('error', () => undefined);
    if (mode === 'cut') {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(targetPort, '127.0.0.1');
    upstream.on('error', () => undefined);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    client.on('data', (chunk) => {
      if (!upstream.destroyed) upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (mode !== 'drop_replies' && !client.destroyed) client.write(chunk);
    });
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `ws://127.0.0.1:${port}/socket/websocket`,
    cut: () => {
      mode = 'cut';
      for (const [a, b] of pairs) {
        a.resetAndDestroy();
        b.destroy();
      }
    },
    dropReplies: () => {
      mode = 'drop_replies';
    },
    heal: () => {
      mode = 'forward';
    },
    get connections() {
      return pairs.size;
    },
    close: async () => {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
