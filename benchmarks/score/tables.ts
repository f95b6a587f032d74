/**
 * The result files of `deno task score` and their column contracts. Every row carries its
 * provenance (commit, date, input hashes) and the definition of its metric.
 *
 * - `pass_at_k.csv`: one row per K (`PASS_AT_K_COLUMNS`); pass@K in percent of tasks.
 * - `diagnostics.csv`: one row per test input (`DIAGNOSTICS_COLUMNS`).
 * - `diagnostics_summary.csv`: means over test inputs with votes (`SUMMARY_COLUMNS`).
 * - `strata.csv`: difficulty-stratified pass@K across models (`STRATA_COLUMNS`).
 * - `accuracy.csv`: Sudoku/Maze metrics (`ACCURACY_COLUMNS`).
 */
import { PASS_AT_K_DEFINITION } from "./arc.ts";
import type { ArcScore } from "./arc.ts";
import type { DiagnosticsSummary, StratumRow, TestInputDiagnostics } from "./diagnostics.ts";
import type { GridMetrics } from "./grid_metrics.ts";
import type { Cell } from "../../engine/csv.ts";

/** Where the numbers came from. */
export interface Provenance {
  readonly commit: string;
  readonly date: string;
  /** `name:sha256` of every predictions file, `;`-separated. */
  readonly predictionsSha256: string;
}

export const PASS_AT_K_COLUMNS = [
  "model",
  "k",
  "pass_at_k_pct",
  "credit",
  "n_tasks",
  "n_test_inputs",
  "n_test_inputs_with_predictions",
  "n_predictions",
  "pooling",
  "n_prediction_files",
  "subset",
  "definition",
  "commit",
  "date",
  "tasks_sha256",
  "predictions_sha256",
] as const;

export const DIAGNOSTICS_COLUMNS = [
  "model",
  "task",
  "test_index",
  "n_votes",
  "distinct_candidates",
  "entropy_nats",
  "entropy_bits",
  "correct_votes",
  "correct_vote_share",
  "correct_rank",
  "top1_votes",
  "top1_mean_q",
  "pooling",
  "commit",
  "date",
  "predictions_sha256",
] as const;

export const SUMMARY_COLUMNS = [
  "model",
  "metric",
  "value",
  "n_test_inputs",
  "definition",
  "pooling",
  "commit",
  "date",
  "predictions_sha256",
] as const;

export const STRATA_COLUMNS = [
  "stratum",
  "threshold",
  "model",
  "k",
  "n_test_inputs",
  "pass_at_k_pct",
  "definition",
  "commit",
  "date",
  "sources",
] as const;

export const ACCURACY_COLUMNS = [
  "model",
  "task",
  "metric",
  "value",
  "n_examples",
  "n_skipped",
  "definition",
  "commit",
  "date",
  "predictions_sha256",
] as const;

/** `pooled` when votes of several prediction files were pooled, else `single`. */
export type Pooling = "pooled" | "single";

/** Context of one ARC scoring run. */
export interface ArcRunInfo {
  readonly model: string;
  readonly pooling: Pooling;
  readonly nPredictionFiles: number;
  readonly subset: string;
  readonly tasksSha256: string;
}

type Row = Record<string, Cell>;

export function passAtKRows(score: ArcScore, run: ArcRunInfo, prov: Provenance): Row[] {
  return score.ks.map((k, i) => ({
    model: run.model,
    k,
    pass_at_k_pct: 100 * score.passAtK[i],
    credit: score.credit[i],
    n_tasks: score.nTasks,
    n_test_inputs: score.nTestInputs,
    n_test_inputs_with_predictions: score.nTestInputsWithPredictions,
    n_predictions: score.nPredictions,
    pooling: run.pooling,
    n_prediction_files: run.nPredictionFiles,
    subset: run.subset,
    definition: PASS_AT_K_DEFINITION +
      "; percent of tasks, task credit = fraction of its test inputs solved",
    commit: prov.commit,
    date: prov.date,
    tasks_sha256: run.tasksSha256,
    predictions_sha256: prov.predictionsSha256,
  }));
}

