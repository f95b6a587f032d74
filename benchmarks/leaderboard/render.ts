/**
 * `deno task leaderboard render [--db FILE] [--out DIR]`: the leaderboard as a static page — one
 * `index.html` plus its SVG charts (relative paths; opens from disk, no server, no script, no
 * external asset) and a `leaderboard.md` with the same tables.
 *
 * What the page shows, per task (ARC-AGI-1, Sudoku-Extreme, Maze-30x30-Hard) and per scale preset:
 *
 * - one table of entries ranked by the task's headline metric (`HEADLINE`: ARC pass@2, Sudoku and
 *   Maze exact accuracy): the mean over the entry's seeds, ± the half-width of the 95 % Student-t
 *   interval when there are several seeds ("1 seed" otherwise). Ties: the earlier submission
 *   first, then the lower id. Entries rank only within their preset;
 * - every preset but `paper` is labelled "<preset> — reduced scale, NOT the paper's setting";
 * - the paper's published numbers (Wang & Reid 2026) as reference rows "published, not re-run",
 *   in a separate, unranked table of the `paper` section only — never beside reduced-scale
 *   entries;
 * - for ARC, one pass@K chart per preset (log K axis; one line per entry, the mean over seeds with
 *   its 95 % t-interval band; in the `paper` section also the published points).
 *
 * `renderLeaderboard` is pure (entries and published rows in, texts out); `renderCommand` reads the
 * database and writes the files. Every user-supplied text (names are free text) is escaped.
 */
import { join } from "node:path";
import { assertWritable, parseCli, printCliResult, runMain } from "../../engine/cli.ts";
import { loadReference, REFERENCE_DIR, type ReferenceRow } from "../score/reference.ts";
import { summarize } from "../study/stats.ts";
import { bandChart, type BandSeries } from "../study/svg.ts";
import { type Entry, HEADLINE, type LeaderboardTask, type PublishedRow } from "./entry.ts";
import { DEFAULT_DB, listEntries, openDb } from "./db.ts";
import { guardResultsWrite } from "../../engine/provenance.ts";

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

export interface RenderOptions {
  /** Shown at the foot of the page (e.g. an ISO time); omitted when not given. */
  generatedAt?: string;
  /** The database the entries came from, shown at the foot of the page. */
  source?: string;
  /** Page title. */
  title?: string;
}

