/**
 * The built-in balancer behaves like the LB a drain relies on: health checks on /readyz take an
 * unready backend out of rotation without touching its connections; connection draining resets
 * what is left at its deadline; a connection silent in both directions is cut at the idle timeout,
 * and one with traffic in one direction only is not (HAProxy `timeout tunnel` semantics).
 */
import net from 'node:net';
import { Balancer } from '../../app/local/lb/builtin';

interface Backend {
  port: number;
  ready: boolean;
  sockets: Set<net.Socket>;
  close(): Promise<void>;
}

/** A backend: `GET /readyz` answers 200 or 503; any other connection is held open and swallows its bytes. */
async function backend(): Promise<Backend> {
  const sockets = new Set<net.Socket>();
  const b = { ready: true } as Backend;
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.once('data', (d) => {
      if (d.toString().startsWith('GET /readyz'))
        s.end(`HTTP/1.1 ${b.ready ? '200 OK' : '503 Service Unavailable'}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  b.port = (srv.address() as net.AddressInfo).port;
  b.sockets = sockets;
  b.close = () =>
    new Promise((r) => {
      for (const s of sockets) s.destroy();
      srv.close(() => r());
    });
  return b;
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
}
const closed = (s: net.Socket) =>
  new Promise<number>((r) => {
    const t = Date.now();
    s.once('close', () => r(Date.now() - t));
  });

const opts = { port: 0, idleTimeoutMs: 600, drainingMs: 500, checkIntervalMs: 50, checkTimeoutMs: 200, rise: 2, fall: 2 };

describe('built-in balancer', () => {
  let lb: Balancer;
  let a: Backend;
  let b: Backend;
  beforeEach(async () => {
    a = await backend();
    b = await backend();
    lb = new Balancer(opts);
    await lb.start();
  });
  afterEach(async () => {
    await lb.close();
    await a.close();
    await b.close();
  });

  test('an unready backend leaves rotation and keeps its connections', async () => {
    lb.add('a', a.port);
    await lb.whenUp('a', 5_000);
    const held = await connect(lb.port);
    held.on('error', () => undefined);
    a.ready = false;
    lb.add('b', b.port);
    await lb.whenUp('b', 5_000);
    await new Promise<void>((resolve) => {
      const check = () => (lb.info().find((x) => x.id === 'a')?.state === 'down' ? resolve() : setTimeout(check, 20));
      check();
    });
    const fresh = await Promise.all([1, 2, 3, 4].map(() => connect(lb.port)));
    await new Promise((r) => setTimeout(r, 100));
    const info = Object.fromEntries(lb.info().map((x) => [x.id, x]));
    expect(info.a.connections).toBe(1); // the old one, untouched
    expect(info.b.connections).toBe(4);
    expect(held.destroyed).toBe(false);
    for (const s of [held, ...fresh]) s.destroy();
  });

  test('connection draining: no new connections at once, the rest reset at the deadline', async () => {
    lb.add('a', a.port);
    lb.add('b', b.port);
    await Promise.all([lb.whenUp('a', 5_000), lb.whenUp('b', 5_000)]);
    const conns = await Promise.all([1, 2].map(() => connect(lb.port)));
    for (const s of conns) s.on('error', () => undefined);
    await new Promise((r) => setTimeout(r, 50));
    const onA = lb.info().find((x) => x.id === 'a')!.connections;
    expect(onA).toBe(1);
    const ends = conns.map(closed);
    lb.remove('a');
    const extra = await connect(lb.port);
    await new Promise((r) => setTimeout(r, 50));
    expect(lb.info().find((x) => x.id === 'b')!.connections).toBe(2);
    const first = await Promise.race(ends);
    // Reset at the draining deadline (500 ms), not at once and not much later.
    expect(first).toBeGreaterThanOrEqual(opts.drainingMs - 50);
    expect(first).toBeLessThan(opts.drainingMs + 1_000);
    expect(lb.info().map((x) => x.id)).toEqual(['b']);
    extra.destroy();
    for (const s of conns) s.destroy();
  });

  test('idle timeout cuts a connection silent both ways, not one with traffic one way', async () => {
    lb.add('a', a.port);
    await lb.whenUp('a', 5_000);
    const quiet = await connect(lb.port);
    const busy = await connect(lb.port);
    quiet.on('error', () => undefined);
    busy.on('error', () => undefined);
    const ticker = setInterval(() => busy.write('x'), 150);
    const quietMs = await closed(quiet);
    expect(quietMs).toBeGreaterThanOrEqual(opts.idleTimeoutMs - 50);
    expect(quietMs).toBeLessThan(opts.idleTimeoutMs + 1_000);
    await new Promise((r) => setTimeout(r, opts.idleTimeoutMs));
    expect(busy.destroyed).toBe(false);
    clearInterval(ticker);
    busy.destroy();
  });

  test('no backend up: the connection is refused with a reset', async () => {
    const s = net.connect(lb.port, '127.0.0.1');
    const err = await new Promise<NodeJS.ErrnoException | undefined>((r) => {
      s.once('error', r);
      s.once('close', () => r(undefined));
    });
    expect(err?.code ?? 'closed').toMatch(/ECONNRESET|closed/);
    expect(lb.refused).toBe(1);
  });
});
