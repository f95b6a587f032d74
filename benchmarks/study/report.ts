/**
 * The study report: from a reproduce `summary.csv` and the runs folder's CSVs only (no training,
 * no predictions), writes into `out`:
 *
 * - `intervals.csv` — per (task, model, metric, K): seeds, mean, sd, se and the 95 % Student-t
 *   interval over seeds (stats.ts `summarize`);
 * - `differences.csv` — paired by seed (compare.ts): hybrid − attention (tr-mamba2attn − trm-attn)
 *   on every task and metric; MLP-t − attention (trm-mlp-t − trm-attn, tr-mamba2mlpt − trm-attn)
 *   on Sudoku and Maze; and every other pair a claim compares; mean difference, the t-interval
 *   over seeds and a bootstrap interval (over seeds and, for ARC, the test items of the score
 *   step's diagnostics.csv);
 * - `rq.csv` — one row per research question and claim (claims.ts), with the paper's values
 *   (benchmarks/reproduce/expected/reference where present), ours (mean difference [95 %
 *   interval]) and the verdict of stats.ts `verdict`;
 * - `README.md` — in bold at the top the scale (reduced, our generated Sudoku/Maze data, not the
 *   paper's numbers), the measured wall time when given, the RQ table with the verdict rule next
 *   to it, over-seed tables, the plots and the provenance (commits, config hashes, backend,
 *   device); rows of uncommitted code (`-dirty` commits) are refused unless `allowDirty`;
 * - plots (plots.ts; SVG; bands and error bars = 95 % t-interval over seeds): `<task>/curves_exact.svg`,
 *   `<task>/curves_cell.svg` (held-out accuracy during training, from each run's train/eval.csv),
 *   `<task>/curves_loss.svg` (training loss, from train/metrics.csv, binned), `arc/pass_at_k.svg`
 *   (pass@K vs K), `arc/distinct_candidates.svg` and `arc/vote_entropy.svg`.
 *
 * @example
 * ```ts
 * import { writeStudyReport } from "./report.ts";
 * await writeStudyReport({ summary: "out/summary.csv", runs: "runs/study", out: "out/study" });
 * ```
 */
import { type Cell, csvText, readCsv } from "../../engine/csv.ts";
import { arcPlots, curvePlots } from "./plots.ts";
import { DIAGNOSTICS_COLUMNS } from "../score/tables.ts";
import { loadReference, REFERENCE_DIR } from "../score/reference.ts";
import { readSummary } from "../reproduce/verify.ts";
import type { SummaryRow } from "../reproduce/summary.ts";
import { guardResultsWrite, insideResults } from "../../engine/provenance.ts";
import { summarize } from "./stats.ts";
import {
  BOOTSTRAP_RESAMPLES,
  compareModels,
  type Comparison,
  type ComparisonResult,
  type ItemSource,
  modelsOf,
  signed,
  withInterval,
} from "./compare.ts";
import { CLAIM_RULE, type ClaimResult, CLAIMS, evaluateClaims, metricName } from "./claims.ts";

/** A run's folder as the reproduce pipeline reports it (steps.ts `RunSpec` has these fields). */
export interface RunFolder {
  task: string;
  model: string;
  seed: number;
  dir: string;
}

export interface StudyReportOptions {
  /** The reproduce run's summary.csv (a path), or its rows (`ReproduceResult.summary`). */
  summary: string | readonly SummaryRow[];
  /**
   * The runs folder (`<runs>/<task>/<model>/seed-<n>/{train,score}/`), or the runs themselves
   * (`ReproduceResult.runs`: each with its folder).
   */
  runs: string | readonly RunFolder[];
  /** Output folder (created). */
  out: string;
  /** Measured wall time of the whole study, in seconds, when the caller recorded it. */
  wallSeconds?: number | null;
  /** How the wall time was measured, when not by one invocation (appended to its line). */
  wallNote?: string;
  /** Accept rows of uncommitted code (`-dirty` commits); their label stays in the report. */
  allowDirty?: boolean;
  /** The command that produced the study, quoted in the README. */
  command?: string;
  /** benchmarks/reproduce/expected/reference folder (tests). */
  referenceDir?: string;
  /** Bootstrap resamples (default 2000). */
  resamples?: number;
}

export const INTERVAL_COLUMNS = [
  "task",
  "model",
  "metric",
  "k",
  "unit",
  "n_seeds",
  "seeds",
  "mean",
  "sd",
  "se",
  "ci95_lo",
  "ci95_hi",
  "interval",
  "preset",
] as const;

