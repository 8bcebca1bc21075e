// Preloaded (`node --require`) into every server a benchmark starts, whatever the system: answers
// the parent's IPC questions about this process (memory after a full GC, CPU time) and exits on
// request (so `--cpu-prof` writes its profile). Plain CommonJS so it loads before any TS loader.
'use strict';
if (typeof process.send === 'function') {
  // Event-loop delay, only once asked (a 10 ms sampling timer would cost an idle server CPU).
  let loopDelay = null;
  // The benchmark that started this server is gone (finished, killed at its time budget): go too.
  process.on('disconnect', () => process.exit(0));
  process.on('message', (m) => {
    if (!m || typeof m !== 'object' || typeof m.probe !== 'string') return;
    if (m.probe === 'mem') {
      if (typeof global.gc === 'function') {
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
