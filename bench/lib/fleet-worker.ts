/**
 * Drill fleets (app/peer/fleet.ts: SluiceClient peers exchanging numbered signals) in their own
 * process, for benchmarks. {cmd:'start', count, chunk, rampMs, ...} starts fleets of `chunk` peers
 * `rampMs` apart (thousands of peers connecting in the same instant would only measure the herd)
 * -> {ready}; {cmd:'stop'} -> {summary} merged over the fleets (sums; percentiles: the largest).
 */
import { resolveTimeouts, TimeoutsOverrides } from '../../app/contract/timeouts';
import { FleetController, FleetSummary, runFleet } from '../../app/peer/fleet';

const fleets: FleetController[] = [];

interface Start {
  cmd: 'start';
  urls: string[];
  count: number;
  chunk?: number;
  rampMs?: number;
  prefix: string;
  intervalMs?: number;
  seed?: number;
  secret: string;
  timeouts?: TimeoutsOverrides;
}

async function start(m: Start): Promise<void> {
  const chunk = Math.max(2, m.chunk ?? m.count);
  const timeouts = resolveTimeouts(m.timeouts ?? {});
  const ready: Array<Promise<void>> = [];
  for (let i = 0, k = 0; i < m.count; i += chunk, k++) {
    const f = runFleet({
      urls: m.urls,
      count: Math.min(chunk, m.count - i),
      prefix: `${m.prefix}c${k}`,
      intervalMs: m.intervalMs,
      seed: (m.seed ?? 1) + k,
      tokenSecret: m.secret,
      timeouts,
      spread: false,
    });
    fleets.push(f);
    ready.push(f.ready());
    if (m.rampMs && i + chunk < m.count) await new Promise((r) => setTimeout(r, m.rampMs));
  }
  await Promise.all(ready);
}

function merge(all: FleetSummary[]): FleetSummary {
  const s = { ...all[0] };
  for (const k of [
    'peers',
    'sent',
    'acked',
    'failed',
    'delivered',
    'duplicated',
    'lost',
    'unacked',
    'reconnects',
    'replayed',
    'historyGaps',
  ] as const) {
    (s as Record<string, unknown>)[k] = all.reduce((x, f) => x + (f[k] as number), 0);
  }
  s.gapMs = {
    count: all.reduce((x, f) => x + f.gapMs.count, 0),
    p50: Math.max(...all.map((f) => f.gapMs.p50)),
    p90: Math.max(...all.map((f) => f.gapMs.p90)),
    p99: Math.max(...all.map((f) => f.gapMs.p99)),
    max: Math.max(...all.map((f) => f.gapMs.max)),
  };
  return s;
}

process.on('message', (m: Start | { cmd: 'stop' }) => {
  if (m.cmd === 'start')
    start(m).then(
      () => process.send!({ ready: true }),
      (err: Error) => process.send!({ error: err.message }),
    );
  else if (m.cmd === 'stop') {
    Promise.all(fleets.map((f) => f.stop())).then(
      (all) => process.send!({ summary: merge(all) }),
      (err: Error) => process.send!({ error: err.message }),
    );
  }
});
process.on('disconnect', () => process.exit(0));
process.send?.({ up: true });
