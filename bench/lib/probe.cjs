// Preloaded (`node --require`) into every server a benchmark starts, whatever the system: answers
// the parent's IPC questions about this process (memory after a full GC, CPU time) and exits on
// request (so `--cpu-prof` writes its profile). Plain CommonJS so it loads before any TS loader.
'use strict';

/**
 * The 'pauses' probe (the soak's per-window figures): event-loop delay and GC pauses since the
 * previous 'pauses' question. Started by the first question, so other benchmarks pay nothing for it.
 */
let loop;
function loopStats() {
  const { monitorEventLoopDelay, PerformanceObserver, constants: c } = require('node:perf_hooks');
  const KINDS = {
    [c.NODE_PERFORMANCE_GC_MINOR]: 'minor',
    [c.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [c.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [c.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  };
  const empty = () => ({ gc: {}, forced: { n: 0, ms: 0, maxMs: 0 } });
  if (!loop) {
    loop = { eld: monitorEventLoopDelay({ resolution: 10 }), acc: empty() };
    loop.eld.enable();
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const d = e.detail || {};
        // A gc() the probe itself asked for ('mem') is counted apart from the ones V8 decided on.
        const forced = (d.flags & c.NODE_PERFORMANCE_GC_FLAGS_FORCED) !== 0;
        const k = forced ? loop.acc.forced : (loop.acc.gc[KINDS[d.kind] || String(d.kind)] ||= { n: 0, ms: 0, maxMs: 0 });
        k.n++;
        k.ms += e.duration;
        k.maxMs = Math.max(k.maxMs, e.duration);
      }
    }).observe({ entryTypes: ['gc'] });
  }
  const h = loop.eld;
  const out = { ...loop.acc, loopP99Ms: h.percentile(99) / 1e6, loopMaxMs: h.max / 1e6 };
  h.reset();
  loop.acc = empty();
  return out;
}

/**
 * The 'accepts' probe (the drain's receiver): how many connections the listener on `port` accepts per
 * event-loop turn and how long those turns are. A connection the poll phase hands over is counted in
 * the turn it arrives; the turn closes at the check phase that follows (one setImmediate, scheduled
 * only while connections arrive: nothing runs when none do). Consecutive turns that both accepted
 * give the turn's length: during a burst, the accept rate is (accepts per turn) / (turn length).
 */
let accepts;
const ACCEPTED = Symbol('probe.accepted');
function acceptsStart(port) {
  const net = require('node:net');
  if (!accepts) {
    const emit = net.Server.prototype.emit;
    net.Server.prototype.emit = function (event, socket, ...rest) {
      // An acceptor descriptor re-emits its connection on the HTTP server: count each socket once.
      if (event === 'connection' && accepts.on && socket && !socket[ACCEPTED] && socket.localPort === accepts.port) {
        socket[ACCEPTED] = true;
        accepts.inTurn++;
        if (!accepts.pending) {
          accepts.pending = true;
          setImmediate(acceptsTurnEnd);
        }
      }
      return emit.call(this, event, socket, ...rest);
    };
  }
  accepts = {
    on: true,
    port,
    inTurn: 0,
    pending: false,
    lastEnd: 0,
    lastTurnAccepted: false,
    perTurn: [],
    gaps: [],
    busyMs: 0,
    busyAccepted: 0,
  };
}
function acceptsTurnEnd() {
  const now = performance.now();
  const a = accepts;
  a.pending = false;
  a.perTurn.push(a.inTurn);
  // The previous check phase also ended an accepting turn: this one is a turn of the burst.
  if (a.lastTurnAccepted && now - a.lastEnd < 1_000) {
    a.gaps.push(now - a.lastEnd);
    a.busyMs += now - a.lastEnd;
    a.busyAccepted += a.inTurn;
  }
  a.lastEnd = now;
  a.lastTurnAccepted = true;
  a.inTurn = 0;
  // The next turn without a connection breaks the chain.
  setImmediate(() => {
    if (!a.pending) a.lastTurnAccepted = false;
  });
}
function acceptsStats() {
  const a = accepts;
  if (!a) return null;
  const pct = (xs, p) => {
    if (!xs.length) return null;
    const s = [...xs].sort((x, y) => x - y);
    return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
  };
  const total = a.perTurn.reduce((x, y) => x + y, 0);
  const r1 = (x) => (x === null ? null : Math.round(x * 10) / 10);
  return {
    accepted: total,
    turns: a.perTurn.length,
    perTurnMean: a.perTurn.length ? r1(total / a.perTurn.length) : null,
    perTurnMax: a.perTurn.length ? Math.max(...a.perTurn) : null,
    /** Turns that accepted as many as the most any turn did (the descriptors' cap, once reached). */
    turnsAtMax: a.perTurn.filter((n) => n === Math.max(...a.perTurn)).length,
    /** Length of a turn between two accepting turns, ms. */
    turnMs: {
      p50: r1(pct(a.gaps, 50)),
      p90: r1(pct(a.gaps, 90)),
      p99: r1(pct(a.gaps, 99)),
      max: r1(a.gaps.length ? Math.max(...a.gaps) : null),
    },
    /** Accepts per second over back-to-back accepting turns (the queue held more: the listener's rate). */
    burstRatePerSec: a.busyMs > 0 ? Math.round((a.busyAccepted / a.busyMs) * 1000) : null,
    burstTurns: a.gaps.length,
  };
}

