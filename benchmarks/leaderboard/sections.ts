/**
 * The leaderboard page's content, independent of its format: the tasks and their headline
 * metrics, entries ranked per task and preset (mean over seeds ± the 95 % t half-width), the
 * ranked and published tables, the ARC pass@K charts, and the sections render.ts lays out as HTML
 * and Markdown. Pure functions of the entries and the published rows.
 */
import { summarize } from "../study/stats.ts";
import { bandChart, type BandSeries } from "../study/svg.ts";
import { type Entry, HEADLINE, type LeaderboardTask, type PublishedRow } from "./entry.ts";

// ----------------------------------------------------------------------------- constants

/** Tasks in page order. */
export const TASKS: readonly LeaderboardTask[] = ["arc", "sudoku", "maze"];

/** The paper's name of each task (the section headings). */
export const TASK_TITLES: Record<LeaderboardTask, string> = {
  arc: "ARC-AGI-1",
  sudoku: "Sudoku-Extreme",
  maze: "Maze-30x30-Hard",
};

/** The preset that is the paper's setting; every other one is reduced scale. */
export const PAPER_PRESET = "paper";

/** The marking of every published reference row. */
export const PUBLISHED_MARK = "published, not re-run";

/** Where the published numbers come from (shown above their table). */
export const PUBLISHED_SOURCE = "Wang & Reid (2026), arXiv 2602.12078";

/** Column headers of a ranked table (the headline column's header is the task's label). */
export function rankedColumns(task: LeaderboardTask): string[] {
  return [
    "rank",
    "model",
    "name",
    "params",
    "seeds (n)",
    `${HEADLINE[task].label}, mean ± 95 % CI`,
    "backend",
    "dtype",
    "commit",
  ];
}

/** Column headers of a published reference table. */
export function publishedColumns(task: LeaderboardTask): string[] {
  return [
    "status",
    "model",
    "params",
    HEADLINE[task].label,
    ...(task === "arc" ? ["published pass@K (%)"] : []),
    "source",
  ];
}

/** Chart colours (tab10), by rank; the study charts' first six, then four more. */
const PALETTE = [
  "#1f77b4",
  "#d62728",
  "#2ca02c",
  "#9467bd",
  "#ff7f0e",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
];

// ----------------------------------------------------------------------------- small helpers

/** `s` escaped for HTML text and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

/**
 * `s` as literal text in a Markdown table cell: one line, and every character Markdown (or a
 * renderer's inline HTML) would read as syntax backslash-escaped (`|`, `<`, `*`, `[`, `&`, …).
 */
