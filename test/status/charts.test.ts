/**
 * The status page's and the drill's charts (app/local/status/svg.ts, charts.ts, style.ts), pure:
 * series told apart by colour and dash, headroom, clock time, a bounded legend with values, a
 * silenced server drawn with the connections its network still holds, the cut at `until`.
 */
import { regionChart, regionSeries } from '../../app/local/status/charts';
import { DASHES, OFFLINE_STYLE, PALETTE, seriesStyle } from '../../app/local/status/style';
import { clockLabel, legendRows, lineChart, yAxisTop } from '../../app/local/status/svg';
import type { Sample, ServerSample } from '../../app/local/region/monitor';

/** CIE76 colour difference of two #rrggbb colours (sRGB, D65). */
function deltaE(a: string, b: string): number {
  const lab = (h: string) => {
    const [r, g, bl] = [1, 3, 5]
      .map((i) => parseInt(h.slice(i, i + 2), 16) / 255)
      .map((c) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
    const x = (r * 0.4124 + g * 0.3576 + bl * 0.1805) / 0.95047;
    const y = r * 0.2126 + g * 0.7152 + bl * 0.0722;
    const z = (r * 0.0193 + g * 0.1192 + bl * 0.9505) / 1.08883;
    const f = (t: number) => (t > 0.008856 ? Math.cbrt(t) : 7.787 * t + 16 / 116);
    return [116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))];
  };
  const A = lab(a);
  const B = lab(b);
  return Math.hypot(A[0] - B[0], A[1] - B[1], A[2] - B[2]);
}

const server = (id: string, connections: number, extra: Partial<ServerSample> = {}): ServerSample => ({
  id,
  state: 'serving',
  connections,
  drainTotal: 0,
  drainClosed: 0,
  drainReset: 0,
  held: connections,
  at: 0,
  ...extra,
});
const sample = (t: number, servers: ServerSample[], offline = 0): Sample => ({
  t,
  servers,
  online: 0,
  away: 0,
  offline,
  delivered: 0,
  signalsPerSec: 0,
  latencyP50Ms: 0,
  latencyP99Ms: 0,
});

test('20 colours that differ (and from white and the offline red); (colour, dash) does not repeat before 140 series', () => {
  expect(new Set(PALETTE).size).toBe(20);
  for (let i = 0; i < PALETTE.length; i++) {
    expect(deltaE(PALETTE[i], '#ffffff')).toBeGreaterThan(30);
    expect(deltaE(PALETTE[i], OFFLINE_STYLE.color)).toBeGreaterThan(15);
    for (let j = i + 1; j < PALETTE.length; j++) expect(deltaE(PALETTE[i], PALETTE[j])).toBeGreaterThan(15);
  }
  const seen = new Set<string>();
  for (let i = 0; i < 140; i++) {
    const s = seriesStyle(i);
    seen.add(`${s.color} ${s.dash}`);
  }
  expect(seen.size).toBe(140);
  // Neighbours never share a dash: overlapping lines interleave instead of drawing as one.
  for (let i = 0; i < 40; i++) expect(seriesStyle(i).dash).not.toBe(seriesStyle(i + 1).dash);
  expect(DASHES[0]).toBe('');
});

test('headroom: the top line is never on the top of the plot', () => {
  for (const y of [1, 5, 15, 20, 30, 100, 1000]) {
    const { top, step } = yAxisTop(y);
    expect(top).toBeGreaterThanOrEqual(y * 1.1);
    expect(top % step).toBe(0);
  }
  expect(yAxisTop(0).top).toBeGreaterThan(0);
});

test('three servers at 20 connections: three distinguishable lines, each with its value in the legend', () => {
  const samples = [0, 1000, 2000].map((t) => sample(t, [server('local-1', 20), server('local-2', 20), server('local-3', 20)]));
  const svg = regionChart(samples, { title: 't' });
  const paths = [
    ...svg.matchAll(/<path d="([^"]+)" fill="none" stroke="(#[0-9a-f]+)"[^>]*?(?: stroke-dasharray="([^"]+)")? data-series="([^"]+)"/g),
  ];
  const servers = paths.filter((p) => p[4].startsWith('local-'));
  expect(servers).toHaveLength(3);
  // Same geometry ...
  expect(new Set(servers.map((p) => p[1])).size).toBe(1);
  // ... but each its own colour and dash.
  expect(new Set(servers.map((p) => p[2])).size).toBe(3);
  expect(new Set(servers.map((p) => p[3] ?? 'solid')).size).toBe(3);
  for (const id of ['local-1', 'local-2', 'local-3']) expect(svg).toContain(`data-legend="${id}">${id}: 20</text>`);
  // Headroom: the top tick is above 20 (20 + 10%: ticks of 10, up to 30).
  const ticks = [...svg.matchAll(/text-anchor="end">(\d+)<\/text>/g)].map((m) => Number(m[1]));
  expect(Math.max(...ticks)).toBe(30);
});