if (typeof process.send === 'function') {
  // Event-loop delay, only once asked (a 10 ms sampling timer would cost an idle server CPU).
  let loopDelay = null;
  // The benchmark that started this server is gone (finished, killed at its time budget): go too.
  process.on('disconnect', () => process.exit(0));
  process.on('message', (m) => {
    if (!m || typeof m !== 'object' || typeof m.probe !== 'string') return;
    if (m.probe === 'mem') {
      // m.gc === false: what the process holds right now, without stopping it for two full GCs.
      if (typeof global.gc === 'function' && m.gc !== false) {
        global.gc();
        global.gc();
      }
      const u = process.memoryUsage();
      process.send({
        probe: 'mem',
        id: m.id,
        rss: u.rss,
        heapUsed: u.heapUsed,
        heapTotal: u.heapTotal,
        external: u.external,
        arrayBuffers: u.arrayBuffers,
      });
    } else if (m.probe === 'pauses') {
      process.send({ probe: 'pauses', id: m.id, ...loopStats() });
    } else if (m.probe === 'cpu') {
      const c = process.cpuUsage();
      process.send({ probe: 'cpu', id: m.id, user: c.user, system: c.system });
    } else if (m.probe === 'heapsnap') {
      if (typeof global.gc === 'function') global.gc();
      const file = require('node:v8').writeHeapSnapshot(m.file);
      process.send({ probe: 'heapsnap', id: m.id, file });
    } else if (m.probe === 'loop') {
      // {probe:'loop', start:true} (re)starts the histogram; every answer is since that start, ms.
      if (m.start || !loopDelay) {
        loopDelay ??= require('node:perf_hooks').monitorEventLoopDelay({ resolution: 10 });
        loopDelay.disable();
        loopDelay.reset();
        loopDelay.enable();
      }
      const ms = (ns) => Math.round(ns / 1e5) / 10;
      process.send({
        probe: 'loop',
        id: m.id,
        p50: ms(loopDelay.percentile(50)),
        p99: ms(loopDelay.percentile(99)),
        max: ms(loopDelay.max),
      });
    } else if (m.probe === 'accepts') {
      // {probe:'accepts', start:true, port} (re)starts counting; every answer is since that start.
      if (m.start) acceptsStart(m.port);
      process.send({ probe: 'accepts', id: m.id, stats: acceptsStats() });
    } else if (m.probe === 'exit') {
      process.exit(0);
    }
  });
}
