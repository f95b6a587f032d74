/**
 * Minimal SVG line charts for the result pages (training curves, pass@K vs K): axes with ticks,
 * one polyline per series, a legend. Optional log-scale x (pass@K's K = 1…1000).
 */

export interface Series {
  name: string;
  points: [number, number][];
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  logX?: boolean;
  yMin?: number;
  yMax?: number;
  width?: number;
  height?: number;
}

/** Series colours, by position (also the study charts', benchmarks/study/svg.ts). */
export const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];

/** `s` escaped for SVG text. */
export function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** About `n` round tick values (steps of 1, 2 or 5 × 10^k) in [lo, hi]; [lo] for an empty range. */
export function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n, mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) {
    out.push(+v.toPrecision(12));
  }
  return out;
}

/** Plot margins in pixels: left, right, top, bottom. */
export interface Margins {
  l: number;
  r: number;
  t: number;
  b: number;
}

/** The opening of a chart: the svg element, a white background, the title and the two axes. */
export function chartHead(w: number, h: number, m: Margins, title: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="12">`,
    `<rect width="${w}" height="${h}" fill="white"/>`,
    `<text x="${w / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`,
    `<line x1="${m.l}" y1="${h - m.b}" x2="${w - m.r}" y2="${h - m.b}" stroke="black"/>`,
    `<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${h - m.b}" stroke="black"/>`,
  ];
}

/** The x-axis label (below the plot) and the y-axis label (rotated, left of it). */
export function axisLabels(
  w: number,
  h: number,
  m: Margins,
  xLabel: string,
  yLabel: string,
): string[] {
  return [
    `<text x="${(m.l + w - m.r) / 2}" y="${h - 10}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text transform="translate(16 ${(m.t + h - m.b) / 2}) rotate(-90)" text-anchor="middle">${
      esc(yLabel)
    }</text>`,
  ];
}

/**
 * Tick marks with their labels on the x axis over [x0, x1] (log10 of x with `logX`: a tick per
 * power of ten); `sx` maps x to pixels. Ticks outside the plot are left out.
 */
export function xTickMarks(
  x0: number,
  x1: number,
  logX: boolean | undefined,
  sx: (x: number) => number,
  w: number,
  h: number,
  m: Margins,
): string[] {
  const parts: string[] = [];
  const xTicks = logX
    ? niceTicks(Math.floor(x0), Math.ceil(x1), Math.max(1, Math.ceil(x1) - Math.floor(x0)))
      .map((e) => 10 ** e)
    : niceTicks(x0, x1);
  for (const t of xTicks) {
    const x = sx(t);
    if (x < m.l - 1 || x > w - m.r + 1) continue;
    parts.push(`<line x1="${x}" y1="${h - m.b}" x2="${x}" y2="${h - m.b + 4}" stroke="black"/>`);
    parts.push(
      `<text x="${x}" y="${h - m.b + 16}" text-anchor="middle">${+t.toPrecision(4)}</text>`,
    );
  }
  return parts;
}

/** Horizontal grid lines with their labels at the y ticks of [y0, y1]; `sy` maps y to pixels. */
export function yGrid(
  y0: number,
  y1: number,
  sy: (y: number) => number,
  w: number,
  m: Margins,
): string[] {
  const parts: string[] = [];
  for (const t of niceTicks(y0, y1)) {
    const y = sy(t);
    parts.push(`<line x1="${m.l - 4}" y1="${y}" x2="${w - m.r}" y2="${y}" stroke="#ddd"/>`);
    parts.push(`<text x="${m.l - 6}" y="${y + 4}" text-anchor="end">${+t.toPrecision(4)}</text>`);
  }
  return parts;
}

/** An SVG document with the series drawn as lines with point markers. */
export function lineChart(series: Series[], o: ChartOptions): string {
  const w = o.width ?? 640, h = o.height ?? 400;
  const m = { l: 60, r: 150, t: 36, b: 48 };
  const pts = series.flatMap((s) => s.points).filter(([x, y]) => isFinite(x) && isFinite(y));
  const fx = (x: number) => (o.logX ? Math.log10(x) : x);
  const xs = pts.map(([x]) => fx(x)), ys = pts.map(([, y]) => y);
  let x0 = Math.min(...xs), x1 = Math.max(...xs);
  if (!pts.length) [x0, x1] = [0, 1];
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  const y0 = o.yMin ?? Math.min(0, ...ys), y1 = o.yMax ?? (ys.length ? Math.max(...ys) : 1);
  const sx = (x: number) => m.l + ((fx(x) - x0) / (x1 - x0)) * (w - m.l - m.r);
  const sy = (y: number) => h - m.b - ((y - y0) / (y1 - y0 || 1)) * (h - m.t - m.b);
  const parts = chartHead(w, h, m, o.title);
  parts.push(...xTickMarks(x0, x1, o.logX, sx, w, h, m));
  parts.push(...yGrid(y0, y1, sy, w, m));
  parts.push(...axisLabels(w, h, m, o.xLabel, o.yLabel));
  series.forEach((s, i) => {
    const c = COLOURS[i % COLOURS.length];
    const p = s.points.filter(([x, y]) => isFinite(x) && isFinite(y) && (!o.logX || x > 0));
    if (p.length) {
      parts.push(
        `<polyline fill="none" stroke="${c}" stroke-width="2" points="${
          p.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ")
        }"/>`,
      );
      for (const [x, y] of p) {
        parts.push(
          `<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="2.5" fill="${c}"/>`,
        );
      }
    }
    const ly = m.t + 14 + i * 18;
    parts.push(
      `<line x1="${w - m.r + 10}" y1="${ly - 4}" x2="${w - m.r + 30}" y2="${
        ly - 4
      }" stroke="${c}" stroke-width="2"/>`,
    );
    parts.push(`<text x="${w - m.r + 34}" y="${ly}">${esc(s.name)}</text>`);
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
