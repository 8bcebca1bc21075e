/**
 * Every Redis key and channel the backplane uses, in one place (docs/backplane.md describes each with
 * its TTL). All names start with a prefix (`sluice:` by default) so several deployments can share
 * one Redis. The Lua scripts build the keys of *other* servers (an owner's inbox) from the same
 * prefix, so the layout below and the `k_*` helpers in scripts.ts must agree.
 *
 * Not Redis Cluster compatible: a publish touches the sender's dedupe key and the recipient's keys
 * in one script, which Cluster only allows within one hash slot.
 */
export const DEFAULT_PREFIX = 'sluice:';

export interface Keys {
  readonly prefix: string;
  /** ZSET serverId -> liveness deadline (ms, Redis clock); a server renews its score on every presence lease renewal. */
  servers: string;
  /** ZSET peerId -> awayUntil (ms) for peers that detached; the reaper turns them offline when due. */
  away: string;
  /** Counter for attachment epochs (which attachment of a peer is the current one). */
  epoch: string;
  /** HASH runid, since: which Redis process the servers last saw, and when it was first seen (restart detection). */
  redis: string;
  /** Pub/sub channel of presence events (JSON PresenceEvent). */
  presenceChannel: string;
  /**
   * ZSET of revocations (member `kind at until value`, app/auth/revocation.ts; score = until, ms),
   * PEXPIREAT the latest until: ended ones are removed on every write, the key with the last one.
   */
  revocations: string;
  /** Pub/sub channel of new revocations and disconnects (the same line as the ZSET member). */
  revocationChannel: string;
  /** STRING instance token, PX presence.ttlMs: which process owns a server id (one process per id). */
  claim(serverId: string): string;
  /** HASH peerId -> "kind epoch since" of the peers a server holds. */
  serverPeers(serverId: string): string;
  /** STREAM of work for a server: deliveries for its peers and evictions, in publish order. */
  inbox(serverId: string): string;
  /** Pub/sub channel where owners tell a publishing server what became of its signals. */
  ackChannel(serverId: string): string;
  /** HASH srv, epoch, kind, state (online|away), since, awayUntil: who owns the peer now. */
  peer(peerId: string): string;
  /** STRING: the peer's newest seq (1, 2, 3 ... without holes). */
  seq(peerId: string): string;
  /** STREAM of the peer's bounded replay history; entry id is `<seq>-0`. */
  history(peerId: string): string;
  /**
   * HASH s, b, at (the recipient's inbound token buckets), away (which away period), n:<from> and
   * z:<from> (entries and bytes each sender holds of it): PX historyMaxAgeMs (quota.ts).
   */
  quota(peerId: string): string;
  /** STRING seq, PX dedupeWindowMs: `(from, id)` was accepted as this seq. */
  dedupe(from: string, id: string): string;
}

export function keys(prefix = DEFAULT_PREFIX): Keys {
  return {
    prefix,
    servers: `${prefix}servers`,
    away: `${prefix}away`,
    epoch: `${prefix}epoch`,
    redis: `${prefix}redis`,
    presenceChannel: `${prefix}presence`,
    revocations: `${prefix}revoked`,
    revocationChannel: `${prefix}revocations`,
    claim: (s) => `${prefix}srv:${s}:claim`,
    serverPeers: (s) => `${prefix}srv:${s}:peers`,
    inbox: (s) => `${prefix}srv:${s}:inbox`,
    ackChannel: (s) => `${prefix}ack:${s}`,
    peer: (p) => `${prefix}peer:${p}`,
    seq: (p) => `${prefix}seq:${p}`,
    history: (p) => `${prefix}hist:${p}`,
    quota: (p) => `${prefix}rq:${p}`,
    // `from` matches PEER_ID_PATTERN (no ':'), so `from:id` is unambiguous whatever the id holds.
    dedupe: (from, id) => `${prefix}dd:${from}:${id}`,
  };
}