export const DIFFERENCE_COLUMNS = [
  "task",
  "metric",
  "k",
  "unit",
  "b",
  "a",
  "comparison",
  "n_seeds",
  "seeds",
  "mean_a",
  "mean_b",
  "mean_diff",
  "sd_diff",
  "t95_lo",
  "t95_hi",
  "boot95_lo",
  "boot95_hi",
  "bootstrap",
  "resamples",
  "unpaired_seeds",
] as const;

export const RQ_COLUMNS = [
  "question",
  "claim_id",
  "claim",
  "task",
  "metric",
  "k",
  "comparison",
  "paper",
  "paper_diff",
  "paper_source",
  "n_seeds",
  "mean_diff",
  "ci95_lo",
  "ci95_hi",
  "ours",
  "verdict",
  "direction",
  "margin",
  "note",
] as const;

export type IntervalRow = Record<typeof INTERVAL_COLUMNS[number], Cell>;
export type DifferenceRow = Record<typeof DIFFERENCE_COLUMNS[number], Cell>;
export type RqRow = Record<typeof RQ_COLUMNS[number], Cell>;

export interface StudyReport {
  written: string[];
  intervals: IntervalRow[];
  differences: DifferenceRow[];
  rq: RqRow[];
  claims: ClaimResult[];
  /** Inputs that could not be read (a run folder without eval.csv, …). */
  warnings: string[];
}

/** Thrown when the summary holds rows of uncommitted code and `allowDirty` is not set. */
export class DirtyRowsError extends Error {
  override name = "DirtyRowsError";
}

const HYB = "tr-mamba2attn", ATT = "trm-attn", MLPT = "trm-mlp-t", M2MLPT = "tr-mamba2mlpt";

/** The pairs of differences.csv (b − a) and the tasks they are compared on. */
export const STUDY_PAIRS: readonly { b: string; a: string; tasks: readonly string[] }[] = [
  { b: HYB, a: ATT, tasks: ["arc", "sudoku", "maze"] },
  { b: MLPT, a: ATT, tasks: ["sudoku", "maze"] },
  { b: M2MLPT, a: ATT, tasks: ["sudoku", "maze"] },
];

/** Metrics not compared (the same by construction). */
const NOT_COMPARED = ["train_steps"];

/** A run's folder (steps.ts `runSpec`: `<runs>/<task>/<model>/seed-<seed>`). */
export const runDir = (runs: string, task: string, model: string, seed: number) =>
  `${runs}/${task}/${model}/seed-${seed}`;

/** Where the run of (task, model, seed) lives: under a runs folder, or as a run names it. */
export type RunLocator = (task: string, model: string, seed: number) => string | null;

export function runLocator(runs: string | readonly RunFolder[]): RunLocator {
  if (typeof runs === "string") return (task, model, seed) => runDir(runs, task, model, seed);
  const dirs = new Map(runs.map((r) => [`${r.task}|${r.model}|${r.seed}`, r.dir]));
  return (task, model, seed) => dirs.get(`${task}|${model}|${seed}`) ?? null;
}

const keyOf = (r: { task: Cell; model: Cell; metric: Cell; k: Cell }) =>
  `${r.task}|${r.model}|${r.metric}|${r.k ?? ""}`;

/** intervals.csv: per (task, model, metric, K), over the seeds with a finite value. */
export function intervalRows(rows: readonly SummaryRow[]): IntervalRow[] {
  const groups = new Map<string, SummaryRow[]>();
  for (const r of rows) {
    if (typeof r.value !== "number" || !Number.isFinite(r.value)) continue;
    groups.set(keyOf(r), [...(groups.get(keyOf(r)) ?? []), r]);
  }
  const out: IntervalRow[] = [];
  for (const g of groups.values()) {
    const seeds = g.map((r) => Number(r.seed));
    if (new Set(seeds).size !== seeds.length) {
      throw new RangeError(`study report: ${g[0].task}/${g[0].model} ${g[0].metric}: a seed twice`);
    }
    const s = summarize(g.map((r) => r.value as number));
    const num = (x: number) => (Number.isFinite(x) ? x : null);
    out.push({
      task: g[0].task,
      model: g[0].model,
      metric: g[0].metric,
      k: g[0].k ?? null,
      unit: g[0].unit,
      n_seeds: s.n,
      seeds: [...seeds].sort((a, b) => a - b).join(" "),
      mean: s.mean,
      sd: num(s.sd),
      se: num(s.se),
      ci95_lo: num(s.ci95.lo),
      ci95_hi: num(s.ci95.hi),
      interval: s.n > 1 ? "95% Student t over seeds" : "one seed: no interval",
      preset: g[0].preset,
    });
  }
  return out;
}

