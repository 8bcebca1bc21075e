import {
  defaultTimeouts,
  describeRules,
  livenessSchedule,
  mergeTimeouts,
  resolveTimeouts,
  RULES,
  serverPingDueMs,
  Timeouts,
  TimeoutsContractError,
  TimeoutsOverrides,
  validate,
} from '../../app/contract/timeouts';

const broken = (o: TimeoutsOverrides) => validate(mergeTimeouts(defaultTimeouts, o)).map((v) => v.rule);

describe('timeouts contract', () => {
  it('accepts the defaults and states the numbers docs/timeouts.md promises', () => {
    expect(validate(defaultTimeouts)).toEqual([]);
    expect(defaultTimeouts.client.heartbeatIntervalMs).toBe(7_500);
    expect(defaultTimeouts.client.heartbeatTimeoutMs).toBe(7_500);
    expect(defaultTimeouts.client.deadPeerDetectionMs).toBe(15_000);
    expect(defaultTimeouts.server.pingIntervalMs).toBe(3_000);
    expect(defaultTimeouts.server.idleTimeoutMs).toBe(15_000);
    expect(defaultTimeouts.lb.idleTimeoutSec).toBe(30);
    expect(defaultTimeouts.drain.windowMs).toBe(10_000);
    expect(defaultTimeouts.drain.deadlineMs).toBe(20_000);
  });

  it('accepts the preemptible and proxy-LB variants of the defaults', () => {
    expect(broken({ gce: { preemptible: true } })).toEqual([]);
    expect(broken({ lb: { kind: 'external-proxy-network' } })).toEqual([]);
  });

  // One bad config per rule: each must be rejected by exactly the rule it breaks.
  const cases: Array<[string, TimeoutsOverrides]> = [
    ['positive-values', { drain: { marginMs: -1 } }],
    ['integer-values', { resume: { historyMaxMessages: 1000.5 } }],
    ['client-detects-dead-peer-in-bound', { client: { heartbeatTimeoutMs: 11_000 } }],
    ['client-timeout-covers-interval', { client: { heartbeatIntervalMs: 5_000, heartbeatTimeoutMs: 4_000, deadPeerDetectionMs: 15_000 } }],
    ['client-backoff-ordered', { client: { reconnectBaseMs: 20_000 } }],
    ['server-idle-covers-two-client-heartbeats', { server: { idleTimeoutMs: 14_000, pingIntervalMs: 2_000 } }],
    ['server-idle-covers-two-pings', { server: { pingIntervalMs: 9_000, idleTimeoutMs: 15_000 } }],
    ['lb-idle-exceeds-heartbeats', { lb: { idleTimeoutSec: 16 } }],
    ['lb-idle-exceeds-server-idle', { lb: { idleTimeoutSec: 15 } }],
    ['rotation-under-lb-max-lifetime', { server: { maxConnectionLifetimeMs: 3_600_000 } }],
    ['lb-lifetime-advised-maximum', { lb: { maxConnectionLifetimeSec: 100_000 } }],
    ['lifetime-jitter-fraction', { server: { lifetimeJitter: 0.9 } }],
    ['rotation-longer-than-drain', { server: { maxConnectionLifetimeMs: 20_000, lifetimeJitter: 0 } }],
    ['drain-window-before-deadline', { drain: { windowMs: 18_000 } }],
    ['drain-inside-lb-draining', { lb: { connectionDrainingSec: 25 } }],
    ['watcher-request-within-interval', { gce: { watcherRequestTimeoutMs: 5_000 } }],
    ['min-ready-covers-lb-health', { gce: { minReadySec: 10 } }],
    ['lb-draining-in-range', { lb: { connectionDrainingSec: 4_000 }, gce: {}, drain: {} }],
    ["lb-backend-keepalive-is-gcp's", { lb: { backendKeepAliveSec: 599 } }],
    [
      'drain-fits-shutdown-budget',
      {
        gce: { preemptible: true, dockerStopTimeoutSec: 30 },
        drain: { deadlineMs: 28_000, windowMs: 10_000 },
        lb: { connectionDrainingSec: 60 },
      },
    ],
    ['docker-stop-covers-drain', { gce: { dockerStopTimeoutSec: 20 } }],
    ['docker-stop-fits-shutdown-budget', { gce: { dockerStopTimeoutSec: 120 } }],
    ['lb-timeout-in-range', { lb: { kind: 'external-proxy-network', idleTimeoutSec: 30.5 } }],
    ['resume-grace-covers-reconnect', { resume: { awayGraceMs: 39_000 } }],
    ['resume-history-covers-grace', { resume: { historyMaxAgeMs: 30_000 } }],
    ['outbox-outlives-reconnect', { client: { outboxMaxAgeMs: 30_000 } }],
    ['dedupe-covers-outbox', { resume: { dedupeWindowMs: 60_000 } }],
    ['presence-renewed-before-expiry', { presence: { renewIntervalMs: 20_000 } }],
    ['presence-bound', { presence: { ttlMs: 90_000 } }],
    ['revocation-bound', { revocation: { resyncIntervalMs: 25_000 } }],
  ];

  it('has a rejecting case for every rule', () => {
    expect(cases.map(([r]) => r).sort()).toEqual(RULES.map((r) => r.name).sort());
  });

  it.each(cases)('rule %s rejects a config that breaks it', (rule, overrides) => {
    expect(broken(overrides)).toContain(rule);
  });

  it('names the rule and the numbers in the error', () => {
    expect(() => resolveTimeouts({ lb: { idleTimeoutSec: 4 } })).toThrow(TimeoutsContractError);
    try {
      resolveTimeouts({ lb: { idleTimeoutSec: 4 } });
    } catch (err) {
      const e = err as TimeoutsContractError;
      expect(e.violations.map((v) => v.rule)).toEqual(
        expect.arrayContaining(['lb-idle-exceeds-heartbeats', 'lb-idle-exceeds-server-idle']),
      );
      expect(e.message).toMatch(/\[lb-idle-exceeds-heartbeats\] lb\.idleTimeoutSec \(4\) must be >= /);
      expect(e.violations[0].values).toHaveProperty('idleTimeoutSec', 4);
    }
  });

  it('reports every broken rule at once, not just the first', () => {
    const rules = broken({ lb: { idleTimeoutSec: 4, connectionDrainingSec: 10 }, gce: { dockerStopTimeoutSec: 5 } });
    expect(rules).toEqual(expect.arrayContaining(['lb-idle-exceeds-heartbeats', 'drain-inside-lb-draining', 'docker-stop-covers-drain']));
  });

  it('rejects unknown keys and unknown LB kinds by name', () => {
    expect(() => resolveTimeouts({ client: { heartbeatMs: 1 } as never })).toThrow(/unknown timeouts key "client.heartbeatMs"/);
    expect(() => resolveTimeouts({ nope: {} } as never)).toThrow(/unknown timeouts group "nope"/);
    expect(broken({ lb: { kind: 'classic' as never } })).toEqual(['lb-kind']);
  });

  it('does not mutate the defaults when merging', () => {
    const before = JSON.stringify(defaultTimeouts);
    const t: Timeouts = mergeTimeouts(defaultTimeouts, { client: { heartbeatIntervalMs: 1 } });
    expect(t.client.heartbeatIntervalMs).toBe(1);
    expect(JSON.stringify(defaultTimeouts)).toBe(before);
  });

  it("derives both ends' liveness schedule in one place: the SDK never pinged, two pings before the idle limit (issue 27)", () => {
    const s = livenessSchedule(defaultTimeouts);
    expect(s).toEqual({
      heartbeatIntervalMs: 7_500,
      heartbeatTimeoutMs: 7_500,
      clientDetectionMs: 15_000,
      deadPeerDetectionMs: 15_000,
      firstPingMs: 8_250,
      secondPingMs: 11_250,
      pongRoomMs: 3_750,
      idleLimitMs: 15_000,
      longestHealthySilenceMs: 8_250,
    });
    // The same detection bounds as before: the client notices a silent server within 15 s, the server a silent peer at 15 s.
    expect(s.clientDetectionMs).toBeLessThanOrEqual(defaultTimeouts.client.deadPeerDetectionMs);
    // A heartbeat a tenth of an interval late still arrives before the first ping is due.
    expect(s.firstPingMs).toBeGreaterThanOrEqual(s.heartbeatIntervalMs * 1.1);
    expect(s.pongRoomMs).toBeGreaterThanOrEqual(defaultTimeouts.server.pingIntervalMs);
    expect([0, 1, 2].map((n) => serverPingDueMs(defaultTimeouts, n))).toEqual([8_250, 11_250, 14_250]);
    // Whole milliseconds for any interval (no 1.1 * x rounding error).
    expect(serverPingDueMs(mergeTimeouts(defaultTimeouts, { client: { heartbeatIntervalMs: 12_000 } }), 0)).toBe(13_200);
  });

  it('documents every rule', () => {
    for (const r of describeRules()) expect(r.why.length).toBeGreaterThan(20);
  });
});
