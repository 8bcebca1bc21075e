/**
 * The admin listener: bound to SLUICE_ADMIN_HOST (127.0.0.1 by default), never the public port,
 * and on GCP never exposed by the firewall. Only local agents (the shutdown script, the lifecycle
 * watcher, an operator over IAP/ssh) reach it.
 *
 *   POST /drain[?wait=1][&stay=1]   start the drain (idempotent); with wait=1 answer when it has finished;
 *                          with stay=1 the process stays up drained until SIGTERM (the GKE preStop hook)
 *                          instead of exiting after the drain
 *   GET  /status           state, connections, drain progress, backplane health
 *   GET  /metrics          Prometheus text
 *   GET  /presence[?account=A]         online and away peers (from the backplane), each with its
 *                                      account; with `account`, that account's only
 *   GET  /presence/stream[?account=A]  presence changes as server-sent events (same filter)
 *   POST /revoke, POST /disconnect, GET /revocations   revocation (revoke.ts)
 *
 * With SLUICE_ADMIN_TOKEN set (required in production and off loopback) every route but
 * GET /metrics needs `Authorization: Bearer <token>`: 401 without it, 403 with a wrong one.
 * The handler is total: any URL, method or header set gets an answer (400 for a target that is
 * not a URL), never an exception out of it.
 */
import crypto from 'node:crypto';
import type http from 'node:http';
import type { Logger } from 'pino';
import { accountOf, subOf } from '../auth/policy';
import { ACCOUNT_PATTERN } from '../auth/token';
import { Backplane, BackplaneError, PresenceEntry, PresenceEvent } from '../backplane/types';
import { RegionalBackplane } from '../backplane/regions';
import type { ServerConfig } from './config';
import type { Drainer, DrainReport, DrainState } from './drain';
import { json, parseTarget } from './http';
import type { Metrics } from './metrics';
import { RevocationAdmin, REVOCATION_ROUTES, serveRevocation } from './revoke';

/**
 * What the admin listener reads and does, and nothing more: the server (server.ts) implements it,
 * so this module never loads the server and a test can hand it any object of this shape.
 */
export interface AdminServer extends RevocationAdmin {
  readonly config: Pick<ServerConfig, 'serverId' | 'adminToken' | 'timeouts' | 'limits'>;
  readonly log: Logger;
  readonly metrics: Pick<Metrics, 'adminRefused' | 'registry'>;
  readonly backplane: Pick<Backplane, 'kind' | 'health' | 'presence' | 'subscribePresence' | 'revoke' | 'revocations'>;
  readonly drainer: Pick<Drainer, 'progress'>;
  readonly lifecycle?: { status(): object };
  readonly state: DrainState;
  readonly connectionCount: number;
  ready(): { ok: boolean; reason?: string };
  drain(reason: string): Promise<DrainReport>;
  drained(): Promise<DrainReport>;
}

const ROUTES = ['/drain', '/status', '/metrics', '/presence', '/presence/stream', ...REVOCATION_ROUTES];

/**
 * Bearer check for SLUICE_ADMIN_TOKEN. Both sides are hashed first, so timingSafeEqual compares
 * equal-length digests and neither the token's bytes nor its length leak through timing.
 */
export function adminAuthorizer(expected: string): (header: string | undefined) => 'ok' | 'missing' | 'wrong' {
  const want = crypto.createHash('sha256').update(expected).digest();
  return (header) => {
    const m = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header ?? '');
    if (!m) return 'missing';
    const got = crypto.createHash('sha256').update(m[1]).digest();
    return crypto.timingSafeEqual(got, want) ? 'ok' : 'wrong';
  };
}

export interface AdminHandler {
  (req: http.IncomingMessage, res: http.ServerResponse): void;
  /** End open event streams so the listener can close. */
  closeStreams(): void;
}

