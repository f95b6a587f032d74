/**
 * The study report's plots (SVG; benchmarks/study/svg.ts): training curves per task from each
 * run's train/eval.csv and train/metrics.csv, and the ARC coverage plots from the summary and
 * interval rows. Lines and bars are means over seeds; bands and error bars the 95 % t-interval.
 */
import { readCsv } from "../../engine/csv.ts";
import type { SummaryRow } from "../reproduce/summary.ts";
import { EVAL_COLUMNS, METRICS_COLUMNS } from "../../recursion/run/record.ts";
import { MODEL_NAMES } from "../../recursion/config.ts";
import { summarize } from "./stats.ts";
import { modelsOf } from "./compare.ts";
import { bandChart, type BandSeries, barChart, colourOf } from "./svg.ts";
import type { IntervalRow, RunLocator } from "./report.ts";

/** Per-step values of one column of a run's CSV, or null when the file is absent. */
async function readRunCsv(
  path: string,
  columns: readonly string[],
  warnings: string[],
): Promise<Record<string, string>[] | null> {
  try {
    return await readCsv(path, columns);
  } catch (e) {
    warnings.push(
      `${path}: ${e instanceof Deno.errors.NotFound ? "absent" : (e as Error).message}`,
    );
    return null;
  }
}

/** Mean and 95 % t-interval over the seeds' values at each x. */
function bandOf(byX: Map<number, number[]>): BandSeries["points"] {
  return [...byX].sort((a, b) => a[0] - b[0]).map(([x, ys]) => {
    const s = summarize(ys);
    return Number.isFinite(s.ci95.lo)
      ? { x, y: s.mean, lo: s.ci95.lo, hi: s.ci95.hi }
      : { x, y: s.mean };
  });
}

const LOSS_BINS = 60;

/** The same colour for a model in every chart. */
const modelColour = (m: string) => colourOf(m, MODEL_NAMES);

/** Training-curve plots of one task; returns the files written (relative to `out`). */
export async function curvePlots(
  rows: readonly SummaryRow[],
  task: string,
  locate: RunLocator,
  out: string,
  warnings: string[],
): Promise<string[]> {
  const models = modelsOf(rows, task);
  const seedsOf = (m: string) =>
    [
      ...new Set(rows.filter((r) => r.task === task && r.model === m).map((r) => Number(r.seed))),
    ].sort((a, b) => a - b);
  const exact: BandSeries[] = [], cell: BandSeries[] = [], loss: BandSeries[] = [];
  for (const m of models) {
    const ex = new Map<number, number[]>(), ce = new Map<number, number[]>();
    const lo = new Map<number, number[]>();
    const runsOf = seedsOf(m);
    for (const seed of runsOf) {
      const run = locate(task, m, seed);
      if (run === null) {
        warnings.push(`${task}/${m} seed ${seed}: no run folder given`);
        continue;
      }
      const dir = `${run}/train`;
      const ev = await readRunCsv(`${dir}/eval.csv`, EVAL_COLUMNS, warnings);
      for (const r of ev ?? []) {
        const step = Number(r.step);
        const e = Number(r.exact_acc), c = Number(r.cell_acc);
        if (r.exact_acc !== "" && Number.isFinite(e)) {
          ex.set(step, [...(ex.get(step) ?? []), 100 * e]);
        }
        if (r.cell_acc !== "" && Number.isFinite(c)) {
          ce.set(step, [...(ce.get(step) ?? []), 100 * c]);
        }
      }
      const mt = await readRunCsv(`${dir}/metrics.csv`, METRICS_COLUMNS, warnings);
      if (mt && mt.length) {
        const last = Math.max(...mt.map((r) => Number(r.step)));
        const width = Math.max(1, Math.ceil(last / LOSS_BINS));
        const bins = new Map<number, number[]>();
        for (const r of mt) {
          const v = Number(r.lm_loss);
          if (r.lm_loss === "" || !Number.isFinite(v)) continue;
          const b = Math.min(Math.floor((Number(r.step) - 1) / width), LOSS_BINS - 1);
          bins.set(b, [...(bins.get(b) ?? []), v]);
        }
        for (const [b, vs] of bins) {
          const x = Math.round((b + 0.5) * width);
          lo.set(x, [...(lo.get(x) ?? []), vs.reduce((a, y) => a + y, 0) / vs.length]);
        }
      }
    }
    const name = `${m} (${runsOf.length} seed${runsOf.length > 1 ? "s" : ""})`;
    exact.push({ name, points: bandOf(ex) });
    cell.push({ name, points: bandOf(ce) });
    loss.push({ name, points: bandOf(lo) });
  }
  const written: string[] = [];
  await Deno.mkdir(`${out}/${task}`, { recursive: true });
  const caption = "line: mean over seeds; band: 95% t-interval over seeds";
  const colours = models.map(modelColour);
  for (
    const [file, series, title, label, pct] of [
      [
        "curves_exact.svg",
        exact,
        "held-out exact accuracy during training (EMA weights)",
        "exact accuracy (%)",
        true,
      ],
      [
        "curves_cell.svg",
        cell,
        "held-out cell accuracy during training (EMA weights)",
        "cell accuracy (%)",
        true,
      ],
      [
        "curves_loss.svg",
        loss,
        `training LM loss (mean over each ${LOSS_BINS}th of the run)`,
        "LM loss",
        false,
      ],
    ] as const
  ) {
    if (series.every((s) => s.points.length === 0)) continue;
    await Deno.writeTextFile(
      `${out}/${task}/${file}`,
      bandChart(series, {
        title: `${task}: ${title}`,
        xLabel: "optimiser step",
        yLabel: label,
        caption,
        colours,
        ...(pct ? { yMin: 0, yMax: 100 } : {}),
      }),
    );
    written.push(`${task}/${file}`);
  }
  return written;
}

