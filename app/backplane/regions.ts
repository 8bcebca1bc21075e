/**
 * One control plane across regions (docs/regions.md): every peer has a HOME region, and everything
 * the backplane keeps for it (its seq, history, dedupe records, route record, presence) lives in
 * its home region's backplane. A server holds one backplane per region and routes each call by the
 * peer it is about:
 *
 *   attach(peer)        -> the peer's home backplane (eviction of an older attachment works as in one region)
 *   publish(signal)     -> the RECIPIENT's home backplane (the `(sender, id)` dedupe record lives there,
 *                          so a sender that moved regions and sends again hits the same record)
 *   replay(peer)        -> the peer's home backplane
 *   presence()          -> every region's, together
 *
 * Nothing is replicated and nothing is agreed between regions: each region's state has exactly one
 * owner (its Memorystore cluster), and the home rule is a pure function of the address and the
 * configuration every server shares. A peer connected in a region that is not its home is served
 * by the home region's backplane over the inter-region link (one round trip per call).
 */
import { createHash } from 'node:crypto';
import { accountOf } from '../auth/policy';
import type { Revocation } from '../auth/revocation';
import type { MemoryBudget } from './budget';
import type { RevocationReplica } from './revocations';
import type {
  AttachingPeer,
  AttachOptions,
  Backplane,
  BackplaneHealth,
  PeerSession,
  PresenceEntry,
  PresenceEvent,
  PublishOutcome,
  ReplayResult,
  SignalEnvelope,
} from './types';

/** The home rule's inputs: the region names (every server lists the same ones) and pinned accounts. */
export interface HomeRule {
  regions: readonly string[];
  /** account -> region: a tenant's peers live where most of them connect (locality). */
  accountHomes?: Readonly<Record<string, string>>;
}

/**
 * The home region of an address (`<account>/<sub>`): its account's pinned region, else the region
 * with the highest rendezvous hash of (region, address). Rendezvous hashing moves only the peers of
 * a region that is added or removed; every other peer keeps its home (and its history).
 */
export function homeRegion(address: string, rule: HomeRule): string {
  const pinned = rule.accountHomes?.[accountOf(address)];
  if (pinned !== undefined) return pinned;
  let best = rule.regions[0];
  let bestScore = -1n;
  for (const r of rule.regions) {
    const score = createHash('sha256').update(r).update('\0').update(address).digest().readBigUInt64BE(0);
    if (score > bestScore) {
      best = r;
      bestScore = score;
    }
  }
  return best;
}

/** What this server routed into each home region (the status page's cross-region counter). */
export interface RegionRouting {
  region: string;
  /** Signals published into each home region's backplane, by home. */
  publishedTo: Record<string, number>;
  /** Of those, into a region that is not this server's. */
  crossRegion: number;
}

export class RegionalBackplane implements Backplane {
  readonly kind: Backplane['kind'];
  readonly memory: MemoryBudget;
  private readonly publishedTo: Record<string, number> = {};
  private crossRegion = 0;

  /**
   * @param region this server's region (its backplane decides readiness: see health()).
   * @param members one backplane per region, keyed by region name.
   */
  constructor(
    readonly region: string,
    private readonly members: ReadonlyMap<string, Backplane>,
    private readonly rule: HomeRule,
  ) {
    const own = members.get(region);
    if (!own) throw new Error(`RegionalBackplane: no backplane for this server's region ${region}`);
    for (const r of rule.regions) if (!members.has(r)) throw new Error(`RegionalBackplane: no backplane for region ${r}`);
    for (const [acct, r] of Object.entries(rule.accountHomes ?? {}))
      if (!members.has(r)) throw new Error(`RegionalBackplane: account ${acct} is homed in ${r}, which has no backplane`);
    this.kind = own.kind;
    // Frames a connection queues are held by this process whichever region routes them: one account.
    this.memory = own.memory;
    for (const r of members.keys()) this.publishedTo[r] = 0;
  }

