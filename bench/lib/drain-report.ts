/**
 * bench/drain.ts's results: the goals table and the markdown written to bench/results/drain.md
 * (and .json). The drain itself (servers, fleets, probes) is in bench/drain.ts.
 */
import { defaultTimeouts } from '../../app/contract/timeouts';
import { Machine, table, writeResults } from './report';
import type { DrainReport } from '../../app/server/drain';
import type { AcceptTurns } from './systems';

/** How drain.ts ran: the settings the report states and writes. */
export interface DrainSettings {
  peers: number;
  sdk: boolean;
  workers: number;
  intervalMs: number;
  jitters: number[];
  rounds: number;
  baseline?: string;
  /** Variants that did not complete (e.g. the fleet never got onto A within its budget), with why. */
  failed: Array<{ receiver: Variant['receiver']; restartJitterMs: number; error: string }>;
}

export interface Variant {
  /** Which checkout server B ran: this one, or --baseline's. */
  receiver: 'this' | 'baseline';
  restartJitterMs: number;
  peers: number;
  joinedAfterMs: number;
  movedAfterMs: number;
  /** From the drain request to server A holding no connection (its last socket closed). */
  emptiedAfterMs: number | null;
  /** The drain report: first and last 1012 sent, from the drain's start. */
  firstCloseMs: number | null;
  lastCloseMs: number | null;
  /** A's drain report: how late its 1012s fired after their planned moments, and the most in any 100 ms (as /s). */
  closeSpread: DrainReport['spread'] | null;
  sent: number;
  lost: number;
  duplicated: number;
  replayed: number;
  reconnects: number;
  gapP50Ms: number;
  gapP90Ms: number;
  gapP99Ms: number;
  gapMaxMs: number;
  peakReconnectsPerSec: number;
  peakReconnectsPer100Ms: number;
  drainReset: number | null;
  /** The two halves of the gap (largest of the fleets' percentiles): 1012 to the new socket's open, open to the join reply. */
  connectP50Ms: number | null;
  connectP99Ms: number | null;
  joinP50Ms: number | null;
  joinP99Ms: number | null;
  /** Machine-wide TcpExt counters' growth from the drain request to the end of the settle. */
  listenOverflows: number | null;
  listenDrops: number | null;
  /** B's accept queue, sampled every 500 ms: the longest seen, and the samples that found it full. */
  bQueueMax: number | null;
  bQueueFullSamples: number;
  bQueueSamples: number;
  /** B's listener: connections accepted per event-loop turn and the length of back-to-back accepting turns (probe.cjs 'accepts'). */
  bAccepts: AcceptTurns | null;
  /** B's event-loop delay over the same span, ms. */
  bLoopDelay: { p50: number; p99: number; max: number } | null;
  /** CPU time over the same span, ms, per process (B, A, each load generator, redis-server). */
  cpuMs: Record<string, number | null>;
  spanMs: number;
}

