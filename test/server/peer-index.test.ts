/** The server's index of open connections by peer address (app/server/peer-index.ts). */
import { PeerIndex } from '../../app/server/peer-index';

describe('PeerIndex', () => {
  it('holds one connection as itself and more in a set, back to one and to none as they end', () => {
    const idx = new PeerIndex<{ n: number }>();
    const [a, b, c] = [{ n: 1 }, { n: 2 }, { n: 3 }];
    expect([...idx.of('acct/p')]).toEqual([]);
    idx.add('acct/p', a);
    idx.add('acct/p', a); // the same connection twice is still one
    expect([...idx.of('acct/p')]).toEqual([a]);
    idx.add('acct/p', b);
    idx.add('acct/p', c);
    idx.add('acct/q', c);
    expect([...idx.of('acct/p')]).toEqual([a, b, c]);
    expect(idx.size).toBe(2);
    idx.delete('acct/p', b);
    idx.delete('acct/p', { n: 9 }); // not there: nothing changes
    expect([...idx.of('acct/p')]).toEqual([a, c]);
    idx.delete('acct/p', a);
    expect([...idx.of('acct/p')]).toEqual([c]);
    idx.delete('acct/p', c);
    expect([...idx.of('acct/p')]).toEqual([]);
    expect([...idx.of('acct/q')]).toEqual([c]);
    idx.delete('acct/q', a); // another peer's connection: nothing changes
    expect([...idx.of('acct/q')]).toEqual([c]);
    idx.delete('acct/q', c);
    expect(idx.size).toBe(0);
  });
});
