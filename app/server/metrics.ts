/** Prometheus metrics, one registry per server instance (tests run several servers in one process). */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export function createMetrics(opts: { defaultMetrics?: boolean; jwksAgeSec?: () => number } = {}) {
  const jwksAgeSec = opts.jwksAgeSec;
  const registry = new Registry();
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'sluice_process_' });
  const m = {
    registry,
    connections: new Gauge({ name: 'sluice_connections', help: 'Open WebSocket connections', registers: [registry] }),
    upgradesRejected: new Counter({
      name: 'sluice_upgrades_rejected_total',
      help: 'Upgrade requests refused',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    joins: new Counter({ name: 'sluice_joins_total', help: 'Channel joins', labelNames: ['result'] as const, registers: [registry] }),
    signalsRelayed: new Counter({
      name: 'sluice_signals_relayed_total',
      help: 'Signals accepted by the backplane',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
    signalsFailed: new Counter({
      name: 'sluice_signals_failed_total',
      help: 'Signals refused',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    replayed: new Counter({ name: 'sluice_signals_replayed_total', help: 'Signals replayed on resume', registers: [registry] }),
    closes: new Counter({
      name: 'sluice_connections_closed_total',
      help: 'Connections ended, by why',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    throttled: new Counter({
      name: 'sluice_throttled_total',
      help: 'Times a connection went over its incoming byte rate and reading was paused (SLUICE_BYTES_PER_SEC)',
      registers: [registry],
    }),
    pingsSent: new Counter({
      name: 'sluice_pings_sent_total',
      help: 'WebSocket pings sent to connections silent past the first ping due (contract: livenessSchedule)',
      registers: [registry],
    }),
    heartbeatsAnswered: new Counter({
      name: 'sluice_heartbeats_answered_total',
      help: 'Phoenix heartbeats answered (the SDK, phoenix.js)',
      registers: [registry],
    }),
    heartbeatTimeouts: new Counter({
      name: 'sluice_heartbeat_timeouts_total',
      help: 'Connections terminated after the idle limit (no frame, no pong)',
      registers: [registry],
    }),
    draining: new Gauge({ name: 'sluice_draining', help: '1 while the server drains', registers: [registry] }),
    drainClosed: new Gauge({
      name: 'sluice_drain_closed',
      help: 'Connections closed with 1012 by the current drain',
      registers: [registry],
    }),
    drainReset: new Gauge({ name: 'sluice_drain_reset', help: 'Connections reset (RST) at the drain deadline', registers: [registry] }),
    drainTotal: new Gauge({ name: 'sluice_drain_total', help: 'Connections open when the drain started', registers: [registry] }),
    backplaneUp: new Gauge({ name: 'sluice_backplane_up', help: '1 when the backplane is reachable', registers: [registry] }),
    lifecycleWatcherUp: new Gauge({
      name: 'sluice_lifecycle_watcher_up',
      help: "1 when the GCE lifecycle watcher's last poll worked (0 on a 403, timeout or before the first poll)",
      registers: [registry],
    }),
    lifecycleWatcherPollFailures: new Counter({
      name: 'sluice_lifecycle_watcher_poll_failures_total',
      help: 'Failed lifecycle watcher polls, by failure: permission (403 forbidden: role missing) vs quota (403 rateLimitExceeded), timeout, network, server, bad_answer, other',
      labelNames: ['failure'] as const,
      registers: [registry],
    }),
    socketsShed: new Counter({
      name: 'sluice_sockets_shed_total',
      help: 'TCP sockets destroyed to stay within the descriptor budget',
      labelNames: ['listener', 'why'] as const,
      registers: [registry],
    }),
    jwksRefreshFailures: new Counter({
      name: 'sluice_jwks_refresh_failures_total',
      help: 'JWKS refreshes that failed (the last good keys stay in use, up to SLUICE_JWKS_MAX_STALE_MS)',
      registers: [registry],
    }),
    jwksAge: new Gauge({
      name: 'sluice_jwks_age_seconds',
      help: 'Seconds since the issuer keys were last loaded (0 without a JWKS)',
      registers: [registry],
      collect() {
        if (jwksAgeSec) this.set(jwksAgeSec());
      },
    }),
    adminRefused: new Counter({
      name: 'sluice_admin_refused_total',
      help: 'Admin requests refused for a missing (401) or wrong (403) token',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
