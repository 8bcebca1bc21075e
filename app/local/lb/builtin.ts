/**
 * The built-in TCP load balancer of the local region (loopback only). It behaves like the GCP
 * proxy load balancer where a drain depends on it, and like the HAProxy configuration of
 * `haproxy.ts`, so a drill gives the same verdict on either:
 *
 *   - health checks: `GET /readyz` on each backend every `checkIntervalMs`; `fall` failures in a
 *     row mark it down, `rise` successes up. A down backend gets no new connections; its existing
 *     ones are left alone (HAProxy `on-marked-down shutdown-sessions` off);
 *   - connection draining: `remove(id)` stops new connections to the backend at once and resets
 *     the ones still open after `drainingMs` (GCP `connectionDraining.drainingTimeoutSec`);
 *   - idle timeout: a connection with no byte in either direction for `idleTimeoutMs` is cut
 *     (HAProxy `timeout tunnel`: "inactive in both directions");
 *   - least connections among the healthy backends.
 *
 * One timer per bound: the checker per backend, the draining deadline per removed backend, and
 * one sweep for idle connections (ticking at a tenth of the idle timeout).
 */
import { EventEmitter } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { READINESS_PATH } from '../../protocol/endpoints';
import { rst } from '../network/blackhole-proxy';
import type { BackendInfo, LoadBalancer } from './load-balancer';

export interface BalancerOptions {
  /** Listen port on 127.0.0.1 (0: ephemeral). */
  port: number;
  idleTimeoutMs: number;
  drainingMs: number;
  checkIntervalMs: number;
  /** A check not answered within this counts as failed. */
  checkTimeoutMs: number;
  rise: number;
  fall: number;
}

interface Backend {
  id: string;
  port: number;
  healthy: boolean;
  removed: boolean;
  okRun: number;
  failRun: number;
  conns: Set<Pair>;
  idleCuts: number;
  drainingCuts: number;
  checker?: NodeJS.Timeout;
  drainTimer?: NodeJS.Timeout;
  checking?: http.ClientRequest;
}

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
  lastActive: number;
}

export class Balancer extends EventEmitter implements LoadBalancer {
  readonly kind = 'builtin';
  private readonly server: net.Server;
  private readonly backends = new Map<string, Backend>();
  private sweeper?: NodeJS.Timeout;
  private closed = false;
  /** The port it listened on, kept after close (a status page may still render it while stopping). */
  private listenPort = 0;
  /** Connections refused because no backend was up. */
  refused = 0;

  constructor(private readonly opts: BalancerOptions) {
    super();
    this.server = net.createServer((client) => this.onConnection(client));
  }

