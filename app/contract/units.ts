/**
 * The units schema of the timeouts contract: what every value is measured in, declared (never read
 * off a field name). `validate()` (positive-values, integer-values), the GKE rules and the docs/timeouts.md
 * units table read it.
 */
import type { Timeouts, Violation } from './types';

/** What a contract value is measured in. Durations are `ms` or `s`; `count` is a whole number of things. */
export type Unit = 'ms' | 's' | 'count' | 'ratio' | 'kind' | 'flag';
/** A unit for every field of every group: a field added to Timeouts without one does not compile. */
export type TimeoutsUnits = { [G in keyof Timeouts]: { [K in keyof Timeouts[G]]-?: Unit } };

/** The units schema: `validate()` (positive-values, integer-values) and the table of docs/timeouts.md read it. */
export const UNITS: TimeoutsUnits = {
  client: {
    heartbeatIntervalMs: 'ms',
    heartbeatTimeoutMs: 'ms',
    deadPeerDetectionMs: 'ms',
    connectTimeoutMs: 'ms',
    joinTimeoutMs: 'ms',
    reconnectBaseMs: 'ms',
    reconnectCapMs: 'ms',
    restartJitterMs: 'ms',
    outboxMaxAgeMs: 'ms',
  },
  server: { pingIntervalMs: 'ms', idleTimeoutMs: 'ms', maxConnectionLifetimeMs: 'ms', lifetimeJitter: 'ratio' },
  lb: { kind: 'kind', idleTimeoutSec: 's', maxConnectionLifetimeSec: 's', connectionDrainingSec: 's', backendKeepAliveSec: 's' },
  drain: { windowMs: 'ms', deadlineMs: 'ms', marginMs: 'ms' },
  gce: { watcherPollIntervalMs: 'ms', watcherRequestTimeoutMs: 'ms', minReadySec: 's', preemptible: 'flag', dockerStopTimeoutSec: 's' },
  resume: { historyMaxMessages: 'count', historyMaxAgeMs: 'ms', dedupeWindowMs: 'ms', awayGraceMs: 'ms' },
  presence: { ttlMs: 'ms', renewIntervalMs: 'ms' },
  revocation: { resyncIntervalMs: 'ms' },
};

/** Units that must be positive finite numbers (durations and counts). */
export const POSITIVE_UNITS: readonly Unit[] = ['ms', 's', 'count'];
/** Units that must be whole numbers: counts, and seconds (Redis MAXLEN, docker stop --time, the Compute API and Kubernetes refuse fractions). */
export const INTEGER_UNITS: readonly Unit[] = ['s', 'count'];

/** Every `group.field` of the schema with its unit, in declaration order. */
export function unitFields(units: TimeoutsUnits = UNITS): Array<{ key: string; group: string; field: string; unit: Unit }> {
  return Object.entries(units).flatMap(([group, fields]) =>
    Object.entries(fields as Record<string, Unit>).map(([field, unit]) => ({ key: `${group}.${field}`, group, field, unit })),
  );
}

/** The `group.field` keys of `t` with no declared unit (a test keeps this empty for the defaults). */
export function undeclaredFields(t: Timeouts, units: TimeoutsUnits = UNITS): string[] {
  const declared = new Set(unitFields(units).map((f) => f.key));
  return Object.entries(t)
    .flatMap(([group, fields]) => Object.keys(fields as object).map((k) => `${group}.${k}`))
    .filter((k) => !declared.has(k));
}

/** The values of `t` whose unit is one of `units`, as `[group.field, value]`. */
export function valuesWithUnit(t: Timeouts, units: readonly Unit[]): Array<[string, number]> {
  const groups = t as unknown as Record<string, Record<string, number>>;
  return unitFields()
    .filter((f) => units.includes(f.unit))
    .map((f) => [f.key, groups[f.group]?.[f.field]]);
}

/** Of `fields`, the ones `ok` refuses, as a Violation's message list and values. */
export function failingFields(
  fields: Array<[string, number]>,
  ok: (v: number) => boolean,
): { keys: string; values: Violation['values'] } | undefined {
  const bad = fields.filter(([, v]) => !ok(v));
  return bad.length === 0 ? undefined : { keys: bad.map(([k]) => k).join(', '), values: Object.fromEntries(bad) };
}
