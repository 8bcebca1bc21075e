/**
 * The units schema (UNITS in app/contract/units.ts, GKE_UNITS in app/contract/gke.ts): every field
 * declares its unit, and the rules that depend on units (positive-values, integer-values,
 * gke-integer-values) read the schema, not the field names.
 */
import { defaultGkeTimeouts, GKE_UNITS, validateGke } from '../../app/contract/gke';
import { defaultTimeouts, mergeTimeouts, Timeouts, validate } from '../../app/contract/timeouts';
import { undeclaredFields, unitFields, UNITS } from '../../app/contract/units';

describe('timeouts units schema', () => {
  it('declares a unit for every field of the defaults, and no unit for a field that does not exist', () => {
    expect(undeclaredFields(defaultTimeouts)).toEqual([]);
    const fields = Object.entries(defaultTimeouts).flatMap(([g, f]) => Object.keys(f).map((k) => `${g}.${k}`));
    expect(unitFields().map((f) => f.key)).toEqual(fields);
    expect(Object.keys(GKE_UNITS).sort()).toEqual(Object.keys(defaultGkeTimeouts).sort());
  });

  it('finds a field added without a declared unit', () => {
    const t = { ...defaultTimeouts, drain: { ...defaultTimeouts.drain, graceWindow: 3 } } as unknown as Timeouts;
    expect(undeclaredFields(t)).toEqual(['drain.graceWindow']);
  });

  it('agrees with the names: a field ending in Ms is in ms, one ending in Sec in s', () => {
    for (const f of [...unitFields(), ...Object.entries(GKE_UNITS).map(([field, unit]) => ({ key: `gke.${field}`, field, unit }))]) {
      if (f.field.endsWith('Ms')) expect([f.key, f.unit]).toEqual([f.key, 'ms']);
      if (f.field.endsWith('Sec')) expect([f.key, f.unit]).toEqual([f.key, 's']);
    }
  });

  it('checks positive-values on every ms, s and count field, and on nothing else', () => {
    const positive = unitFields().filter((f) => ['ms', 's', 'count'].includes(f.unit));
    expect(positive.length).toBeGreaterThan(20);
    for (const f of positive) {
      const v = validate(mergeTimeouts(defaultTimeouts, { [f.group]: { [f.field]: 0 } }));
      expect(v.find((x) => x.rule === 'positive-values')?.values).toEqual({ [f.key]: 0 });
    }
    // lifetimeJitter is a ratio: 0 is a sound value (no jitter), not a broken duration.
    expect(validate(mergeTimeouts(defaultTimeouts, { server: { lifetimeJitter: 0 } })).map((v) => v.rule)).toEqual([]);
  });

  it('checks integer-values on every s and count field, and not on ms fields', () => {
    for (const f of unitFields().filter((x) => x.unit === 's' || x.unit === 'count')) {
      const value = (defaultTimeouts as unknown as Record<string, Record<string, number>>)[f.group][f.field] + 0.5;
      const v = validate(mergeTimeouts(defaultTimeouts, { [f.group]: { [f.field]: value } }));
      expect(v.find((x) => x.rule === 'integer-values')?.values).toEqual({ [f.key]: value });
    }
    expect(validate(mergeTimeouts(defaultTimeouts, { drain: { marginMs: 5_000.5 } })).map((v) => v.rule)).not.toContain('integer-values');
  });

  it('checks gke-integer-values on every GKE seconds field', () => {
    for (const k of Object.keys(GKE_UNITS) as Array<keyof typeof GKE_UNITS>) {
      const v = validateGke(defaultTimeouts, { ...defaultGkeTimeouts, [k]: defaultGkeTimeouts[k] + 0.5 });
      expect(v.find((x) => x.rule === 'gke-integer-values')?.values).toEqual({ [`gke.${k}`]: defaultGkeTimeouts[k] + 0.5 });
    }
  });

  it('has a typed schema: every group of Timeouts is in UNITS', () => {
    expect(Object.keys(UNITS)).toEqual(Object.keys(defaultTimeouts));
  });
});
