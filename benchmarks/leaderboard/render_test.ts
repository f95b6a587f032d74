/**
 * render.ts (and sections.ts, published.ts) on synthetic entries: rank order (mean, then submission time, then id), one section
 * per task and preset with the reduced presets labelled, the published rows only in the `paper`
 * sections, marked and unranked, a hostile name escaped everywhere, the t-interval of three seeds
 * against a hand-computed value, the Markdown tables equal to the HTML ones cell for cell, the
 * pass@K charts, the published rows read from the reference CSVs, and the command line's exits.
 */
import assert from "node:assert/strict";
import { SAMPLE_PUBLISHED, sampleEntry } from "./render_fixtures.ts";
import {
  buildSections,
  entryHeadline,
  escapeHtml,
  escapeMarkdown,
  headlineText,
  meanAndHalfWidth,
  PUBLISHED_MARK,
  rankEntries,
  thousands,
} from "./sections.ts";
import { loadPublished } from "./published.ts";
import { renderCommand, renderLeaderboard } from "./render.ts";

const entry = sampleEntry;
const PUBLISHED = SAMPLE_PUBLISHED;

const unescapeHtml = (s: string) =>
  s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#39;/g, "'")
    .replace(/&amp;/g, "&");

const unescapeMarkdown = (s: string) => s.replace(/\\([\\`*_{}\[\]<>|~&#!])/g, "$1");

/** Every table of the HTML: kind, header cells, body rows' cells (unescaped text). */
function htmlTables(html: string): { kind: string; head: string[]; rows: string[][] }[] {
  return [...html.matchAll(/<table class="(\w+)"[^>]*>([\s\S]*?)<\/table>/g)].map((m) => {
    const cells = (tr: string, tag: string) =>
      [...tr.matchAll(new RegExp(`<${tag}[^>]*>([\\s\\S]*?)</${tag}>`, "g"))]
        .map((c) => unescapeHtml(c[1]));
    const head = cells(m[2].match(/<thead>([\s\S]*?)<\/thead>/)![1], "th");
    const body = m[2].match(/<tbody>([\s\S]*?)<\/tbody>/)![1];
    const rows = [...body.matchAll(/<tr[^>]*>([\s\S]*?)<\/tr>/g)].map((r) => cells(r[1], "td"));
    return { kind: m[1], head, rows };
  });
}

/** Every table of the Markdown: header cells and body rows' cells (unescaped text). */
function markdownTables(md: string): { head: string[]; rows: string[][] }[] {
  const out: { head: string[]; rows: string[][] }[] = [];
  let cur: string[][] | null = null;
  const split = (line: string) =>
    line.slice(2, -2).split(/(?<!\\) \| /).map((c) => unescapeMarkdown(c));
  for (const line of md.split("\n")) {
    if (line.startsWith("| ")) (cur ??= []).push(split(line));
    else if (cur) {
      out.push({ head: cur[0], rows: cur.slice(2) });
      cur = null;
    }
  }
  return out;
}

/** The ids of the ranked rows of the section `id`, in page order. */
function sectionIds(html: string, id: string): number[] {
  const sec = html.match(new RegExp(`<section class="preset[^"]*" id="${id}"[\\s\\S]*?</section>`));
  assert.ok(sec, `section ${id} missing`);
  return [...sec[0].matchAll(/<tr class="entry" data-id="(\d+)" data-rank="(\d+)"/g)]
    .map((m) => Number(m[1]));
}

Deno.test("ranking: mean descending, ties by submission time then id, no value last", () => {
  const a = entry({ task: "sudoku", name: "a", values: [30], id: 101 });
  const b = entry({ task: "sudoku", name: "b", values: [40, 50, 60], id: 102 }); // mean 50
  const c = entry({
    task: "sudoku",
    name: "c",
    values: [50],
    id: 103,
    submittedAt: "2026-02-01T00:00:00Z", // earlier than b: wins the tie at 50
  });
  const d = entry({ task: "sudoku", name: "d", values: [50], id: 100 }); // same time as b, lower id
  const e = entry({ task: "sudoku", name: "e", values: [], id: 104 }); // no value
  const f = entry({ task: "sudoku", name: "f", values: [90], id: 105 });
  assert.deepEqual(rankEntries([a, b, c, d, e, f]).map((x) => x.name), [
    "f",
    "c",
    "d",
    "b",
    "a",
    "e",
  ]);
  const html = renderLeaderboard([a, b, c, d, e, f], []).html;
  assert.deepEqual(sectionIds(html, "sudoku-cpu-mini"), [105, 103, 100, 102, 101, 104]);
  const t = htmlTables(html).find((x) => x.kind === "ranked")!;
  assert.deepEqual(t.rows.map((r) => r[0]), ["1", "2", "3", "4", "5", "6"]);
  assert.equal(t.rows[5][5], "—");
});

Deno.test("interval: 3 seeds 40, 50, 60 give 50 ± t(0.975, 2)·10/√3 = 24.84", () => {
  // Hand computation: mean 50, sample sd 10, se 10/√3 = 5.77350, t(0.975, 2) = 4.302653 (table)
  // → half-width 24.841377.
  const h = meanAndHalfWidth([40, 50, 60]);
  assert.equal(h.n, 3);
  assert.equal(h.mean, 50);
  assert.ok(Math.abs(h.half - 24.841377117503313) < 1e-6, `half ${h.half}`);
  assert.equal(headlineText(h), "50.00 ± 24.84");
  const one = entryHeadline(entry({ task: "maze", name: "x", values: [12.5] }));
  assert.equal(one.n, 1);
  assert.ok(Number.isNaN(one.half));
  assert.equal(headlineText(one), "12.50 (1 seed)");
  assert.equal(headlineText(meanAndHalfWidth([])), "—");
  // ARC's headline is pass@2 from the curve.
  const arc = entryHeadline(entry({ task: "arc", name: "y", values: [10, 20, 30] }));
  assert.equal(arc.mean, 20);
  const html = renderLeaderboard([entry({ task: "sudoku", name: "z", values: [40, 50, 60] })], [])
    .html;
  const row = htmlTables(html).find((t) => t.kind === "ranked")!.rows[0];
  assert.equal(row[4], "3");
  assert.equal(row[5], "50.00 ± 24.84");
});

Deno.test("presets: one section each, paper first, reduced ones labelled, no mixing", () => {
  const es = [
    entry({ task: "maze", name: "mini-1", values: [20], preset: "cpu-mini" }),
    entry({ task: "maze", name: "paper-1", values: [5], preset: "paper", scale: "paper" }),
    entry({ task: "maze", name: "smoke-1", values: [99], preset: "smoke" }),
    entry({ task: "maze", name: "mini-2", values: [70], preset: "cpu-mini" }),
  ];
  const secs = buildSections(es, []).find((t) => t.task === "maze")!.sections;
  assert.deepEqual(secs.map((s) => s.preset), ["paper", "cpu-mini", "smoke"]);
  assert.deepEqual(secs.map((s) => s.reduced), [false, true, true]);
  const { html, markdown } = renderLeaderboard(es, []);
  assert.deepEqual(sectionIds(html, "maze-paper"), [es[1].id]);
  assert.deepEqual(sectionIds(html, "maze-cpu-mini"), [es[3].id, es[0].id]);
  assert.deepEqual(sectionIds(html, "maze-smoke"), [es[2].id]);
  for (const p of ["cpu-mini", "smoke"]) {
    const label = `${p} — reduced scale, NOT the paper's setting`;
    assert.ok(html.includes(`<h3 class="scale-label">${escapeHtml(label)}</h3>`), p);
    assert.ok(markdown.includes(`### ${escapeMarkdown(label)}`), p);
  }
  assert.ok(html.includes("paper — the paper&#39;s setting (full scale)"));
  // The smoke entry at 99 % is rank 1 of its own section only.
  const ranked = htmlTables(html).filter((t) => t.kind === "ranked");
  assert.deepEqual(ranked.map((t) => t.rows.map((r) => [r[0], r[2]])), [
    [["1", "paper-1"]],
    [["1", "mini-2"], ["2", "mini-1"]],
    [["1", "smoke-1"]],
  ]);
  // Tasks without entries still get a heading.
  assert.ok(html.includes(`<section class="task" id="arc">`));
  assert.ok(html.includes("No entries yet."));
});

Deno.test("published rows: only in the paper section, marked, unranked", () => {
  const es = [
    entry({ task: "arc", name: "mini", values: [50], preset: "cpu-mini" }),
    entry({ task: "arc", name: "full", values: [10], preset: "paper", scale: "paper" }),
    entry({ task: "sudoku", name: "sud", values: [99], preset: "cpu-mini" }),
  ];
  const { html, markdown } = renderLeaderboard(es, PUBLISHED);
  const tables = htmlTables(html);
  // ARC: paper ranked (1 entry), ARC published (2), ARC cpu-mini ranked; Sudoku: paper (no
  // entries → no ranked table) published (1), cpu-mini ranked.
  assert.deepEqual(tables.map((t) => t.kind), [
    "ranked",
    "published",
    "ranked",
    "published",
    "ranked",
  ]);
  const arcPub = tables[1];
  assert.deepEqual(arcPub.rows.map((r) => [r[0], r[1], r[3]]), [
    [PUBLISHED_MARK, "tr-mamba2attn", "45.88"],
    [PUBLISHED_MARK, "trm-attn", "43.88"],
  ]);
  assert.equal(arcPub.rows[0][4], "@2: 45.88, @100: 65.25");
  // The paper entry at 10 % is rank 1 though both published values are higher.
  assert.deepEqual(tables[0].rows.map((r) => [r[0], r[2]]), [["1", "full"]]);
  // Published rows carry no rank and sit in no reduced section.
  assert.ok(!/<tr class="published"[^>]*data-rank/.test(html));
  for (const id of ["arc-cpu-mini", "sudoku-cpu-mini"]) {
    const sec = html.match(new RegExp(`id="${id}"[\\s\\S]*?</section>`))![0];
    assert.ok(!sec.includes(PUBLISHED_MARK), id);
    assert.ok(!sec.includes("45.88") && !sec.includes("87.40"), id);
  }
  const paperSec = html.match(/id="sudoku-paper"[\s\S]*?<\/section>/)![0];
  assert.ok(paperSec.includes("No entries at this preset yet."));
  assert.ok(paperSec.includes("87.40"));
  assert.equal(markdown.split(PUBLISHED_MARK).length - 1, 3 + 3); // 3 rows + 3 captions
  // The paper section's chart carries the published points; the reduced one's does not.
  const svgs = renderLeaderboard(es, PUBLISHED).svgs;
  assert.ok(svgs["passk-arc-paper.svg"].includes("published trm-attn"));
  assert.ok(!svgs["passk-arc-cpu-mini.svg"].includes("published"));
});

Deno.test("escaping: a hostile name is text in the HTML, the Markdown and the SVG", () => {
  const evil = `<script>alert("pwned")</script> & <img src=x onerror=alert(1)> | *bold* [l](u)`;
  const es = [
    entry({ task: "arc", name: evil, values: [20, 30], model: "<b>m</b>" }),
    entry({ task: "sudoku", name: evil, values: [20], preset: "<i>odd preset</i>" }),
  ];
  const { html, markdown, svgs } = renderLeaderboard(es, PUBLISHED);
  assert.ok(!/<script/i.test(html), "no script element");
  assert.ok(!/<img src=x/i.test(html) && !/<b>m<\/b>/.test(html) && !/<i>odd/.test(html));
  assert.ok(html.includes("&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; &amp; "));
  const names = htmlTables(html).filter((t) => t.kind === "ranked").map((t) => t.rows[0][2]);
  assert.deepEqual(names, [evil, evil]);
  assert.ok(!/(?<!\\)<script/i.test(markdown), "no raw tag in the Markdown");
  assert.ok(markdown.includes('\\<script\\>alert("pwned")\\</script\\> \\& \\<img'));
  assert.ok(markdown.includes("\\| \\*bold\\* \\[l\\](u)"));
  for (const [name, svg] of Object.entries(svgs)) {
    assert.ok(!/<script|<img|<b>/i.test(svg), name);
  }
  assert.ok(svgs["passk-arc-cpu-mini.svg"].includes("&lt;script&gt;"));
  // The odd preset becomes a safe id and file name.
  assert.ok(html.includes(`id="sudoku-i-odd-preset-i"`));
});

Deno.test("the Markdown tables mirror the HTML tables cell for cell", () => {
  const es = [
    entry({ task: "arc", name: "alpha | beta", values: [10, 12, 14], preset: "paper" }),
    entry({ task: "arc", name: "gamma_δ *", values: [30], model: "tr-mamba2attn" }),
    entry({ task: "sudoku", name: "<x> & y", values: [80, 90] }),
    entry({ task: "maze", name: "m", values: [5], preset: "cpu-study" }),
    entry({ task: "maze", name: "n\\o", values: [7], preset: "cpu-study" }),
  ];
  const { html, markdown } = renderLeaderboard(es, PUBLISHED);
  const h = htmlTables(html), m = markdownTables(markdown);
  assert.equal(h.length, 6);
  assert.deepEqual(m.map((t) => t.head), h.map((t) => t.head));
  assert.deepEqual(m.map((t) => t.rows), h.map((t) => t.rows));
  // Headings in the same order.
  const hh = [...html.matchAll(/<h[23][^>]*>([^<]*)<\/h[23]>/g)].map((x) => unescapeHtml(x[1]));
  const mh = [...markdown.matchAll(/^#{2,3} (.*)$/gm)].map((x) => unescapeMarkdown(x[1]));
  assert.deepEqual(mh, hh);
});

Deno.test("charts: one pass@K SVG per ARC preset, log K axis, referenced by both pages", () => {
  const es = [
    entry({ task: "arc", name: "one", values: [10, 20, 30] }),
    entry({ task: "arc", name: "two", values: [5] }),
    entry({ task: "arc", name: "three", values: [1], preset: "smoke" }),
    entry({ task: "sudoku", name: "s", values: [1] }),
  ];
  const { html, markdown, svgs } = renderLeaderboard(es, []);
  assert.deepEqual(Object.keys(svgs).sort(), ["passk-arc-cpu-mini.svg", "passk-arc-smoke.svg"]);
  for (const f of Object.keys(svgs)) {
    assert.ok(html.includes(`<img class="chart" src="${f}"`), f);
    assert.ok(markdown.includes(`](${f})`), f);
  }
  const svg = svgs["passk-arc-cpu-mini.svg"];
  assert.ok(svg.startsWith("<svg xmlns="));
  assert.equal(svg.match(/<polyline/g)?.length, 2, "one line per entry");
  assert.equal(svg.match(/<polygon class="band"/g)?.length, 1, "a band for the 3-seed entry");
  for (const k of ["1", "10", "100", "1000"]) assert.ok(svg.includes(`>${k}</text>`), k);
  assert.ok(svg.includes(">1. one</text>") && svg.includes(">2. two</text>"));
  // Pure: the same input, the same output.
  assert.deepEqual(renderLeaderboard(es, []), { html, markdown, svgs });
});

Deno.test("formatting helpers", () => {
  assert.equal(thousands(6829058), "6,829,058");
  assert.equal(thousands(999), "999");
  assert.equal(escapeMarkdown("a|b\nc"), "a\\|b c");
});

Deno.test("loadPublished: the hybrid paper's headline numbers from the reference CSVs", async () => {
  const rows = await loadPublished();
  const get = (task: string, model: string) =>
    rows.find((r) => r.task === task && r.model === model);
  const arcAttn = get("arc", "trm-attn")!;
  assert.equal(arcAttn.value, 43.88);
  assert.equal(arcAttn.params, "6.83M");
  assert.deepEqual(arcAttn.passAtK, [{ k: 2, value: 43.88 }, { k: 100, value: 60.5 }]);
  assert.equal(get("arc", "tr-mamba2attn")!.value, 45.88);
  assert.equal(rows.filter((r) => r.task === "arc").length, 2);
  assert.deepEqual(
    rows.filter((r) => r.task === "sudoku").map((r) => [r.model, r.value]).sort(),
    [["tr-mamba2attn", 66.5], ["tr-mamba2mlpt", 84.2], ["trm-attn", 72.2], ["trm-mlp-t", 87.4]],
  );
  assert.equal(get("sudoku", "trm-mlp-t")!.params, "5M (TRM paper)");
  assert.deepEqual(
    rows.filter((r) => r.task === "maze").map((r) => [r.model, r.value]).sort(),
    [["mlp-t-variants", 0], ["tr-mamba2attn", 80.6], ["trm-attn", 60.8]],
  );
});

Deno.test("renderCommand: --help 0, bad flag 2, no database 1 (nothing written)", async () => {
  const out = await Deno.makeTempDir({ prefix: "render_cli_" });
  const err = console.error;
  const errs: string[] = [];
  console.error = (...a: unknown[]) => void errs.push(a.join(" "));
  try {
    const logs: string[] = [];
    assert.equal(await renderCommand(["--help"], (s) => logs.push(s)), 0);
    assert.ok(logs[0].startsWith("usage: deno task leaderboard render"));
    assert.equal(await renderCommand(["--bogus"]), 2);
    assert.ok(errs.at(-1)!.startsWith("leaderboard render: "));
    const site = `${out}/site`;
    assert.equal(await renderCommand(["--db", `${out}/none.db`, "--out", site]), 1);
    assert.match(errs.at(-1)!, /no database at .*none\.db/);
    await assert.rejects(() => Deno.stat(site));
  } finally {
    console.error = err;
    await Deno.remove(out, { recursive: true });
  }
});
