/**
 * What the gate tests feed the gates and expect back: one server as a gate source observes it, and
 * the verdicts of a clean step (every gate passes; no watcher on the evidence, so its gate is n/a).
 * Used by the gate, runner and Cloud Monitoring tests.
 */
import type { GateResult, ServerObservation } from '../../app/gated-steps/gates';

/** A serving server of region r1 with no connections, no drain and no watcher, `o` over that. */
export const observation = (id: string, o: Partial<ServerObservation> = {}): ServerObservation => ({
  id,
  region: 'r1',
  state: 'serving',
  connections: 0,
  drain: null,
  heartbeatTimeouts: 0,
  watcher: null,
  ...o,
});

/** Every gate's verdict after a clean step without watcher evidence. */
export const CLEAN_STEP_VERDICTS: Record<string, GateResult['verdict']> = {
  'drain-resets': 'pass',
  'drain-duration': 'pass',
  'lifecycle-watcher': 'n/a',
  'drains-observed': 'pass',
  'survivor-reconnects': 'pass',
  'heartbeat-timeouts': 'pass',
  'presence-flaps': 'pass',
};
