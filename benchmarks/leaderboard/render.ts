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
 * `renderLeaderboard` is pure (entries and published rows in, texts out; what the page holds is
 * built in sections.ts, the published rows in published.ts); `renderCommand` reads the database
 * and writes the files. Every user-supplied text (names are free text) is escaped.
 */
import { join } from "node:path";
import { assertWritable, parseCli, printCliResult, runMain } from "../../engine/cli.ts";
import type { Entry, LeaderboardTask, PublishedRow } from "./entry.ts";
import {
  buildSections,
  escapeHtml,
  escapeMarkdown,
  PUBLISHED_MARK,
  PUBLISHED_SOURCE,
  type Table,
  TASK_TITLES,
} from "./sections.ts";
import { loadPublished } from "./published.ts";
import { DEFAULT_DB, listEntries, openDb } from "./db.ts";
import { guardResultsWrite } from "../../engine/provenance.ts";

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