  homeOf(address: string): string {
    return homeRegion(address, this.rule);
  }

  private home(address: string): Backplane {
    return this.members.get(this.homeOf(address))!;
  }

  attach(peer: AttachingPeer, serverId: string, opts: AttachOptions): Promise<PeerSession> {
    return this.home(peer.id).attach(peer, serverId, opts);
  }

  publish(signal: SignalEnvelope): Promise<PublishOutcome> {
    const home = this.homeOf(signal.to);
    this.publishedTo[home]++;
    if (home !== this.region) this.crossRegion++;
    return this.members.get(home)!.publish(signal);
  }

  /**
   * This region's replica: every revocation is written to every region's backplane (revoke below),
   * so the own region's list holds them all, and its broadcast reaches this server.
   */
  get revocations(): RevocationReplica {
    return this.members.get(this.region)!.revocations;
  }

  /**
   * Into every region's backplane: a revoked token must be refused wherever its peer connects next.
   * Fails (backplane_unavailable) if any region could not store it; a retry is harmless (the lists
   * merge a revocation given twice).
   */
  async revoke(r: Revocation): Promise<void> {
    const results = await Promise.allSettled([...this.members.values()].map((b) => b.revoke(r)));
    const failed = results.find((x): x is PromiseRejectedResult => x.status === 'rejected');
    if (failed) throw failed.reason;
  }

  replay(peerId: string, afterSeq: number | null, limit?: number): Promise<ReplayResult> {
    return this.home(peerId).replay(peerId, afterSeq, limit);
  }

  async presence(): Promise<PresenceEntry[]> {
    const all = await Promise.all([...this.members.values()].map((b) => b.presence()));
    return all.flat();
  }

  subscribePresence(listener: (ev: PresenceEvent) => void): () => void {
    const offs = [...this.members.values()].map((b) => b.subscribePresence(listener));
    return () => offs.forEach((off) => off());
  }

  /**
   * Ready when this region's backplane is: a lost backplane elsewhere must not take this region's
   * servers out of the load balancer (peers homed here, and peers homed in any other healthy region,
   * are still served). Calls for peers homed in the lost region fail on their own (backplane_unavailable).
   * Fatal if any member is fatal (this server id is held by another live process).
   */
  health(): BackplaneHealth {
    const own = this.members.get(this.region)!.health();
    const others = [...this.members.entries()].filter(([r]) => r !== this.region).map(([r, b]) => [r, b.health()] as const);
    const down = others.filter(([, h]) => !h.ok).map(([r, h]) => `${r}: ${h.detail ?? 'down'}`);
    const fatal = own.fatal || others.some(([, h]) => h.fatal);
    const detail = [own.detail, down.length > 0 ? `other regions down (${down.join('; ')})` : undefined].filter(Boolean).join('; ');
    return { ok: own.ok && !fatal, ...(detail ? { detail } : {}), ...(fatal ? { fatal: true } : {}) };
  }

  /**
   * Told when readiness changes (ok, fatal), not on every member's change: another region's backplane
   * coming up is no recovery of this server's (GET /status shows the detail).
   */
  onHealthChange(listener: (h: BackplaneHealth) => void): () => void {
    const key = (h: BackplaneHealth) => `${h.ok}/${h.fatal === true}`;
    let last = key(this.health());
    const changed = () => {
      const h = this.health();
      const now = key(h);
      if (now === last) return;
      last = now;
      listener(h);
    };
    const offs = [...this.members.values()].map((b) => b.onHealthChange(changed));
    return () => offs.forEach((off) => off());
  }

  routing(): RegionRouting {
    return { region: this.region, publishedTo: { ...this.publishedTo }, crossRegion: this.crossRegion };
  }

  async close(): Promise<void> {
    await Promise.all([...this.members.values()].map((b) => b.close()));
  }
}
