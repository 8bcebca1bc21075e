/** The region's chart: connections per server and peers offline over time, from monitor samples. */
import type { Sample } from '../region/monitor';
import { lineChart, Series } from './svg';

export function regionChart(
  samples: Sample[],
  opts: { title: string; markers?: Array<{ t: number; label: string }>; since?: number; width?: number } = { title: '' },
): string {
  const t0 = opts.since ?? samples[0]?.t ?? 0;
  const shown = samples.filter((s) => s.t >= t0);
  const ids: string[] = [];
  for (const s of shown) for (const v of s.servers) if (!ids.includes(v.id)) ids.push(v.id);
  const series: Series[] = ids.map((id) => ({
    name: `${id} connections`,
    // A server that is gone counts 0 from then on; before it existed it is not drawn.
    points: pointsFor(shown, id, t0),
  }));
  series.push({ name: 'peers offline', dashed: true, points: shown.map((s) => [s.t - t0, s.offline]) });
  return lineChart({
    title: opts.title,
    series,
    width: opts.width,
    xLabel: 'seconds',
    yLabel: 'peers',
    markers: (opts.markers ?? []).map((m) => ({ t: m.t - t0, label: m.label })),
    xRange: shown.length ? [0, shown[shown.length - 1].t - t0] : undefined,
  });
}

function pointsFor(samples: Sample[], id: string, t0: number): Array<[number, number]> {
  const pts: Array<[number, number]> = [];
  let seen = false;
  for (const s of samples) {
    const v = s.servers.find((x) => x.id === id);
    if (v) seen = true;
    if (seen) pts.push([s.t - t0, v?.connections ?? 0]);
  }
  return pts;
}
