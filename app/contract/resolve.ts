/**
 * A contract from the defaults and overrides: merged (unknown keys refused), then validated.
 */
import { defaultTimeouts } from './defaults';
import { validate } from './rules';
import { Timeouts, TimeoutsContractError, TimeoutsOverrides } from './types';

/** Defaults merged with overrides, validated; throws TimeoutsContractError naming every broken rule. */
export function resolveTimeouts(overrides: TimeoutsOverrides = {}, base: Timeouts = defaultTimeouts): Timeouts {
  const merged = mergeTimeouts(base, overrides);
  const violations = validate(merged);
  if (violations.length > 0) throw new TimeoutsContractError(violations);
  return merged;
}

/** Defaults merged with overrides, NOT validated (for tests and tools that report violations themselves). */
export function mergeTimeouts(base: Timeouts, overrides: TimeoutsOverrides): Timeouts {
  const out = structuredClone(base) as unknown as Record<string, Record<string, unknown>>;
  for (const [group, fields] of Object.entries(overrides)) {
    if (!(group in out))
      throw new TimeoutsContractError([{ rule: 'known-keys', message: `unknown timeouts group "${group}"`, values: { group } }]);
    for (const [k, v] of Object.entries(fields ?? {})) {
      if (!(k in out[group]))
        throw new TimeoutsContractError([
          { rule: 'known-keys', message: `unknown timeouts key "${group}.${k}"`, values: { key: `${group}.${k}` } },
        ]);
      if (v !== undefined) out[group][k] = v;
    }
  }
  return out as unknown as Timeouts;
}