/** The comparisons of differences.csv: STUDY_PAIRS and the claims' pairs, every shared metric. */
export function studyComparisons(rows: readonly SummaryRow[]): Comparison[] {
  const pairs = new Map<string, { task: string; a: string; b: string }>();
  for (const p of STUDY_PAIRS) {
    for (const task of p.tasks) pairs.set(`${task}|${p.b}|${p.a}`, { task, a: p.a, b: p.b });
  }
  for (const c of CLAIMS) pairs.set(`${c.task}|${c.b}|${c.a}`, { task: c.task, a: c.a, b: c.b });
  const out: Comparison[] = [];
  for (const p of pairs.values()) {
    const models = modelsOf(rows, p.task);
    if (!models.includes(p.a) || !models.includes(p.b)) continue;
    const metricsOf = (m: string) =>
      new Map(
        rows.filter((r) =>
          r.task === p.task && r.model === m && !NOT_COMPARED.includes(
            String(r.metric),
          )
        ).map((r) => [`${r.metric}|${r.k ?? ""}`, { metric: String(r.metric), k: r.k }]),
      );
    const mb = metricsOf(p.b);
    for (const [key, x] of metricsOf(p.a)) {
      if (!mb.has(key)) continue;
      out.push({ ...p, metric: x.metric, k: x.k === null ? null : Number(x.k) });
    }
  }
  return out;
}

/** A differences.csv row. */
export function differenceRow(r: ComparisonResult): DifferenceRow {
  const c = r.comparison, d = r.diff;
  const num = (x: number | null) => (x !== null && Number.isFinite(x) ? x : null);
  return {
    task: c.task,
    metric: c.metric,
    k: c.k,
    unit: r.unit,
    b: c.b,
    a: c.a,
    comparison: `${c.b} − ${c.a}`,
    n_seeds: r.seeds.length,
    seeds: r.seeds.join(" "),
    mean_a: r.meanA,
    mean_b: r.meanB,
    mean_diff: d.mean,
    sd_diff: num(d.sd),
    t95_lo: num(d.tInterval.lo),
    t95_hi: num(d.tInterval.hi),
    boot95_lo: num(d.bootstrap.lo),
    boot95_hi: num(d.bootstrap.hi),
    bootstrap: r.bootstrap,
    resamples: d.resamples,
    unpaired_seeds: [...r.onlyA, ...r.onlyB].join(" "),
  };
}

/** Per-test-item values of ARC runs, from their score/diagnostics.csv (preloaded). */
export async function arcItemSource(
  rows: readonly SummaryRow[],
  runs: string | readonly RunFolder[],
  warnings: string[],
): Promise<ItemSource> {
  const locate = runLocator(runs);
  const diag = new Map<string, Record<string, string>[]>();
  const seen = new Set<string>();
  for (const r of rows) {
    if (r.task !== "arc") continue;
    const key = `${r.model}|${r.seed}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const dir = locate("arc", String(r.model), Number(r.seed));
    if (dir === null) continue;
    const path = `${dir}/score/diagnostics.csv`;
    try {
      diag.set(key, await readCsv(path, DIAGNOSTICS_COLUMNS));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        warnings.push(`${path}: ${(e as Error).message} (bootstrap over seeds only)`);
      }
    }
  }
  return (task, model, seed, metric, k) => {
    if (task !== "arc") return null;
    const d = diag.get(`${model}|${seed}`);
    if (!d) return null;
    const voted = d.filter((x) => Number(x.n_votes) > 0);
    const item = (x: Record<string, string>) => `${x.task}#${x.test_index}`;
    if (metric === "mean_distinct_candidates") {
      return new Map(voted.map((x) => [item(x), Number(x.distinct_candidates)]));
    }
    if (metric === "mean_entropy_nats") {
      return new Map(voted.map((x) => [item(x), Number(x.entropy_nats)]));
    }
    if (metric === "pass_at_k" && k !== null) {
      // TRM's fractional credit: a task's share of test inputs whose true output ranks ≤ K.
      const tasks = new Map<string, number[]>();
      for (const x of d) {
        const rank = Number(x.correct_rank);
        tasks.set(x.task, [...(tasks.get(x.task) ?? []), rank >= 1 && rank <= k ? 1 : 0]);
      }
      return new Map(
        [...tasks].map(([t, xs]) => [t, (100 * xs.reduce((a, b) => a + b, 0)) / xs.length]),
      );
    }
    return null;
  };
}