/** ARC plots from the summary: pass@K vs K, distinct candidates and vote entropy per model. */
export async function arcPlots(
  rows: readonly SummaryRow[],
  intervals: readonly IntervalRow[],
  out: string,
): Promise<string[]> {
  const models = modelsOf(rows, "arc");
  if (!models.length) return [];
  await Deno.mkdir(`${out}/arc`, { recursive: true });
  const written: string[] = [];
  const series: BandSeries[] = models.map((m) => {
    const byK = new Map<number, number[]>();
    for (const r of rows) {
      if (r.task !== "arc" || r.model !== m || r.metric !== "pass_at_k") continue;
      if (typeof r.value !== "number" || !Number.isFinite(r.value)) continue;
      byK.set(Number(r.k), [...(byK.get(Number(r.k)) ?? []), r.value]);
    }
    return { name: m, points: bandOf(byK) };
  });
  if (series.some((s) => s.points.length)) {
    await Deno.writeTextFile(
      `${out}/arc/pass_at_k.svg`,
      bandChart(series, {
        title: "ARC: pass@K vs K (TRM voting over augmentations)",
        xLabel: "K (log scale)",
        yLabel: "pass@K (% of tasks)",
        logX: true,
        yMin: 0,
        yMax: 100,
        caption: "line: mean over seeds; band: 95% t-interval over seeds",
        colours: models.map(modelColour),
      }),
    );
    written.push("arc/pass_at_k.svg");
  }
  for (
    const [metric, file, label] of [
      ["mean_distinct_candidates", "distinct_candidates.svg", "distinct candidates per test input"],
      ["mean_entropy_nats", "vote_entropy.svg", "vote entropy per test input (nats)"],
    ] as const
  ) {
    const bars = models.flatMap((m) => {
      const r = intervals.find((x) => x.task === "arc" && x.model === m && x.metric === metric);
      return r
        ? [{
          name: m,
          value: Number(r.mean),
          lo: r.ci95_lo === null ? NaN : Number(r.ci95_lo),
          hi: r.ci95_hi === null ? NaN : Number(r.ci95_hi),
        }]
        : [];
    });
    if (!bars.length) continue;
    await Deno.writeTextFile(
      `${out}/arc/${file}`,
      barChart(bars, {
        title: `ARC: ${label}`,
        yLabel: label,
        caption: "bar: mean over seeds; error bar: 95% t-interval over seeds",
        colours: bars.map((b) => modelColour(b.name)),
      }),
    );
    written.push(`arc/${file}`);
  }
  return written;
}
