/** Test helpers of the study report: a synthetic study (summary.csv and run folders). */
import { csvText } from "../../engine/csv.ts";
import { DIAGNOSTICS_COLUMNS } from "../score/tables.ts";
import { REPRO_SUMMARY_COLUMNS, type SummaryRow } from "../reproduce/summary.ts";
import { summaryRow } from "../reproduce/testing.ts";
import { EVAL_COLUMNS, METRICS_COLUMNS } from "../../recursion/run/record.ts";
import { runDir } from "./report.ts";

export const SEEDS = [0, 1, 2] as const;

/** Per-seed values of (task, model, metric[@k]) in the synthetic study. */
export type StudyValues = Record<string, Record<string, readonly number[]>>;

/**
 * The synthetic study's values, chosen so that each claim has a known verdict:
 * pass@1 parity agrees, pass@2 agrees (+10), pass@100 (the largest K) disagrees (−11),
 * distinct candidates agrees, entropy inconclusive, Sudoku MLP-t above attention agrees, Maze
 * hybrid above MLP-t agrees.
 */
export const VALUES: StudyValues = {
  "arc|trm-attn": {
    "pass_at_k@1": [10, 10.5, 10.2],
    "pass_at_k@2": [10, 12, 11],
    "pass_at_k@10": [30, 31, 32],
    "pass_at_k@100": [50, 52, 51],
    "mean_distinct_candidates": [20, 22, 21],
    "mean_entropy_nats": [3.0, 3.5, 2.8],
    "exact_accuracy": [5, 6, 7],
    "cell_accuracy": [60, 61, 62],
  },
  "arc|tr-mamba2attn": {
    "pass_at_k@1": [10.1, 10.4, 10.3],
    "pass_at_k@2": [20, 23, 21],
    "pass_at_k@10": [35, 36, 35],
    "pass_at_k@100": [40, 41, 39],
    "mean_distinct_candidates": [30, 31, 33],
    "mean_entropy_nats": [3.4, 2.9, 3.1],
    "exact_accuracy": [5, 7, 6],
    "cell_accuracy": [61, 60, 63],
  },
  "sudoku|trm-attn": { "exact_accuracy": [40, 42, 41], "cell_accuracy": [80, 81, 82] },
  "sudoku|tr-mamba2attn": { "exact_accuracy": [35, 36, 38], "cell_accuracy": [79, 80, 80] },
  "sudoku|trm-mlp-t": { "exact_accuracy": [70, 72, 71], "cell_accuracy": [90, 91, 92] },
  "sudoku|tr-mamba2mlpt": { "exact_accuracy": [60, 63, 61], "cell_accuracy": [88, 89, 90] },
  "maze|trm-attn": { "exact_accuracy": [30, 31, 29], "cell_accuracy": [70, 71, 72] },
  "maze|tr-mamba2attn": { "exact_accuracy": [50, 52, 51], "cell_accuracy": [80, 82, 81] },
  "maze|trm-mlp-t": { "exact_accuracy": [1, 0, 2], "cell_accuracy": [40, 41, 42] },
  "maze|tr-mamba2mlpt": { "exact_accuracy": [0, 1, 0], "cell_accuracy": [41, 40, 40] },
};

const UNITS: Record<string, string> = {
  mean_distinct_candidates: "count",
  mean_entropy_nats: "nats",
  train_seconds: "s",
  train_steps: "steps",
};

