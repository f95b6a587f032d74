/**
 * The committed result folder of a reproduce run, `results/<preset>/` (small files only; the
 * checkpoints and predictions stay under the gitignored runs folder):
 *
 * - `summary.csv` — every number (summary.ts `REPRO_SUMMARY_COLUMNS`);
 * - `<task>/curves.csv` — held-out evaluations during training (seed, model + train.ts
 *   `EVAL_COLUMNS`); `<task>/curves.svg` exact accuracy vs step, `<task>/curves_cell.svg` cell
 *   accuracy vs step, one line per model (and seed);
 * - `arc/pass_at_k.csv`, `arc/diagnostics.csv`, `arc/diagnostics_summary.csv`, `arc/strata.csv`
 *   (seed + the score files' columns), `arc/pass_at_k.svg` (pass@K vs K, log x);
 * - `sudoku/accuracy.csv`, `maze/accuracy.csv` (seed + the score file's columns);
 * - `verify.csv` (verify.ts) and `README.md`, generated from these CSVs.
 */
import { SEED_STATS_COLUMNS, seedStats, seedStatsTable } from "./seeds.ts";
import { type Cell, csvText, readCsv } from "../../engine/csv.ts";
import { writeStrata } from "../score/run.ts";
import {
  ACCURACY_COLUMNS,
  DIAGNOSTICS_COLUMNS,
  PASS_AT_K_COLUMNS,
  STRATA_COLUMNS,
  SUMMARY_COLUMNS,
} from "../score/tables.ts";
import { EVAL_COLUMNS } from "../../recursion/run/record.ts";
import type { PresetName } from "../../recursion/run/config.ts";
import { presetConfig } from "../../recursion/presets.ts";
import { lineChart, type Series } from "./svg.ts";
import { type RunSpec, scoreDir, trainDir } from "./steps.ts";
import { REPRO_SUMMARY_COLUMNS, type SummaryRow } from "./summary.ts";
import { FAILING, type VerifyRow } from "./verify.ts";

/** Concatenates one CSV per run, prefixed with the run's seed (and model when missing). */
async function mergeCsv(
  runs: readonly RunSpec[],
  file: (r: RunSpec) => string,
  columns: readonly string[],
  out: string,
  withModel = false,
): Promise<Record<string, string>[]> {
  const rows: Record<string, Cell>[] = [];
  for (const r of runs) {
    for (const row of await readCsv(file(r), columns)) {
      const { line: _l, ...rest } = row;
      rows.push({ seed: r.seed, ...(withModel ? { model: r.model } : {}), ...rest });
    }
  }
  const cols = ["seed", ...(withModel ? ["model"] : []), ...columns];
  await Deno.writeTextFile(out, await csvText(cols, rows));
  return rows as Record<string, string>[];
}

function seriesName(r: { model: string; seed: number }, seeds: number): string {
  return seeds > 1 ? `${r.model} s${r.seed}` : r.model;
}

const PCT_TICKS = { yMin: 0, yMax: 100 };

