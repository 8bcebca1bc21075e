/**
 * A server's open connections by peer address. Nearly every peer has one connection at a time, so
 * that one is held as itself; a Set is made only while a peer has more (a reconnect overlapping the
 * old socket, a few unjoined attempts). A Set per peer cost ~150 B of heap for each idle connection
 * (bench/heap.ts).
 */
export class PeerIndex<C extends object> {
  private readonly byAddress = new Map<string, C | Set<C>>();

  /** The connections of `address` (none: empty). */
  of(address: string): Iterable<C> {
    const held = this.byAddress.get(address);
    if (held === undefined) return [];
    return held instanceof Set ? held : [held];
  }

  add(address: string, c: C): void {
    const held = this.byAddress.get(address);
    if (held === undefined) this.byAddress.set(address, c);
    else if (held instanceof Set) held.add(c);
    else if (held !== c) this.byAddress.set(address, new Set([held, c]));
  }

  delete(address: string, c: C): void {
    const held = this.byAddress.get(address);
    if (held === c) this.byAddress.delete(address);
    else if (held instanceof Set && held.delete(c) && held.size === 1) {
      this.byAddress.set(address, held.values().next().value as C);
    }
  }

  /** Addresses with at least one connection. */
  get size(): number {
    return this.byAddress.size;
  }
}
