/**
 * (Used by tests, the benchmark and local drills; loopback only.)
 * A TCP proxy on 127.0.0.1 that can turn into a black hole: established connections stay open
 * (no FIN, no RST) but nothing is forwarded in either direction any more, exactly what a peer sees
 * when a VM or a middlebox silently stops. Bytes are swallowed, never buffered for later.
 */
import net from 'node:net';

/**
 * A WebSocket connection the server closed while the network was black-holed: when the last byte
 * was forwarded to the server, and when the server's end closed (FIN or RST). The difference is
 * what the server's idle limit (`server.idleTimeoutMs`: no frame for that long) promises to bound.
 */
export interface ServerClose {
  lastToServerAt: number;
  closedAt: number;
}

export interface BlackholeProxy {
  port: number;
  /** From now on, drop every byte of every existing connection (new ones are dropped too). */
  blackhole(): void;
  /** Forward normally again (for new connections and existing ones). */
  restore(): void;
  readonly connections: number;
  /** Upgraded (HTTP 101) connections open now. */
  readonly upgraded: number;
  /** Upgraded connections whose server end closed while black-holed, in order. */
  readonly serverClosed: readonly ServerClose[];
  /** What a VM deletion does: reset (RST) both sides of every connection, black-holed or not. */
  resetAll(): void;
  close(): Promise<void>;
}

export async function startBlackholeProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<BlackholeProxy> {
  let dropping = false;
  const pairs = new Set<[net.Socket, net.Socket]>();
  const serverClosed: ServerClose[] = [];
  /** Open pairs that carry a WebSocket; `reset` ones were cut here (VM deletion), not by the server. */
  const upgraded = new Set<[net.Socket, net.Socket]>();
  const reset = new WeakSet<[net.Socket, net.Socket]>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, targetHost);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    let lastToServerAt = Date.now();
    let isUpgraded = false;
    let first = true;
    client.on('data', (chunk) => {
      if (dropping || upstream.destroyed) return;
      upstream.write(chunk);
      lastToServerAt = Date.now();
    });
    upstream.on('data', (chunk: Buffer) => {
      if (first) {
        first = false;
        // The server's first bytes on a WebSocket: the 101 answer to the upgrade.
        if (chunk.subarray(0, 12).toString('latin1') === 'HTTP/1.1 101') {
          isUpgraded = true;
          upgraded.add(pair);
        }
      }
      if (!dropping && !client.destroyed) client.write(chunk);
    });
    upstream.once('close', () => {
      if (isUpgraded && dropping && !reset.has(pair)) serverClosed.push({ lastToServerAt, closedAt: Date.now() });
    });
    const end = () => {
      pairs.delete(pair);
      upgraded.delete(pair);
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
    get upgraded() { return upgraded.size; },
    serverClosed,
    resetAll: () => {
      for (const pair of [...pairs]) {
        pairs.delete(pair);
        upgraded.delete(pair);
        reset.add(pair);
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