/** Writes every file of the result folder except verify.csv and README.md. */
export async function writeResultFiles(
  runs: readonly RunSpec[],
  summary: readonly SummaryRow[],
  out: string,
): Promise<string[]> {
  await Deno.mkdir(out, { recursive: true });
  const written = [`${out}/summary.csv`];
  await Deno.writeTextFile(written[0], await csvText(REPRO_SUMMARY_COLUMNS, summary));
  const stats = seedStats(summary);
  if (stats.length) {
    written.push(`${out}/seeds.csv`);
    await Deno.writeTextFile(`${out}/seeds.csv`, await csvText(SEED_STATS_COLUMNS, stats));
  }
  const seeds = new Set(runs.map((r) => r.seed)).size;
  const tasks = [...new Set(runs.map((r) => r.task))];
  for (const task of tasks) {
    const tr = runs.filter((r) => r.task === task);
    const dir = `${out}/${task}`;
    await Deno.mkdir(dir, { recursive: true });
    const curves = await mergeCsv(
      tr,
      (r) => `${trainDir(r)}/eval.csv`,
      EVAL_COLUMNS,
      `${dir}/curves.csv`,
      true,
    );
    written.push(`${dir}/curves.csv`);
    for (
      const [col, file, label] of [
        ["exact_acc", "curves.svg", "held-out exact accuracy (%)"],
        ["cell_acc", "curves_cell.svg", "held-out cell accuracy (%)"],
      ] as const
    ) {
      const series: Series[] = tr.map((r) => ({
        name: seriesName(r, seeds),
        points: curves
          .filter((c) => c.model === r.model && Number(c.seed) === r.seed)
          .map((c) => [Number(c.step), 100 * Number(c[col])] as [number, number]),
      }));
      await Deno.writeTextFile(
        `${dir}/${file}`,
        lineChart(series, {
          title: `${task}: ${label.replace(" (%)", "")} during training (EMA weights)`,
          xLabel: "optimiser step",
          yLabel: label,
          ...PCT_TICKS,
        }),
      );
      written.push(`${dir}/${file}`);
    }
    if (task === "arc") {
      const pass = await mergeCsv(
        tr,
        (r) => `${scoreDir(r)}/pass_at_k.csv`,
        PASS_AT_K_COLUMNS,
        `${dir}/pass_at_k.csv`,
      );
      await mergeCsv(
        tr,
        (r) => `${scoreDir(r)}/diagnostics.csv`,
        DIAGNOSTICS_COLUMNS,
        `${dir}/diagnostics.csv`,
      );
      await mergeCsv(
        tr,
        (r) => `${scoreDir(r)}/diagnostics_summary.csv`,
        SUMMARY_COLUMNS,
        `${dir}/diagnostics_summary.csv`,
      );
      // Strata average over the compared models of one seed (spec: hard < 15 % vote share).
      const strata: Record<string, Cell>[] = [];
      for (const seed of [...new Set(tr.map((r) => r.seed))]) {
        const files = tr.filter((r) => r.seed === seed).map((r) =>
          `${scoreDir(r)}/diagnostics.csv`
        );
        const tmp = `${tr[0].runsRoot}/arc/strata-seed-${seed}`;
        const { path } = await writeStrata(files, tmp);
        for (const row of await readCsv(path, STRATA_COLUMNS)) {
          const { line: _l, ...rest } = row;
          strata.push({ seed, ...rest });
        }
      }
      await Deno.writeTextFile(
        `${dir}/strata.csv`,
        await csvText(["seed", ...STRATA_COLUMNS], strata),
      );
      const series: Series[] = tr.map((r) => ({
        name: seriesName(r, seeds),
        points: pass
          .filter((p) => p.model === r.model && Number(p.seed) === r.seed)
          .map((p) => [Number(p.k), Number(p.pass_at_k_pct)] as [number, number]),
      }));
      await Deno.writeTextFile(
        `${dir}/pass_at_k.svg`,
        lineChart(series, {
          title: "ARC: pass@K vs K (TRM voting over augmentations)",
          xLabel: "K (log scale)",
          yLabel: "pass@K (% of tasks)",
          logX: true,
          ...PCT_TICKS,
        }),
      );
      written.push(
        ...["pass_at_k.csv", "diagnostics.csv", "diagnostics_summary.csv", "strata.csv"]
          .map((f) => `${dir}/${f}`),
        `${dir}/pass_at_k.svg`,
      );
    } else {
      await mergeCsv(
        tr,
        (r) => `${scoreDir(r)}/accuracy.csv`,
        ACCURACY_COLUMNS,
        `${dir}/accuracy.csv`,
      );
      written.push(`${dir}/accuracy.csv`);
    }
  }
  return written;
}

function fmt(v: Cell, unit: Cell): string {
  if (v === null || v === "") return "—";
  const x = Number(v);
  if (unit === "pct") return `${x.toFixed(1)}%`;
  if (unit === "s") return `${x.toFixed(0)} s`;
  if (Number.isInteger(x)) return x.toLocaleString("en-US");
  return x.toFixed(3);
}

