/**
 * Line charts as inline SVG text: one pure function, used by the status page (pushed over SSE)
 * and by the drill report (written as files). No dependency, no script: the output is a plain
 * `<svg>` a browser or a Markdown viewer shows as is. Every label is escaped.
 *
 * Readable by construction: every series has its own colour and dash pattern (style.ts), the y axis
 * leaves headroom above the top line, the time axis is the clock (HH:MM:SS) when `clockOrigin` is
 * given, and the legend is bounded (the `legendMax` series with the highest last value, each with
 * that value, then "+ n more"). The plot's geometry is on the root element (`data-*`) so the status
 * page can map a mouse position to a time and show every series' value there (page/chart-hover.js).
 */
import { OFFLINE_STYLE, SeriesStyle, seriesStyle } from './style';

export interface Series {
  name: string;
  points: Array<[number, number]>;
  /** Colour and dash; default: style.ts's for its index among the series without one. */
  style?: SeriesStyle;
  /** "Peers offline": red, listed first in the legend whatever its value. */
  offline?: boolean;
  /** The value the legend shows (default: the last point's). */
  legendValue?: string;
}

export interface ChartSpec {
  title: string;
  series: Series[];
  width?: number;
  height?: number;
  /** x values are ms; labelled in seconds, or as the clock when `clockOrigin` is set. */
  xLabel?: string;
  yLabel?: string;
  /** ms since the epoch of x = 0: the axis shows HH:MM:SS (this machine's clock). */
  clockOrigin?: number;
  /** Vertical markers (ms, label): "drain starts", "VM deleted", ... */
  markers?: Array<{ t: number; label: string }>;
  /** Shaded stretches of time (ms), e.g. "local-2 silent". */
  spans?: Array<{ t0: number; t1: number; label: string }>;
  /** Fixed x range (ms); default: the data's. */
  xRange?: [number, number];
  /** At most this many series in the legend (default 8). */
  legendMax?: number;
}

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** "Nice" tick step for a range: 1, 2 or 5 times a power of ten. */
export function niceStep(range: number, ticks: number): number {
  if (!(range > 0)) return 1;
  const raw = range / ticks;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/** The y axis' top: a nice tick at least 10% (and one unit) above the highest value. */
export function yAxisTop(yMax: number): { top: number; step: number } {
  const want = Math.max(yMax * 1.1, yMax + 1, 1);
  const step = niceStep(want, 4);
  return { top: Math.ceil(want / step) * step, step };
}

/** Clock tick steps (s): whole seconds, minutes, hours. */
const CLOCK_STEPS_S = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];

