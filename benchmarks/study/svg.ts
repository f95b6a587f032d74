/**
 * SVG charts of the study report with the spread over seeds drawn: line charts with a shaded band
 * per series (the 95 % interval, or ±sd, as the caller states in the title) and bar charts with
 * error bars. Same look as benchmarks/reproduce/svg.ts (whose `lineChart` draws no bands).
 */
import {
  axisLabels,
  chartHead,
  type ChartOptions,
  COLOURS,
  esc,
  type Margins,
  xTickMarks,
  yGrid,
} from "../reproduce/svg.ts";

/** One point of a band series: the centre (mean over seeds) and the band [lo, hi] if any. */
export interface BandPoint {
  x: number;
  y: number;
  lo?: number;
  hi?: number;
}

export interface BandSeries {
  name: string;
  points: BandPoint[];
}

/** One bar: a mean with its interval (NaN bounds: no error bar). */
export interface Bar {
  name: string;
  value: number;
  lo: number;
  hi: number;
}

/** A fixed colour per model name, so every chart of a report uses the same one. */
export function colourOf(name: string, names: readonly string[]): string {
  const i = names.indexOf(name);
  return COLOURS[(i < 0 ? 0 : i) % COLOURS.length];
}

const fin = (x: number | undefined): x is number => typeof x === "number" && Number.isFinite(x);

/** The chart's frame: head, axes and axis labels. */
function frame(w: number, h: number, m: Margins, o: {
  title: string;
  xLabel: string;
  yLabel: string;
}): string[] {
  return [...chartHead(w, h, m, o.title), ...axisLabels(w, h, m, o.xLabel, o.yLabel)];
}

/**
 * Line chart, one line per series (its mean) over a shaded band [lo, hi] where the points have
 * one; `colours` fixes a series' colour by name (default: by position).
 */
