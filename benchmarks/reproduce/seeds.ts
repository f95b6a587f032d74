/**
 * Statistics over seeds of a reproduce run (`seeds.csv` and the README's "over seeds" tables):
 * for every (task, model, metric, K) measured on two or more seeds, the number of seeds, mean,
 * sample standard deviation (n − 1), minimum and maximum. Only the headline metrics (exact and cell
 * accuracy, pass@K); per-seed values stay in summary.csv.
 */
import type { Cell } from "../../engine/csv.ts";
import type { SummaryRow } from "./summary.ts";

export const SEED_STATS_COLUMNS = [
  "task",
  "model",
  "metric",
  "k",
  "unit",
  "n_seeds",
  "seeds",
  "mean",
  "sd",
  "min",
  "max",
  "preset",
  "scale",
] as const;

export type SeedStatsRow = Record<typeof SEED_STATS_COLUMNS[number], Cell>;

const METRICS = ["exact_accuracy", "cell_accuracy", "pass_at_k"];

/** Mean and sample sd (n − 1; null for one value) of `xs`. */
export function meanSd(xs: readonly number[]): { mean: number; sd: number | null } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length < 2
    ? null
    : Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1));
  return { mean, sd };
}

/**
 * Summary rows of `metrics` grouped by (task, model, metric, K), in first-seen order; each group
 * holds one row per seed (a seed twice throws, naming `who`).
 */
export function seedGroups(
  summary: readonly SummaryRow[],
  metrics: readonly string[],
  who = "seedStats",
): SummaryRow[][] {
  const groups = new Map<string, SummaryRow[]>();
  for (const r of summary) {
    if (!metrics.includes(String(r.metric))) continue;
    const key = [r.task, r.model, r.metric, r.k ?? ""].join("|");
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  for (const rows of groups.values()) {
    if (new Set(rows.map((r) => Number(r.seed))).size !== rows.length) {
      throw new Error(`${who}: ${rows[0].task}/${rows[0].model} ${rows[0].metric}: a seed twice`);
    }
  }
  return [...groups.values()];
}

/** Rows of `seeds.csv`: groups of summary rows with ≥ 2 seeds and a value on each. */
export function seedStats(summary: readonly SummaryRow[]): SeedStatsRow[] {
  const valued = summary.filter((r) => r.value !== null && r.value !== "");
  const out: SeedStatsRow[] = [];
  for (const rows of seedGroups(valued, METRICS)) {
    if (rows.length < 2) continue;
    const seeds = rows.map((r) => Number(r.seed));
    const xs = rows.map((r) => Number(r.value));
    const { mean, sd } = meanSd(xs);
    out.push({
      task: rows[0].task,
      model: rows[0].model,
      metric: rows[0].metric,
      k: rows[0].k ?? null,
      unit: rows[0].unit,
      n_seeds: xs.length,
      seeds: seeds.sort((a, b) => a - b).join(" "),
      mean,
      sd,
      min: Math.min(...xs),
      max: Math.max(...xs),
      preset: rows[0].preset,
      scale: rows[0].scale,
    });
  }
  return out;
}

/** Markdown table of one task's statistics over seeds (empty when there are none). */
export function seedStatsTable(stats: readonly SeedStatsRow[], task: string): string[] {
  const rows = stats.filter((s) => s.task === task);
  if (rows.length === 0) return [];
  const f = (v: Cell, unit: Cell) =>
    unit === "pct" ? `${Number(v).toFixed(1)}%` : Number(v).toFixed(3);
  const name = (s: SeedStatsRow) => s.k === null ? String(s.metric) : `${s.metric}@${s.k}`;
  return [
    `Over seeds (mean ± sample sd; \`seeds.csv\`):`,
    "",
    "| model | metric | seeds | mean | sd | min | max |",
    "|---|---|---|---|---|---|---|",
    ...rows.map((s) =>
      `| ${s.model} | ${name(s)} | ${s.seeds} | ${f(s.mean, s.unit)} | ${
        Number(s.sd).toFixed(1)
      } | ${f(s.min, s.unit)} | ${f(s.max, s.unit)} |`
    ),
    "",
  ];
}
