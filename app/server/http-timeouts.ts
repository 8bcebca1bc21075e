/**
 * The deadlines the server's listeners put on a connection before it is a WebSocket: the join
 * deadline after the upgrade, and the HTTP request and keep-alive timeouts, all derived from the
 * timeouts contract.
 */
import { serverKeepAliveTimeoutMs, Timeouts } from '../contract/timeouts';

/**
 * The server's join deadline: a connection that has not joined this long after its upgrade is
 * closed with CLOSE.joinTimeout (4408). An honest client has given up by then: it allows the
 * upgrade connectTimeoutMs and the join reply joinTimeoutMs (docs/security.md "Limits and failure behaviour").
 */
export function joinDeadlineMs(t: Timeouts): number {
  return t.client.connectTimeoutMs + t.client.joinTimeoutMs;
}

/** Longest any HTTP request (headers, or headers and body) may take; Node checks every `checkIntervalMs`. */
const HTTP_TIMEOUT_CAP_MS = 8_000;

/**
 * `headersTimeout` / `requestTimeout` of both HTTP listeners: a client gives the whole upgrade
 * `client.connectTimeoutMs`, so the server waits no longer for a request (capped at 8 s), and checks
 * once a second: a silent or slowloris connection is closed within `boundMs` (6 s by default).
 *
 * `keepAliveTimeoutMs`: an idle keep-alive connection between two requests stays open past the LB's
 * 600 s backend keepalive (serverKeepAliveTimeoutMs, the contract). The two do not interfere in Node 20.
 * Node 16's docs warned that the headersTimeout check ran "since the connection was established" (so a
 * long-lived keep-alive connection tripped it); Node 18+ documents only "Limit the amount of time the
 * parser will wait to receive the complete HTTP headers", timed per request from its first byte (or
 * from accept on a new connection), while keepAliveTimeout is "the number of milliseconds of inactivity
 * a server needs to wait for additional incoming data, after it has finished writing the last response"
 * (nodejs.org http docs). test/server/keepalive.test.ts measures both on one server.
 */
export function httpTimeouts(t: Timeouts): {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  checkIntervalMs: number;
  boundMs: number;
  keepAliveTimeoutMs: number;
} {
  const headersTimeoutMs = Math.min(t.client.connectTimeoutMs, HTTP_TIMEOUT_CAP_MS);
  const checkIntervalMs = 1_000;
  return {
    headersTimeoutMs,
    requestTimeoutMs: headersTimeoutMs,
    checkIntervalMs,
    boundMs: headersTimeoutMs + checkIntervalMs,
    keepAliveTimeoutMs: serverKeepAliveTimeoutMs(t),
  };
}
