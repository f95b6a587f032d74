/**
 * Regression baselines of the reduced presets:
 * `benchmarks/reproduce/expected/baselines/<preset>/baseline.csv`, one row per checked (task,
 * model, metric, K) with the mean and sample sd over seeds, the tolerance derived from that spread,
 * the metric's floor (floors.ts) and the failure threshold mean − tolerance; beside it
 * `summary.csv` (the per-seed rows it was computed from) and `reasons.csv` (why each re-baseline
 * was made). Written only by `deno task rebaseline`, never by hand and never by widening a
 * tolerance after seeing a result.
 *
 * Tolerance (one rule for every row, stated in its `derivation` cell):
 *   tolerance = max(Z · sd, resolution), Z = 3,
 * sd the sample sd over ≥ MIN_SEEDS seeds (a seed's value lies within 3 sd of the mean with
 * probability ≈ 0.99 for a normal spread), resolution the smallest change the metric can honestly
 * resolve: two held-out examples for exact accuracy (100 · 2 / n points), 1 point for cell
 * accuracy (measured: our GEMM vs OpenBLAS, 1 vs 2 threads, moved smoke cell accuracy by ≤ 0.9
 * points). With fewer seeds (only with --min-seeds below 3) the row is PROVISIONAL: sd is the
 * binomial sampling sd of exact accuracy over its n examples (Agresti–Coull adjusted, so that 0 %
 * and 100 % keep a spread), and cell accuracy gets 3 points.
 * A row whose threshold lies at or below the floor cannot fail and is stored as report-only.
 */
import { type Cell, csvText, readCsv } from "../../engine/csv.ts";
import { PRESET_NAMES, type PresetName, type TaskName } from "../../recursion/run/config.ts";
import type { FloorTable } from "./floors.ts";
import type { SummaryRow } from "./summary.ts";
import { meanSd, seedGroups } from "./seeds.ts";

export const Z = 3;
export const MIN_SEEDS = 3;

/**
 * The presets with a regression baseline: every preset but `paper` (checked against the published
 * values) — smoke, cpu-mini, cpu-study and any later reduced preset, each under its own folder.
 */
export function isReducedPreset(p: string): p is Exclude<PresetName, "paper"> {
  return p !== "paper" && (PRESET_NAMES as readonly string[]).includes(p);
}

/**
 * The metrics a baseline checks, on every task of both reduced presets (others are reported
 * only): exact and cell accuracy — for ARC per augmented example before voting, not pass@K: on 16
 * tasks pass@K moves in steps of 6.25 points and sits near zero, where no check can fail. Whether
 * a metric moves enough to be guarded is decided per row by the floor rule.
 */
export const CHECKED_METRICS: readonly string[] = ["exact_accuracy", "cell_accuracy"];

export const BASELINE_COLUMNS = [
  "task",
  "model",
  "metric",
  "k",
  "unit",
  "n",
  "n_seeds",
  "seeds",
  "mean",
  "sd",
  "tolerance",
  "floor",
  "threshold",
  "check",
  "derivation",
  "floor_source",
  "preset",
  "config_hash",
  "commit",
] as const;

export type BaselineRow = Record<typeof BASELINE_COLUMNS[number], Cell>;

/** `check` of a row verify enforces; the other values say why a row is report-only. */
export const CHECKED = "checked";

export function resolution(metric: string, n: number): { value: number; why: string } {
  if (metric === "exact_accuracy") {
    return { value: (100 * 2) / n, why: `two of ${n} examples` };
  }
  return { value: 1, why: "1 point (GEMM and thread-count differences measured ≤ 0.9)" };
}

