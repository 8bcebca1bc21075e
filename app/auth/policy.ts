/**
 * Who may signal whom (docs/security.md). Three rules, all from verified facts, never from the frame:
 *
 *  1. Account: a peer's address is `<account>/<sub>` (the token's `acct` and `sub`). A signal's `to`
 *     is resolved inside the sender's own account, so a peer of another account cannot even be
 *     named: cross-account signals are impossible by construction, in every backplane.
 *  2. Kind: by default only across kinds (client -> gateway, gateway -> client) and to oneself;
 *     client-to-client and gateway-to-gateway only where the deployment opts in
 *     (SLUICE_SIGNAL_SAME_KIND=on).
 *  3. Narrowing: a token with `sig` may signal only the peers it names, or peers in a group it
 *     names (`group:<name>`, matched against the target's `grp`).
 *
 * The target's kind and groups come from its own token, stored with its route record in the
 * backplane when it attached (memory.ts, and the Redis publish script). The backplane applies a
 * `TargetCheck` in the same atomic step that routes the signal.
 *
 * No presence oracle: a refused signal and a signal to an absent peer get the same answer whenever
 * the policy could have refused a peer of that id. An absent target is `unknown_peer` only where
 * no peer of that id could be refused (same kind allowed, and no `sig` list or the list names it);
 * everywhere else it is `forbidden`, exactly as a present but refused one.
 *
 * Hot path: a sender's checks are built once per connection (`senderChecks`; one shared object for
 * all senders of a kind without a `sig` list); a signal picks one by a Set lookup (`checkFor`),
 * allocation-free; the backplane's test is O(target groups) <= 16.
 */
import { DEFAULT_ACCOUNT, MAX_GROUPS, PeerIdentity, PeerKind } from './token';

/** The deployment's signalling policy (server config). */
export interface SignalPolicy {
  /** Allow client-to-client and gateway-to-gateway signals (SLUICE_SIGNAL_SAME_KIND=on). Default false. */
  sameKind: boolean;
}

export const DEFAULT_SIGNAL_POLICY: SignalPolicy = Object.freeze({ sameKind: false });

/**
 * What the backplane checks against the target's record (kind and groups) before it accepts a
 * signal. Built per sender, never per signal.
 */
export interface TargetCheck {
  /** Refuse a target of this kind (the sender's own kind when same-kind signals are off); null: any kind. */
  readonly refuseKind: PeerKind | null;
  /** null: no group condition; else the target must be in one of these groups. */
  readonly groups: ReadonlySet<string> | null;
  /** The same groups as `,g1,g2,` for the Redis script ('*' when `groups` is null). */
  readonly groupsWire: string;
  /** The answer when the target does not exist: see "No presence oracle" above. */
  readonly absent: 'unknown_peer' | 'forbidden';
}

/** The checks one sender may need: picked per signal by `checkFor` (no allocation). */
export interface SenderChecks {
  /** To itself: always allowed (a fleet without gateways echoes to itself). */
  readonly self: TargetCheck;
  /** To a peer its `sig` list names (or to anyone, without a list). */
  readonly named: TargetCheck;
  /** To a peer its list does not name: allowed only through a group. */
  readonly unnamed: TargetCheck;
  readonly allowPeers: ReadonlySet<string> | null;
}

/** The same words for a refused and an absent target (no presence oracle). */
export const FORBIDDEN_DETAIL =
  "no peer this token may signal is reachable at that id (same account; client<->gateway unless the deployment allows same-kind signals; the token's sig list, if any)";

/** `<account>/<sub>`: the peer's address in every backplane (ids never collide across accounts). */
export function peerAddress(account: string, sub: string): string {
  return `${account}/${sub}`;
}

/** The sub of an address (what a recipient is shown as `from`: the account is its own). */
export function subOf(address: string): string {
  const i = address.indexOf('/');
  return i < 0 ? address : address.slice(i + 1);
}

/** The account of an address (DEFAULT_ACCOUNT for one without an account part). */
export function accountOf(address: string): string {
  const i = address.indexOf('/');
  return i < 0 ? DEFAULT_ACCOUNT : address.slice(0, i);
}

function targetCheck(kind: PeerKind | null, groups: ReadonlySet<string> | null, absent: TargetCheck['absent']): TargetCheck {
  return Object.freeze({ refuseKind: kind, groups, groupsWire: groups ? `,${[...groups].join(',')},` : '*', absent });
}

/**
 * The checks without a group condition depend only on (kind, absent): one frozen object each, shared
 * by every connection (three per connection cost ~170 B of heap for each idle peer: bench/heap.ts).
 */
const SHARED_CHECKS = new Map<string, TargetCheck>();
function sharedCheck(kind: PeerKind | null, absent: TargetCheck['absent']): TargetCheck {
  const key = `${kind}:${absent}`;
  let c = SHARED_CHECKS.get(key);
  if (!c) SHARED_CHECKS.set(key, (c = targetCheck(kind, null, absent)));
  return c;
}

/** A sender without a `sig` list: its checks depend only on its kind and the policy, shared likewise. */
const SHARED_SENDERS = new Map<string, SenderChecks>();

/** A sender's checks, built once (at upgrade); shared by every sender of its kind without a `sig` list. */
export function senderChecks(peer: PeerIdentity, policy: SignalPolicy): SenderChecks {
  const refuseKind = policy.sameKind ? null : peer.kind;
  const list = peer.allow;
  if (!list) {
    const key = `${refuseKind}`;
    let shared = SHARED_SENDERS.get(key);
    if (!shared) SHARED_SENDERS.set(key, (shared = buildChecks(refuseKind, null, null)));
    return shared;
  }
  const allowPeers = new Set(list.filter((e) => !e.startsWith('group:')));
  const allowGroups = new Set(list.filter((e) => e.startsWith('group:')).map((e) => e.slice('group:'.length)));
  return buildChecks(refuseKind, allowPeers, allowGroups);
}

function buildChecks(
  refuseKind: PeerKind | null,
  allowPeers: ReadonlySet<string> | null,
  allowGroups: ReadonlySet<string> | null,
): SenderChecks {
  // An absent peer is unknown_peer only where no present peer of that id could have been refused.
  const namedAbsent = refuseKind === null ? 'unknown_peer' : 'forbidden';
  return Object.freeze({
    self: sharedCheck(null, 'unknown_peer'),
    named: sharedCheck(refuseKind, namedAbsent),
    unnamed: allowPeers ? targetCheck(refuseKind, allowGroups, 'forbidden') : sharedCheck(refuseKind, namedAbsent),
    allowPeers,
  });
}

/** The check for one signal from `fromSub` to `toSub`: a Set lookup, no allocation. */
export function checkFor(s: SenderChecks, fromSub: string, toSub: string): TargetCheck {
  if (toSub === fromSub) return s.self;
  if (s.allowPeers === null || s.allowPeers.has(toSub)) return s.named;
  return s.unnamed;
}

/** Whether a present target (its kind and groups, from its own token) passes `check`. */
export function targetPermitted(check: TargetCheck, kind: PeerKind, groups: readonly string[] | undefined): boolean {
  if (check.refuseKind !== null && kind === check.refuseKind) return false;
  if (check.groups === null) return true;
  if (!groups) return false;
  for (let i = 0; i < groups.length && i < MAX_GROUPS; i++) if (check.groups.has(groups[i])) return true;
  return false;
}

/** A target's groups as stored in the Redis route record: `,g1,g2,` ('' for none). */
export function groupsWire(groups: readonly string[] | undefined): string {
  return groups && groups.length > 0 ? `,${groups.join(',')},` : '';
}