export interface RenderedLeaderboard {
  html: string;
  markdown: string;
  /** SVG files by file name (the names the HTML and Markdown reference, relative). */
  svgs: Record<string, string>;
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

// ----------------------------------------------------------------------------- HTML

const CSS = `
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em;
  color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.2em; }
h2 { border-bottom: 2px solid #444; padding-bottom: 0.2em; margin-top: 2em; }
section.preset { border-left: 6px solid #1f77b4; padding: 0.2em 1em 1em; margin: 1.5em 0;
  background: #f7fbff; }
section.preset.reduced { border-left-color: #d9a400; background: #fffbea; }
.scale-label { font-weight: bold; }
.reduced .scale-label { color: #8a5a00; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; background: white; }
caption { text-align: left; font-size: 0.9em; color: #555; padding: 0.3em 0; caption-side: top; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; vertical-align: top; }
th { background: #eee; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.commit { font-family: ui-monospace, monospace; }
td.name { max-width: 22em; overflow-wrap: anywhere; }
table.published { border: 2px dashed #888; }
table.published td { color: #555; font-style: italic; }
td.mark { font-weight: bold; color: #8b0000; font-style: normal; }
.empty { color: #777; font-style: italic; }
img.chart { display: block; max-width: 100%; height: auto; border: 1px solid #ddd; }
footer { margin-top: 3em; color: #777; font-size: 0.85em; }
`;

function htmlTable(t: Table, task: LeaderboardTask, preset: string): string {
  const head = t.columns.map((c) => `<th scope="col">${escapeHtml(c)}</th>`).join("");
  const body = t.rows.map((r) => {
    const attrs = Object.entries(r.attrs).map(([k, v]) => ` ${k}="${escapeHtml(v)}"`).join("");
    const tds = r.cells.map((c, i) => {
      const cls = [t.numeric[i] ? "num" : "", c.className ?? ""].filter(Boolean).join(" ");
      return `<td${cls ? ` class="${cls}"` : ""}${
        c.title ? ` title="${escapeHtml(c.title)}"` : ""
      }>${escapeHtml(c.text)}</td>`;
    }).join("");
    return `<tr class="${t.kind === "ranked" ? "entry" : "published"}"${attrs}>${tds}</tr>`;
  }).join("\n");
  return `<table class="${t.kind}" data-task="${task}" data-preset="${escapeHtml(preset)}">\n` +
    `<caption>${escapeHtml(t.caption)}</caption>\n<thead><tr>${head}</tr></thead>\n` +
    `<tbody>\n${body}\n</tbody>\n</table>`;
}

const intro = (title: string) => [
  `${title}: submitted runs of TRM and its operator swaps — the four models of Wang & Reid ` +
  `(2026), TRM with Transformer blocks and its Mamba-2 hybrids, and operators added at ` +
  `parameter parity (operators/README.md) — every score recomputed at submission from the ` +
  `run's predictions.`,
  `Entries rank only against entries of the same task and scale preset. Every preset but ` +
  `\`paper\` is a reduced scale: its numbers are not the paper's setting and must not be read ` +
  `against the paper's. The paper's own numbers appear only in the \`paper\` sections, marked ` +
  `"${PUBLISHED_MARK}" and unranked.`,
];

function htmlPage(
  tasks: ReturnType<typeof buildSections>,
  o: RenderOptions,
): string {
  const title = o.title ?? "trm-bench leaderboard";
  const out: string[] = [
    "<!DOCTYPE html>",
    `<html lang="en">`,
    `<head>`,
    `<meta charset="utf-8">`,
    `<meta name="viewport" content="width=device-width, initial-scale=1">`,
    `<title>${escapeHtml(title)}</title>`,
    `<style>${CSS}</style>`,
    `</head>`,
    `<body>`,
    `<h1>${escapeHtml(title)}</h1>`,
    ...intro(title).map((p) => `<p>${escapeHtml(p).replace(/`([^`]*)`/g, "<code>$1</code>")}</p>`),
    `<nav><ul>`,
  ];
  for (const t of tasks) {
    out.push(`<li><a href="#${t.task}">${escapeHtml(TASK_TITLES[t.task])}</a>`);
    if (t.sections.length) {
      out.push(
        `<ul>${
          t.sections.map((s) =>
            `<li><a href="#${escapeHtml(s.id)}">${escapeHtml(s.label)}</a></li>`
          )
            .join("")
        }</ul>`,
      );
    }
    out.push(`</li>`);
  }
  out.push(`</ul></nav>`);
  for (const t of tasks) {
    out.push(
      `<section class="task" id="${t.task}">`,
      `<h2>${escapeHtml(TASK_TITLES[t.task])}</h2>`,
    );
    if (!t.sections.length) out.push(`<p class="empty">No entries yet.</p>`);
    for (const s of t.sections) {
      out.push(
        `<section class="preset${s.reduced ? " reduced" : " paper"}" id="${escapeHtml(s.id)}" ` +
          `data-preset="${escapeHtml(s.preset)}">`,
        `<h3 class="scale-label">${escapeHtml(s.label)}</h3>`,
      );
      if (s.scales.length) {
        out.push(
          `<p class="scales">Scale recorded by the runs: ${
            s.scales.map((x) => escapeHtml(x)).join("; ")
          }</p>`,
        );
      }
      if (s.ranked.rows.length) out.push(htmlTable(s.ranked, s.task, s.preset));
      else out.push(`<p class="empty">No entries at this preset yet.</p>`);
      if (s.published) out.push(htmlTable(s.published, s.task, s.preset));
      if (s.chart) {
        out.push(
          `<figure><img class="chart" src="${escapeHtml(s.chart)}" alt="${
            escapeHtml(`pass@K against K, ${TASK_TITLES[s.task]}, ${s.preset}`)
          }"><figcaption>pass@K against K (log scale), ${escapeHtml(s.label)}.</figcaption>` +
            `</figure>`,
        );
      }
      out.push(`</section>`);
    }
    out.push(`</section>`);
  }
  const foot = [
    o.source ? `Entries from ${escapeHtml(o.source)}.` : "",
    o.generatedAt ? `Rendered ${escapeHtml(o.generatedAt)}.` : "",
    `Published numbers: ${escapeHtml(PUBLISHED_SOURCE)}.`,
  ].filter(Boolean).join(" ");
  out.push(`<footer>${foot}</footer>`, `</body>`, `</html>`);
  return out.join("\n") + "\n";
}