/** One rq.csv row per claim. */
export function rqRows(results: readonly ClaimResult[]): RqRow[] {
  return results.map((r) => {
    const c = r.claim, cmp = r.comparison;
    const kText = r.k === null ? "" : ` at K=${r.k}`;
    const paperK = c.k === "max" ? ` at K=${c.paperK}` : "";
    const i = r.interval;
    const fin = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x : null);
    return {
      question: c.question,
      claim_id: c.id,
      claim: c.claim,
      task: c.task,
      metric: c.metric,
      k: r.k,
      comparison: `${c.b} − ${c.a}`,
      paper: `${r.paper.b} vs ${r.paper.a} (${signed(r.paper.diff)})${paperK}`,
      paper_diff: r.paper.diff,
      paper_source: r.paper.ids.join(";") || r.paper.source,
      n_seeds: cmp ? cmp.seeds.length : 0,
      mean_diff: cmp ? cmp.diff.mean : null,
      ci95_lo: fin(i?.lo),
      ci95_hi: fin(i?.hi),
      ours: cmp
        ? `${withInterval(cmp.diff.mean, i!.lo, i!.hi)} (${cmp.seeds.length} seed${
          cmp.seeds.length > 1 ? "s" : ""
        }${kText})`
        : `— (${r.status === "not-run" ? "not run" : "missing"})`,
      verdict: r.verdict ?? `not evaluated (${r.status})`,
      direction: c.atLeastParity
        ? "parity or better"
        : c.direction === 0
        ? "parity"
        : c.direction > 0
        ? "b > a"
        : "b < a",
      margin: c.margin ?? null,
      note: r.note,
    };
  });
}

function hms(s: number): string {
  const t = Math.round(s), h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60);
  return h ? `${h} h ${String(m).padStart(2, "0")} min` : m ? `${m} min ${t % 60} s` : `${t} s`;
}

const mdCell = (v: Cell) => String(v ?? "—").replace(/\|/g, "\\|");

function fmtValue(v: Cell, unit: Cell): string {
  if (v === null || v === "") return "—";
  const x = Number(v);
  return unit === "pct" ? `${x.toFixed(1)}%` : x.toFixed(unit === "count" ? 1 : 3);
}

/** Metrics shown in the README's over-seed table (all are in intervals.csv). */
const HEADLINE = [
  "exact_accuracy",
  "cell_accuracy",
  "pass_at_k",
  "mean_distinct_candidates",
  "mean_entropy_nats",
];

