/**
 * The `summary.csv` of a reproduce run: one row per (task, model, seed, metric, K), with explicit
 * columns, provenance on every row and the definition of its metric (style practice 13). Built
 * from the files the steps wrote (train/config.json, train/metrics.csv, train/eval.csv, score/).
 */
import { PASS_AT_K_DEFINITION } from "../score/arc.ts";
import { type Cell, readCsv } from "../../engine/csv.ts";
import { ACCURACY_COLUMNS, PASS_AT_K_COLUMNS, SUMMARY_COLUMNS } from "../score/tables.ts";
import { EVAL_COLUMNS, METRICS_COLUMNS } from "../../recursion/run/record.ts";
import { type Marker, readMarker } from "./markers.ts";
import { type RunSpec, scoreDir, trainDir } from "./steps.ts";

/** Header of summary.csv (a contract: tests and verify read it). */
export const REPRO_SUMMARY_COLUMNS = [
  "task",
  "model",
  "seed",
  "params",
  "metric",
  "k",
  "value",
  "unit",
  "n",
  "preset",
  "scale",
  "commit",
  "config_hash",
  "backend",
  "dtype",
  "device",
  "definition",
] as const;

/**
 * The header of summary.csv files written before the `dtype` column (commit ea65a3e and earlier):
 * every run then trained in f32, which is what readers fill in (verify.ts `readSummary`).
 */
export const LEGACY_SUMMARY_COLUMNS = REPRO_SUMMARY_COLUMNS.filter((c) => c !== "dtype");

export type SummaryRow = Record<typeof REPRO_SUMMARY_COLUMNS[number], Cell>;

/** Units of the metrics (pct = percent, 0–100). */
export const METRIC_UNITS: Record<string, string> = {
  pass_at_k: "pct",
  exact_accuracy: "pct",
  cell_accuracy: "pct",
  mean_act_steps: "steps",
  mean_distinct_candidates: "count",
  mean_entropy_nats: "nats",
  mean_correct_vote_share: "fraction",
  train_steps: "steps",
  train_seconds: "s",
};

const ARC_DIAGNOSTICS = [
  "mean_distinct_candidates",
  "mean_entropy_nats",
  "mean_correct_vote_share",
];

/** The training record (train/config.json) fields the summary uses. */
export interface TrainRecord {
  configHash: string;
  commit: string;
  trainableParams: number;
  backend: { name: string; info: Record<string, unknown> };
  machine: Record<string, string | number>;
  totalSteps: number;
}

export async function readTrainRecord(r: RunSpec): Promise<TrainRecord> {
  return JSON.parse(await Deno.readTextFile(`${trainDir(r)}/config.json`));
}

/** "cpu (blas own, 2 threads)" from a backend record. */
export function backendLabel(b: TrainRecord["backend"]): string {
  const i = b.info ?? {};
  const parts = [i.blas ? `blas ${i.blas}` : "", i.threads ? `${i.threads} threads` : ""]
    .filter((s) => s);
  return parts.length ? `${b.name} (${parts.join(", ")})` : b.name;
}

export function deviceLabel(m: TrainRecord["machine"]): string {
  const cpu = m.simd ? `${m.cpu} (${m.simd})` : m.cpu;
  return [cpu, m.cores ? `${m.cores} cores` : "", m.os].filter((s) => s).join(", ");
}

function num(s: string): number | null {
  if (s === "" || s === "NaN") return null;
  const x = Number(s);
  return Number.isFinite(x) ? x : null;
}

/** Which evaluations' votes an ARC score counted, from its score marker. */
export function votesDescription(marker: Marker | null, acts: number): string {
  const steps = (marker?.info.evaluationSteps ?? []) as number[];
  if (marker?.info.pooling === "pooled" && steps.length > 0) {
    return `votes pooled over ${steps.length} evaluation${steps.length > 1 ? "s" : ""} ` +
      `(steps ${steps.join(" ")}; EMA weights, ${acts} ACT steps; TRM's aggregated voting), ` +
      `pooling pooled`;
  }
  return `votes of one evaluation (final EMA weights, ${acts} ACT steps), pooling single`;
}

