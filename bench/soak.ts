/**
 * Benchmark (opt-in, `npm run bench:soak`; too long for `npm run bench`): RSS under a sustained
 * relay, side by side. Each system in turn relays 5k msg/s (100 pairs, ~120 B) for --minutes
 * (default 10); server RSS is sampled every 5 s. Reported: RSS at the start, the peak, the end,
 * and the growth per relayed signal over the first and the last half.
 *
 * sluice keeps, by design, every signal's history entry (per recipient: 1000 entries, 5 min,
 * 4 MiB) and a dedupe record per signal for the dedupe window (5 min), all charged to the process
 * memory budget (256 MiB by default): its RSS may grow until those bounds, then must stay flat.
 *
 * Goal (issue 27): sluice's RSS flat within 10 % over the last half (lastHalf below).
 *
 * Run: npx tsx bench/soak.ts [--minutes 10] [--systems sluice,socketio,ws]
 * (a short smoke of the script: --minutes 0.5 --systems sluice)
 */
import { LoadGen, measureRelay, pairNames, RelayFigures } from './lib/loadgen-handle';
import { machine, ms, run, sleep, table, writeResults } from './lib/report';
import { startSystem, SYSTEM_LABEL, SystemName } from './lib/systems';

const args = process.argv.slice(2);
const argOf = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const MINUTES = Number(argOf('minutes') ?? 10);
const SYSTEMS = (argOf('systems') ?? 'sluice,socketio,ws').split(',') as SystemName[];
const RATE = 5_000;
const SAMPLE_MS = 5_000;

interface Soak {
  system: SystemName;
  samples: Array<{ t: number; rss: number; heap: number }>;
  relay: RelayFigures;
  signals: number;
}

async function one(name: SystemName): Promise<Soak> {
  const sys = await startSystem(name);
  sys.proc.once('exit', (code, signal) => process.stderr.write(`soak ${name}: server exited (${code ?? signal})\n`));
  const gens = [await LoadGen.start(), await LoadGen.start()];
  try {
    const pairs = pairNames(`${name}-soak`, 100, 2);
    for (const [i, g] of gens.entries()) await g.open(name, sys.port, pairs[i].flat());
    const samples: Soak['samples'] = [];
    const t0 = Date.now();
    let on = true;
    const sampler = (async () => {
      while (on) {
        const m = await sys.mem().catch(() => undefined);
        if (m) {
          samples.push({ t: Date.now() - t0, rss: m.rss, heap: m.heapUsed });
          process.stderr.write(
            `soak ${name} ${((Date.now() - t0) / 1000).toFixed(0)} s: RSS ${(m.rss / 2 ** 20).toFixed(1)} MiB, heap ${(m.heapUsed / 2 ** 20).toFixed(1)} MiB\n`,
          );
        }
        await sleep(SAMPLE_MS);
      }
    })();
    const relay = await measureRelay(sys, gens, pairs, { rate: RATE, warmupMs: 1_000, durationMs: MINUTES * 60_000 - 1_000 });
    on = false;
    await sampler;
    return { system: name, samples, relay, signals: relay.sent };
  } finally {
    await Promise.all(gens.map((g) => g.stop()));
    await sys.stop();
  }
}

/** "Flat within 10 %": (highest - lowest) / lowest of the samples over the last half of the run. */
const FLAT_WITHIN = 0.1;

/**
 * The samples of the last half of the run by time (t >= half the last sample's t, not half the
 * count: a sampler that fell behind would shift the middle), their RSS range and spread; undefined
 * with fewer than 3 samples in that half.
 */
function lastHalf(samples: Soak['samples']) {
  const end = samples.at(-1)?.t ?? 0;
  const half = samples.filter((x) => x.t >= end / 2);
  if (half.length < 3) return undefined;
  const rss = half.map((x) => x.rss);
  const heap = half.map((x) => x.heap);
  const min = Math.min(...rss);
  const max = Math.max(...rss);
  return {
    from: half[0].t,
    n: half.length,
    min,
    max,
    spread: (max - min) / min,
    heapSpread: (Math.max(...heap) - Math.min(...heap)) / Math.min(...heap),
  };
}

async function main(): Promise<void> {
  const m = machine();
  const soaks: Soak[] = [];
  for (const s of SYSTEMS) {
    soaks.push(await one(s));
    process.stderr.write(`soak ${s}: ${soaks.at(-1)!.samples.length} samples\n`);
  }
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  const goals = soaks
    .filter((s) => s.system === 'sluice')
    .map((s) => {
      const f = lastHalf(s.samples);
      return [
        `sluice: RSS flat within ${FLAT_WITHIN * 100} % over the last half of ${MINUTES} min at ${RATE / 1000}k msg/s`,
        f
          ? `${mb(f.min)} - ${mb(f.max)} from ${(f.from / 1000).toFixed(0)} s: ${(f.spread * 100).toFixed(1)} % of its lowest (heap ${(f.heapSpread * 100).toFixed(1)} %), ${f.n} samples`
          : 'too few samples',
        f && f.spread <= FLAT_WITHIN ? 'met' : 'not met',
      ];
    });
  const rows = soaks.map((s) => {
    const first = s.samples[0];
    const last = s.samples.at(-1)!;
    const mid = s.samples[Math.floor(s.samples.length / 2)];
    const peak = Math.max(...s.samples.map((x) => x.rss));
    const perSignal = (a: typeof first, b: typeof first) => (b.rss - a.rss) / Math.max(1, ((b.t - a.t) / 1000) * RATE);
    return [
      SYSTEM_LABEL[s.system],
      mb(first.rss),
      mb(peak),
      mb(last.rss),
      `${perSignal(first, mid).toFixed(1)} B`,
      `${perSignal(mid, last).toFixed(1)} B`,
      ms(s.relay.p99Ms),
      s.relay.missing,
    ];
  });
  const md = [
    '# Soak benchmark',
    '',
    `Each system alone relays ${RATE / 1000}k msg/s (100 pairs, ~120 B, 2 load-generator processes) for ${MINUTES} min; server RSS sampled every ${SAMPLE_MS / 1000} s after a full GC.`,
    'Growth per relayed signal = RSS change / signals relayed over that half of the run. Reproduce: `npm run bench:soak`.',
    '',
    ...(goals.length > 0 ? ['## Goals', '', table(['goal', 'measured', 'status'], goals), '', '## Side by side', ''] : []),
    table(
      [
        'system',
        'RSS at start',
        'RSS peak',
        'RSS at end',
        'growth per signal, first half',
        'growth per signal, second half',
        'relay p99',
        'not delivered',
      ],
      rows,
    ),
    '',
    'sluice holds per signal a history entry (bounded per recipient by count, age and bytes) and a dedupe record for the dedupe',
    'window, both charged to the process memory budget; growth in the first half is those filling up, the second half must be flat.',
  ].join('\n');
  // A shorter smoke run never overwrites the 10-minute result the docs link.
  writeResults(MINUTES === 10 ? 'soak' : 'soak-smoke', m, md, { settings: { minutes: MINUTES, rate: RATE, sampleMs: SAMPLE_MS }, soaks });
}

run(main);