/** README.md of the report. */
export function studyReadme(
  rows: readonly SummaryRow[],
  intervals: readonly IntervalRow[],
  differences: readonly DifferenceRow[],
  rq: readonly RqRow[],
  plots: readonly string[],
  o: {
    wallSeconds?: number | null;
    wallNote?: string;
    command?: string;
    warnings: readonly string[];
  },
): string {
  const preset = String(rows[0]?.preset ?? "");
  const seeds = [...new Set(rows.map((r) => Number(r.seed)))].sort((a, b) => a - b);
  const tasks = [...new Set(rows.map((r) => String(r.task)))];
  const models = [...new Set(rows.map((r) => String(r.model)))];
  const arcTasks = rows.find((r) => r.task === "arc" && r.metric === "pass_at_k")?.n;
  const L: string[] = [`# Study report — preset ${preset}`, ""];
  if (preset === "paper") {
    L.push(
      `**Paper preset, but Sudoku and Maze run on our generated stand-in data (not Sudoku-Extreme ` +
        `or Maze-30x30-Hard): those numbers are not the paper's numbers.**`,
    );
  } else {
    L.push(
      `**Reduced scale (${preset}): Sudoku and Maze on our own generated data` +
        (arcTasks ? `, ARC on ${arcTasks} ARC-AGI-1 evaluation tasks` : "") +
        `. These are NOT the paper's numbers and are not comparable with them; only the ` +
        `directions and orderings the paper claims are tested.**`,
    );
  }
  L.push("");
  const uniq = (f: (r: SummaryRow) => string) => [...new Set(rows.map(f))];
  const trainSeconds = rows.filter((r) => r.metric === "train_seconds")
    .reduce((a, r) => a + (typeof r.value === "number" ? r.value : 0), 0);
  // The machine the time was measured on (the rows' device labels): times differ ~3× between
  // the 2-core machines this study has run on.
  const devices = uniq((r) => String(r.device)).filter((d) => d);
  const on = devices.length ? ` on ${devices.join("; ")}` : "";
  if (typeof o.wallSeconds === "number" && Number.isFinite(o.wallSeconds)) {
    L.push(
      `Measured wall time of the study: **${hms(o.wallSeconds)}** (${
        Math.round(o.wallSeconds)
      } s${on}; sum of the runs' optimiser-step times ${hms(trainSeconds)})` +
        (o.wallNote ? ` — ${o.wallNote}.` : "."),
    );
  } else {
    L.push(
      `Wall time of the study: not recorded (sum of the runs' optimiser-step times: ` +
        `${hms(trainSeconds)}; machine-dependent).`,
    );
  }
  L.push(
    "",
    `Tasks ${tasks.join(", ")}; models ${models.join(", ")}; seeds ${seeds.join(", ")}.` +
      (o.command ? ` Command: \`${o.command}\`.` : ""),
    "Generated by benchmarks/study/report.ts from `summary.csv` and the runs' CSV files " +
      "(train/metrics.csv, train/eval.csv, score/diagnostics.csv); do not edit by hand.",
    "",
    "## Research questions (`rq.csv`)",
    "",
    "| question | claim | paper (b vs a, difference) | ours: b − a, mean [95% interval] | verdict |",
    "|---|---|---|---|---|",
    ...rq.map((r) =>
      `| ${r.question} | ${mdCell(r.claim)} (${mdCell(r.comparison)}) | ${mdCell(r.paper)} | ${
        mdCell(r.ours)
      } | ${r.verdict === "agrees" || r.verdict === "disagrees" ? `**${r.verdict}**` : r.verdict} |`
    ),
    "",
    `**Rule.** ${CLAIM_RULE}`,
    "",
  );
  const notes = [...new Set(rq.map((r) => String(r.note)).flatMap((n) => n.split("; ")))]
    .filter((n) => n);
  if (notes.length) L.push("Notes:", "", ...notes.map((n) => `- ${n}`), "");
  L.push(
    "Paper values: benchmarks/reproduce/expected/reference/hybrid_paper.csv where present " +
      "(ids in `rq.csv`); the " +
      "pass@1 sources conflict (40.75/40.50 vs 29.50/29.25), the first pair is used.",
    "",
    "## Differences between models (`differences.csv`)",
    "",
    "Paired by seed; the t-interval over seeds decides the verdicts, the bootstrap interval " +
      "(resampling seeds, and for ARC the test items within each seed) is given beside it.",
    "",
    "| task | b − a | metric | mean b − a [95% t] | bootstrap 95% | seeds |",
    "|---|---|---|---|---|---|",
  );
  for (const d of differences) {
    if (!HEADLINE.includes(String(d.metric))) continue;
    const boot = d.boot95_lo === null
      ? "—"
      : `[${signed(Number(d.boot95_lo))}, ${signed(Number(d.boot95_hi))}]`;
    L.push(
      `| ${d.task} | ${d.comparison} | ${metricName(String(d.metric), d.k as number | null)} | ${
        withInterval(
          Number(d.mean_diff),
          d.t95_lo === null ? NaN : Number(d.t95_lo),
          d.t95_hi === null ? NaN : Number(d.t95_hi),
        )
      } | ${boot} | ${d.n_seeds} |`,
    );
  }
  L.push("", "## Over seeds (`intervals.csv`)", "");
  for (const task of tasks) {
    const rs = intervals.filter((r) => r.task === task && HEADLINE.includes(String(r.metric)));
    if (!rs.length) continue;
    L.push(
      `### ${task}`,
      "",
      "| model | metric | seeds | mean | sd | 95% interval |",
      "|---|---|---|---|---|---|",
      ...rs.map((r) =>
        `| ${r.model} | ${metricName(String(r.metric), r.k as number | null)} | ${r.n_seeds} | ${
          fmtValue(r.mean, r.unit)
        } | ${r.sd === null ? "—" : Number(r.sd).toFixed(2)} | ${
          r.ci95_lo === null
            ? "—"
            : `[${fmtValue(r.ci95_lo, r.unit)}, ${fmtValue(r.ci95_hi, r.unit)}]`
        } |`
      ),
      "",
    );
  }
  if (plots.length) {
    L.push(
      "## Plots",
      "",
      "Lines: mean over seeds; bands and error bars: 95% Student-t interval over seeds (none " +
        "with one seed).",
      "",
      ...plots.map((p) => `![${p}](${p})`),
      "",
    );
  }
  const hashes = new Map<string, Set<string>>();
  for (const r of rows) {
    const k = `${r.task}/${r.model}`;
    hashes.set(k, (hashes.get(k) ?? new Set()).add(String(r.config_hash).slice(0, 12)));
  }
  const dirty = uniq((r) => String(r.commit)).filter((c) => c.includes("dirty"));
  L.push(
    "## Provenance",
    "",
    `- Commit(s): ${uniq((r) => String(r.commit)).join(", ")}` +
      (dirty.length ? ` — **rows of uncommitted code: ${dirty.join(", ")}** (allowed)` : ""),
    `- Config hashes (first 12 hex digits): ${
      [...hashes].map(([k, h]) => `${k} ${[...h].join(" ")}`).join("; ")
    }`,
    `- Backend: ${uniq((r) => String(r.backend)).join("; ")}`,
    `- Device: ${uniq((r) => String(r.device)).join("; ")}`,
    `- Preset ${preset}, scale: ${uniq((r) => String(r.scale)).join("; ")}`,
  );
  if (o.warnings.length) {
    L.push("", "## Inputs not read", "", ...o.warnings.map((w) => `- ${w}`));
  }
  return L.join("\n") + "\n";
}

