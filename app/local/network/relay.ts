/**
 * A TCP relay on 127.0.0.1 that forwards each connection to a target chosen when it arrives, with an
 * added one-way delay in each direction: the local model of the link between two regions
 * (docs/regions.md). Two uses:
 *
 *   - the inter-region link to another region's Redis: a fixed target, `delayMs` = half the RTT;
 *   - a region's global front (the anycast entry point of the global load balancer nearest to the
 *     peer): its own region's balancer while that region has capacity, else another region's,
 *     through the same delay.
 *
 * Bytes keep their order (every chunk waits the same delay; Node runs timers of equal duration in
 * the order they were set). A clean close reaches the other side after the data in flight; an error
 * destroys the other side at once (an RST is not queued behind data in this model). Loopback only.
 */
import net from 'node:net';

export interface RelayTarget {
  port: number;
  /** Added one-way delay, each direction (ms). */
  delayMs: number;
}

export interface Relay {
  readonly port: number;
  /** Connections relayed so far, and open now. */
  stats(): { accepted: number; open: number };
  close(): Promise<void>;
}

export async function startRelay(route: () => RelayTarget | null, port = 0): Promise<Relay> {
  const open = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((inbound) => {
    const target = route();
    if (!target) {
      inbound.destroy();
      return;
    }
    accepted++;
    const outbound = net.connect(target.port, '127.0.0.1');
    open.add(inbound);
    open.add(outbound);
    const pipe = (from: net.Socket, to: net.Socket) => {
      from.on('data', (chunk: Buffer) => {
        if (target.delayMs <= 0) to.write(chunk);
        else setTimeout(() => !to.destroyed && to.write(chunk), target.delayMs);
      });
      from.on('end', () => {
        if (target.delayMs <= 0) to.end();
        else setTimeout(() => !to.destroyed && to.end(), target.delayMs);
      });
    };
    pipe(inbound, outbound);
    pipe(outbound, inbound);
    const kill = () => {
      inbound.destroy();
      outbound.destroy();
      open.delete(inbound);
      open.delete(outbound);
    };
    for (const s of [inbound, outbound]) {
      s.on('error', kill);
      // A clean close follows the data still in flight (delayed like it); an error does not wait.
      s.on('close', (hadError: boolean) => (hadError || target.delayMs <= 0 ? kill() : setTimeout(kill, target.delayMs + 1)));
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    stats: () => ({ accepted, open: open.size / 2 }),
    close: async () => {
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