export function escapeMarkdown(s: string): string {
  return s.replace(/[\r\n\t]+/g, " ").replace(/[\\`*_{}\[\]<>|~&#!]/g, (c) => `\\${c}`);
}

/** A file-name-safe form of `s` (lower case, [a-z0-9._-]). */
export function slug(s: string): string {
  const t = s.toLowerCase().replace(/[^a-z0-9._-]+/g, "-").replace(/^[-.]+|-+$/g, "");
  return t || "x";
}

/** `n` with thousands separators (1,234,567), independent of the locale. */
export function thousands(n: number): string {
  if (!Number.isFinite(n)) return "—";
  return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "—");
const shorten = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** A preset's heading: the paper's setting, or reduced scale said plainly. */
export function presetLabel(preset: string): string {
  return preset === PAPER_PRESET
    ? `${preset} — the paper's setting (full scale)`
    : `${preset} — reduced scale, NOT the paper's setting`;
}

// ----------------------------------------------------------------------------- statistics

/** One seed's headline value (percent), NaN when the seed lacks it. */
export function seedHeadline(task: LeaderboardTask, seed: Entry["seeds"][number]): number {
  const h = HEADLINE[task];
  if (h.k !== null) {
    const v = seed.passAtK.find((q) => q.k === h.k)?.value;
    return typeof v === "number" ? v : NaN;
  }
  const v = seed.metrics[h.metric];
  return typeof v === "number" ? v : NaN;
}

/**
 * Mean over `values` (the finite ones) and the half-width of the 95 % Student-t interval,
 * t(0.975, n − 1)·sd/√n (NaN for one value); n counts the finite values.
 */
export function meanAndHalfWidth(values: readonly number[]): {
  n: number;
  mean: number;
  half: number;
} {
  const ok = values.filter(Number.isFinite);
  if (!ok.length) return { n: 0, mean: NaN, half: NaN };
  const s = summarize(ok);
  return { n: ok.length, mean: s.mean, half: (s.ci95.hi - s.ci95.lo) / 2 };
}

/** The headline of an entry: mean over seeds, half-width of its 95 % t-interval, seeds counted. */
export function entryHeadline(e: Entry): { n: number; mean: number; half: number } {
  return meanAndHalfWidth(e.seeds.map((s) => seedHeadline(e.task, s)));
}

/** `mean ± half` (several seeds) or `mean (1 seed)`; "—" without a value. */
export function headlineText(h: { n: number; mean: number; half: number }): string {
  if (h.n === 0 || !Number.isFinite(h.mean)) return "—";
  if (h.n === 1) return `${fmt(h.mean)} (1 seed)`;
  return `${fmt(h.mean)} ± ${fmt(h.half)}`;
}

const time = (s: string) => {
  const t = Date.parse(s);
  return Number.isFinite(t) ? t : Infinity;
};

/**
 * `entries` in rank order: headline mean descending (no value last), then the earlier
 * submission, then the lower id. Does not modify `entries`.
 */
export function rankEntries(entries: readonly Entry[]): Entry[] {
  const keyed = entries.map((e) => ({ e, m: entryHeadline(e).mean }));
  keyed.sort((a, b) => {
    const am = Number.isFinite(a.m) ? a.m : -Infinity, bm = Number.isFinite(b.m) ? b.m : -Infinity;
    if (am !== bm) return bm - am;
    const at = time(a.e.submittedAt), bt = time(b.e.submittedAt);
    if (at !== bt) return at < bt ? -1 : 1;
    return a.e.id - b.e.id;
  });
  return keyed.map((k) => k.e);
}

/** pass@K curve of an entry: per K, the mean over seeds with its 95 % t-interval. */
export function passAtKCurve(e: Entry): { k: number; mean: number; lo: number; hi: number }[] {
  const byK = new Map<number, number[]>();
  for (const s of e.seeds) {
    for (const p of s.passAtK) {
      if (!byK.has(p.k)) byK.set(p.k, []);
      byK.get(p.k)!.push(p.value);
    }
  }
  return [...byK.entries()].sort((a, b) => a[0] - b[0]).flatMap(([k, vs]) => {
    const h = meanAndHalfWidth(vs);
    if (h.n === 0) return [];
    return [{ k, mean: h.mean, lo: h.mean - h.half, hi: h.mean + h.half }];
  });
}

// ----------------------------------------------------------------------------- the model of the page

/** A table cell: its text (shown identically in HTML and Markdown) and an optional tooltip. */
export interface Cell {
  text: string;
  title?: string;
  className?: string;
}

export interface Table {
  kind: "ranked" | "published";
  caption: string;
  columns: string[];
  /** Right-aligned columns (numbers). */
  numeric: boolean[];
  rows: { cells: Cell[]; attrs: Record<string, string> }[];
}

export interface PresetSection {
  task: LeaderboardTask;
  preset: string;
  id: string;
  label: string;
  reduced: boolean;
  /** The scale labels recorded by the entries' runs (distinct). */
  scales: string[];
  ranked: Table;
  published: Table | null;
  /** The pass@K chart's file name (ARC with at least one curve), else null. */
  chart: string | null;
}

function rankedTable(task: LeaderboardTask, entries: readonly Entry[]): Table {
  const ranked = rankEntries(entries);
  const label = HEADLINE[task].label;
  return {
    kind: "ranked",
    caption: `Ranked by ${label}: mean over seeds ± half-width of the 95 % Student-t interval ` +
      `(several seeds), or the one seed's value. Ties: earlier submission first.`,
    columns: rankedColumns(task),
    numeric: [true, false, false, true, true, true, false, false, false],
    rows: ranked.map((e, i) => {
      const h = entryHeadline(e);
      const seeds = e.seeds.map((s) => s.seed).sort((a, b) => a - b);
      return {
        attrs: { "data-id": String(e.id), "data-rank": String(i + 1) },
        cells: [
          { text: String(i + 1) },
          { text: e.model },
          { text: e.name, className: "name", title: `submitted ${e.submittedAt}` },
          { text: thousands(e.params) },
          { text: String(e.seeds.length), title: `seeds ${seeds.join(", ")}` },
          { text: headlineText(h), className: "headline" },
          { text: e.backend, title: e.device },
          { text: e.dtype },
          { text: e.commit.slice(0, 12), title: e.commit, className: "commit" },
        ],
      };
    }),
  };
}

function publishedTable(task: LeaderboardTask, rows: readonly PublishedRow[]): Table {
  const arc = task === "arc";
  return {
    kind: "published",
    caption: `${PUBLISHED_MARK}: the numbers ${PUBLISHED_SOURCE} reports at full scale, shown ` +
      `for reference. Not ranked, not re-run here.`,
    columns: publishedColumns(task),
    numeric: [false, false, true, true, ...(arc ? [false] : []), false],
    rows: [...rows].sort((a, b) => b.value - a.value || a.model.localeCompare(b.model)).map((
      r,
    ) => ({
      attrs: { "data-published": "true" },
      cells: [
        { text: PUBLISHED_MARK, className: "mark" },
        { text: r.model },
        { text: r.params },
        { text: fmt(r.value), className: "headline" },
        ...(arc
          ? [{ text: r.passAtK.map((p) => `@${p.k}: ${fmt(p.value)}`).join(", ") || "—" }]
          : []),
        { text: r.source },
      ],
    })),
  };
}

/**
 * The chart of one ARC section: one line per entry (rank order; the legend gives the rank and the
 * name, the table beside it the rest), plus the published points.
 */
function passAtKChart(
  title: string,
  ranked: readonly Entry[],
  published: readonly PublishedRow[],
): string | null {
  const series: BandSeries[] = [];
  ranked.forEach((e, i) => {
    const c = passAtKCurve(e);
    if (!c.length) return;
    series.push({
      name: `${i + 1}. ${shorten(e.name, 20)}`,
      points: c.map((p) => ({
        x: p.k,
        y: p.mean,
        ...(Number.isFinite(p.lo) ? { lo: p.lo, hi: p.hi } : {}),
      })),
    });
  });
  for (const r of published) {
    if (!r.passAtK.length) continue;
    series.push({
      name: `published ${shorten(r.model, 14)}`,
      points: r.passAtK.map((p) => ({ x: p.k, y: p.value })),
    });
  }
  if (!series.length) return null;
  return bandChart(series, {
    title,
    xLabel: "K (log scale)",
    yLabel: "pass@K (%)",
    logX: true,
    yMin: 0,
    // A pass@K is at most 100 %: a wide band is cut there rather than stretching the axis.
    ...(series.some((s) => s.points.some((p) => (p.hi ?? p.y) > 100)) ? { yMax: 100 } : {}),
    width: 800,
    height: Math.max(420, 80 + series.length * 18),
    colours: series.map((_, i) => PALETTE[i % PALETTE.length]),
    caption: "mean over seeds; shaded: 95 % t-interval (several seeds)",
  });
}

/** The sections of the page, in order: per task, `paper` first, then the other presets by name. */
export function buildSections(
  entries: readonly Entry[],
  published: readonly PublishedRow[],
): { task: LeaderboardTask; sections: PresetSection[]; svgs: Record<string, string> }[] {
  const usedIds = new Set<string>();
  return TASKS.map((task) => {
    const mine = entries.filter((e) => e.task === task);
    const pub = published.filter((p) => p.task === task);
    const presets = [...new Set(mine.map((e) => e.preset))]
      .filter((p) => p !== PAPER_PRESET).sort();
    if (pub.length || mine.some((e) => e.preset === PAPER_PRESET)) presets.unshift(PAPER_PRESET);
    const svgs: Record<string, string> = {};
    const sections = presets.map((preset): PresetSection => {
      const es = mine.filter((e) => e.preset === preset);
      const isPaper = preset === PAPER_PRESET;
      let id = `${task}-${slug(preset)}`;
      for (let n = 2; usedIds.has(id); n++) id = `${task}-${slug(preset)}-${n}`;
      usedIds.add(id);
      let chart: string | null = null;
      if (task === "arc") {
        const svg = passAtKChart(
          `${TASK_TITLES[task]} pass@K — ${preset}${isPaper ? "" : " (reduced scale)"}`,
          rankEntries(es),
          isPaper ? pub : [],
        );
        if (svg) {
          chart = `passk-${id}.svg`;
          svgs[chart] = svg;
        }
      }
      return {
        task,
        preset,
        id,
        label: presetLabel(preset),
        reduced: !isPaper,
        scales: [...new Set(es.map((e) => e.scale).filter((s) => s !== ""))].sort(),
        ranked: rankedTable(task, es),
        published: isPaper && pub.length ? publishedTable(task, pub) : null,
        chart,
      };
    });
    return { task, sections, svgs };
  });
}