/**
 * Writes the study report (see the module comment) and returns its rows. Refuses (DirtyRowsError)
 * a summary with rows of uncommitted code unless `allowDirty`; inside the committed results/ it
 * also applies provenance.ts `guardResultsWrite` to the report's own code.
 */
export async function writeStudyReport(o: StudyReportOptions): Promise<StudyReport> {
  const source = typeof o.summary === "string" ? o.summary : "the summary rows";
  const rows = typeof o.summary === "string" ? await readSummary(o.summary) : [...o.summary];
  if (rows.length === 0) throw new RangeError(`study report: ${source} has no rows`);
  const presets = [...new Set(rows.map((r) => String(r.preset)))];
  if (presets.length > 1) {
    throw new RangeError(`study report: ${source} mixes presets ${presets.join(", ")}`);
  }
  const dirty = [...new Set(rows.map((r) => String(r.commit)).filter((c) => c.includes("dirty")))];
  if (dirty.length && !o.allowDirty) {
    throw new DirtyRowsError(
      `study report: refused: ${source} holds rows of uncommitted code (${dirty.join(", ")}); ` +
        `rerun at a clean commit, or pass allowDirty (--allow-dirty) to accept them (their ` +
        `commit label stays in the report)`,
    );
  }
  if (insideResults(o.out)) {
    await guardResultsWrite(o.out, { allowDirty: o.allowDirty, what: "study report" });
  }
  await Deno.mkdir(o.out, { recursive: true });
  const warnings: string[] = [];
  const reference = await loadReference(o.referenceDir ?? REFERENCE_DIR);
  const resamples = o.resamples ?? BOOTSTRAP_RESAMPLES;
  const items = await arcItemSource(rows, o.runs, warnings);

  const intervals = intervalRows(rows);
  const differences: DifferenceRow[] = [];
  for (const c of studyComparisons(rows)) {
    const r = compareModels(rows, c, { resamples, items });
    if (r.ok) differences.push(differenceRow(r));
  }
  const claims = evaluateClaims(rows, reference, { resamples, items });
  const rq = rqRows(claims);

  const plots: string[] = [];
  for (const task of [...new Set(rows.map((r) => String(r.task)))]) {
    plots.push(...await curvePlots(rows, task, runLocator(o.runs), o.out, warnings));
  }
  plots.push(...await arcPlots(rows, intervals, o.out));

  const files: [string, string][] = [
    ["intervals.csv", await csvText(INTERVAL_COLUMNS, intervals)],
    ["differences.csv", await csvText(DIFFERENCE_COLUMNS, differences)],
    ["rq.csv", await csvText(RQ_COLUMNS, rq)],
    [
      "README.md",
      studyReadme(rows, intervals, differences, rq, plots, {
        wallSeconds: o.wallSeconds,
        wallNote: o.wallNote,
        command: o.command,
        warnings,
      }),
    ],
  ];
  for (const [f, text] of files) await Deno.writeTextFile(`${o.out}/${f}`, text);
  return {
    written: [...files.map(([f]) => `${o.out}/${f}`), ...plots.map((p) => `${o.out}/${p}`)],
    intervals,
    differences,
    rq,
    claims,
    warnings,
  };
}
