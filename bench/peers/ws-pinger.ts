/**
 * The plain `ws` relay's liveness on sluice's schedule (BENCH_PING=1 in ws-relay.ts): the floor of
 * Node + `ws` for the rounds sluice's 15 s bounds need, so bench/idle-cpu.ts can tell what of sluice's
 * per-round cost is its own. Written as a `ws` user would, with `ws.ping()` and a 'pong' listener per
 * socket (ws's README, "How to detect and close broken connections?"), but on livenessSchedule() of
 * the contract instead of the README's fixed interval: a connection silent for firstPingMs is pinged,
 * again every server.pingIntervalMs, and terminated at the idle limit. Deadlines sit in 20 ms slots
 * (arrays, one tick timer); a pong only stores its time (the deadline moves lazily, when its slot comes).
 */
import type { WebSocket } from 'ws';
import { defaultTimeouts, livenessSchedule } from '../../app/contract/timeouts';

const live = livenessSchedule(defaultTimeouts);
const PING_EVERY_MS = defaultTimeouts.server.pingIntervalMs;
const TICK_MS = 20;

interface Watched {
  ws: WebSocket;
  lastSeen: number;
  pings: number;
}

const slots = new Map<number, Watched[]>();
let done = Math.floor(Date.now() / TICK_MS);

function at(w: Watched, time: number): void {
  const slot = Math.max(Math.ceil(time / TICK_MS), done + 1);
  const list = slots.get(slot);
  if (list) list.push(w);
  else slots.set(slot, [w]);
}

/** The next deadline of `w`: its next ping or its idle limit, whichever comes first. */
function next(w: Watched): number {
  return w.lastSeen + Math.min(live.firstPingMs + w.pings * PING_EVERY_MS, live.idleLimitMs);
}

function tick(): void {
  const now = Date.now();
  const upTo = Math.floor(now / TICK_MS);
  for (let s = done + 1; s <= upTo; s++) {
    const list = slots.get(s);
    if (!list) continue;
    slots.delete(s);
    for (const w of list) {
      if (w.ws.readyState !== 1) continue; // closed: dropped
      const silent = now - w.lastSeen;
      if (silent >= live.idleLimitMs) {
        w.ws.terminate();
        continue;
      }
      if (silent >= live.firstPingMs + w.pings * PING_EVERY_MS) {
        w.pings++;
        w.ws.ping();
      }
      at(w, next(w));
    }
  }
  done = Math.max(done, upTo);
}

let timer: NodeJS.Timeout | undefined;

/** Watch a joined socket: pinged after silence, terminated at the idle limit. */
export function watch(ws: WebSocket): void {
  timer ??= setInterval(tick, TICK_MS);
  const w: Watched = { ws, lastSeen: Date.now(), pings: 0 };
  const seen = () => {
    w.lastSeen = Date.now();
    w.pings = 0;
  };
  ws.on('pong', seen);
  ws.on('message', seen);
  at(w, next(w));
}
