/**
 * The default contract (what `npm start`, the server and every stack run with unless configured),
 * and the fixed GCP values the contract is checked against: they are not configurable.
 */
import type { Timeouts } from './types';

/** Shutdown-script budgets from cloud.google.com/compute/docs/shutdownscript (best effort). */
export const SHUTDOWN_BUDGET_SEC = { onDemand: 90, preemptible: 30 } as const;
/** Backend service `timeoutSec` range accepted by the Compute API. */
export const LB_TIMEOUT_RANGE_SEC = { min: 1, max: 2_147_483_647 } as const;
/** Google advises against a longer WebSocket lifetime on the global ALB: front ends restart for maintenance. */
export const ALB_MAX_ADVISED_LIFETIME_SEC = 86_400;
/**
 * The backend keepalive of Google's Application LBs: "The backend keepalive timeout is fixed at 10 minutes
 * (600 seconds) and cannot be changed", so "you must configure your backend software so that its HTTP
 * keepalive (TCP idle) timeout value is greater than 600 seconds" (cloud.google.com/load-balancing/docs/https,
 * "Backend HTTP keepalive timeout"; otherwise a pooled request can fail with 502
 * backend_connection_closed_before_data_sent_to_client). "The backend HTTP keepalive timeout does not apply to websockets."
 */
export const GCP_BACKEND_KEEPALIVE_SEC = 600;
/** Presence must let a dead server's peers go within this, whatever the config (issue: "no more than 60 s"). */
export const PRESENCE_MAX_BOUND_MS = 60_000;
/** A revoked peer is off every server within this, whatever the config (issue 23: "within seconds"). */
export const REVOCATION_MAX_BOUND_MS = 30_000;

export const defaultTimeouts: Timeouts = {
  client: {
    heartbeatIntervalMs: 7_500,
    heartbeatTimeoutMs: 7_500,
    deadPeerDetectionMs: 15_000,
    connectTimeoutMs: 5_000,
    joinTimeoutMs: 5_000,
    reconnectBaseMs: 250,
    reconnectCapMs: 10_000,
    restartJitterMs: 100,
    outboxMaxAgeMs: 120_000,
  },
  server: {
    pingIntervalMs: 3_000,
    idleTimeoutMs: 15_000,
    maxConnectionLifetimeMs: 30 * 60_000,
    lifetimeJitter: 0.1,
  },
  lb: {
    kind: 'external-application',
    idleTimeoutSec: 30,
    maxConnectionLifetimeSec: 3_600,
    connectionDrainingSec: 35,
    backendKeepAliveSec: GCP_BACKEND_KEEPALIVE_SEC,
  },
  drain: { windowMs: 10_000, deadlineMs: 20_000, marginMs: 5_000 },
  gce: { watcherPollIntervalMs: 5_000, watcherRequestTimeoutMs: 2_000, minReadySec: 30, preemptible: false, dockerStopTimeoutSec: 30 },
  resume: { historyMaxMessages: 1_000, historyMaxAgeMs: 5 * 60_000, dedupeWindowMs: 120_000, awayGraceMs: 60_000 },
  presence: { ttlMs: 30_000, renewIntervalMs: 10_000 },
  revocation: { resyncIntervalMs: 5_000 },
};

/**
 * The LB's readiness probe of /readyz (infra/components/load-balancer.ts renders it from here). A VM
 * that turns ready is seen healthy after at most `healthyThreshold` probes `intervalSec` apart, each
 * answered within `timeoutSec`.
 */
export const READINESS_PROBE = { intervalSec: 5, timeoutSec: 5, healthyThreshold: 2, unhealthyThreshold: 2 } as const;
