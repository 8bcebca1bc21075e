/**
 * The history-amplification crash (issue 9), against a real server process: 8 tokens signal
 * themselves and each other near the rate limit with ~64 KiB payloads of `[{},{},...]`. Before the
 * budgets, each accepted one was kept *parsed* (~21,000 objects) in its recipient's history: RSS
 * went from 100 MB to ~2 GB with 3 tokens and 8 tokens killed the process ("heap out of memory"),
 * and /healthz stalled for seconds. Now history keeps encoded bytes under a per-recipient budget,
 * and data is bounded in values, so RSS stays flat, /healthz answers at once, and a peer that
 * resumes from the start is told what it missed (a `trimmed` gap).
 *
 * The load runs in its own process (amplification-flood.ts) so the probes measure the server.
 * Each /healthz probe's time is held to its bound without the time its two ends (the server's
 * event loop, this test's) spent runnable but waiting for a CPU (the kernel's schedstat): on a
 * busy machine that wait, not the flood, made most of a slow probe (docs/benchmarks.md,
 * 2026-12-07 session 5). The raw times are printed beside it.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import WebSocket from 'ws';
import { historyEntryBytes } from '../../app/backplane/budget';
import { defaultLimits } from '../../app/server/config';
import { spawnServer, ServerProcess } from '../helpers/process';
import { SECRET, token } from '../helpers/server';

/** The stated bound (docs/security.md, Limits and failure behaviour): measured peak ~NNN MB; see below. */
const RSS_BOUND_MB = 400;
/**
 * /healthz at p99, less the probe's wait for a CPU. Before the flood was bounded, /healthz stalled
 * for seconds behind the server's own work, which no CPU wait explains. On a quiet machine the wait
 * is ~0 and this is the raw time (p99 6-13 ms, 2026-12-02). With the load at 6-12 on 2 cores, raw
 * probes of 100-1,000 ms came with the server's event loop late by as much while it used 1-28 ms
 * of CPU: the process was waiting for a core, not working through the flood. Less that wait, p99
 * was 19-53 ms beside two busy loops (docs/benchmarks.md, 2026-12-07 session 5).
 */
const HEALTHZ_BOUND_MS = 100;
/** The same for the single worst probe (15-89 ms raw on a quiet machine). */
const HEALTHZ_WORST_MS = 300;
const FLOOD_MS = 20_000;
const PEERS = 8;
/**
 * History per recipient for this server: the byte rate lets ~45 accepted 64 KiB signals reach
 * each recipient in the flood (~2.8 MB), so a 1 MiB budget makes the resume below cross it.
 */
const HISTORY_BYTES = 1024 * 1024;

const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.99)];

/**
 * One connection and join: tsx compiles modules the first upgrade needs (~0.5 s, once per process;
 * not part of serving), which would otherwise land in the first probes.
 */
async function warmUp(port: number): Promise<void> {
  const warm = new WebSocket(`ws://127.0.0.1:${port}/socket/websocket?vsn=2.0.0&token=${await token('warm-up')}`);
  await new Promise((resolve) => warm.once('open', resolve));
  const warmed = new Promise((resolve) => warm.once('message', resolve));
  warm.send('["1","1","peer:warm-up","phx_join",{}]');
  await warmed;
  warm.terminate();
}

/**
 * Milliseconds a thread has spent runnable but not running, queued for a CPU: the second field of
 * /proc/<pid>/task/<tid>/schedstat (Linux Documentation/scheduler/sched-stats.rst: "2) time spent
 * waiting on a runqueue (in nanoseconds)").
 */
function runQueueWaitMs(pid: number | 'thread-self', tid?: number): number {
  const file = pid === 'thread-self' ? '/proc/thread-self/schedstat' : `/proc/${pid}/task/${tid ?? pid}/schedstat`;
  return Number(fs.readFileSync(file, 'utf8').split(' ')[1]) / 1e6;
}

/**
 * One probe, and how much of it the two ends' CPU waits explain: the server's main thread (its
 * event loop; tid = pid) and the thread running this test. Waits that overlap are counted twice, so
 * `servedMs` is a lower bound of what the server's own work cost the probe when the machine is
 * busy, and the raw time when it is quiet; the server working through a flood for 1 s while the probe
 * waits still shows as 1 s (it runs, it does not wait).
 */
