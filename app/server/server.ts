/**
 * SluiceServer: the public listener (WebSocket upgrades, /healthz, /readyz), the admin listener
 * (drain, status, metrics, presence; bound to a private address), and the drain that ties them.
 * Construct with a config (see config.ts) and optionally a shared Backplane and logger.
 */
import http from 'node:http';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import pino, { Logger } from 'pino';
import { IssuerKeys } from '../auth/keys';
import type { SenderChecks } from '../auth/policy';
import type { TokenFacts } from '../auth/revocation';
import type { PeerIdentity } from '../auth/token';
import { MemoryBackplane } from '../backplane/memory';
import type { Backplane } from '../backplane/types';
import { backplaneReadinessGraceMs } from '../contract/timeouts';
import { HEALTH_PATH, READINESS_PATH } from '../protocol/endpoints';
import { addAcceptors, EXTRA_ACCEPTORS } from './acceptors';
import { AdminHandler, AdminServer, createAdminHandler } from './admin';
import { FD_RESERVE, httpTimeouts, ServerConfig } from './config';
import { json, parseTarget } from './http';
import { ConnectionContext, PeerConnection, PeerSocket } from './connection';
import { DeadlineWheel } from './deadlines';
import { Drainer, DrainReport, DrainState } from './drain';
import { createMetrics, Metrics } from './metrics';
import { PeerIndex } from './peer-index';
import { closeRevoked } from './revoke';
import { SocketBudget } from './sockets';
import { LISTEN_BACKLOG, UpgradeHost, Upgrades } from './upgrade';

export interface SluiceServerOptions {
  config: ServerConfig;
  /** Shared backplane; a private MemoryBackplane when omitted. */
  backplane?: Backplane;
  logger?: Logger;
  /** Source of randomness for drain jitter and lifetime jitter (seed it in tests). */
  random?: () => number;
  /**
   * Descriptors accepting on the public listening socket beside its own (acceptors.ts), made by a
   * helper process at start; default EXTRA_ACCEPTORS. In-process tests pass 0 (no child process).
   */
  acceptors?: number;
}

export class SluiceServer implements AdminServer, UpgradeHost {
  readonly config: ServerConfig;
  readonly backplane: Backplane;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly drainer: Drainer;
  /** Set by main.ts when the GCE lifecycle watcher runs: its health for GET /status. */
  lifecycle?: { status(): object };
  /** The issuer's JWKS when configured (app/auth/keys.ts); else tokens are HS256 with the secret. */
  readonly keys?: IssuerKeys;
  private readonly ownsBackplane: boolean;
  private readonly connections = new Set<PeerConnection>();
  /** Open connections by peer address `<account>/<sub>` (SLUICE_MAX_CONNECTIONS_PER_PEER). */
  private readonly byPeer = new PeerIndex<PeerConnection>();
  /** What a revocation matches of each connection's token (jti, iat), beside its address. */
  private readonly tokenFacts = new WeakMap<PeerConnection, TokenFacts>();
  private readonly publicSockets: SocketBudget;
  /** More descriptors of the public listening socket (acceptors.ts), closed with it. */
  private acceptors: NetServer[] = [];
  private readonly extraAcceptors: number;
  private readonly adminSockets: SocketBudget;
  private readonly public: http.Server;
  private readonly admin: http.Server;
  private readonly adminHandler: AdminHandler;
  private drainedPromise?: Promise<DrainReport>;
  private shutdownPromise?: Promise<void>;
  /**
   * One timer for every connection's join, idle, ping, lifetime and close deadlines (deadlines.ts).
   * A connection is pinged only after a silence (contract: serverPingDueMs), from its own deadline.
   */
  private readonly wheel = new DeadlineWheel<PeerConnection>();
  /** What every connection shares (one object for all: nothing in it is per connection). */
  private readonly connectionContext: ConnectionContext;
  private readonly random: () => number;
  /** When the backplane was first healthy (null: never yet) and when it last went down (null: it is up). */
  private backplaneUpSince: number | null = null;
  private backplaneDownSince: number | null = null;

