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
    } else if (m.probe === 'exit') {
      process.exit(0);
    }
  });
}