async function probeHealthz(port: number, pid: number, timeoutMs: number): Promise<{ rawMs: number; waitMs: number; servedMs: number }> {
  const w0 = runQueueWaitMs(pid) + runQueueWaitMs('thread-self');
  // A probe that gets no answer counts as its timeout (and fails the bound below).
  const rawMs = await healthz(port, timeoutMs).catch(() => Infinity);
  const waitMs = runQueueWaitMs(pid) + runQueueWaitMs('thread-self') - w0;
  return { rawMs, waitMs, servedMs: Math.max(0, rawMs - waitMs) };
}

function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/** One GET /healthz on a fresh connection; resolves with its latency, rejects past `timeoutMs`. */
function healthz(port: number, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/healthz', agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error(`no /healthz answer in ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

interface FloodSummary {
  amplifyBytes: number;
  acceptedBytes: number;
  peers: Record<
    string,
    {
      offered: number;
      sent: number;
      ok: Record<string, number>;
      errors: Record<string, number>;
      pushes: number;
      closes: number[];
      reconnects: number;
    }
  >;
}

function runFlood(port: number): Promise<FloodSummary> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'amplification-flood.ts')], {
    cwd: path.resolve(__dirname, '../..'),
    env: {
      PATH: process.env.PATH ?? '',
      FLOOD_URL: `ws://127.0.0.1:${port}/socket/websocket`,
      FLOOD_SECRET: SECRET,
      FLOOD_PEERS: String(PEERS),
      FLOOD_RATE: '45',
      FLOOD_MS: String(FLOOD_MS),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), FLOOD_MS + 15_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(JSON.parse(out.trim().split('\n').pop()!) as FloodSummary);
      else reject(new Error(`flood exited ${code}: ${err}`));
    });
  });
}

