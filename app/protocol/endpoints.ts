/**
 * The addresses that the server, the client tools, the local region and the Pulumi program must agree
 * on: one home each (infra imports this module; it is plain data, no I/O).
 */

/** The WebSocket endpoint (Phoenix's default socket path with its transport suffix). */
export const SOCKET_PATH = '/socket/websocket';
/** Liveness: 200 while the process lives, whatever the backplane or the drain (autohealing, liveness probes, uptime check). */
export const HEALTH_PATH = '/healthz';
/** Readiness: 503 from the moment a drain starts (or the backplane has been gone a presence TTL); the LB probes it. */
export const READINESS_PATH = '/readyz';

/** The public port (SLUICE_PORT) the server listens on by default and the VMs and pods expose. */
export const SERVER_PORT = 4000;
/** The admin port (SLUICE_ADMIN_PORT): loopback only, never in a firewall rule or a Service. */
export const ADMIN_PORT = 9090;
