/**
 * `sluice:timeouts` resolved against the contract (app/contract/timeouts.ts): the overrides typed like
 * the defaults, merged over them with the LB kind from `sluice:lbKind`, then every contract rule.
 * Pure; infra/config.ts (the public face) calls it.
 */
import {
  defaultTimeouts,
  LbKind,
  mergeTimeouts,
  Timeouts,
  TimeoutsContractError,
  TimeoutsOverrides,
  validate,
} from '../app/contract/timeouts';
import { CONFIG_NAMESPACE, ConfigIssue } from './config-types';

/**
 * The stack's timeouts: `raw` (sluice:timeouts) over the defaults, `lbKind` as lb.kind. Each problem
 * goes to `issues` (the key or the contract rule); undefined when the overrides cannot be merged.
 */
export function resolveTimeouts(raw: Record<string, Record<string, unknown>>, lbKind: LbKind, issues: ConfigIssue[]): Timeouts | undefined {
  const prefix = `${CONFIG_NAMESPACE}:`;
  try {
    const overrides = coerceOverrides(raw, issues);
    if (overrides.lb?.kind !== undefined && overrides.lb.kind !== lbKind) {
      issues.push({
        key: `${prefix}timeouts.lb.kind`,
        message: `set the LB kind with ${prefix}lbKind (it is ${lbKind}), not in the timeouts`,
      });
    }
    const timeouts = mergeTimeouts(defaultTimeouts, { ...overrides, lb: { ...overrides.lb, kind: lbKind } });
    for (const v of validate(timeouts)) issues.push({ key: `${prefix}timeouts`, rule: v.rule, message: v.message });
    return timeouts;
  } catch (err) {
    if (!(err instanceof TimeoutsContractError)) throw err;
    for (const v of err.violations) issues.push({ key: `${prefix}timeouts`, rule: v.rule, message: v.message });
    return undefined;
  }
}

/**
 * Timeouts overrides typed like the contract's defaults. `pulumi config set --path` stores scalars as
 * strings unless told otherwise, so "5000" and "true" are accepted for numbers and booleans.
 */
function coerceOverrides(raw: Record<string, Record<string, unknown>>, issues: ConfigIssue[]): TimeoutsOverrides {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [group, fields] of Object.entries(raw)) {
    const defaults = (defaultTimeouts as unknown as Record<string, Record<string, unknown> | undefined>)[group];
    out[group] = {};
    for (const [k, v] of Object.entries(fields)) {
      const expected = defaults ? typeof defaults[k] : 'undefined';
      let value = v;
      if (expected === 'number' && typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) value = Number(v);
      if (expected === 'boolean' && (v === 'true' || v === 'false')) value = v === 'true';
      // Unknown keys are reported by mergeTimeouts (rule known-keys); wrong types here.
      if (expected !== 'undefined' && typeof value !== expected) {
        issues.push({ key: `${CONFIG_NAMESPACE}:timeouts.${group}.${k}`, message: `must be a ${expected}, got ${JSON.stringify(v)}` });
        continue;
      }
      out[group][k] = value;
    }
  }
  return out as TimeoutsOverrides;
}