// ----------------------------------------------------------------------------- Markdown

function mdTable(t: Table): string {
  const row = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [
    `_${escapeMarkdown(t.caption)}_`,
    "",
    row(t.columns.map(escapeMarkdown)),
    row(t.numeric.map((n) => (n ? "---:" : "---"))),
    ...t.rows.map((r) => row(r.cells.map((c) => escapeMarkdown(c.text)))),
  ].join("\n");
}

function markdownPage(tasks: ReturnType<typeof buildSections>, o: RenderOptions): string {
  const title = o.title ?? "trm-bench leaderboard";
  const out: string[] = [`# ${escapeMarkdown(title)}`, "", ...intro(title).flatMap((p) => [p, ""])];
  for (const t of tasks) {
    out.push(`## ${TASK_TITLES[t.task]}`, "");
    if (!t.sections.length) out.push("_No entries yet._", "");
    for (const s of t.sections) {
      out.push(`### ${escapeMarkdown(s.label)}`, "");
      if (s.reduced) out.push(`**${escapeMarkdown(s.label)}**`, "");
      if (s.scales.length) {
        out.push(`Scale recorded by the runs: ${s.scales.map(escapeMarkdown).join("; ")}`, "");
      }
      out.push(s.ranked.rows.length ? mdTable(s.ranked) : "_No entries at this preset yet._", "");
      if (s.published) out.push(mdTable(s.published), "");
      if (s.chart) {
        out.push(
          `![pass@K against K, ${TASK_TITLES[s.task]}, ${escapeMarkdown(s.preset)}](${
            encodeURI(s.chart)
          })`,
          "",
        );
      }
    }
  }
  const foot = [
    o.source ? `Entries from ${escapeMarkdown(o.source)}.` : "",
    o.generatedAt ? `Rendered ${escapeMarkdown(o.generatedAt)}.` : "",
    `Published numbers: ${escapeMarkdown(PUBLISHED_SOURCE)}.`,
  ].filter(Boolean).join(" ");
  out.push("---", "", foot);
  return out.join("\n") + "\n";
}

// ----------------------------------------------------------------------------- entry points

/**
 * The page (HTML), its Markdown twin and its SVG charts for `entries` and the `published` rows.
 * Pure: the same input gives the same output (the time appears only if `opts.generatedAt` is set).
 */
export function renderLeaderboard(
  entries: readonly Entry[],
  published: readonly PublishedRow[],
  opts: RenderOptions = {},
): RenderedLeaderboard {
  const tasks = buildSections(entries, published);
  const svgs: Record<string, string> = {};
  for (const t of tasks) Object.assign(svgs, t.svgs);
  return { html: htmlPage(tasks, opts), markdown: markdownPage(tasks, opts), svgs };
}

const REF_TASKS: Record<string, LeaderboardTask> = {
  "arc-agi-1": "arc",
  "sudoku-extreme": "sudoku",
  "maze-30x30-hard": "maze",
};

/**
 * The hybrid paper's published headline numbers as reference rows, from the reference CSVs
 * (`benchmarks/reproduce/expected/reference/`): per task and model its headline (ARC pass@2,
 * Sudoku and Maze exact accuracy), for ARC every published pass@K point except the conflicting
 * pass@1 readings, and the published parameter count where one exists (hybrid paper, else the TRM
 * paper, else "—").
 */
