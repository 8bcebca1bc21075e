/**
 * The shape of the timeouts contract: the groups and fields of Timeouts (each with what it bounds),
 * the GCP load balancer kinds, and the Violation a broken rule reports. Types only, plus the error
 * that carries violations; everything else in ./ builds on this file and it imports nothing.
 */
/** Which GCP load balancer fronts the servers; it changes what the backend `timeoutSec` means. */
export type LbKind = 'external-application' | 'external-proxy-network';
export const LB_KINDS: readonly LbKind[] = ['external-application', 'external-proxy-network'];

export interface Timeouts {
  client: {
    /** Phoenix `heartbeat` every this often, whether or not other traffic flows. */
    heartbeatIntervalMs: number;
    /** No heartbeat reply for this long after sending one: terminate the socket and reconnect. */
    heartbeatTimeoutMs: number;
    /** Upper bound on noticing a silent (black-holed) server: interval + timeout must fit in it. */
    deadPeerDetectionMs: number;
    /** TCP + TLS + upgrade must finish within this. */
    connectTimeoutMs: number;
    /** `phx_join` must be answered within this. */
    joinTimeoutMs: number;
    /** Full-jitter exponential backoff: delay = random(0, min(cap, base * 2^attempt)). */
    reconnectBaseMs: number;
    reconnectCapMs: number;
    /** After a polite close 1012/1001 (server restart) reconnect within random(0, this). */
    restartJitterMs: number;
    /**
     * The SDK's outbox stops re-sending an unanswered signal this long after send() (it rejects with
     * `expired`, outcome unknown): the longest retry horizon, which the dedupe window must cover.
     */
    outboxMaxAgeMs: number;
  };
  server: {
    /**
     * The spacing of the server's pings to a silent connection: the first goes out at 1.1 client
     * heartbeat intervals of silence, each further one this much later (livenessSchedule).
     */
    pingIntervalMs: number;
    /** A connection with no frame at all (data, heartbeat or pong) for this long is terminated. */
    idleTimeoutMs: number;
    /** Each connection is rotated (close 1012) after this lifetime, shortened by up to `lifetimeJitter`. */
    maxConnectionLifetimeMs: number;
    /** Fraction (0..1) of the lifetime taken off at random so rotations of one server never line up. */
    lifetimeJitter: number;
  };
  lb: {
    kind: LbKind;
    /** Idle timeout of the LB (the backend `timeoutSec` of a proxy Network LB). */
    idleTimeoutSec: number;
    /**
     * Maximum WebSocket lifetime at the LB: the backend `timeoutSec` of a global external
     * Application LB, which is NOT an idle timeout there (see infra/load-balancer).
     */
    maxConnectionLifetimeSec: number;
    /** Backend service `connectionDraining.drainingTimeoutSec`: how long a leaving VM keeps its connections. */
    connectionDrainingSec: number;
    /**
     * How long the LB keeps an idle pooled HTTP connection to a backend open (seconds). Google's
     * Application LBs fix it at 600 s (GCP_BACKEND_KEEPALIVE_SEC); the server's own keep-alive outlasts
     * it (serverKeepAliveTimeoutMs). A contract value only so tests can scale it; rule
     * lb-backend-keepalive-is-gcp's keeps it at >= 600 s.
     */
    backendKeepAliveSec: number;
  };
  drain: {
    /** Closes (1012) are spread evenly, with jitter, over this window from drain start. */
    windowMs: number;
    /** At this time after drain start every connection still open is reset (TCP RST). */
    deadlineMs: number;
    /** Slack kept between layers (process exit, a late poll, clock skew). */
    marginMs: number;
  };
  gce: {
    /** The lifecycle watcher starts a `listManagedInstances` poll this often (fixed rate, not interval + request time). */
    watcherPollIntervalMs: number;
    /** One poll (token fetch + every listManagedInstances page) is aborted after this; below the poll interval. */
    watcherRequestTimeoutMs: number;
    /**
     * MIG `updatePolicy.minReadySec`: the updater removes an old VM only after its replacement has been
     * available (autohealing check HEALTHY) this long; it covers the LB's readiness probes (READINESS_PROBE).
     */
    minReadySec: number;
    /** Whether the VMs are preemptible/Spot: shutdown scripts then get 30 s, not 90 s. */
    preemptible: boolean;
    /** `docker stop -t`: SIGTERM, then SIGKILL after this many seconds. */
    dockerStopTimeoutSec: number;
  };
  resume: {
    /** Per-recipient replay history: at most this many signals ... */
    historyMaxMessages: number;
    /** ... and none older than this. */
    historyMaxAgeMs: number;
    /** `(sender, id)` pairs are remembered this long to drop re-sent signals. */
    dedupeWindowMs: number;
    /** A peer that disconnected stays addressable (signals are stored for it) this long. */
    awayGraceMs: number;
  };
  presence: {
    /** A server's presence records expire after this unless renewed (a SIGKILLed server's peers vanish). */
    ttlMs: number;
    /** Renew presence this often. */
    renewIntervalMs: number;
  };
  revocation: {
    /**
     * Every server re-reads the backplane's revocation list this often, whatever pub/sub delivered:
     * a server that missed the broadcast (reconnecting to Redis) applies a revocation within
     * revocationBoundMs (app/auth/revocation.ts).
     */
    resyncIntervalMs: number;
  };
}

/** One broken rule: its name, what it demands, and the numbers that broke it. */
export interface Violation {
  rule: string;
  message: string;
  values: Record<string, number | string | boolean>;
}

export class TimeoutsContractError extends Error {
  constructor(readonly violations: Violation[]) {
    super(`timeouts contract broken:\n${violations.map((v) => `  - [${v.rule}] ${v.message}`).join('\n')}`);
    this.name = 'TimeoutsContractError';
  }
}

export type TimeoutsOverrides = { [G in keyof Timeouts]?: Partial<Timeouts[G]> };