test('the legend is bounded: offline first, then the highest values, then "+ n more"', () => {
  const servers = Array.from({ length: 25 }, (_, i) => server(`local-${i + 1}`, i));
  const svg = regionChart([sample(0, servers), sample(1000, servers)], { title: 't', legendMax: 8 });
  const legend = [...svg.matchAll(/data-legend="([^"]+)"/g)].map((m) => m[1]);
  expect(legend).toEqual(['peers offline', 'local-25', 'local-24', 'local-23', 'local-22', 'local-21', 'local-20', 'local-19']);
  expect(svg).toContain('data-legend-more="18">+ 18 more');
  // Every series is drawn, listed or not.
  expect(svg.match(/data-series="local-/g)).toHaveLength(25);
  expect(legendRows([{ name: 'a', points: [] }], 8)).toEqual({ shown: [0], more: 0 });
});

test('clock time axis: ticks on whole clock steps, labelled HH:MM:SS', () => {
  const origin = new Date(2026, 11, 7, 1, 2, 3).getTime();
  const svg = lineChart({
    title: 't',
    series: [
      {
        name: 'a',
        points: [
          [0, 1],
          [120_000, 2],
        ],
      },
    ],
    clockOrigin: origin,
  });
  expect(svg).toContain('>01:02:30</text>');
  expect(svg).toContain('>01:03:00</text>');
  expect(svg).not.toContain('>01:02:03</text>');
  expect(clockLabel(origin)).toBe('01:02:03');
  // The page's chart: clock origin = the monitor's start + the window's first sample.
  const { spec } = regionSeries([sample(60_000, [server('local-1', 1)]), sample(61_000, [server('local-1', 1)])], {
    title: 't',
    clockOrigin: origin,
  });
  expect(spec.clockOrigin).toBe(origin + 60_000);
  expect(spec.xLabel).toBe('time (this machine)');
});

test('a silenced server: its line shows the connections still held half-open, in a shaded span, not 0', () => {
  // Its own count drops (its idle limit closed its ends), but its network still holds 12, half-open.
  const samples = [
    sample(0, [server('local-1', 12), server('local-2', 12)]),
    sample(1000, [server('local-1', 12, { state: 'silent', held: 12 }), server('local-2', 12)]),
    sample(2000, [server('local-1', 0, { state: 'silent', held: 12 }), server('local-2', 12)]),
    sample(3000, [server('local-1', 0, { state: 'silent', held: 12 }), server('local-2', 12)]),
  ];
  const { spec, data } = regionSeries(samples, { title: 't' });
  expect(data.series.find((s) => s.name === 'local-1')!.points).toEqual([
    [0, 12],
    [1000, 12],
    [2000, 12],
    [3000, 12],
  ]);
  expect(spec.spans).toEqual([{ t0: 1000, t1: 3000, label: 'local-1 silent' }]);
  const svg = lineChart(spec);
  expect(svg).toContain('local-1: 12 held (silent)');
  expect(svg).toContain('local-1 silent</text>');
  // With a marker saying the same (the drill's), the span is not labelled twice.
  const marked = lineChart(regionSeries(samples, { title: 't', markers: [{ t: 1000, label: 'local-1 silent' }] }).spec);
  expect(marked.match(/local-1 silent<\/text>/g)).toHaveLength(1);
});

test('the drill chart ends at the measurement (until), not with the teardown that closes everything', () => {
  const samples = [
    sample(0, [server('drill-1', 10)]),
    sample(1000, [server('drill-1', 10)]),
    sample(2000, [server('drill-1', 0)]), // teardown
  ];
  const { data, spec } = regionSeries(samples, { title: 't', until: 1000 });
  expect(data.series.find((s) => s.name === 'drill-1')!.points).toEqual([
    [0, 10],
    [1000, 10],
  ]);
  expect(spec.xRange).toEqual([0, 1000]);
  // A server that is gone (drained or deleted) counts 0 from then on.
  const gone = regionSeries([sample(0, [server('a-1', 3)]), sample(1000, [])], { title: 't' });
  expect(gone.data.series.find((s) => s.name === 'a-1')!.points).toEqual([
    [0, 3],
    [1000, 0],
  ]);
});
