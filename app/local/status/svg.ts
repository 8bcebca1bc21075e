/**
 * Line charts as inline SVG text: one pure function, used by the status page (pushed over SSE)
 * and by the drill report (written as files). No dependency, no script: the output is a plain
 * `<svg>` a browser or a Markdown viewer shows as is. Every label is escaped.
 */

export interface Series {
  name: string;
  points: Array<[number, number]>;
  /** Dashed line (e.g. the second axis' meaning, "peers offline"). */
  dashed?: boolean;
}

export interface ChartSpec {
  title: string;
  series: Series[];
  width?: number;
  height?: number;
  /** x values are ms; labelled in seconds. */
  xLabel?: string;
  yLabel?: string;
  /** Vertical markers (ms, label): "drain starts", "VM deleted", ... */
  markers?: Array<{ t: number; label: string }>;
  /** Fixed x range (ms); default: the data's. */
  xRange?: [number, number];
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];
const OFFLINE = '#d62728';

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

export function lineChart(spec: ChartSpec): string {
  const W = spec.width ?? 720;
  const H = spec.height ?? 260;
  const m = { l: 48, r: 150, t: 28, b: 36 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const all = spec.series.flatMap((s) => s.points);
  const [x0, x1] = spec.xRange ?? [all.length ? Math.min(...all.map((p) => p[0])) : 0, all.length ? Math.max(...all.map((p) => p[0])) : 1];
  const yMax = Math.max(1, ...all.map((p) => p[1]));
  const xSpan = Math.max(1, x1 - x0);
  const yStep = niceStep(yMax, 4);
  const yTop = Math.ceil(yMax / yStep) * yStep;
  const X = (x: number) => m.l + ((x - x0) / xSpan) * pw;
  const Y = (y: number) => m.t + ph - (y / yTop) * ph;
  const f = (n: number) => n.toFixed(1);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
  );
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${m.l}" y="16" font-size="13" font-weight="bold">${escapeXml(spec.title)}</text>`);
  for (let y = 0; y <= yTop + 1e-9; y += yStep) {
    out.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${f(Y(y))}" y2="${f(Y(y))}" stroke="#eee"/>`);
    out.push(`<text x="${m.l - 6}" y="${f(Y(y) + 4)}" text-anchor="end">${Number(y.toFixed(6))}</text>`);
  }
  const xStep = niceStep(xSpan / 1000, 6) * 1000;
  for (let x = Math.ceil(x0 / xStep) * xStep; x <= x1; x += xStep) {
    out.push(`<line x1="${f(X(x))}" x2="${f(X(x))}" y1="${m.t + ph}" y2="${m.t + ph + 4}" stroke="#333"/>`);
    out.push(`<text x="${f(X(x))}" y="${m.t + ph + 16}" text-anchor="middle">${Number((x / 1000).toFixed(3))}</text>`);
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
  let ci = 0;
  spec.series.forEach((s, i) => {
    const color = /offline/i.test(s.name) ? OFFLINE : COLORS[ci++ % COLORS.length];
    if (s.points.length > 0) {
      const d = s.points.map((p, k) => `${k === 0 ? 'M' : 'L'}${f(X(p[0]))},${f(Y(p[1]))}`).join('');
      out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.8"${s.dashed ? ' stroke-dasharray="5,3"' : ''}/>`);
    }
    const ly = m.t + 12 + i * 16;
    out.push(
      `<line x1="${W - m.r + 10}" x2="${W - m.r + 28}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5,3"' : ''}/>`,
    );
    out.push(`<text x="${W - m.r + 32}" y="${ly}">${escapeXml(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}
