/**
 * Every Redis key and channel the backplane uses, in one place (docs/backplane.md describes each with
 * its TTL). All names start with a prefix (`sluice:` by default) so several deployments can share
 * one Redis. The Lua scripts build the keys of *other* servers (an owner's inbox) from the same
 * prefix and bucket tag, so the layout below and the scripts in scripts*.ts must agree.
 *
 * Redis Cluster compatible: every script touches keys of ONE hash slot. Each peer belongs to a
 * bucket, `bucketOf(peerId)` (FNV-1a of the id mod `buckets`), and every key a script touches for
 * that peer carries the bucket's hash tag `{...}`: the peer's record, seq, history and quota, the
 * dedupe record (keyed by recipient, sender and id), and the per-bucket copies of what the publish
 * and attach scripts read besides: the servers' liveness ZSET, the away ZSET, the epoch counter,
 * the restart-detection hash, each server's peer set and each server's inbox. A Redis Cluster
 * only runs a script whose keys hash to one slot ("all the keys involved in a multi-key operation
 * must hash to the same slot", redis.io cluster spec); a single Redis does not care, and uses the
 * same layout (a cluster of one).
 *
 * `buckets` is fixed per deployment (DEFAULT_BUCKETS): changing it moves every peer to another
 * bucket, so it changes only with every server stopped and the keyspace emptied (docs/backplane.md).
 */
import keySlot from 'cluster-key-slot';
import { dedupeKey } from '../dedupe';

export const DEFAULT_PREFIX = 'sluice:';
/** Buckets per deployment: more than the primaries a region will ever run (each bucket lives on one). */
export const DEFAULT_BUCKETS = 16;
/** Redis Cluster's slot count ("there are 16384 hash slots in Redis Cluster"). */
export const CLUSTER_SLOTS = 16_384;

export interface Keys {
  readonly prefix: string;
  readonly buckets: number;
  /** The bucket of a peer id: 0 .. buckets - 1. */
  bucketOf(peerId: string): number;
  /** The cluster hash slot of a bucket's keys. */
  slot(bucket: number): number;
  /** The hash tag of a bucket, braces included (`{b3-7}`): what the scripts append to other servers' keys. */
  tag(bucket: number): string;
  /** ZSET serverId -> liveness deadline (ms, Redis clock), one copy per bucket; a server renews every copy. */
  servers(bucket: number): string;
  /** ZSET peerId -> awayUntil (ms) for the bucket's peers that detached; the reaper turns them offline when due. */
  away(bucket: number): string;
  /** Counter for attachment epochs of the bucket's peers (which attachment of a peer is the current one). */
  epoch(bucket: number): string;
  /**
   * HASH runid, since: which Redis process served the bucket's slot when a server last looked, and
   * when it was first seen (restart and failover detection, per shard).
   */
  redis(bucket: number): string;
  /**
   * SET of the servers that have not yet re-asserted their peers in the bucket since a new Redis
   * process appeared there (restart, failover): while it is not empty the bucket's presence may
   * lack records that process never received, and publishes answer `recovering`.
   */
  recovering(bucket: number): string;
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
  /** HASH peerId -> "kind epoch since" of the bucket's peers a server holds. */
  serverPeers(serverId: string, bucket: number): string;
  /** STREAM of work for a server about the bucket's peers: deliveries and evictions, in publish order. */
  inbox(serverId: string, bucket: number): string;
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
  /** STRING seq, PX dedupeWindowMs: `(from, id)` was accepted for recipient `to` as this seq. */
  dedupe(to: string, from: string, id: string): string;
}

/** FNV-1a (32 bit) over the id's UTF-16 code units: stable across processes and releases. */
export function bucketHash(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * Tags chosen so bucket i hashes into the i-th of `buckets` equal slot ranges: a cluster whose
 * primaries hold equal slot ranges (what `redis-cli --cluster create` and Memorystore set up)
 * gets an equal share of buckets on each primary, instead of whatever CRC16 of `b0`..`b15` gives.
 */
export function bucketTags(buckets: number): string[] {
  const tags: string[] = [];
  for (let b = 0; b < buckets; b++) {
    const lo = Math.floor((b * CLUSTER_SLOTS) / buckets);
    const hi = Math.floor(((b + 1) * CLUSTER_SLOTS) / buckets);
    let n = 0;
    while (n < 1_000_000) {
      const slot = keySlot(`b${b}-${n}`);
      if (slot >= lo && slot < hi) break;
      n++;
    }
    tags.push(`{b${b}-${n}}`);
  }
  return tags;
}

export function keys(prefix = DEFAULT_PREFIX, buckets = DEFAULT_BUCKETS): Keys {
  if (/[{}]/.test(prefix)) throw new Error(`redis key prefix "${prefix}" must not contain { or } (they would change the hash tags)`);
  if (!Number.isInteger(buckets) || buckets < 1 || buckets > CLUSTER_SLOTS)
    throw new Error(`redis buckets must be an integer in 1..${CLUSTER_SLOTS}, got ${buckets}`);
  const tags = bucketTags(buckets);
  const bucketOf = (p: string) => bucketHash(p) % buckets;
  const t = (p: string) => tags[bucketOf(p)];
  return {
    prefix,
    buckets,
    bucketOf,
    tag: (b) => tags[b],
    slot: (b) => keySlot(tags[b]),
    servers: (b) => `${prefix}servers:${tags[b]}`,
    away: (b) => `${prefix}away:${tags[b]}`,
    epoch: (b) => `${prefix}epoch:${tags[b]}`,
    redis: (b) => `${prefix}redis:${tags[b]}`,
    recovering: (b) => `${prefix}recovering:${tags[b]}`,
    presenceChannel: `${prefix}presence`,
    revocations: `${prefix}revoked`,
    revocationChannel: `${prefix}revocations`,
    claim: (s) => `${prefix}srv:${s}:claim`,
    serverPeers: (s, b) => `${prefix}srv:${s}:peers:${tags[b]}`,
    inbox: (s, b) => `${prefix}srv:${s}:inbox:${tags[b]}`,
    ackChannel: (s) => `${prefix}ack:${s}`,
    peer: (p) => `${prefix}peer:${t(p)}:${p}`,
    seq: (p) => `${prefix}seq:${t(p)}:${p}`,
    history: (p) => `${prefix}hist:${t(p)}:${p}`,
    quota: (p) => `${prefix}rq:${t(p)}:${p}`,
    // The one definition of what makes two signals the same (dedupe.ts), as the MemoryBackplane keys it.
    dedupe: (to, from, id) => `${prefix}dd:${t(to)}:${dedupeKey(to, from, id)}`,
  };
}