/** Summary rows of one finished run (score step done). */
export async function runSummaryRows(r: RunSpec): Promise<SummaryRow[]> {
  const rec = await readTrainRecord(r);
  const acts = r.config.arch.haltMaxSteps;
  const base = {
    task: r.task,
    model: r.model,
    seed: r.seed,
    params: rec.trainableParams,
    preset: r.preset,
    scale: r.config.scale,
    commit: rec.commit,
    config_hash: rec.configHash,
    backend: backendLabel(rec.backend),
    dtype: r.config.arch.dtype ?? "f32",
    device: deviceLabel(rec.machine),
  };
  const row = (
    metric: string,
    k: number | null,
    value: number | null,
    n: number | null,
    definition: string,
  ): SummaryRow => ({
    ...base,
    metric,
    k,
    value,
    unit: METRIC_UNITS[metric],
    n,
    definition,
  });
  const rows: SummaryRow[] = [];
  const out = scoreDir(r);
  if (r.task === "arc") {
    const votes = votesDescription(await readMarker(r.dir, "score"), acts);
    for (const p of await readCsv(`${out}/pass_at_k.csv`, PASS_AT_K_COLUMNS)) {
      rows.push(row(
        "pass_at_k",
        Number(p.k),
        num(p.pass_at_k_pct),
        Number(p.n_tasks),
        `${PASS_AT_K_DEFINITION}; percent of the ${p.n_tasks} test-split tasks, fractional ` +
          `credit per task; ${votes}`,
      ));
    }
    for (const d of await readCsv(`${out}/diagnostics_summary.csv`, SUMMARY_COLUMNS)) {
      if (!ARC_DIAGNOSTICS.includes(d.metric)) continue;
      rows.push(row(d.metric, null, num(d.value), Number(d.n_test_inputs), d.definition));
    }
    // Per augmented test example, before voting: the training run's final evaluation.
    const evals = await readCsv(`${trainDir(r)}/eval.csv`, EVAL_COLUMNS);
    const last = evals.at(-1);
    if (last) {
      const n = Number(last.examples);
      const pct = (s: string) => (num(s) === null ? null : 100 * num(s)!);
      rows.push(row(
        "exact_accuracy",
        null,
        pct(last.exact_acc),
        n,
        `percent of augmented test examples with every output cell right, before voting ` +
          `(EMA weights, ${acts} ACT steps)`,
      ));
      rows.push(row(
        "cell_accuracy",
        null,
        pct(last.cell_acc),
        n,
        `right supervised cells / all supervised cells over the augmented test examples, ` +
          `percent (EMA weights, ${acts} ACT steps)`,
      ));
    }
  } else {
    const names: Record<string, string> = {
      exact_accuracy_pct: "exact_accuracy",
      cell_accuracy_pct: "cell_accuracy",
      mean_act_steps: "mean_act_steps",
    };
    for (const a of await readCsv(`${out}/accuracy.csv`, ACCURACY_COLUMNS)) {
      const metric = names[a.metric];
      if (!metric) continue;
      rows.push(row(
        metric,
        null,
        num(a.value),
        Number(a.n_examples),
        `${a.definition}; held-out test split, EMA weights, all ${acts} ACT steps`,
      ));
    }
  }
  const steps = await readCsv(`${trainDir(r)}/metrics.csv`, METRICS_COLUMNS);
  const seconds = steps.reduce((a, s) => a + (num(s.step_ms) ?? 0), 0) / 1000;
  rows.push(row("train_steps", null, steps.length, null, "optimiser steps trained"));
  rows.push(row(
    "train_seconds",
    null,
    Math.round(seconds * 10) / 10,
    steps.length,
    "sum of the optimiser-step times (evaluations and start-up excluded); machine-dependent",
  ));
  return rows;
}
