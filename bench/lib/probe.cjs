// Preloaded (`node --require`) into every server a benchmark starts, whatever the system: answers
// the parent's IPC questions about this process (memory after a full GC, CPU time) and exits on
// request (so `--cpu-prof` writes its profile). Plain CommonJS so it loads before any TS loader.
'use strict';
if (typeof process.send === 'function') {
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
    } else if (m.probe === 'exit') {
      process.exit(0);
    }
  });
}
