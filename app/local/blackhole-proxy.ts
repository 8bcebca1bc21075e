/**
 * (Used by tests, the benchmark and local drills; loopback only.)
 * A TCP proxy on 127.0.0.1 that can turn into a black hole: established connections stay open
 * (no FIN, no RST) but nothing is forwarded in either direction any more, exactly what a peer sees
 * when a VM or a middlebox silently stops. Bytes are swallowed, never buffered for later.
 */
import net from 'node:net';

export interface BlackholeProxy {
  port: number;
  /** From now on, drop every byte of every existing connection (new ones are dropped too). */
  blackhole(): void;
  /** Forward normally again (for new connections and existing ones). */
  restore(): void;
  readonly connections: number;
  /** What a VM deletion does: reset (RST) both sides of every connection, black-holed or not. */
  resetAll(): void;
  close(): Promise<void>;
}

export async function startBlackholeProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<BlackholeProxy> {
  let dropping = false;
  const pairs = new Set<[net.Socket, net.Socket]>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, targetHost);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const forward = (from: net.Socket, to: net.Socket) => from.on('data', (chunk) => {
      if (!dropping && !to.destroyed) to.write(chunk);
    });
    forward(client, upstream);
    forward(upstream, client);
    const end = () => {
      pairs.delete(pair);
      // In black-hole mode the other side must learn nothing: no FIN, no RST.
      if (!dropping) {
        client.destroy();
        upstream.destroy();
      }
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    blackhole: () => { dropping = true; },
    restore: () => { dropping = false; },
    get connections() { return pairs.size; },
    resetAll: () => {
      for (const pair of [...pairs]) {
        pairs.delete(pair);
        for (const s of pair) rst(s);
      }
    },
    close: async () => {
      for (const [a, b] of pairs) { a.destroy(); b.destroy(); }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** TCP RST where the socket allows it (a socket still connecting is just destroyed). */
export function rst(s: net.Socket): void {
  if (s.destroyed) return;
  try {
    s.resetAndDestroy();
  } catch {
    s.destroy();
  }
}