  constructor(opts: SluiceServerOptions) {
    this.config = opts.config;
    this.log = opts.logger ?? pino({ level: opts.config.logLevel, base: { server: opts.config.serverId } });
    this.random = opts.random ?? Math.random;
    this.extraAcceptors = opts.acceptors ?? EXTRA_ACCEPTORS;
    this.ownsBackplane = !opts.backplane;
    this.backplane = opts.backplane ?? new MemoryBackplane(opts.config.timeouts.resume, { budget: opts.config.limits });
    const keys = opts.config.jwks
      ? new IssuerKeys({
          ...opts.config.jwks,
          log: this.log,
          onRefresh: (ok) => {
            if (!ok) this.metrics.jwksRefreshFailures.inc();
          },
        })
      : undefined;
    this.keys = keys;
    this.metrics = createMetrics({ jwksAgeSec: keys ? () => keys.ageSec() : undefined });
    this.drainer = new Drainer(opts.config.timeouts.drain, this.random);
    this.connectionContext = {
      serverId: this.config.serverId,
      backplane: this.backplane,
      metrics: this.metrics,
      log: this.log,
      limits: this.config.limits,
      timeouts: this.config.timeouts,
      random: this.random,
      wheel: this.wheel,
      onClosed: (c) => this.connectionClosed(c),
      ready: () => this.ready().ok,
    };
    // A silent or slowloris connection is closed within httpTimeouts().boundMs (docs/security.md "Limits"); an
    // idle keep-alive connection of the LB's pool lives past its 600 s backend keepalive (keepAliveTimeoutMs).
    const t = httpTimeouts(opts.config.timeouts);
    const httpOptions: http.ServerOptions = {
      headersTimeout: t.headersTimeoutMs,
      requestTimeout: t.requestTimeoutMs,
      connectionsCheckingInterval: t.checkIntervalMs,
      keepAliveTimeout: t.keepAliveTimeoutMs,
    };
    this.public = http.createServer(httpOptions, (req, res) => this.onPublicRequest(req, res));
    this.public.on('upgrade', new Upgrades(this).onUpgrade);
    this.adminHandler = createAdminHandler(this);
    this.admin = http.createServer(httpOptions, this.adminHandler);
    // Descriptor budgets: WebSockets stay under the cap, HTTP gets a reserve beside them, so
    // /healthz answers however many idle sockets a flood opens.
    const shed = (listener: string) => (why: string) => this.metrics.socketsShed.inc({ listener, why });
    this.publicSockets = new SocketBudget(opts.config.limits.maxConnections + FD_RESERVE.publicHttp, shed('public')).attach(this.public, {
      upgrades: true,
    });
    this.adminSockets = new SocketBudget(FD_RESERVE.admin, shed('admin')).attach(this.admin, { upgrades: false });
    for (const [name, srv] of [
      ['public', this.public],
      ['admin', this.admin],
    ] as const) {
      // After listen, an 'error' is an accept failure (EMFILE: libuv has already closed the
      // connection it could not take). Count it, log it at most once a second; never let it end
      // the process (an 'error' without a listener would).
      let lastLogged = 0;
      let suppressed = 0;
      srv.on('error', (err: NodeJS.ErrnoException) => {
        if (!srv.listening) return;
        this.metrics.socketsShed.inc({ listener: name, why: 'accept_error' });
        const now = Date.now();
        if (now - lastLogged < 1_000) {
          suppressed++;
          return;
        }
        this.log.error({ err: err.message, code: err.code, listener: name, suppressed }, 'listener error');
        lastLogged = now;
        suppressed = 0;
      });
    }

    this.metrics.backplaneUp.set(this.backplane.health().ok ? 1 : 0);
    this.backplaneUpSince = this.backplane.health().ok ? Date.now() : null;
    let everUp = this.backplane.health().ok;
    this.backplane.onHealthChange((h) => {
      this.metrics.backplaneUp.set(h.ok ? 1 : 0);
      if (h.ok) {
        this.backplaneDownSince = null;
        this.backplaneUpSince ??= Date.now();
      } else this.backplaneDownSince ??= Date.now();
      // A healthy start is no recovery, and closing the backplane on the way out is no outage:
      // warn only about a backplane lost, or back after one was lost.
      if (h.ok && !everUp) this.log.info({ backplane: h }, 'backplane connected');
      else if (!h.ok && h.detail === 'closed') this.log.info({ backplane: h }, 'backplane closed');
      else this.log.warn({ backplane: h }, h.ok ? 'backplane recovered' : 'backplane unavailable');
      everUp ||= h.ok;
      if (h.fatal && this.drainer.state === 'serving') {
        // Another live process holds this server id: routing would be shared. Stop serving.
        this.log.error({ detail: h.detail }, 'backplane refused this server id, draining');
        void this.drain('server_id_conflict');
      }
    });
    // A revocation (made on any server: the backplane brings it) closes the matching connections.
    this.backplane.revocations.onRevocation((r) => {
      const closed = closeRevoked(this.connections, (c) => this.tokenFacts.get(c), r);
      if (closed > 0) this.log.info({ kind: r.kind, closed }, 'revoked connections closed');
    });
    this.drainer.on('state', (state: DrainState, reason: string) => {
      this.metrics.draining.set(state === 'draining' ? 1 : 0);
      this.log.info({ state, reason }, `drain ${state}`);
    });
    this.drainer.on('progress', (r: DrainReport) => {
      this.metrics.drainClosed.set(r.closeSent);
    });
  }

