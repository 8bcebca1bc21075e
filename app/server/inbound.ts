/**
 * What happens to an incoming frame before a connection queues it: the signal's fields checked and
 * its data kept as JSON text, and the per-turn read budgets that keep one socket (or all of them
 * together) from holding the event loop for megabytes of frames.
 */
import { dataBoundsError, PEER_ID_PATTERN } from '../protocol/phoenix';

const MAX_SIGNAL_ID = 128;

/** Frame bytes one connection may have handled in one event-loop turn before its socket waits for the next. */
export const TURN_BYTES = 64 * 1024;
/**
 * The same bound for all connections together: the event loop is one per process, so eight
 * sockets each handing over 64 KiB in one turn would still hold /healthz behind half a megabyte
 * of JSON. Past this, every further socket that delivers a frame in this turn pauses too.
 */
export const PROCESS_TURN_BYTES = 128 * 1024;
/** Something paused for this turn's budgets, resumed when the turn ends (FrameQueue). */
export interface TurnPaused {
  resumeAfterTurn(): void;
}

/**
 * The process's read turn: a number that changes once per event-loop turn that read frames, its
 * bytes, and what paused in it. One setImmediate per turn ends it, for every connection at once
 * (a setImmediate and a closure per connection and turn cost more than the frames of a small
 * signal: bench/profile.ts).
 */
const processTurn = { n: 0, bytes: 0, scheduled: false, paused: [] as TurnPaused[] };

function endTurn(): void {
  processTurn.n++;
  processTurn.bytes = 0;
  processTurn.scheduled = false;
  const paused = processTurn.paused;
  if (paused.length === 0) return;
  processTurn.paused = [];
  for (const p of paused) p.resumeAfterTurn();
}

/** This turn's number (starting the turn if none is running); a connection's turn bytes belong to one. */
export function currentTurn(): number {
  if (!processTurn.scheduled) {
    processTurn.scheduled = true;
    setImmediate(endTurn);
  }
  return processTurn.n;
}

/** Count `bytes` against this turn's process-wide budget; true once it is spent. */
export function spendProcessTurn(bytes: number): boolean {
  currentTurn();
  processTurn.bytes += bytes;
  return processTurn.bytes >= PROCESS_TURN_BYTES;
}

/** `p` paused reading for this turn's budgets: resume it when the turn ends. */
export function resumeAfterTurn(p: TurnPaused): void {
  currentTurn();
  processTurn.paused.push(p);
}

/**
 * A signal checked and encoded when its frame arrives, before it waits in the queue: from here on
 * only its JSON text is held (queue, backplane, history, push), never the parsed value.
 */
export type PreparedSignal = { ok: true; to: string; id: string; json: string } | { ok: false; field: string; expected: string };

export function prepareSignal(payload: Record<string, unknown>, raw: string | undefined): PreparedSignal {
  const { to, id, data } = payload;
  if (typeof to !== 'string' || !PEER_ID_PATTERN.test(to))
    return { ok: false, field: 'to', expected: 'a peer id (1-128 characters of [A-Za-z0-9_.-])' };
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_SIGNAL_ID)
    return { ok: false, field: 'id', expected: `a string of 1-${MAX_SIGNAL_ID} characters` };
  if (data === undefined) return { ok: false, field: 'data', expected: 'any JSON value' };
  // Deeply nested JSON parses fine but cannot be serialised again (V8 throws past a few thousand
  // levels), and a frame of tiny values costs many times its size once parsed: bound both.
  const bound = dataBoundsError(data);
  if (bound) return { ok: false, field: 'data', expected: bound };
  // The sender's own text of `data` when the frame scan located it (the frame parsed, so it is
  // valid JSON); stringified again only when it could not (an escaped key).
  return { ok: true, to, id, json: raw ?? JSON.stringify(data) };
}