/** Evaluations of a run of `preset` on `task` (its steps ÷ its evaluation cadence). */
function evaluations(preset: PresetName, task: "arc"): number {
  const t = presetConfig(preset, task, "trm-attn", 0).train;
  return Math.floor((t.steps ?? 0) / (t.evalEvery ?? Infinity));
}

/** What the README says about a preset's scale. */
const SCALE_NOTE: Record<PresetName, string> = {
  paper: "The paper's setting (TRM's README); compared with " +
    "benchmarks/reproduce/expected/reference by verify.",
  "cpu-mini": "A reduced scale for 2 CPU cores: small generated 4×4 Sudoku and 8×8 Maze, 16 " +
    "ARC-AGI-1 evaluation tasks whose grids fit a 10×10 canvas × 16 versions, width 64, " +
    "T = n = 2, 8 ACT steps (recursion/presets.ts); ARC votes pooled over the run's " +
    `${evaluations("cpu-mini", "arc")} evaluations. It shows that the pipeline trains, ` +
    "evaluates and votes and that the models " +
    "learn; its numbers are NOT comparable with the paper's and are checked only against " +
    "benchmarks/reproduce/expected/baselines/cpu-mini.",
  "cpu-study": "A reduced scale for 2 CPU cores built to compare the four models over seeds " +
    "(recursion/presets.ts `cpu-study`; `deno task study`): small generated 4×4 Sudoku and Maze, " +
    "16 ARC-AGI-1 evaluation tasks on a 10×10 canvas, width 64. Its numbers are NOT comparable " +
    "with the paper's; the study report (benchmarks/study) compares the models with each other, " +
    "with intervals over seeds, and is checked against " +
    "benchmarks/reproduce/expected/baselines/cpu-study.",
  smoke: "A tiny CI check (a few hundred steps on tiny tasks): it shows that every step runs and " +
    "that the models learn above chance; its numbers are NOT comparable with the paper's and " +
    "are checked only against benchmarks/reproduce/expected/baselines/smoke.",
};

const COMMAND_LABEL = "Command: ";

/**
 * The command line a result folder's README.md (resultReadme) names, or null when it names none:
 * how the ablation report says which command made each ablation's runs.
 */
export function readmeCommand(readme: string): string | null {
  for (const line of readme.split("\n")) {
    if (!line.startsWith(COMMAND_LABEL + "`")) continue;
    const end = line.indexOf("`", COMMAND_LABEL.length + 1);
    if (end > 0) return line.slice(COMMAND_LABEL.length + 1, end);
  }
  return null;
}