export function createAdminHandler(server: AdminServer): AdminHandler {
  const streams = new Set<http.ServerResponse>();

  const authorize = server.config.adminToken ? adminAuthorizer(server.config.adminToken) : undefined;

  const handler = ((req, res) => {
    try {
      serve(req, res);
    } catch (err) {
      server.log.error({ err: (err as Error).message }, 'admin request failed');
      if (!res.headersSent) json(res, 500, { error: 'internal_error' });
      else res.destroy();
    }
  }) as AdminHandler;

  const serve = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const url = parseTarget(req.url);
    if (!url) return json(res, 400, { error: 'bad_request' });
    const route = `${req.method} ${url.pathname}`;
    if (authorize && route !== 'GET /metrics') {
      const verdict = authorize(req.headers.authorization);
      if (verdict !== 'ok') {
        server.metrics.adminRefused.inc({ reason: verdict === 'missing' ? 'missing_token' : 'wrong_token' });
        // Logged without the token (or any header): route and peer address only.
        server.log.warn(
          { route: `${req.method} ${url.pathname.slice(0, 64)}`, remote: req.socket.remoteAddress, reason: verdict },
          'admin request refused',
        );
        if (verdict === 'missing') return json(res, 401, { error: 'unauthorized' }, { 'WWW-Authenticate': 'Bearer realm="sluice-admin"' });
        return json(res, 403, { error: 'forbidden' });
      }
    }
    const fail = (err: Error) => {
      // The backplane being down is a state to report, not a server fault.
      const unavailable = err instanceof BackplaneError && err.reason === 'backplane_unavailable';
      server.log[unavailable ? 'warn' : 'error']({ err: err.message, route }, 'admin request failed');
      if (!res.headersSent) json(res, unavailable ? 503 : 500, { error: unavailable ? 'backplane_unavailable' : 'internal_error' });
      else res.end();
    };
    // Listings per account (a tenant's portal asks for its own): peers are shown by sub + account.
    const account = url.searchParams.get('account');
    if (account !== null && !ACCOUNT_PATTERN.test(account))
      return json(res, 400, { error: 'bad_request', field: 'account', expected: '1-64 characters of [A-Za-z0-9_.-]' });
    switch (route) {
      case 'POST /drain': {
        const stay = url.searchParams.get('stay') === '1';
        server.log.info({ remote: req.socket.remoteAddress, stay }, 'drain requested over admin');
        void server.drain(stay ? 'admin_stay' : 'admin');
        if (url.searchParams.get('wait') === '1') {
          server
            .drained()
            .then((report) => json(res, 200, { state: server.state, drain: report }))
            .catch(fail);
        } else {
          json(res, 202, status(server));
        }
        return;
      }
      case 'GET /status':
        return json(res, 200, status(server));
      case 'GET /metrics':
        server.metrics.registry
          .metrics()
          .then((text) => {
            res.writeHead(200, { 'Content-Type': server.metrics.registry.contentType });
            res.end(text);
          })
          .catch(fail);
        return;
      case 'GET /presence':
        server.backplane
          .presence()
          .then((peers) => json(res, 200, { peers: listing(peers, account) }))
          .catch(fail);
        return;
      case 'GET /presence/stream': {
        res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
        res.write(': presence changes follow\n\n');
        const unsubscribe = server.backplane.subscribePresence((ev: PresenceEvent) => {
          const shown = presenceEvent(ev, account);
          if (shown) res.write(`event: ${ev.type}\ndata: ${JSON.stringify(shown)}\n\n`);
        });
        streams.add(res);
        res.on('close', () => {
          unsubscribe();
          streams.delete(res);
        });
        return;
      }
      default:
        if (serveRevocation(server, route, url, res, fail)) return;
        if (ROUTES.includes(url.pathname)) return json(res, 405, { error: 'method_not_allowed' });
        return json(res, 404, { error: 'not_found' });
    }
  };
  handler.closeStreams = () => {
    for (const s of streams) s.end();
  };
  return handler;
}

/** A backplane entry (peerId = `<account>/<sub>`) as listed: sub as peerId, account beside it. */
function shownEntry(e: PresenceEntry): PresenceEntry & { account: string } {
  return { ...e, peerId: subOf(e.peerId), account: accountOf(e.peerId) };
}

export function listing(peers: PresenceEntry[], account: string | null): Array<PresenceEntry & { account: string }> {
  return peers.filter((e) => account === null || accountOf(e.peerId) === account).map(shownEntry);
}

export function presenceEvent(ev: PresenceEvent, account: string | null): object | undefined {
  const id = ev.type === 'offline' ? ev.peerId : ev.entry.peerId;
  if (account !== null && accountOf(id) !== account) return undefined;
  return ev.type === 'offline'
    ? { type: ev.type, peerId: subOf(id), account: accountOf(id) }
    : { type: ev.type, entry: shownEntry(ev.entry) };
}

function status(server: AdminServer) {
  return {
    serverId: server.config.serverId,
    state: server.state,
    ready: server.ready(),
    connections: server.connectionCount,
    drain: server.drainer.progress() ?? null,
    backplane: { kind: server.backplane.kind, ...server.backplane.health() },
    lifecycleWatcher: server.lifecycle?.status() ?? null,
    // Several regions only (docs/regions.md): this server's region and what it published into each home.
    ...(server.backplane instanceof RegionalBackplane ? { regions: server.backplane.routing() } : {}),
  };
}