/** Summary rows of `values` at `preset` (commit `commit`), plus train_steps/train_seconds. */
export function studyRows(
  values: StudyValues = VALUES,
  over: Partial<SummaryRow> = {},
): SummaryRow[] {
  const rows: SummaryRow[] = [];
  for (const [pair, metrics] of Object.entries(values)) {
    const [task, model] = pair.split("|");
    for (const [m, vals] of Object.entries(metrics)) {
      const [metric, k] = m.split("@");
      vals.forEach((value, seed) =>
        rows.push(summaryRow({
          task,
          model,
          seed,
          metric,
          k: k === undefined ? null : Number(k),
          value,
          unit: UNITS[metric] ?? "pct",
          n: task === "arc" && metric === "pass_at_k" ? 4 : 64,
          preset: "cpu-study",
          scale: "cpu-study (reduced; NOT the paper's setting)",
          config_hash: `h-${task}-${model}`,
          ...over,
        }))
      );
    }
    for (const seed of SEEDS) {
      rows.push(summaryRow({
        task,
        model,
        seed,
        metric: "train_seconds",
        value: 100,
        unit: "s",
        n: 10,
        preset: "cpu-study",
        scale: "cpu-study (reduced; NOT the paper's setting)",
        config_hash: `h-${task}-${model}`,
        ...over,
      }));
    }
  }
  return rows;
}

export async function writeSummary(path: string, rows: readonly SummaryRow[]): Promise<void> {
  await Deno.writeTextFile(path, await csvText(REPRO_SUMMARY_COLUMNS, rows));
}

/**
 * Run folders of the synthetic study: train/eval.csv and train/metrics.csv for every run (accuracy
 * rising to the run's final value); score/diagnostics.csv for ARC runs, 4 test inputs whose mean
 * distinct candidates and entropy equal the summary values (their correct ranks do not reproduce
 * pass@K: the bootstrap falls back to seeds there).
 */
export async function writeRuns(runs: string, values: StudyValues = VALUES): Promise<void> {
  for (const [pair, metrics] of Object.entries(values)) {
    const [task, model] = pair.split("|");
    for (const seed of SEEDS) {
      const dir = runDir(runs, task, model, seed);
      await Deno.mkdir(`${dir}/train`, { recursive: true });
      const final = (metrics.exact_accuracy?.[seed] ?? 0) / 100;
      const evals = [100, 200, 300].map((step, i) => ({
        step,
        examples: 64,
        exact_acc: (final * (i + 1)) / 3,
        cell_acc: 0.5 + (0.4 * (i + 1)) / 3,
        mean_q_halt_logit: 0,
        q_halt_acc: 0.5,
        act_steps: 8,
        eval_s: 1,
        elapsed_s: step,
      }));
      await Deno.writeTextFile(`${dir}/train/eval.csv`, await csvText(EVAL_COLUMNS, evals));
      const steps = Array.from({ length: 300 }, (_, i) => ({
        step: i + 1,
        lr: 1e-3,
        lm_loss: 2 / (1 + i / 50) + 0.01 * seed,
        q_halt_loss: 0.1,
        halted: 0.5,
        token_acc: 0.5,
        exact_acc: 0.1,
        q_halt_acc: 0.5,
        mean_act_steps: 4,
        step_ms: 100,
        elapsed_s: i / 10,
      }));
      await Deno.writeTextFile(`${dir}/train/metrics.csv`, await csvText(METRICS_COLUMNS, steps));
      if (task !== "arc") continue;
      await Deno.mkdir(`${dir}/score`, { recursive: true });
      const d = metrics.mean_distinct_candidates[seed], h = metrics.mean_entropy_nats[seed];
      const offsets = [-1.5, -0.5, 0.5, 1.5];
      const diag = offsets.map((o, i) => ({
        model,
        task: `task${i}`,
        test_index: 0,
        n_votes: 16,
        distinct_candidates: d + o,
        entropy_nats: h + o / 10,
        entropy_bits: (h + o / 10) / Math.LN2,
        correct_votes: 1,
        correct_vote_share: 1 / 16,
        correct_rank: i + 1,
        top1_votes: 4,
        top1_mean_q: 0.5,
        pooling: "pooled",
        commit: "abc",
        date: "2026-01-01",
        predictions_sha256: "x",
      }));
      await Deno.writeTextFile(
        `${dir}/score/diagnostics.csv`,
        await csvText(DIAGNOSTICS_COLUMNS, diag),
      );
    }
  }
}
