/**
 * The shape of a contract rule (GCE and GKE): a name, a reason, a predicate and an explanation that
 * names the fields and their numbers; plus the two shapes several rules share.
 */
import { drainEndBoundMs } from './bounds';
import type { Timeouts, Violation } from './types';

/** A rule over the arguments `A` (the GCE rules take the Timeouts, the GKE rules the Timeouts and the GKE values). */
export interface ContractRule<A extends unknown[]> {
  name: string;
  /** Why the rule exists, in one sentence (also rendered into the table of docs/timeouts.md). */
  why: string;
  check(...args: A): Violation | undefined;
}

/** A rule that holds or explains itself: the one shape of every rule of the contract (GCE and GKE). */
export function defineRule<A extends unknown[]>(
  name: string,
  why: string,
  holds: (...args: A) => boolean,
  explain: (...args: A) => { message: string; values: Violation['values'] },
): ContractRule<A> {
  return { name, why, check: (...args) => (holds(...args) ? undefined : { rule: name, ...explain(...args) }) };
}

/** Milliseconds as seconds, for messages. */
export const sec = (ms: number) => ms / 1000;

type Explained = { message: string; values: Violation['values'] };
/** A `group.field` of Timeouts, e.g. `client.heartbeatIntervalMs`. */
type FieldKey = { [G in keyof Timeouts]: `${G}.${Extract<keyof Timeouts[G], string>}` }[keyof Timeouts];
const valueOf = (t: Timeouts, key: FieldKey) => {
  const [group, field] = key.split('.');
  return (t as unknown as Record<string, Record<string, number>>)[group][field];
};
const COMPARE = { '<': (a: number, b: number) => a < b, '<=': (a: number, b: number) => a <= b, '>=': (a: number, b: number) => a >= b };

/**
 * The plainest rule: one field (or the sum of several) against another, same unit; the message names
 * them with their values.
 */
export function fieldsOrdered(
  a: FieldKey | FieldKey[],
  op: keyof typeof COMPARE,
  b: FieldKey,
): [(t: Timeouts) => boolean, (t: Timeouts) => Explained] {
  const left = Array.isArray(a) ? a : [a];
  const sum = (t: Timeouts) => left.reduce((acc, k) => acc + valueOf(t, k), 0);
  const name = (k: FieldKey) => k.split('.')[1];
  return [
    (t) => COMPARE[op](sum(t), valueOf(t, b)),
    (t) => ({
      message: `${left.join(' + ')} (${sum(t)}) must be ${op} ${b} (${valueOf(t, b)})`,
      values: Object.fromEntries([...left, b].map((k) => [name(k), valueOf(t, k)])),
    }),
  ];
}

/** A whole-seconds field that must cover the drain to its RST deadline plus margin (docker stop, LB connection draining). */
export function secondsCoverDrain(
  key: 'gce.dockerStopTimeoutSec' | 'lb.connectionDrainingSec',
): [(t: Timeouts) => boolean, (t: Timeouts) => Explained] {
  const needMs = drainEndBoundMs;
  return [
    (t) => valueOf(t, key) * 1000 >= needMs(t),
    (t) => ({
      message: `${key} (${valueOf(t, key)}) must be >= drain.deadlineMs + drain.marginMs (${sec(needMs(t))} s)`,
      values: { [key.split('.')[1]]: valueOf(t, key), deadlineMs: t.drain.deadlineMs, marginMs: t.drain.marginMs },
    }),
  ];
}
