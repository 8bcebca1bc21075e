/**
 * The public listener's accept path: an HTTP upgrade to /socket/websocket becomes a PeerConnection
 * or a refusal with a status the client acts on (400/404 malformed, 401 token, 403 revoked, 429
 * per-peer cap, 503 + Retry-After while draining, unready or at capacity). Checks run cheapest
 * first; the token is verified (the only await) before the state is read again, so a drain or a
 * revocation that began meanwhile still refuses. The server (server.ts) owns the connections; this
 * module reads them through UpgradeHost and hands each accepted socket back through `accept`.
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { type Server as WsServer, WebSocketServer } from 'ws';
import { IssuerKeys, JWKS_ALGORITHMS } from '../auth/keys';
import { DEFAULT_SIGNAL_POLICY, peerAddress, SenderChecks, senderChecks } from '../auth/policy';
import type { TokenFacts } from '../auth/revocation';
import { PeerIdentity, TokenCarrier, TokenError, upgradeToken, VerifiedToken, verifyTokenClaims } from '../auth/token';
import type { Backplane } from '../backplane/types';
import { SOCKET_PATH } from '../protocol/endpoints';
import { PHOENIX_SUBPROTOCOL, PROTOCOL_VSN } from '../protocol/phoenix';
import { ServerConfig, tokenInQueryAllowed } from './config';
import { PeerSocket } from './connection';
import type { DrainState } from './drain';
import { parseTarget } from './http';
import type { Metrics } from './metrics';

/**
 * The public listener's accept queue: 4,096, above Node's default. Node's docs (net, server.listen):
 * "Backlog is the maximum length of the queue of pending connections. The actual length will be
 * determined by the OS through sysctl settings such as tcp_max_syn_backlog and somaxconn on Linux.
 * The default value of this parameter is 511." listen(2): when the queue is full "the request may be
 * ignored so that a later reattempt at connection succeeds" (the client retransmits its SYN after 1,
 * 3, 7 s: the drain's tail), and "If the backlog argument is greater than the value in
 * /proc/sys/net/core/somaxconn, then it is silently capped to that value. Since Linux 5.4, the default
 * in this file is 4096" (kernel commit "SOMAXCONN 128 -> 4096"; GCE images and GKE nodes run newer
 * kernels, and somaxconn is per network namespace, so a pod gets the default too).
 *
 * Why deeper than Node's: libuv >= 1.45 accepts one connection per loop turn and descriptor
 * (acceptors.ts), so while a drain's reconnects arrive faster than the receiver's turns take them, they
 * wait in this queue; at 511 the overflow is dropped and waits on the SYN retransmit ladder instead.
 * Quiet A/B, 2026-12-07 14:01-14:12 UTC (docs/benchmarks.md, session 6; receiver alternating, 2
 * rounds each): 10k drain gap p99 9.2 / 8.3 s at 4,096 vs 15.9 / 19.3 s at 511, listen overflows
 * 9,060 / 8,761 vs 49,803 / 49,498; 5k drain 1.3 / 2.3 s vs 7.5 / 7.8 s, overflows 0 vs 6,771 / 8,156.
 * Session 4's trial read 4,096 as worse at load 10+ with one descriptor accepting one connection per
 * turn (a deeper queue only lengthened the wait); after session 5 added the acceptors, any backlog was
 * re-listened at 511 until session 6 (acceptors.ts relisten), so this is the first test of both.
 */
export const LISTEN_BACKLOG = 4096;

/** Seconds a refused upgrade is told to wait: the LB routes the retry to a serving VM. */
export const RETRY_AFTER_SEC = 1;

/** What the accept path reads of the server, and where an accepted socket goes. */
export interface UpgradeHost {
  readonly config: ServerConfig;
  readonly keys?: IssuerKeys;
  readonly backplane: Backplane;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly state: DrainState;
  readonly connectionCount: number;
  ready(): { ok: boolean };
  /** Open connections of one peer address (the per-peer cap). */
  openFor(address: string): number;
  accept(ws: PeerSocket, socket: Socket, peer: PeerIdentity, facts: TokenFacts, checks: SenderChecks): void;
}

export class Upgrades {
  /** Upgrades between their request and their WebSocket (token verification). */
  private upgrading = 0;
  private readonly wss: WsServer<typeof PeerSocket>;