  async start(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, '127.0.0.1', () => resolve());
    });
    this.listenPort = (this.server.address() as net.AddressInfo).port;
    this.sweeper = setInterval(() => this.sweep(), Math.max(50, this.opts.idleTimeoutMs / 10));
    return this.port;
  }

  get port(): number {
    return this.listenPort;
  }

  /** Add a backend; it gets traffic once it has passed `rise` checks in a row. */
  add(id: string, port: number): void {
    if (this.backends.has(id)) throw new Error(`backend ${id} exists`);
    const b: Backend = { id, port, healthy: false, removed: false, okRun: 0, failRun: 0, conns: new Set(), idleCuts: 0, drainingCuts: 0 };
    this.backends.set(id, b);
    this.scheduleCheck(b, 0);
  }

  /** Connection draining: no new connections now, the remaining ones reset after drainingMs. */
  remove(id: string): void {
    const b = this.backends.get(id);
    if (!b || b.removed) return;
    b.removed = true;
    b.healthy = false;
    clearTimeout(b.checker);
    b.checking?.destroy();
    this.emit('change', this.info());
    const finish = () => {
      for (const p of b.conns) {
        b.drainingCuts++;
        rst(p.client);
        rst(p.upstream);
      }
      this.backends.delete(id);
      this.emit('change', this.info());
    };
    if (b.conns.size === 0) return finish();
    b.drainTimer = setTimeout(finish, this.opts.drainingMs);
  }

  info(): BackendInfo[] {
    return [...this.backends.values()].map((b) => ({
      id: b.id,
      port: b.port,
      state: b.removed ? 'draining' : b.healthy ? 'up' : 'down',
      connections: b.conns.size,
      idleCuts: b.idleCuts,
      drainingCuts: b.drainingCuts,
    }));
  }

  /** Resolves once `id` is up (health checks passed); rejects after `timeoutMs`. */
  whenUp(id: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.backends.get(id)?.healthy) {
          clearTimeout(timer);
          this.off('change', check);
          resolve();
        }
      };
      const timer = setTimeout(() => {
        this.off('change', check);
        reject(new Error(`backend ${id} not up within ${timeoutMs} ms`));
      }, timeoutMs);
      this.on('change', check);
      check();
    });
  }

  /** Nothing to kill: the balancer lives in this process and ends with it. */
  killNow(): void {}

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    for (const b of this.backends.values()) {
      clearTimeout(b.checker);
      clearTimeout(b.drainTimer);
      b.checking?.destroy();
      for (const p of b.conns) {
        p.client.destroy();
        p.upstream.destroy();
      }
    }
    this.backends.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private pick(): Backend | undefined {
    let best: Backend | undefined;
    for (const b of this.backends.values()) {
      if (b.healthy && !b.removed && (!best || b.conns.size < best.conns.size)) best = b;
    }
    return best;
  }

  private onConnection(client: net.Socket): void {
    client.on('error', () => undefined);
    const b = this.pick();
    if (!b || this.closed) {
      this.refused++;
      rst(client);
      return;
    }
    const upstream = net.connect(b.port, '127.0.0.1');
    upstream.on('error', () => undefined);
    const pair: Pair = { client, upstream, lastActive: Date.now() };
    b.conns.add(pair);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const touch = () => {
      pair.lastActive = Date.now();
    };
    client.on('data', touch);
    upstream.on('data', touch);
    client.pipe(upstream);
    upstream.pipe(client);
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      b.conns.delete(pair);
      client.destroy();
      upstream.destroy();
      this.emit('change', this.info());
    };
    client.on('close', end);
    upstream.on('close', end);
    this.emit('change', this.info());
  }

  private sweep(): void {
    const now = Date.now();
    for (const b of this.backends.values()) {
      for (const p of b.conns) {
        if (now - p.lastActive >= this.opts.idleTimeoutMs) {
          b.idleCuts++;
          rst(p.client);
          rst(p.upstream);
        }
      }
    }
  }

  private scheduleCheck(b: Backend, delayMs: number): void {
    b.checker = setTimeout(() => this.check(b), delayMs);
  }

  private check(b: Backend): void {
    if (b.removed || this.closed) return;
    let answered = false;
    const result = (ok: boolean) => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      b.checking = undefined;
      if (ok) {
        b.okRun++;
        b.failRun = 0;
      } else {
        b.failRun++;
        b.okRun = 0;
      }
      const was = b.healthy;
      if (!b.healthy && b.okRun >= this.opts.rise) b.healthy = true;
      if (b.healthy && b.failRun >= this.opts.fall) b.healthy = false;
      if (was !== b.healthy) this.emit('change', this.info());
      if (!b.removed && !this.closed) this.scheduleCheck(b, this.opts.checkIntervalMs);
    };
    const req = http.get({ host: '127.0.0.1', port: b.port, path: READINESS_PATH, agent: false }, (res) => {
      res.resume();
      result(res.statusCode === 200);
    });
    b.checking = req;
    req.on('error', () => result(false));
    const timer = setTimeout(() => {
      req.destroy();
      result(false);
    }, this.opts.checkTimeoutMs);
  }
}