/** The tolerance of one metric from its per-seed values, with the derivation in words. */
export function deriveTolerance(
  metric: string,
  values: readonly number[],
  n: number,
  minSeeds = MIN_SEEDS,
): { mean: number; sd: number | null; tolerance: number; derivation: string } {
  if (values.length === 0) throw new RangeError("deriveTolerance: no values");
  if (values.length < minSeeds) {
    throw new RangeError(`deriveTolerance: ${values.length} seeds, at least ${minSeeds} needed`);
  }
  const { mean, sd } = meanSd(values);
  const res = resolution(metric, n);
  if (values.length >= MIN_SEEDS) {
    const tolerance = Math.max(Z * sd!, res.value);
    return {
      mean,
      sd,
      tolerance,
      derivation: `max(${Z} × sd over ${values.length} seeds = ${(Z * sd!).toFixed(2)}, ` +
        `resolution ${res.value.toFixed(2)} = ${res.why})`,
    };
  }
  // Provisional: fewer seeds than MIN_SEEDS (allowed only by an explicit --min-seeds).
  if (metric === "exact_accuracy") {
    // Agresti–Coull: p' = (x + 2) / (n + 4), so that 0 % and 100 % still have a spread.
    const p = (Math.min(Math.max(mean / 100, 0), 1) * n + 2) / (n + 4);
    const sampling = 100 * Math.sqrt((p * (1 - p)) / (n + 4));
    const spread = Math.max(sampling, sd ?? 0);
    return {
      mean,
      sd,
      tolerance: Math.max(Z * spread, res.value),
      derivation: `PROVISIONAL (${values.length} seed${values.length > 1 ? "s" : ""}): max(${Z} ` +
        `× max(binomial sampling sd over ${n} examples (Agresti–Coull) = ${sampling.toFixed(2)}, ` +
        `seed sd), ` +
        `resolution ${res.value.toFixed(2)} = ${res.why})`,
    };
  }
  return {
    mean,
    sd,
    tolerance: Math.max(3, Z * (sd ?? 0)),
    derivation: `PROVISIONAL (${values.length} seed${values.length > 1 ? "s" : ""}): 3 points, ` +
      `no seed spread measured`,
  };
}

/**
 * The baseline rows of a preset from per-seed summary rows and the floors of each task. Every
 * (task, model, metric, K) the preset checks becomes a row; it is `checked` only when its
 * threshold lies above its floor.
 */
export function buildBaseline(
  preset: Exclude<PresetName, "paper">,
  summary: readonly SummaryRow[],
  floors: Partial<Record<TaskName, FloorTable>>,
  minSeeds = MIN_SEEDS,
): BaselineRow[] {
  const wrong = summary.find((r) => r.preset !== preset);
  if (wrong) throw new RangeError(`rebaseline: a ${wrong.preset} row in a ${preset} summary`);
  const out: BaselineRow[] = [];
  for (const rows of seedGroups(summary, CHECKED_METRICS, "rebaseline")) {
    const r0 = rows[0];
    const seeds = rows.map((r) => Number(r.seed));
    const values = rows.map((r) => r.value);
    if (values.some((v) => typeof v !== "number" || !Number.isFinite(v))) {
      throw new RangeError(`rebaseline: ${r0.task}/${r0.model} ${r0.metric}: a missing value`);
    }
    const n = Number(r0.n);
    const d = deriveTolerance(String(r0.metric), values as number[], n, minSeeds);
    const floor = floors[r0.task as TaskName]?.[r0.metric as keyof FloorTable];
    if (!floor) {
      throw new RangeError(`rebaseline: no floor for ${r0.task} ${r0.metric}`);
    }
    const threshold = d.mean - d.tolerance;
    out.push({
      task: r0.task,
      model: r0.model,
      metric: r0.metric,
      k: r0.k ?? null,
      unit: r0.unit,
      n,
      n_seeds: rows.length,
      seeds: [...seeds].sort((a, b) => a - b).join(" "),
      mean: d.mean,
      sd: d.sd,
      tolerance: d.tolerance,
      floor: floor.value,
      threshold,
      check: threshold > floor.value
        ? CHECKED
        : `report only: cannot fail (threshold ${threshold.toFixed(2)} ≤ floor ` +
          `${floor.value.toFixed(2)})`,
      derivation: d.derivation,
      floor_source: floor.source,
      preset,
      config_hash: [...new Set(rows.map((r) => String(r.config_hash)))].join(" "),
      commit: [...new Set(rows.map((r) => String(r.commit)))].join(" "),
    });
  }
  return out.sort((a, b) =>
    [a.task, a.model, a.metric].join("|").localeCompare([b.task, b.model, b.metric].join("|"))
  );
}

/** Reads a baseline.csv (header checked), numbers where the contract has them. */
export async function readBaseline(path: string): Promise<BaselineRow[]> {
  const nums = ["n", "n_seeds", "mean", "sd", "tolerance", "floor", "threshold", "k"] as const;
  return (await readCsv(path, BASELINE_COLUMNS)).map((r) => {
    const { line: _l, ...rest } = r;
    const o: BaselineRow = { ...rest } as unknown as BaselineRow;
    for (const c of nums) o[c] = r[c] === "" ? null : Number(r[c]);
    return o;
  });
}

export async function baselineText(rows: readonly BaselineRow[]): Promise<string> {
  return await csvText(BASELINE_COLUMNS, rows as BaselineRow[]);
}

export const REASONS_COLUMNS = ["date", "preset", "commit", "summary", "seeds", "reason"] as const;
