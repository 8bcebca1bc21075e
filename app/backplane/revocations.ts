/**
 * The revocations one server holds (a replica of the backplane's list) and the event every new one
 * raises. The MemoryBackplane applies a revocation to its one replica, which every server sharing it
 * reads; the RedisBackplane fills each server's replica from pub/sub and from its periodic resync
 * (redis/revocations.ts). The server closes matching connections on the event and checks upgrades
 * against `match` (app/server/revoke.ts).
 */
import { EventEmitter } from 'node:events';
import { Revocation, RevocationList, TokenFacts } from '../auth/revocation';

export class RevocationReplica {
  private readonly list = new RevocationList();
  private readonly events = new EventEmitter();

  constructor() {
    this.events.setMaxListeners(0);
  }

  /** Keep `r` (a `peer` disconnect is not kept) and tell the listeners when it is news. */
  apply(r: Revocation, now: number = Date.now()): void {
    this.list.prune(now);
    const news = this.list.add(r, now) || r.kind === 'peer';
    if (news) this.events.emit('revocation', r);
  }

  /** New revocations (and disconnects); returns the unsubscribe function. */
  onRevocation(listener: (r: Revocation) => void): () => void {
    this.events.on('revocation', listener);
    return () => this.events.off('revocation', listener);
  }

  /** The revocation that refuses `t` now, if any (checked at every upgrade). */
  match(t: TokenFacts, now: number = Date.now()): Revocation | undefined {
    return this.list.match(t, now);
  }

  /** What holds now (GET /revocations). */
  active(now: number = Date.now()): Revocation[] {
    return this.list.list(now);
  }

  get size(): number {
    return this.list.size;
  }
}