export function diagnosticsRows(
  rows: readonly TestInputDiagnostics[],
  run: Pick<ArcRunInfo, "model" | "pooling">,
  prov: Provenance,
): Row[] {
  return rows.map((d) => ({
    model: run.model,
    task: d.taskId,
    test_index: d.testIndex,
    n_votes: d.nVotes,
    distinct_candidates: d.distinctCandidates,
    entropy_nats: d.entropyNats,
    entropy_bits: d.entropyBits,
    correct_votes: d.correctVotes,
    correct_vote_share: d.correctVoteShare,
    correct_rank: d.correctRank,
    top1_votes: d.top1Votes,
    top1_mean_q: Number.isNaN(d.top1MeanQ) ? null : d.top1MeanQ,
    pooling: run.pooling,
    commit: prov.commit,
    date: prov.date,
    predictions_sha256: prov.predictionsSha256,
  }));
}

export function summaryRows(
  s: DiagnosticsSummary,
  run: Pick<ArcRunInfo, "model" | "pooling">,
  prov: Provenance,
): Row[] {
  const over = `mean over the ${s.nWithVotes} test inputs with at least one vote`;
  const items: [string, number, string][] = [
    [
      "mean_distinct_candidates",
      s.meanDistinctCandidates,
      `distinct inverted predictions; ${over}`,
    ],
    [
      "mean_entropy_nats",
      s.meanEntropyNats,
      `entropy of votes over distinct candidates (nats); ${over}`,
    ],
    [
      "mean_entropy_bits",
      s.meanEntropyBits,
      `entropy of votes over distinct candidates (bits); ${over}`,
    ],
    [
      "mean_correct_vote_share",
      s.meanCorrectVoteShare,
      `votes for the true output / all votes; ${over}`,
    ],
  ];
  return items.map(([metric, value, definition]) => ({
    model: run.model,
    metric,
    value: Number.isNaN(value) ? null : value,
    n_test_inputs: s.nWithVotes,
    definition,
    pooling: run.pooling,
    commit: prov.commit,
    date: prov.date,
    predictions_sha256: prov.predictionsSha256,
  }));
}

export function strataRows(
  rows: readonly StratumRow[],
  threshold: number,
  prov: { commit: string; date: string; sources: string },
): Row[] {
  return rows.map((r) => ({
    stratum: r.stratum,
    threshold,
    model: r.model,
    k: r.k,
    n_test_inputs: r.n,
    pass_at_k_pct: Number.isNaN(r.passAtK) ? null : 100 * r.passAtK,
    definition: `percent of the stratum's test inputs whose true output ranks in the top K; ` +
      `hard = correct-vote share averaged over the models < ${threshold}, easy = ≥ ${threshold}`,
    commit: prov.commit,
    date: prov.date,
    sources: prov.sources,
  }));
}

export function accuracyRows(
  m: GridMetrics,
  run: { model: string; task: string },
  prov: Provenance,
): Row[] {
  const pct = (x: number) => (Number.isNaN(x) ? null : 100 * x);
  const items: [string, number | null, string][] = [
    [
      "exact_accuracy_pct",
      pct(m.exactAccuracy),
      "percent of examples with every non-ignored cell right",
    ],
    [
      "cell_accuracy_pct",
      pct(m.cellAccuracy),
      "mean over examples of the percent of non-ignored cells right (TRM accuracy)",
    ],
    [
      "cell_accuracy_pooled_pct",
      pct(m.cellAccuracyPooled),
      "right non-ignored cells / all non-ignored cells, percent",
    ],
    [
      "mean_act_steps",
      Number.isNaN(m.meanSteps) ? null : m.meanSteps,
      "mean ACT steps per example",
    ],
  ];
  return items.map(([metric, value, definition]) => ({
    model: run.model,
    task: run.task,
    metric,
    value,
    n_examples: m.n,
    n_skipped: m.nSkipped,
    definition: definition + "; examples without supervised cells skipped",
    commit: prov.commit,
    date: prov.date,
    predictions_sha256: prov.predictionsSha256,
  }));
}