/** README.md of the result folder, generated from summary.csv and verify.csv rows. */
export function resultReadme(
  preset: PresetName,
  summary: readonly SummaryRow[],
  verifyRows: readonly VerifyRow[] | null,
  command: string,
): string {
  const first = summary[0];
  const scale = String(first?.scale ?? preset);
  const lines: string[] = [
    `# deno task reproduce — preset ${preset}`,
    "",
    `**Scale: ${scale}**`,
    "",
    SCALE_NOTE[preset],
    "",
    `${COMMAND_LABEL}\`${command}\`. Generated from \`summary.csv\` (every number with its unit, ` +
    `definition and provenance)${
      verifyRows === null ? " (verify not run)" : " and `verify.csv`"
    }; do not edit by hand.`,
    "",
  ];
  const tasks = [...new Set(summary.map((r) => String(r.task)))];
  const stats = seedStats(summary);
  const cell = (task: string, model: string, seed: Cell, metric: string, k: number | null) => {
    const r = summary.find((r) =>
      r.task === task && r.model === model && r.seed === seed && r.metric === metric &&
      (r.k ?? null) === k
    );
    return r ? fmt(r.value, r.unit) : "—";
  };
  const runs = (task: string) => {
    const seen = new Map<string, SummaryRow>();
    for (const r of summary) if (r.task === task) seen.set(`${r.model}|${r.seed}`, r);
    return [...seen.values()];
  };
  for (const task of tasks) {
    lines.push(`## ${task}`, "");
    if (task === "arc") {
      const ks = [
        ...new Set(
          summary.filter((r) => r.task === task && r.metric === "pass_at_k")
            .map((r) => Number(r.k)),
        ),
      ].sort((a, b) => a - b);
      lines.push(
        `| model | seed | params | ${ks.map((k) => `pass@${k}`).join(" | ")} | ` +
          "distinct candidates | vote entropy (nats) | exact acc (per augmented example) | " +
          "cell acc | train time |",
        `|---|---|---|${ks.map(() => "---").join("|")}|---|---|---|---|---|`,
      );
      for (const r of runs(task)) {
        const m = String(r.model);
        lines.push(
          `| ${m} | ${r.seed} | ${fmt(r.params, "")} | ${
            ks.map((k) => cell(task, m, r.seed, "pass_at_k", k)).join(" | ")
          } | ${cell(task, m, r.seed, "mean_distinct_candidates", null)} | ${
            cell(task, m, r.seed, "mean_entropy_nats", null)
          } | ${cell(task, m, r.seed, "exact_accuracy", null)} | ${
            cell(task, m, r.seed, "cell_accuracy", null)
          } | ${cell(task, m, r.seed, "train_seconds", null)} |`,
        );
      }
      lines.push(
        "",
        "pass@K: vote-ranked coverage over augmentations (TRM evaluator), not the unbiased " +
          "estimator; percent of the test-split tasks, fractional credit per task.",
        "",
        "![pass@K vs K](arc/pass_at_k.svg)",
      );
    } else {
      lines.push(
        "| model | seed | params | exact acc | cell acc | ACT steps | train steps | train time |",
        "|---|---|---|---|---|---|---|---|",
      );
      for (const r of runs(task)) {
        const m = String(r.model);
        lines.push(
          `| ${m} | ${r.seed} | ${fmt(r.params, "")} | ${
            cell(task, m, r.seed, "exact_accuracy", null)
          } | ${cell(task, m, r.seed, "cell_accuracy", null)} | ${
            cell(task, m, r.seed, "mean_act_steps", null)
          } | ${cell(task, m, r.seed, "train_steps", null)} | ${
            cell(task, m, r.seed, "train_seconds", null)
          } |`,
        );
      }
    }
    lines.push("", ...seedStatsTable(stats, task));
    lines.push(`![${task} training curves](${task}/curves.svg)`, "");
  }
  lines.push("## Verify", "");
  if (verifyRows === null) lines.push("Not run (`--skip-verify`).");
  else if (verifyRows.length === 0) {
    lines.push("No checks applied (no baseline or reference rows).");
  } else {
    const count = (s: string) => verifyRows.filter((r) => r.status === s).length;
    const ok = count("ok"), none = count("no-baseline");
    // Failed = the statuses verify fails on (report-only, not-run and claim rows are not checks
    // that failed).
    const bad = verifyRows.filter((r) => FAILING.includes(String(r.status))).length;
    const other = verifyRows.length - ok - none - bad;
    lines.push(
      `${verifyRows.length} checks against \`${verifyRows[0].against}\`: ${ok} within ` +
        `tolerance, ${bad ? `**${bad} failed**` : "0 failed"}, ${none} without a baseline value` +
        (other
          ? `, ${other} other (report-only, not run, or paper claims that did not fail)`
          : "") +
        " (details: `verify.csv`; tolerances: benchmarks/reproduce/verify.ts).",
    );
  }
  const commits = [...new Set(summary.map((r) => String(r.commit)))].join(", ");
  const devices = [...new Set(summary.map((r) => `${r.backend} on ${r.device}`))].join("; ");
  lines.push("", "## Provenance", "", `Commit(s): ${commits}. Backend and device: ${devices}.`);
  return lines.join("\n") + "\n";
}
