/** Test helpers: real servers on 127.0.0.1 with ephemeral ports, tokens, and small awaitables. */
import crypto from 'node:crypto';
import pino from 'pino';
import WebSocket from 'ws';
import type { SignalPolicy } from '../../app/auth/policy';
import { DEV_TOKEN_SECRET, signToken, PeerKind } from '../../app/auth/token';
import type { Backplane } from '../../app/backplane/types';
import { resolveTimeouts, TimeoutsOverrides } from '../../app/contract/timeouts';
import { defaultLimits, Limits, ServerConfig } from '../../app/server/config';
import { SluiceServer } from '../../app/server/server';
import { pollUntil } from '../../app/local/region/redis';

export const SECRET = 'test-secret-that-is-at-least-32-characters-long';

export interface TestServer {
  server: SluiceServer;
  port: number;
  adminPort: number;
  /** ws://127.0.0.1:port/socket/websocket */
  socketUrl: string;
  adminUrl: string;
  /** Full URL with vsn and a token for `sub`. */
  urlFor(sub: string, kind?: PeerKind): Promise<string>;
}

export interface TestServerOptions {
  timeouts?: TimeoutsOverrides;
  limits?: Partial<Limits>;
  backplane?: Backplane;
  serverId?: string;
  random?: () => number;
  /** Descriptors accepting beside the listener's own (app/server/acceptors.ts): 0 unless asked (no child process). */
  acceptors?: number;
  /** Public port (default 0: any free one). */
  port?: number;
  /** SLUICE_ADMIN_TOKEN: when set, admin routes (but GET /metrics) need `Authorization: Bearer <it>`. */
  adminToken?: string;
  /**
   * The signalling policy. Default here: same-kind signals allowed, because most suites (not about
   * the policy) signal client to client; the policy suites (test/server/policy.test.ts,
   * test/backplane/policy.test.ts) pass the production default, DEFAULT_SIGNAL_POLICY.
   */
  signalPolicy?: SignalPolicy;
  env?: ServerConfig['env'];
  /** Verify tokens with this issuer JWKS (app/auth/keys.ts) instead of the HS256 secret. */
  jwks?: ServerConfig['jwks'];
}

export function testConfig(opts: TestServerOptions = {}): ServerConfig {
  return {
    env: opts.env ?? 'development',
    host: '127.0.0.1',
    port: opts.port ?? 0,
    adminHost: '127.0.0.1',
    adminPort: 0,
    tokenSecret: SECRET,
    signalPolicy: opts.signalPolicy ?? { sameKind: true },
    jwks: opts.jwks,
    logLevel: process.env.SLUICE_TEST_LOG ?? 'silent',
    serverId: opts.serverId ?? 'test-1',
    gceWatcher: false,
    adminToken: opts.adminToken,
    timeouts: resolveTimeouts(opts.timeouts ?? {}),
    limits: { ...defaultLimits, ...opts.limits },
  };
}

export async function startServer(opts: TestServerOptions = {}): Promise<TestServer> {
  const config = testConfig(opts);
  const server = new SluiceServer({
    config,
    backplane: opts.backplane,
    random: opts.random,
    acceptors: opts.acceptors ?? 0,
    logger: pino({ level: config.logLevel, base: { server: config.serverId } }),
  });
  const { port, adminPort } = await server.start();
  const socketUrl = `ws://127.0.0.1:${port}/socket/websocket`;
  return {
    server,
    port,
    adminPort,
    socketUrl,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    urlFor: async (sub, kind = 'client') => `${socketUrl}?vsn=2.0.0&token=${await token(sub, kind)}`,
  };
}

export function token(sub: string, kind: PeerKind = 'client', secret = SECRET, ttlSec?: number): Promise<string> {
  return signToken(secret, { sub, kind }, ttlSec);
}

export { DEV_TOKEN_SECRET };

/** A WebSocket upgrade request as raw HTTP/1.1 text (RFC 6455 4.1), for tests that talk over a bare TCP socket. */
export function upgradeRequest(target: string, host = '127.0.0.1'): string {
  const key = crypto.randomBytes(16).toString('base64');
  return `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
}

/** Open a raw ws client and wait for `open` (rejects on an HTTP refusal with its status). */
export function openRaw(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) =>
      reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, headers: res.headers })),
    );
    ws.once('error', reject);
  });
}

/** A `phx_reply` frame as a raw client sees it. */
export type Reply = [string | null, string | null, string, string, { status: string; response: Record<string, unknown> }];

/**
 * Resolves with the next phx_reply on `ws` carrying `ref` (listen before sending); rejects if the
 * socket closes first, so a test never waits forever on a connection the server has ended.
 */
export function replyTo(ws: WebSocket, ref: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const onMessage = (data: WebSocket.RawData) => {
      const msg = JSON.parse(data.toString()) as Reply;
      if (msg[3] === 'phx_reply' && msg[1] === ref) {
        done();
        resolve(msg);
      }
    };
    const onClose = (code: number, reason: Buffer) => {
      done();
      reject(new Error(`socket closed (${code} ${reason.toString()}) before the reply to ${String(ref)}`));
    };
    const done = () => {
      ws.off('message', onMessage);
      ws.off('close', onClose);
    };
    ws.on('message', onMessage);
    ws.on('close', onClose);
  });
}

/** Send a Phoenix frame on a raw socket and resolve with the phx_reply carrying the same ref. */
export function request(ws: WebSocket, frame: unknown[]): Promise<Reply> {
  const reply = replyTo(ws, frame[1]);
  ws.send(JSON.stringify(frame));
  return reply;
}

/** Resolves with [code, reason] when `ws` closes. */
export function closed(ws: WebSocket): Promise<[number, string]> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve([code, reason.toString()])));
}

/** A seeded PRNG (the drill's own), so jittered behaviour is reproducible in tests. */
export { mulberry32 as seeded } from '../../app/peer/prng';

/**
 * Wait for `predicate` to hold, checking every 10 ms; fails after `timeoutMs`. A predicate that throws
 * counts as "not yet" (connection refused while a process starts); the last error is in the failure.
 */
export function until(predicate: () => boolean | Promise<boolean>, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  return pollUntil(predicate, timeoutMs, what, 10);
}
