/**
 * The region's chart: connections per server and peers offline over time, from monitor samples.
 *
 * What each line shows is what is true at that time: a serving or draining server, the connections
 * it reports itself; a silenced server (its network black-holed), the WebSockets its VM network
 * still holds with a side open: its own end may have closed them on its idle limit, but no FIN
 * crossed the black hole, so their peers still hold them, half-open (the incident). Its silence is
 * a shaded span. A server that is gone (drained, or its VM deleted: RST) counts 0 from then on;
 * before it existed it is not drawn. `until` cuts the chart at the end of a measurement, before a
 * teardown closes everything.
 */
import type { Sample } from '../region/monitor';
import { ChartSpec, lineChart, Series } from './svg';
import { OFFLINE_STYLE, seriesStyle, SeriesStyle } from './style';

export interface RegionChartOptions {
  title: string;
  markers?: Array<{ t: number; label: string }>;
  /** First and last sample time shown (ms since the region started). */
  since?: number;
  until?: number;
  width?: number;
  /** ms since the epoch of sample time 0 (the monitor's start): a clock time axis. */
  clockOrigin?: number;
  legendMax?: number;
}

/** The series as the page's hover reads them (the same numbers the SVG draws). */
export interface ChartData {
  /** Sample time of x = 0 (ms since the region started), and its clock time when there is one. */
  t0: number;
  clockOrigin?: number;
  series: Array<{ name: string; color: string; dash: string; points: Array<[number, number]> }>;
}

/** The value a server's line shows in a sample (see the header). */
export function shownConnections(v: Sample['servers'][number]): number {
  return v.state === 'silent' ? Math.max(v.connections, v.held ?? 0) : v.connections;
}

export function regionSeries(samples: Sample[], opts: RegionChartOptions): { spec: ChartSpec; data: ChartData } {
  const t0 = opts.since ?? samples[0]?.t ?? 0;
  const shown = samples.filter((s) => s.t >= t0 && (opts.until === undefined || s.t <= opts.until));
  const ids: string[] = [];
  for (const s of shown) for (const v of s.servers) if (!ids.includes(v.id)) ids.push(v.id);
  const styles = new Map<string, SeriesStyle>(ids.map((id) => [id, seriesStyle(styleIndex(id, ids))]));
  const spans: NonNullable<ChartSpec['spans']> = [];
  const series: Series[] = [{ name: 'peers offline', offline: true, points: shown.map((s) => [s.t - t0, s.offline]) }];
  for (const id of ids) {
    const points: Array<[number, number]> = [];
    let seen = false;
    let silentFrom: number | undefined;
    let last: Sample['servers'][number] | undefined;
    for (const s of shown) {
      const v = s.servers.find((x) => x.id === id);
      if (v) seen = true;
      if (!seen) continue;
      points.push([s.t - t0, v ? shownConnections(v) : 0]);
      const silent = v?.state === 'silent';
      if (silent && silentFrom === undefined) silentFrom = s.t - t0;
      if (!silent && silentFrom !== undefined) {
        spans.push({ t0: silentFrom, t1: s.t - t0, label: `${id} silent` });
        silentFrom = undefined;
      }
      last = v;
    }
    if (silentFrom !== undefined) spans.push({ t0: silentFrom, t1: shown.at(-1)!.t - t0, label: `${id} silent` });
    // A marker that already says so (the drill's "drill-1 silent") labels the span.
    for (const sp of spans) if ((opts.markers ?? []).some((m) => m.label === sp.label)) sp.label = '';
    const legendValue = !last ? '0 (gone)' : last.state === 'silent' ? `${shownConnections(last)} held (silent)` : String(last.connections);
    series.push({ name: id, style: styles.get(id), points, legendValue });
  }
  const spec: ChartSpec = {
    title: opts.title,
    series,
    width: opts.width,
    xLabel: opts.clockOrigin === undefined ? 'seconds' : 'time (this machine)',
    yLabel: 'peers',
    clockOrigin: opts.clockOrigin === undefined ? undefined : opts.clockOrigin + t0,
    markers: (opts.markers ?? []).map((m) => ({ t: m.t - t0, label: m.label })),
    spans,
    xRange: shown.length ? [0, shown[shown.length - 1].t - t0] : undefined,
    legendMax: opts.legendMax,
  };
  const data: ChartData = {
    t0,
    clockOrigin: spec.clockOrigin,
    series: series.map((s) => ({
      name: s.name,
      color: (s.offline ? OFFLINE_STYLE : s.style!).color,
      dash: (s.offline ? OFFLINE_STYLE : s.style!).dash,
      points: s.points,
    })),
  };
  return { spec, data };
}

export function regionChart(samples: Sample[], opts: RegionChartOptions = { title: '' }): string {
  return lineChart(regionSeries(samples, opts).spec);
}

/**
 * A server keeps its style for its whole life: the number in its id (`local-7` is the 7th server
 * started) when it has one, else its place among the ids shown.
 */
function styleIndex(id: string, ids: string[]): number {
  const n = /-(\d+)$/.exec(id);
  return n ? Number(n[1]) - 1 : ids.indexOf(id);
}