  constructor(private readonly host: UpgradeHost) {
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: host.config.limits.maxFrameBytes,
      perMessageDeflate: false,
      clientTracking: false,
      autoPong: false, // PeerConnection answers pings: ws's auto-pong is a closure per socket (bench/heap.ts)
      WebSocket: PeerSocket, // ws's events go straight to the connection (connection.ts)
      // A client that sent its token in Sec-WebSocket-Protocol offered `phoenix` beside it: answer
      // with that, never with the token entry (ws's default would echo the first offer).
      handleProtocols: (offered) => (offered.has(PHOENIX_SUBPROTOCOL) ? PHOENIX_SUBPROTOCOL : false),
    });
  }

  /** The public listener's 'upgrade' handler: total (a throw becomes a 500 and a log line). */
  readonly onUpgrade = (req: http.IncomingMessage, socket: Socket, head: Buffer): void => {
    let pending: Promise<void>;
    try {
      pending = this.upgrade(req, socket, head);
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending.catch((err: Error) => {
      this.host.log.error({ err: err.message }, 'upgrade failed');
      refuse(socket, 500, 'Internal Server Error');
    });
  };

  private async upgrade(req: http.IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const { host } = this;
    socket.on('error', destroyOnError);
    const rejected = (status: number, reason: string, headers: Record<string, string> = {}) => {
      host.metrics.upgradesRejected.inc({ reason });
      refuse(socket, status, http.STATUS_CODES[status] ?? 'Error', headers);
    };
    const url = parseTarget(req.url);
    if (!url) return rejected(400, 'bad_request');
    if (url.pathname !== SOCKET_PATH) return rejected(404, 'not_found');
    const vsn = url.searchParams.get('vsn');
    if (vsn !== null && vsn !== PROTOCOL_VSN) return rejected(400, 'bad_vsn');
    const retry = { 'Retry-After': String(RETRY_AFTER_SEC) };
    if (host.state !== 'serving') return rejected(503, 'draining', retry);
    // Readiness gates serving: while /readyz says 503 (no backplane yet, or another process holds
    // this server id) no upgrade is answered 101, so no peer is ever told it joined here.
    if (!host.ready().ok) return rejected(503, 'not_ready', retry);
    // Process cap (SLUICE_MAX_CONNECTIONS): open plus upgrading, so a burst of upgrades cannot
    // overshoot it while tokens are verified. /readyz is not affected: the LB keeps routing here.
    const { config } = host;
    const { maxConnections, maxConnectionsPerPeer, tokenMaxTtlSec } = config.limits;
    if (host.connectionCount + this.upgrading >= maxConnections) return rejected(503, 'at_capacity', retry);
    let verified: VerifiedToken;
    let carrier: TokenCarrier | undefined;
    this.upgrading++;
    try {
      // Sec-WebSocket-Protocol first; the query only while SLUICE_TOKEN_IN_QUERY allows it (docs/security.md "Tokens out of URLs").
      const found = upgradeToken(req.headers['sec-websocket-protocol'], url.searchParams.get('token'), {
        queryAllowed: tokenInQueryAllowed(config),
      });
      carrier = found.carrier;
      verified = await verifyTokenClaims(host.keys?.resolver ?? config.tokenSecret, found.token, {
        algorithms: host.keys ? JWKS_ALGORITHMS : undefined,
        maxTtlSec: tokenMaxTtlSec,
        issuer: config.tokenIssuer,
        audience: config.tokenAudience,
        requireAccount: config.env === 'production',
      });
    } catch (err) {
      const reason = err instanceof TokenError ? err.reason : 'invalid';
      // Never the token, the header or the URL: only why, and where the token was.
      host.log.info({ reason, carrier: (err instanceof TokenError ? err.carrier : undefined) ?? carrier }, 'upgrade refused: token');
      return rejected(401, `token_${reason}`);
    } finally {
      this.upgrading--;
    }
    // The drain may have started while the token was being verified.
    if (host.state !== 'serving') return rejected(503, 'draining', retry);
    if (!host.ready().ok) return rejected(503, 'not_ready', retry);
    const peer = verified.id;
    const address = peerAddress(peer.account, peer.sub);
    // Revoked (app/auth/revocation.ts): 403 until the revocation ends; the SDK stops on it. Checked
    // after the last await, so a revocation applied meanwhile either refuses this or closes it.
    const facts: TokenFacts = { address, jti: verified.jti, iat: verified.iat };
    const revoked = host.backplane.revocations.match(facts);
    if (revoked) {
      host.log.info({ reason: 'revoked', by: revoked.kind, peer: peer.sub, account: peer.account }, 'upgrade refused: token revoked');
      return rejected(403, 'token_revoked');
    }
    if (host.connectionCount >= maxConnections) return rejected(503, 'at_capacity', retry);
    // Per-peer cap: the newest JOINED connection wins (older ones are evicted at join), so more
    // than a few open at once for one sub are unjoined attempts; refuse the new one until one ends.
    const open = host.openFor(address);
    if (open >= maxConnectionsPerPeer) {
      host.log.info({ peer: peer.sub, account: peer.account, open }, 'upgrade refused: connections per peer');
      return rejected(429, 'peer_connection_limit', retry);
    }
    if (socket.destroyed) return;
    const checks = senderChecks(peer, config.signalPolicy ?? DEFAULT_SIGNAL_POLICY);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      socket.off('error', destroyOnError); // ws handles the socket's errors from here (bench/heap.ts)
      host.accept(ws, socket, peer, facts, checks);
    });
  }
}

/** The upgrading socket's error listener, one function for all (a closure per socket outlived the upgrade). */
function destroyOnError(this: Socket): void {
  this.destroy();
}

export function refuse(socket: Socket, status: number, text: string, headers: Record<string, string> = {}): void {
  if (socket.destroyed) return;
  // After 'upgrade' the HTTP server no longer manages this socket (no timeouts, and it is
  // half-open capable): destroy it once the answer is written, as ws's abortHandshake does, or a
  // peer that never closes would hold it, and the listener's close, forever.
  socket.once('finish', () => socket.destroy());
  const lines = [
    `HTTP/1.1 ${status} ${text}`,
    'Connection: close',
    'Content-Length: 0',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.end(`${lines.join('\r\n')}\r\n\r\n`);
}