/** Writes bench/results/drain.md and .json: the goals (this checkout's first variant) and every variant side by side. */
export function writeDrainResults(m: Machine, variants: Variant[], cfg: DrainSettings): void {
  const { peers: PEERS, sdk: SDK, workers: WORKERS, intervalMs: INTERVAL_MS, jitters: JITTERS, rounds: ROUNDS, baseline: BASELINE } = cfg;
  const d = variants.find((v) => v.receiver === 'this')!;
  const s = (x: number) => `${(x / 1000).toFixed(2)} s`;
  const goals = [
    [
      `drain of ${PEERS.toLocaleString('en')} connections: 0 lost, 0 duplicated`,
      `${d.lost} lost, ${d.duplicated} duplicated of ${d.sent}`,
      d.lost === 0 && d.duplicated === 0 ? 'met' : 'not met',
    ],
    [
      `reconnect gap p99 <= 300 ms (the contract's jitter, ${d.restartJitterMs} ms)`,
      `${d.gapP99Ms} ms`,
      d.gapP99Ms <= 300 ? 'met' : 'not met',
    ],
    [
      `server A closes all ${PEERS.toLocaleString('en')} (1012s spread over drain.windowMs ${defaultTimeouts.drain.windowMs / 1000} s, RST at drain.deadlineMs ${defaultTimeouts.drain.deadlineMs / 1000} s)`,
      d.emptiedAfterMs === null
        ? 'never empty'
        : `empty after ${s(d.emptiedAfterMs)} (1012s sent from ${s(d.firstCloseMs ?? 0)} to ${s(d.lastCloseMs ?? 0)}, ${d.drainReset ?? 'n/a'} RST)`,
      d.emptiedAfterMs !== null && d.emptiedAfterMs <= defaultTimeouts.drain.deadlineMs ? 'met' : 'not met',
    ],
    ...variants
      .filter((v) => v !== d && v.receiver === 'this' && v.restartJitterMs !== d.restartJitterMs)
      .map((v) => [
        `reconnect gap p99 <= 300 ms (jitter ${v.restartJitterMs} ms)`,
        `${v.gapP99Ms} ms`,
        v.gapP99Ms <= 300 ? 'met' : 'not met',
      ]),
  ];
  const md = [
    '# Drain benchmark',
    '',
    `${PEERS.toLocaleString('en')} ${SDK ? 'SDK peers (drill fleet' : 'light peers (raw ws speaking Phoenix V2: join with last_seq, acks, an outbox re-sent after each join; bench/lib/light-fleet-worker.ts'} in ${WORKERS} load-generator processes, one numbered signal per peer every ${INTERVAL_MS / 1000} s) on server A;`,
    `A drains (1012s spread over the ${defaultTimeouts.drain.windowMs / 1000} s window) and every peer moves to server B; both servers in their own processes, one redis-server.`,
    'Peers start in fleets of 250 per process every 0.5 s (a real fleet does not connect in one instant). Reconnect gap: from losing',
    "the joined session to the next join, per peer (the largest of the fleets' percentiles: an upper bound of the merged one).",
    `Reproduce: \`npx tsx bench/drain.ts --peers ${PEERS}${SDK ? ' --sdk' : ''} --jitters ${JITTERS.join(',')}${BASELINE ? ` --rounds ${ROUNDS} --baseline DIR` : ''}\`.`,
    BASELINE ? `Server B from this checkout and from the baseline (${BASELINE}) alternate; server A is always this checkout.` : '',
    ...cfg.failed.map((f) => `Not completed: receiver ${f.receiver}, jitter ${f.restartJitterMs} ms: ${f.error}.`),
    '',
    '## Goals',
    '',
    table(['goal', 'measured', 'status'], goals),
    '',
    '## Restart jitter side by side',
    '',
    table(
      [
        'receiver B',
        'client restart jitter',
        'all on B after',
        'A empty after',
        'signals sent',
        'lost',
        'duplicated',
        'replayed',
        'gap p50',
        'gap p90',
        'gap p99',
        'gap max',
        'peak new connections on B per s',
        'per 100 ms (as /s)',
        'RST at deadline',
      ],
      variants.map((v) => [
        v.receiver,
        `${v.restartJitterMs} ms`,
        s(v.movedAfterMs),
        v.emptiedAfterMs === null ? 'never' : s(v.emptiedAfterMs),
        v.sent,
        v.lost,
        v.duplicated,
        v.replayed,
        `${v.gapP50Ms} ms`,
        `${v.gapP90Ms} ms`,
        `${v.gapP99Ms} ms`,
        `${v.gapMaxMs} ms`,
        v.peakReconnectsPerSec,
        v.peakReconnectsPer100Ms,
        v.drainReset ?? 'n/a',
      ]),
    ),
    '',
    '## Where the gap goes',
    '',
    'Halves of the gap: from the 1012 to the new socket open (TCP + upgrade accepted by B) and from open to the join reply.',
    'Listen overflows / drops: machine-wide TcpExt counters over the drain (other processes on the machine count too).',
    "B's accept queue: its listener's Recv-Q (`ss -ltn`) every 500 ms; full = at the listen backlog.",
    'CPU: each process from the drain request to 3 s after A emptied, ms.',
    '',
    table(
      [
        'receiver B',
        'jitter',
        'close -> open p50 / p99',
        'open -> joined p50 / p99',
        'listen overflows / drops',
        "B's accept queue: longest / samples full",
        'B loop delay p50 / p99 / max',
        'CPU ms: B / A / fleets / redis',
        'span',
      ],
      variants.map((v) => [
        v.receiver,
        `${v.restartJitterMs} ms`,
        `${v.connectP50Ms ?? 'n/a'} / ${v.connectP99Ms ?? 'n/a'} ms`,
        `${v.joinP50Ms ?? 'n/a'} / ${v.joinP99Ms ?? 'n/a'} ms`,
        `${v.listenOverflows ?? 'n/a'} / ${v.listenDrops ?? 'n/a'}`,
        `${v.bQueueMax ?? 'n/a'} / ${v.bQueueFullSamples} of ${v.bQueueSamples}`,
        v.bLoopDelay ? `${v.bLoopDelay.p50} / ${v.bLoopDelay.p99} / ${v.bLoopDelay.max} ms` : 'n/a',
        `${v.cpuMs.B ?? 'n/a'} / ${v.cpuMs.A ?? 'n/a'} / ${Object.entries(v.cpuMs)
          .filter(([k]) => k.startsWith('fleet'))
          .map(([, x]) => x ?? 'n/a')
          .join(' + ')} / ${v.cpuMs.redis ?? 'n/a'}`,
        s(v.spanMs),
      ]),
    ),
    '',
    "Arrivals: how late A's 1012 timers fired (A's event-loop turns release every close due in them at once) and the most",
    "1012s A sent within any 100 ms. B's accepts per event-loop turn (probe.cjs 'accepts'): connections its public listener handed over per turn, and the",
    'length of a turn that followed another accepting turn (the queue held more): the listener accepts about',
    '(accepts per turn) / (turn length) per second while a burst waits.',
    '',
    table(
      [
        'receiver B',
        'jitter',
        "A's 1012s late p50 / p99 / max",
        "A's 1012s: most in 100 ms (as /s)",
        'accepted / turns',
        'per turn mean / max (turns at max)',
        'turn length p50 / p90 / p99 / max',
        'back-to-back turns',
        'accepts/s in them',
      ],
      variants.map((v) => {
        const a = v.bAccepts;
        const c = v.closeSpread;
        const spread = c ? [`${c.lateP50Ms} / ${c.lateP99Ms} / ${c.lateMaxMs} ms`, c.peakPerSec100Ms] : ['n/a', 'n/a'];
        if (!a) return [v.receiver, `${v.restartJitterMs} ms`, ...spread, 'n/a', 'n/a', 'n/a', 'n/a', 'n/a'];
        return [
          v.receiver,
          `${v.restartJitterMs} ms`,
          ...spread,
          `${a.accepted} / ${a.turns}`,
          `${a.perTurnMean ?? 'n/a'} / ${a.perTurnMax ?? 'n/a'} (${a.turnsAtMax})`,
          `${a.turnMs.p50 ?? 'n/a'} / ${a.turnMs.p90 ?? 'n/a'} / ${a.turnMs.p99 ?? 'n/a'} / ${a.turnMs.max ?? 'n/a'} ms`,
          a.burstTurns,
          a.burstRatePerSec ?? 'n/a',
        ];
      }),
    ),
    '',
    'The server already spreads its 1012s over the window, so B sees about peers / window connections per second either way;',
    "the client's extra random(0, restartJitterMs) adds its mean to every peer's outage and smooths only what is left of the spike.",
  ].join('\n');
  writeResults('drain', m, md, {
    settings: {
      peers: PEERS,
      fleet: SDK ? 'sdk' : 'light',
      workers: WORKERS,
      intervalMs: INTERVAL_MS,
      jitters: JITTERS,
      rounds: ROUNDS,
      baseline: BASELINE ?? null,
    },
    variants,
    failed: cfg.failed,
  });
}
