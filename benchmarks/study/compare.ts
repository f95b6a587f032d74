/**
 * Paired comparisons of two models on the rows of a reproduce `summary.csv`: per seed the value of
 * one (task, metric, K) for model a and model b, paired by seed id (stats.ts `pairBySeed`), and the
 * difference b − a over the shared seeds (stats.ts `pairedDifference`): mean, sd, the Student-t
 * interval over seeds and a percentile bootstrap interval. The bootstrap resamples seeds and, where
 * an `ItemSource` gives the per-test-item values of both runs of every shared seed (ARC: the
 * score step's diagnostics.csv), the items within each seed as well; otherwise seeds only.
 *
 * Verdicts (claims.ts) use the t-interval over seeds: the seed is the unit of replication, and with
 * a handful of seeds a seeds-only bootstrap has only a few distinct resamples (3 seeds: 10) and
 * understates the spread.
 */
import { Rng } from "../../engine/rng.ts";
import type { SummaryRow } from "../reproduce/summary.ts";
import { type DifferenceResult, pairBySeed, pairedDifference } from "./stats.ts";

/** One comparison: the difference b − a of `metric` (at K for pass@K) on `task`. */
export interface Comparison {
  task: string;
  metric: string;
  k: number | null;
  a: string;
  b: string;
}

/**
 * Per-test-item values of one run's metric, keyed by item id (the same id for the same test item
 * across models), in the metric's unit, whose mean is the run's summary value; null when the run
 * has no per-item file.
 */
export type ItemSource = (
  task: string,
  model: string,
  seed: number,
  metric: string,
  k: number | null,
) => Map<string, number> | null;

/** A comparison that could be made. */
export interface ComparisonResult {
  ok: true;
  comparison: Comparison;
  unit: string;
  /** Shared seeds, ascending (the pairs). */
  seeds: number[];
  /** Seeds only one model has (left out of the pairs). */
  onlyA: number[];
  onlyB: number[];
  meanA: number;
  meanB: number;
  diff: DifferenceResult;
  /** What the bootstrap resampled, in words. */
  bootstrap: string;
}

/** A comparison that could not be made: a model not run on the task, or the metric missing. */
export interface ComparisonGap {
  ok: false;
  comparison: Comparison;
  status: "not-run" | "missing";
  note: string;
}

/** Default generator seed and resample count of the bootstrap (fixed: reports are reproducible). */
export const BOOTSTRAP_SEED = 20260101;
export const BOOTSTRAP_RESAMPLES = 2000;

const sameK = (r: SummaryRow, k: number | null) => String(r.k ?? "") === String(k ?? "");

/** Seed → finite value of (task, model, metric, K) in `rows`. */
export function seedValues(
  rows: readonly SummaryRow[],
  task: string,
  model: string,
  metric: string,
  k: number | null,
): Map<number, number> {
  const out = new Map<number, number>();
  for (const r of rows) {
    if (r.task !== task || r.model !== model || r.metric !== metric || !sameK(r, k)) continue;
    const v = r.value;
    if (typeof v === "number" && Number.isFinite(v)) out.set(Number(r.seed), v);
  }
  return out;
}

/** The models of `task` in `rows`, in first-seen order. */
export function modelsOf(rows: readonly SummaryRow[], task: string): string[] {
  return [...new Set(rows.filter((r) => r.task === task).map((r) => String(r.model)))];
}

/** Ks of pass@K that `model` has on `task` (any seed), ascending. */
export function ksOf(rows: readonly SummaryRow[], task: string, model: string): number[] {
  return [
    ...new Set(
      rows.filter((r) => r.task === task && r.model === model && r.metric === "pass_at_k")
        .map((r) => Number(r.k)),
    ),
  ].sort((x, y) => x - y);
}

/**
 * Per-seed items of both models when every shared seed has them for both, over the same item ids,
 * and their means reproduce the summary values (else null: the bootstrap falls back to seeds).
 */