export function publishedRows(ref: readonly ReferenceRow[]): PublishedRow[] {
  const out: PublishedRow[] = [];
  const hybrid = ref.filter((r) => r.paper === "wang-reid-2026" && r.stratum === "all");
  const params = (task: string, model: string): string => {
    const p = (paper: string, t: (x: string) => boolean) =>
      ref.find((r) =>
        r.paper === paper && r.metric === "params" && r.unit === "millions" &&
        r.model === model && t(r.task) && r.value !== null
      );
    const own = p("wang-reid-2026", (x) => x === task);
    if (own) return `${own.value}M`;
    const trm = p("jolicoeur-martineau-2025", (x) => x === task || x === "");
    return trm ? `${trm.value}M (TRM paper)` : "—";
  };
  for (const [refTask, task] of Object.entries(REF_TASKS)) {
    const h = HEADLINE[task];
    const heads = hybrid.filter((r) =>
      r.task === refTask && r.metric === h.metric && r.k === h.k && r.value !== null
    );
    for (const r of heads) {
      const points = task === "arc"
        ? hybrid.filter((q) =>
          q.task === refTask && q.model === r.model && q.metric === "pass_at_k" &&
          q.value !== null && q.k !== null && !q.notes.startsWith("CONFLICT")
        ).map((q) => ({ k: q.k!, value: q.value! })).sort((a, b) => a.k - b.k)
        : [];
      out.push({
        task,
        model: r.model,
        params: params(refTask, r.model),
        value: r.value!,
        passAtK: points,
        source: `Wang & Reid 2026, ${r.table} (${r.sourceKind} source)` +
          (r.notes ? `; ${r.notes.split(/[.;]/)[0].trim()}` : ""),
      });
    }
  }
  return out;
}

/** `publishedRows` of the committed reference CSVs. */
export async function loadPublished(dir: string = REFERENCE_DIR): Promise<PublishedRow[]> {
  return publishedRows(await loadReference(dir));
}

/** Writes a rendered leaderboard under `out` (created): index.html, leaderboard.md, the SVGs. */
export async function writeSite(out: string, r: RenderedLeaderboard): Promise<string[]> {
  await Deno.mkdir(out, { recursive: true });
  const files: [string, string][] = [
    ["index.html", r.html],
    ["leaderboard.md", r.markdown],
    ...Object.entries(r.svgs),
  ];
  for (const [name, text] of files) await Deno.writeTextFile(join(out, name), text);
  return files.map(([name]) => join(out, name));
}

export const DEFAULT_OUT = "results/leaderboard/site";

export const RENDER_USAGE = `usage: deno task leaderboard render [--db FILE] [--out DIR]
  Writes the leaderboard as a static page: DIR/index.html (opens from disk; no server, no
  script), its pass@K charts DIR/*.svg and the same tables as DIR/leaderboard.md. Entries are
  ranked per task and scale preset by the task's headline metric (ARC pass@2, Sudoku and Maze
  exact accuracy); the paper's published numbers are shown, unranked, in the paper sections only.
  --db FILE   the leaderboard database (default ${DEFAULT_DB})
  --out DIR   where to write the page (default ${DEFAULT_OUT})`;

/** The `render` subcommand: exit status 0 written, 1 failure (no database), 2 usage error. */
export async function renderCommand(args: string[], log = console.log): Promise<number> {
  const r = parseCli("leaderboard render", RENDER_USAGE, {
    db: { type: "string", default: DEFAULT_DB },
    out: { type: "string", default: DEFAULT_OUT },
  }, args);
  if ("exit" in r) return printCliResult(r, log);
  const { db: dbPath, out } = r.values;
  assertWritable(out);
  // The page under results/ is a result: written from a clean tree only (as submit's database).
  await guardResultsWrite(out, { what: "rendering the leaderboard" });
  try {
    if (!(await Deno.stat(dbPath)).isFile) throw new Error("not a file");
  } catch (e) {
    console.error(
      `leaderboard render: no database at ${dbPath} (${(e as Error).message}); ` +
        `submit an entry first, or name one with --db`,
    );
    return 1;
  }
  const db = openDb(dbPath, { readonly: true });
  let entries: Entry[];
  try {
    entries = listEntries(db);
  } finally {
    db.close();
  }
  const published = await loadPublished();
  const rendered = renderLeaderboard(entries, published, {
    generatedAt: new Date().toISOString(),
    source: dbPath,
  });
  const files = await writeSite(out, rendered);
  log(
    `leaderboard render: ${entries.length} entries, ${published.length} published rows → ` +
      `${join(out, "index.html")} (+ leaderboard.md, ${files.length - 2} charts)`,
  );
  return 0;
}

if (import.meta.main) {
  await runMain(renderCommand, { name: "leaderboard render", usage: RENDER_USAGE });
}