  get state(): DrainState {
    return this.drainer.state;
  }
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Ready for new connections: serving and able to route. */
  ready(): { ok: boolean; reason?: string } {
    if (this.drainer.state !== 'serving') return { ok: false, reason: this.drainer.state };
    // Never loaded the issuer's keys: no token could be verified here.
    if (this.keys && !this.keys.loaded) return { ok: false, reason: 'issuer_keys_unavailable' };
    const h = this.backplane.health();
    if (!h.ok) {
      // Never up yet (start-up), refused for good, or down for longer than the grace: unready.
      // Within the grace: ready, sends refused with backplane_unavailable (see the contract).
      const down = this.backplaneDownSince;
      const brief =
        !h.fatal && this.backplaneUpSince !== null && down !== null && Date.now() - down < backplaneReadinessGraceMs(this.config.timeouts);
      return { ok: brief, reason: 'backplane_unavailable' };
    }
    return { ok: true };
  }

  async start(): Promise<{ port: number; adminPort: number }> {
    if (this.keys && !(await this.keys.start())) this.log.error('issuer keys (JWKS) not loaded: unready until a refresh succeeds');
    await listen(this.public, this.config.port, this.config.host, LISTEN_BACKLOG);
    // More than one accept per loop turn (acceptors.ts: libuv accepts one per turn and listener).
    this.acceptors = await addAcceptors(this.public, this.extraAcceptors, LISTEN_BACKLOG);
    await listen(this.admin, this.config.adminPort, this.config.adminHost);
    const addr = this.ports();
    const { maxConnections, maxConnectionsPerPeer } = this.config.limits;
    this.log.info(
      {
        ...addr,
        host: this.config.host,
        adminHost: this.config.adminHost,
        backplane: this.backplane.kind,
        adminAuth: this.config.adminToken ? 'bearer' : 'none',
        maxConnections,
        maxConnectionsPerPeer,
        publicSocketBudget: this.publicSockets.max,
        acceptors: 1 + this.acceptors.length,
        adminSocketBudget: this.adminSockets.max,
      },
      'server listening',
    );
    return addr;
  }

  /** The bound ports (differ from the config when it asked for port 0). */
  ports(): { port: number; adminPort: number } {
    return { port: (this.public.address() as AddressInfo).port, adminPort: (this.admin.address() as AddressInfo).port };
  }

