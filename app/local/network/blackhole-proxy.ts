/**
 * (Used by tests, the benchmark and local drills; loopback only.)
 * A TCP proxy on 127.0.0.1 that can fail the way networks fail, the one such proxy of the project:
 *
 *   - blackhole(): established connections stay open (no FIN, no RST) but nothing is forwarded in
 *     either direction any more, exactly what a peer sees when a VM or a middlebox silently stops.
 *     Bytes are swallowed, never buffered for later. New connections are accepted and swallowed too.
 *   - cut(): reset (RST) every connection and refuse new ones (accepted, then reset): a peer offline.
 *   - dropReplies(): forward client -> server, swallow server -> client, so a request is processed
 *     but its answer never arrives.
 *   - resetAll(): what a VM deletion does, a RST on both sides of every connection (mode unchanged).
 *   - restore(): forward normally again (new connections and existing ones).
 *
 * The mode switches take effect before the call returns (the promise is for the same interface
 * served from another process: network-host.ts).
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

export type ProxyMode = 'forward' | 'blackhole' | 'cut' | 'drop_replies';

export interface BlackholeProxy {
  port: number;
  /** From now on, drop every byte of every existing connection (new ones are dropped too). */
  blackhole(): Promise<void>;
  /** RST every connection and refuse new ones until restore(). */
  cut(): Promise<void>;
  /** Keep forwarding client -> server; swallow everything server -> client. */
  dropReplies(): Promise<void>;
  /** Forward normally again (for new connections and existing ones; a side closed meanwhile closes the other). */
  restore(): Promise<void>;
  /** What a VM deletion does: reset (RST) both sides of every connection, black-holed or not. */
  resetAll(): Promise<void>;
  readonly mode: ProxyMode;
  /** Connections with at least one side open. */
  readonly connections: number;
  /** Upgraded (HTTP 101) connections open now. */
  readonly upgraded: number;
  /** Upgraded connections whose server end closed while black-holed, in order. */
  readonly serverClosed: readonly ServerClose[];
  close(): Promise<void>;
}

export interface ProxyOptions {
  targetHost?: string;
  /** Called (synchronously) whenever `connections`, `upgraded` or `serverClosed` change. */
  onChange?: () => void;
}

type Pair = [net.Socket, net.Socket];

export async function startBlackholeProxy(targetPort: number, o: ProxyOptions = {}): Promise<BlackholeProxy> {
  let mode: ProxyMode = 'forward';
  const changed = o.onChange ?? (() => undefined);
  const pairs = new Set<Pair>();
  const serverClosed: ServerClose[] = [];
  /** Open pairs that carry a WebSocket; `reset` ones were cut here, not by the server. */
  const upgraded = new Set<Pair>();
  const reset = new WeakSet<Pair>();
  const resetPairs = () => {
    for (const pair of [...pairs]) {
      pairs.delete(pair);
      upgraded.delete(pair);
      reset.add(pair);
      for (const s of pair) rst(s);
    }
    changed();
  };
  const server = net.createServer((client) => {
    client.on('error', () => undefined);
    if (mode === 'cut') {
      rst(client);
      return;
    }
    const upstream = net.connect(targetPort, o.targetHost ?? '127.0.0.1');
    upstream.on('error', () => undefined);
    const pair: Pair = [client, upstream];
    pairs.add(pair);
    changed();
    let lastToServerAt = Date.now();
    let isUpgraded = false;
    let first = true;
    client.on('data', (chunk) => {
      if (mode === 'blackhole' || upstream.destroyed) return;
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
          changed();
        }
      }
      if (mode === 'forward' && !client.destroyed) client.write(chunk);
    });
    upstream.once('close', () => {
      if (isUpgraded && mode === 'blackhole' && !reset.has(pair)) {
        serverClosed.push({ lastToServerAt, closedAt: Date.now() });
        changed();
      }
    });
    const end = () => {
      // In black-hole mode the other side must learn nothing: no FIN, no RST. The pair stays until
      // both sides are gone, so a VM deletion (resetAll) or a restore still reaches the open side.
      if (mode !== 'blackhole') {
        client.destroy();
        upstream.destroy();
      }
      if (!client.destroyed || !upstream.destroyed) return;
      const had = pairs.delete(pair);
      upgraded.delete(pair);
      if (had) changed();
    };
    client.on('close', end);
    upstream.on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const set = (m: ProxyMode) => {
    mode = m;
    return Promise.resolve();
  };
  return {
    port: (server.address() as net.AddressInfo).port,
    blackhole: () => set('blackhole'),
    dropReplies: () => set('drop_replies'),
    restore: () => {
      mode = 'forward';
      // What the black hole held back: a side closed meanwhile closes the other now.
      for (const [a, b] of [...pairs]) {
        if (a.destroyed || b.destroyed) {
          a.destroy();
          b.destroy();
        }
      }
      return Promise.resolve();
    },
    cut: () => {
      mode = 'cut';
      resetPairs();
      return Promise.resolve();
    },
    resetAll: () => {
      resetPairs();
      return Promise.resolve();
    },
    get mode() {
      return mode;
    },
    get connections() {
      return pairs.size;
    },
    get upgraded() {
      return upgraded.size;
    },
    serverClosed,
    close: async () => {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
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