export function clockLabel(epochMs: number): string {
  const d = new Date(epochMs);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

export const LEGEND_MAX = 8;

/** The legend's rows: offline first, then by last value (highest first), at most `max`. */
export function legendRows(series: Series[], max = LEGEND_MAX): { shown: number[]; more: number } {
  const last = (s: Series) => s.points.at(-1)?.[1] ?? -1;
  const order = series
    .map((s, i) => i)
    .sort((a, b) => {
      const A = series[a];
      const B = series[b];
      if (!!A.offline !== !!B.offline) return A.offline ? -1 : 1;
      return last(B) - last(A) || a - b;
    });
  return { shown: order.slice(0, max), more: Math.max(0, order.length - max) };
}

export function lineChart(spec: ChartSpec): string {
  const W = spec.width ?? 760;
  const H = spec.height ?? 280;
  const m = { l: 48, r: 190, t: 28, b: 36 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const all = spec.series.flatMap((s) => s.points);
  const [x0, x1] = spec.xRange ?? [all.length ? Math.min(...all.map((p) => p[0])) : 0, all.length ? Math.max(...all.map((p) => p[0])) : 1];
  const xSpan = Math.max(1, x1 - x0);
  const { top: yTop, step: yStep } = yAxisTop(Math.max(0, ...all.map((p) => p[1])));
  const X = (x: number) => m.l + ((x - x0) / xSpan) * pw;
  const Y = (y: number) => m.t + ph - (y / yTop) * ph;
  const f = (n: number) => n.toFixed(1);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="11"` +
      ` data-x0="${x0}" data-x1="${x1}" data-left="${m.l}" data-plot-width="${pw}" data-top="${m.t}" data-plot-height="${ph}">`,
  );
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${m.l}" y="16" font-size="13" font-weight="bold">${escapeXml(spec.title)}</text>`);
  for (const sp of spec.spans ?? []) {
    const a = Math.max(x0, sp.t0);
    const b = Math.min(x1, sp.t1);
    if (b <= a) continue;
    out.push(`<rect x="${f(X(a))}" y="${m.t}" width="${f(X(b) - X(a))}" height="${ph}" fill="#fde8e8"/>`);
    if (sp.label) out.push(`<text x="${f(X(a) + 3)}" y="${m.t + ph - 4}" fill="#a33">${escapeXml(sp.label)}</text>`);
  }
  for (let y = 0; y <= yTop + 1e-9; y += yStep) {
    out.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${f(Y(y))}" y2="${f(Y(y))}" stroke="#eee"/>`);
    out.push(`<text x="${m.l - 6}" y="${f(Y(y) + 4)}" text-anchor="end">${Number(y.toFixed(6))}</text>`);
  }
  const origin = spec.clockOrigin;
  const xStep =
    origin === undefined
      ? niceStep(xSpan / 1000, 6) * 1000
      : (CLOCK_STEPS_S.find((s) => xSpan / (s * 1000) <= 6) ?? CLOCK_STEPS_S.at(-1)!) * 1000;
  // Clock ticks fall on whole clock steps (12:00:30, 12:01:00), not on steps from the start.
  const first = origin === undefined ? Math.ceil(x0 / xStep) * xStep : Math.ceil((origin + x0) / xStep) * xStep - origin;
  for (let x = first; x <= x1; x += xStep) {
    const label = origin === undefined ? String(Number((x / 1000).toFixed(3))) : clockLabel(origin + x);
    out.push(`<line x1="${f(X(x))}" x2="${f(X(x))}" y1="${m.t + ph}" y2="${m.t + ph + 4}" stroke="#333"/>`);
    out.push(`<text x="${f(X(x))}" y="${m.t + ph + 16}" text-anchor="middle">${label}</text>`);
  }
  out.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${m.t + ph}" y2="${m.t + ph}" stroke="#333"/>`);
  out.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${m.t + ph}" stroke="#333"/>`);
  if (spec.xLabel) out.push(`<text x="${m.l + pw / 2}" y="${H - 4}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`);
  if (spec.yLabel)
    out.push(
      `<text x="12" y="${m.t + ph / 2}" text-anchor="middle" transform="rotate(-90 12 ${m.t + ph / 2})">${escapeXml(spec.yLabel)}</text>`,
    );
  for (const mk of spec.markers ?? []) {
    if (mk.t < x0 || mk.t > x1) continue;
    out.push(`<line x1="${f(X(mk.t))}" x2="${f(X(mk.t))}" y1="${m.t}" y2="${m.t + ph}" stroke="#999" stroke-dasharray="2,3"/>`);
    out.push(`<text x="${f(X(mk.t) + 3)}" y="${m.t + 10}" fill="#555">${escapeXml(mk.label)}</text>`);
  }
  let auto = 0;
  const styles = spec.series.map((s) => (s.offline ? OFFLINE_STYLE : (s.style ?? seriesStyle(auto++))));
  const dashAttr = (dash: string) => (dash ? ` stroke-dasharray="${dash}"` : '');
  spec.series.forEach((s, i) => {
    if (s.points.length === 0) return;
    const d = s.points.map((p, k) => `${k === 0 ? 'M' : 'L'}${f(X(p[0]))},${f(Y(p[1]))}`).join('');
    out.push(
      `<path d="${d}" fill="none" stroke="${styles[i].color}" stroke-width="${s.offline ? 2.4 : 1.8}"${dashAttr(styles[i].dash)} data-series="${escapeXml(s.name)}"><title>${escapeXml(s.name)}</title></path>`,
    );
  });
  const legend = legendRows(spec.series, spec.legendMax);
  legend.shown.forEach((i, row) => {
    const s = spec.series[i];
    const ly = m.t + 8 + row * 16;
    const value = s.legendValue ?? (s.points.length ? String(s.points.at(-1)![1]) : '-');
    out.push(
      `<line x1="${W - m.r + 10}" x2="${W - m.r + 34}" y1="${ly - 4}" y2="${ly - 4}" stroke="${styles[i].color}" stroke-width="2.4"${dashAttr(styles[i].dash)}/>`,
    );
    out.push(`<text x="${W - m.r + 38}" y="${ly}" data-legend="${escapeXml(s.name)}">${escapeXml(s.name)}: ${escapeXml(value)}</text>`);
  });
  if (legend.more > 0)
    out.push(
      `<text x="${W - m.r + 10}" y="${m.t + 8 + legend.shown.length * 16}" fill="#555" data-legend-more="${legend.more}">+ ${legend.more} more (hover the chart)</text>`,
    );
  out.push('</svg>');
  return out.join('\n');
}