function alignedItems(
  c: Comparison,
  seeds: readonly number[],
  valuesA: readonly number[],
  valuesB: readonly number[],
  items: ItemSource,
): { a: number[][]; b: number[][]; n: number } | null {
  const a: number[][] = [], b: number[][] = [];
  let n = 0;
  for (const [i, seed] of seeds.entries()) {
    const ma = items(c.task, c.a, seed, c.metric, c.k);
    const mb = items(c.task, c.b, seed, c.metric, c.k);
    if (!ma || !mb || ma.size === 0 || ma.size !== mb.size) return null;
    const keys = [...ma.keys()].sort();
    if (keys.some((key) => !mb.has(key))) return null;
    const xa = keys.map((key) => ma.get(key)!), xb = keys.map((key) => mb.get(key)!);
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    const close = (x: number, v: number) => Math.abs(x - v) <= 1e-6 * Math.max(1, Math.abs(v));
    if (!close(mean(xa), valuesA[i]) || !close(mean(xb), valuesB[i])) return null;
    a.push(xa);
    b.push(xb);
    n += keys.length;
  }
  return { a, b, n };
}

/**
 * The paired difference b − a of one comparison over the shared seeds; a gap (not run, missing)
 * when a model has no row on the task, the metric is absent, or no seed is shared.
 */
export function compareModels(
  rows: readonly SummaryRow[],
  c: Comparison,
  opts: { rng?: Rng; resamples?: number; items?: ItemSource } = {},
): ComparisonResult | ComparisonGap {
  const ran = (m: string) => rows.some((r) => r.task === c.task && r.model === m);
  const notRun = [c.a, c.b].filter((m) => !ran(m));
  if (notRun.length) {
    return {
      ok: false,
      comparison: c,
      status: "not-run",
      note: `not run: ${notRun.join(", ")} on ${c.task}`,
    };
  }
  const va = seedValues(rows, c.task, c.a, c.metric, c.k);
  const vb = seedValues(rows, c.task, c.b, c.metric, c.k);
  const name = `${c.metric}${c.k === null ? "" : `@${c.k}`}`;
  const lacking = [[c.a, va], [c.b, vb]].filter(([, v]) => (v as Map<number, number>).size === 0)
    .map(([m]) => m);
  if (lacking.length) {
    return {
      ok: false,
      comparison: c,
      status: "missing",
      note: `no ${name} value of ${lacking.join(", ")} on ${c.task}`,
    };
  }
  const p = pairBySeed(va, vb);
  if (p.seeds.length === 0) {
    return {
      ok: false,
      comparison: c,
      status: "missing",
      note: `${c.a} (seeds ${[...va.keys()].join(" ")}) and ${c.b} (seeds ${
        [...vb.keys()].join(" ")
      }) share no seed`,
    };
  }
  const rng = opts.rng ?? new Rng(BOOTSTRAP_SEED);
  const resamples = opts.resamples ?? BOOTSTRAP_RESAMPLES;
  const it = opts.items ? alignedItems(c, p.seeds, p.a, p.b, opts.items) : null;
  const diff = it
    ? pairedDifference(it.a, it.b, { rng, resamples, sameItems: true })
    : pairedDifference(p.a, p.b, { rng, resamples });
  const unit = String(
    rows.find((r) => r.task === c.task && r.model === c.a && r.metric === c.metric)?.unit ?? "",
  );
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  return {
    ok: true,
    comparison: c,
    unit,
    seeds: p.seeds,
    onlyA: p.onlyA,
    onlyB: p.onlyB,
    meanA: mean(p.a),
    meanB: mean(p.b),
    diff,
    bootstrap: it
      ? `seeds × test items (${it.n / p.seeds.length} items per seed, same items for both)`
      : "seeds only",
  };
}

/** "+1.23" / "−0.50": a signed difference. */
export function signed(x: number, digits = 2): string {
  if (!Number.isFinite(x)) return "—";
  const s = Math.abs(x).toFixed(digits);
  return Number(s) === 0 ? s : x > 0 ? `+${s}` : `−${s}`;
}

/** "+1.23 [−0.40, +2.86]": a difference with its interval (no interval for one seed). */
export function withInterval(mean: number, lo: number, hi: number, digits = 2): string {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return `${signed(mean, digits)} [no interval]`;
  return `${signed(mean, digits)} [${signed(lo, digits)}, ${signed(hi, digits)}]`;
}