describe('history amplification flood (8 tokens, ~64 KiB [{},{},...] payloads near the rate limit)', () => {
  let srv: ServerProcess | undefined;
  afterEach(async () => {
    if (srv && srv.proc.exitCode === null && srv.proc.signalCode === null) {
      srv.proc.kill('SIGKILL');
      await srv.exited;
    }
  });

  it('keeps RSS under the bound and /healthz under 100 ms less CPU waits (p99; worst < 300 ms); the server lives; a resume reports the trimmed gap', async () => {
    // The flood's peers are all clients signalling one client, as fast as their own limits allow:
    // same-kind signals on and the per-recipient quota lifted, so what this measures is the history
    // and parsing cost, not the quota (test/backplane/quota.test.ts covers that).
    srv = await spawnServer({
      SLUICE_TOKEN_SECRET: SECRET,
      SLUICE_LOG_LEVEL: 'info',
      SLUICE_HISTORY_MAX_BYTES: String(HISTORY_BYTES),
      SLUICE_SIGNAL_SAME_KIND: 'on',
      SLUICE_RECIPIENT_SIGNALS_PER_SEC: '1000000',
      SLUICE_RECIPIENT_BYTES_PER_SEC: '1000000000000',
    });
    const pid = srv.proc.pid!;
    await warmUp(srv.port);
    const baseline = rssMb(pid);
    const samples: Array<{ at: number; rss: number; rawMs: number; waitMs: number; servedMs: number }> = [];
    let flooding = true;
    const t0 = Date.now();
    const probe = (async () => {
      while (flooding) {
        const p = await probeHealthz(srv!.port, pid, 2_000);
        samples.push({ at: Date.now() - t0, rss: rssMb(pid), ...p });
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    let summary: FloodSummary;
    try {
      summary = await runFlood(srv.port);
    } finally {
      flooding = false;
      await probe.catch(() => undefined);
    }
    await probe; // a probe that failed (timeout, refused) fails the test here
    const afterFlood = rssMb(pid);

    const peers = Object.values(summary.peers);
    const total = (f: (p: FloodSummary['peers'][string]) => number) => peers.reduce((a, p) => a + f(p), 0);
    const offered = total((p) => p.offered);
    const sent = total((p) => p.sent);
    const accepted = total((p) => (p.ok.delivered ?? 0) + (p.ok.stored ?? 0));
    const refused = total((p) => p.errors.invalid_payload ?? 0);
    const metrics = await (await fetch(`http://127.0.0.1:${srv.adminPort}/metrics`)).text();
    const throttled = Number(/^sluice_throttled_total (\d+)/m.exec(metrics)?.[1] ?? 0);
    const maxRss = Math.max(...samples.map((s) => s.rss));
    const maxServed = Math.max(...samples.map((s) => s.servedMs));
    const servedP99 = p99(samples.map((s) => s.servedMs));
    const report = {
      baselineMb: Math.round(baseline),
      maxRssMb: Math.round(maxRss),
      afterFloodMb: Math.round(afterFlood),
      healthzMaxMs: Math.round(Math.max(...samples.map((s) => s.rawMs))),
      healthzP99Ms: Math.round(p99(samples.map((s) => s.rawMs))),
      cpuWaitP99Ms: Math.round(p99(samples.map((s) => s.waitMs))),
      servedMaxMs: Math.round(maxServed),
      servedP99Ms: Math.round(servedP99),
      probes: samples.length,
      offered,
      sent,
      accepted,
      refused,
      throttled,
      pushes: total((p) => p.pushes),
      reconnects: total((p) => p.reconnects),
      closes: peers.flatMap((p) => p.closes),
      payloadBytes: [summary.amplifyBytes, summary.acceptedBytes],
    };
    // The figures behind the docs/security.md row (printed on every run).
    process.stdout.write(`amplification flood: ${JSON.stringify(report)}\n`);
    if (process.env.AMP_TRACE) fs.writeFileSync(process.env.AMP_TRACE, JSON.stringify({ report, samples, summary }, null, 1));

    // The flood really was offered: near the message rate limit from every peer, both payloads ~64 KiB.
    expect(summary.amplifyBytes).toBeGreaterThan(60_000);
    expect(summary.acceptedBytes).toBeGreaterThan(60_000);
    expect(offered).toBeGreaterThan(PEERS * 45 * (FLOOD_MS / 1000) * 0.6);
    // The byte rate held every connection to SLUICE_BYTES_PER_SEC plus its burst (backpressure,
    // not a close): the server handled at most that much of what was offered.
    const handledMax =
      Math.ceil((defaultLimits.bytesBurst + defaultLimits.bytesPerSec * (FLOOD_MS / 1000 + 2)) / summary.acceptedBytes) + 2;
    for (const p of peers)
      expect((p.ok.delivered ?? 0) + (p.ok.stored ?? 0) + (p.errors.invalid_payload ?? 0)).toBeLessThanOrEqual(handledMax);
    expect(throttled).toBeGreaterThanOrEqual(PEERS);
    // [{},{},...] is refused by the value bound, naming the field; the other half is accepted.
    const handled = accepted + refused;
    expect(handled).toBeGreaterThan(PEERS * 20);
    expect(refused).toBeGreaterThan(handled * 0.3);
    expect(accepted).toBeGreaterThan(handled * 0.3);
    expect(total((p) => p.errors.rate_limited ?? 0)).toBe(0);
    expect(samples.length).toBeGreaterThan(FLOOD_MS / 200); // probed throughout (every ~50 ms + latency)
    expect(maxRss).toBeLessThan(RSS_BOUND_MB);
    expect(servedP99).toBeLessThan(HEALTHZ_BOUND_MS);
    expect(maxServed).toBeLessThan(HEALTHZ_WORST_MS);

    // Alive, and a peer that resumes from the very start gets what its budget kept and the gap.
    expect(srv.proc.exitCode).toBeNull();
    expect((await probeHealthz(srv.port, pid, 1_000)).servedMs).toBeLessThan(HEALTHZ_BOUND_MS);
    const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/socket/websocket?vsn=2.0.0&token=${await token('amp-0')}`);
    const joinReply = new Promise<Record<string, unknown>>((resolve, reject) => {
      ws.on('message', (raw: Buffer) => {
        if (raw.length > 4_096) return;
        const m = JSON.parse(raw.toString()) as [unknown, string, string, string, { response: Record<string, unknown> }];
        if (m[1] === 'j' && m[3] === 'phx_reply') resolve(m[4].response);
      });
      ws.once('error', reject);
    });
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send('["1","j","peer:amp-0","phx_join",{"last_seq":0}]');
    const joined = await joinReply;
    const entry = historyEntryBytes('amp-0', 'x-0000', `[${'{},'.repeat(4_000)}"${'p'.repeat(summary.acceptedBytes - 12_004)}"]`);
    expect(joined.gap).toMatchObject({ reason: 'trimmed', missedFrom: 1 });
    expect(joined.replayed as number).toBeGreaterThan(0);
    expect(joined.replayed as number).toBeLessThanOrEqual(Math.ceil(HISTORY_BYTES / entry) + 1);
    ws.terminate();
  });
});
