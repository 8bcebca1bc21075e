/**
 * The gate thresholds of a rollout: defaultThresholds(timeouts) (app/gated-steps/gates.ts), then the
 * stack's `sluice:rollout.gates`, then `--gate key=value` flags; each value checked by
 * resolveThresholds (the key, what was expected). The plan prints each with where it came from.
 */
import { GateThresholds, resolveThresholds, THRESHOLD_KEYS } from '../../app/gated-steps/gates';
import { CONFIG_NAMESPACE, StackConfig } from '../config';
import { RolloutError } from './steps';

export type ThresholdOrigin = 'default' | 'stack' | 'flag';

export interface ResolvedThresholds {
  thresholds: GateThresholds;
  origin: Record<keyof GateThresholds, ThresholdOrigin>;
}

/** `flags`: `--gate` values, `key=value` each. Throws a RolloutError naming every bad one. */
export function thresholdsFor(cfg: Pick<StackConfig, 'timeouts' | 'rollout'>, flags: string[] = []): ResolvedThresholds {
  const stack = cfg.rollout.gates ?? {};
  const fromFlags: Record<string, string> = {};
  const problems: string[] = [];
  for (const f of flags) {
    const m = /^([A-Za-z]+)=(.+)$/.exec(f);
    if (!m) problems.push(`--gate ${f}: expected <threshold>=<value>, e.g. --gate maxResets=0 (thresholds: ${THRESHOLD_KEYS.join(', ')})`);
    else fromFlags[m[1]] = m[2];
  }
  const stackCheck = resolveThresholds(cfg.timeouts, stack, `${CONFIG_NAMESPACE}:rollout.gates`);
  const flagCheck = resolveThresholds(cfg.timeouts, fromFlags, '--gate');
  problems.push(...[...stackCheck.issues, ...flagCheck.issues].map((i) => `${i.key.replace(/^--gate\./, '--gate ')}: ${i.message}`));
  if (problems.length) throw new RolloutError(`invalid gate thresholds:\n  ${problems.join('\n  ')}`);
  const thresholds = resolveThresholds(cfg.timeouts, { ...stack, ...fromFlags }, '--gate').thresholds;
  const origin = Object.fromEntries(
    THRESHOLD_KEYS.map((k) => [k, k in fromFlags ? 'flag' : k in stack ? 'stack' : 'default']),
  ) as ResolvedThresholds['origin'];
  return { thresholds, origin };
}
