/**
 * app/server/batch.ts: a turn's frames for one socket leave together (one cork per socket and turn,
 * uncorked when the turn ends, every socket of the turn with it).
 */
import type { Socket } from 'node:net';
import { corkForTurn } from '../../app/server/batch';

/** A socket's cork depth and what was written while it was not corked (Node's cork semantics, counted). */
class FakeSocket {
  depth = 0;
  corks = 0;
  uncorks = 0;
  cork(): void {
    this.depth++;
    this.corks++;
  }
  uncork(): void {
    this.depth--;
    this.uncorks++;
  }
}
const sock = (f: FakeSocket) => f as unknown as Socket;
const nextTurn = () => new Promise<void>((r) => setImmediate(r));

test('a socket is corked once per turn and uncorked when the turn ends', async () => {
  const s = new FakeSocket();
  corkForTurn(sock(s));
  corkForTurn(sock(s));
  corkForTurn(sock(s));
  expect(s.corks).toBe(1);
  expect(s.depth).toBe(1);
  await nextTurn();
  expect(s.depth).toBe(0);
  corkForTurn(sock(s)); // the next turn corks it again
  expect(s.corks).toBe(2);
  await nextTurn();
  expect(s.depth).toBe(0);
});

test('every socket corked in a turn is uncorked when it ends, once', async () => {
  const few = Array.from({ length: 12 }, () => new FakeSocket());
  for (let round = 0; round < 3; round++) for (const s of few) corkForTurn(sock(s));
  expect(few.every((s) => s.corks === 1 && s.depth === 1)).toBe(true);
  await nextTurn();
  expect(few.every((s) => s.depth === 0 && s.uncorks === 1)).toBe(true);
});