  /**
   * Drain (idempotent). Resolves when every connection is gone (closed politely, or reset at the
   * deadline) and the listeners are closed.
   */
  async drain(reason: string): Promise<DrainReport> {
    if (!this.drainedPromise) {
      // Assigned before drainer.start(): its 'state' listeners may call drain() re-entrantly.
      let done!: (r: DrainReport) => void;
      this.drainedPromise = new Promise<DrainReport>((resolve) => (done = resolve));
      this.metrics.drainTotal.set(this.connections.size);
      void this.drainer.start(this.connections, reason).then((report) => {
        this.metrics.drainReset.set(report.reset);
        this.log.info({ ...report, durationMs: report.finishedAt - report.startedAt }, 'drain finished');
        done(report);
      });
    }
    const report = await this.drainedPromise;
    await this.shutdown();
    return report;
  }

  /** Resolves when the drain has finished (before the listeners close); rejects if none started. */
  drained(): Promise<DrainReport> {
    return this.drainedPromise ?? Promise.reject(new Error('no drain started'));
  }

  /**
   * Stop: timers, remaining sockets (reset), listeners. The admin listener finishes requests in
   * flight (a shutdown script waiting on POST /drain?wait=1 gets its answer) before it closes.
   */
  shutdown(): Promise<void> {
    this.shutdownPromise ??= (async () => {
      this.keys?.stop();
      this.drainer.dispose();
      for (const c of this.connections) c.reset('shutdown');
      this.wheel.stop();
      this.adminHandler.closeStreams();
      const force = setTimeout(() => this.admin.closeAllConnections(), 2_000);
      for (const a of this.acceptors) a.close();
      await Promise.all([closeServer(this.public, true), closeServer(this.admin, false)]);
      clearTimeout(force);
      if (this.ownsBackplane) await this.backplane.close();
      this.log.info('server stopped');
    })();
    return this.shutdownPromise;
  }

  /** Total: any request gets an answer, an exception becomes a 500 (docs/security.md "Limits and failure behaviour"). */
  private onPublicRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    try {
      this.routePublic(req, res);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'request failed');
      if (!res.headersSent) json(res, 500, { error: 'internal_error' });
      else res.destroy();
    }
  }

  private routePublic(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = parseTarget(req.url);
    if (!url) return json(res, 400, { error: 'bad_request' });
    const path = url.pathname;
    if (req.method === 'GET' && path === HEALTH_PATH) return json(res, 200, { status: 'ok' });
    if (req.method === 'GET' && path === READINESS_PATH) {
      const r = this.ready();
      return json(res, r.ok ? 200 : 503, r.ok ? { status: 'ready', ...(r.reason ? { degraded: r.reason } : {}) } : { status: r.reason });
    }
    json(res, 404, { error: 'not_found' });
  }

  /** Open connections of one peer address (upgrade.ts: the per-peer cap). */
  openFor(address: string): number {
    let open = 0;
    for (const c of this.byPeer.of(address)) if (c.isOpen) open++;
    return open;
  }

  /** An upgrade accepted (upgrade.ts): the connection joins the server's books. */
  accept(ws: PeerSocket, socket: Socket, peer: PeerIdentity, facts: TokenFacts, checks: SenderChecks): void {
    const conn = new PeerConnection(ws, socket, peer, this.connectionContext, checks);
    this.connections.add(conn);
    this.tokenFacts.set(conn, facts);
    this.byPeer.add(facts.address, conn);
    this.metrics.connections.set(this.connections.size);
  }

  private connectionClosed(c: PeerConnection): void {
    this.connections.delete(c);
    this.byPeer.delete(c.address, c);
    this.metrics.connections.set(this.connections.size);
    this.drainer.connectionClosed(c);
  }
}

function listen(server: http.Server, port: number, host: string, backlog?: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, backlog }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: http.Server, force: boolean): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    if (force) server.closeAllConnections();
    else server.closeIdleConnections();
  });
}