export function bandChart(
  series: readonly BandSeries[],
  o: ChartOptions & { colours?: readonly string[]; caption?: string },
): string {
  const w = o.width ?? 680, h = o.height ?? 420;
  const m = { l: 60, r: 170, t: 36, b: o.caption ? 64 : 48 };
  const ok = (p: BandPoint) => isFinite(p.x) && isFinite(p.y) && (!o.logX || p.x > 0);
  const pts = series.flatMap((s) => s.points).filter(ok);
  const fx = (x: number) => (o.logX ? Math.log10(x) : x);
  const xs = pts.map((p) => fx(p.x));
  const ys = pts.flatMap((p) => [p.y, ...(fin(p.lo) ? [p.lo] : []), ...(fin(p.hi) ? [p.hi] : [])]);
  let x0 = xs.length ? Math.min(...xs) : 0, x1 = xs.length ? Math.max(...xs) : 1;
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  const y0 = o.yMin ?? Math.min(0, ...ys);
  let y1 = o.yMax ?? (ys.length ? Math.max(...ys) : 1);
  if (y1 <= y0) y1 = y0 + 1;
  const clampY = (y: number) => Math.min(Math.max(y, y0), y1);
  const sx = (x: number) => m.l + ((fx(x) - x0) / (x1 - x0)) * (w - m.l - m.r);
  const sy = (y: number) => h - m.b - ((clampY(y) - y0) / (y1 - y0)) * (h - m.t - m.b);
  const parts = frame(w, h, m, o);
  if (o.caption) {
    parts.push(
      `<text x="${(m.l + w - m.r) / 2}" y="${h - 28}" text-anchor="middle" font-size="10">${
        esc(o.caption)
      }</text>`,
    );
  }
  parts.push(...xTickMarks(x0, x1, o.logX, sx, w, h, m));
  parts.push(...yGrid(y0, y1, sy, w, m));
  const xy = (x: number, y: number) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`;
  series.forEach((s, i) => {
    const c = o.colours?.[i] ?? COLOURS[i % COLOURS.length];
    const p = s.points.filter(ok).sort((a, b) => a.x - b.x);
    const banded = p.filter((q) => fin(q.lo) && fin(q.hi));
    if (banded.length >= 2) {
      const poly = [
        ...banded.map((q) => xy(q.x, q.hi!)),
        ...banded.slice().reverse().map((q) => xy(q.x, q.lo!)),
      ];
      parts.push(
        `<polygon class="band" fill="${c}" fill-opacity="0.18" stroke="none" points="${
          poly.join(" ")
        }"/>`,
      );
    } else {
      for (const q of banded) {
        parts.push(
          `<line class="band" x1="${sx(q.x).toFixed(1)}" y1="${sy(q.lo!).toFixed(1)}" x2="${
            sx(q.x).toFixed(1)
          }" y2="${sy(q.hi!).toFixed(1)}" stroke="${c}" stroke-opacity="0.5" stroke-width="6"/>`,
        );
      }
    }
    if (p.length) {
      parts.push(
        `<polyline fill="none" stroke="${c}" stroke-width="2" points="${
          p.map((q) => xy(q.x, q.y)).join(" ")
        }"/>`,
      );
      if (p.length <= 40) {
        for (const q of p) {
          parts.push(
            `<circle cx="${sx(q.x).toFixed(1)}" cy="${sy(q.y).toFixed(1)}" r="2.5" fill="${c}"/>`,
          );
        }
      }
    }
    const ly = m.t + 14 + i * 18;
    parts.push(
      `<rect x="${w - m.r + 10}" y="${
        ly - 10
      }" width="20" height="10" fill="${c}" fill-opacity="0.18"/>`,
      `<line x1="${w - m.r + 10}" y1="${ly - 5}" x2="${w - m.r + 30}" y2="${
        ly - 5
      }" stroke="${c}" stroke-width="2"/>`,
      `<text x="${w - m.r + 34}" y="${ly}">${esc(s.name)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

/** Bar chart, one bar per model with its error bar [lo, hi] (omitted for NaN bounds). */
export function barChart(
  bars: readonly Bar[],
  o: { title: string; yLabel: string; xLabel?: string; caption?: string; colours?: string[] } & {
    width?: number;
    height?: number;
  },
): string {
  const w = o.width ?? 520, h = o.height ?? 380;
  const m = { l: 60, r: 20, t: 36, b: o.caption ? 76 : 60 };
  const ys = bars.flatMap((b) => [b.value, ...(fin(b.hi) ? [b.hi] : [])]).filter(fin);
  const y0 = Math.min(0, ...bars.flatMap((b) => [b.value, ...(fin(b.lo) ? [b.lo] : [])]));
  let y1 = ys.length ? Math.max(...ys) * 1.05 : 1;
  if (y1 <= y0) y1 = y0 + 1;
  const sy = (y: number) => h - m.b - ((y - y0) / (y1 - y0)) * (h - m.t - m.b);
  const parts = frame(w, h, m, { title: o.title, xLabel: o.xLabel ?? "", yLabel: o.yLabel });
  if (o.caption) {
    parts.push(
      `<text x="${(m.l + w - m.r) / 2}" y="${h - 28}" text-anchor="middle" font-size="10">${
        esc(o.caption)
      }</text>`,
    );
  }
  parts.push(...yGrid(y0, y1, sy, w, m));
  const slot = (w - m.l - m.r) / Math.max(1, bars.length);
  bars.forEach((b, i) => {
    const c = o.colours?.[i] ?? COLOURS[i % COLOURS.length];
    const cx = m.l + slot * (i + 0.5), bw = Math.min(60, slot * 0.6);
    if (fin(b.value)) {
      const top = sy(Math.max(b.value, 0)), base = sy(Math.min(b.value, 0));
      parts.push(
        `<rect x="${(cx - bw / 2).toFixed(1)}" y="${top.toFixed(1)}" width="${bw.toFixed(1)}" ` +
          `height="${Math.max(0, base - top).toFixed(1)}" fill="${c}" fill-opacity="0.75"/>`,
      );
    }
    if (fin(b.lo) && fin(b.hi)) {
      const lo = sy(b.lo), hi = sy(b.hi);
      parts.push(
        `<line class="errorbar" x1="${cx.toFixed(1)}" y1="${lo.toFixed(1)}" x2="${
          cx.toFixed(1)
        }" y2="${hi.toFixed(1)}" stroke="black"/>`,
        `<line x1="${(cx - 6).toFixed(1)}" y1="${lo.toFixed(1)}" x2="${(cx + 6).toFixed(1)}" y2="${
          lo.toFixed(1)
        }" stroke="black"/>`,
        `<line x1="${(cx - 6).toFixed(1)}" y1="${hi.toFixed(1)}" x2="${(cx + 6).toFixed(1)}" y2="${
          hi.toFixed(1)
        }" stroke="black"/>`,
      );
    }
    parts.push(
      `<text x="${cx.toFixed(1)}" y="${h - m.b + 16}" text-anchor="middle">${esc(b.name)}</text>`,
      `<text x="${cx.toFixed(1)}" y="${h - m.b + 30}" text-anchor="middle" font-size="10">${
        fin(b.value) ? +b.value.toPrecision(4) : "—"
      }</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
