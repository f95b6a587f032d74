/**
 * `deno task rebaseline`: makes the regression baseline of a reduced preset from the per-seed
 * summary.csv of reproduce runs — deliberately, with a reason — and writes
 * `benchmarks/reproduce/expected/baselines/<preset>/`: baseline.csv (mean, sd, tolerance, floor,
 * threshold and their derivation per checked metric; benchmarks/reproduce/baseline.ts), summary.csv
 * (the per-seed rows it came from) and reasons.csv (one line per re-baseline: date, commit, seeds,
 * reason).
 *
 *   deno task rebaseline --preset smoke|cpu-mini|cpu-study --summary FILE [--summary FILE …]
 *                        --reason "why the numbers changed"
 *                        [--baselines benchmarks/reproduce/expected/baselines] [--min-seeds 3]
 *                        [--allow-dirty]
 *
 * Rows produced by uncommitted code (commit "…-dirty") are refused unless --allow-dirty.
 * Exit status: 0 written; 1 refused or failed; 2 usage error.
 */
import { parseCli, runMain } from "../speed/bench_util.ts";
import { csvText, readCsv } from "../../engine/csv.ts";
import { exists } from "../../tasks/io.ts";
import { openRunData } from "../../recursion/data.ts";
import { presetDataRecipe } from "../../recursion/presets.ts";
import { PRESET_NAMES, type PresetName, type TaskName } from "../../recursion/run/config.ts";
import { main as prepareMain } from "../../tasks/prepare.ts";
import { gitCommit, guardResultsWrite } from "../../engine/provenance.ts";
import {
  baselineText,
  buildBaseline,
  CHECKED,
  isReducedPreset,
  MIN_SEEDS,
  REASONS_COLUMNS,
} from "./baseline.ts";
import { type FloorTable, trivialFloors } from "./floors.ts";
import { runConfig } from "./steps.ts";
import { REPRO_SUMMARY_COLUMNS, type SummaryRow } from "./summary.ts";
import { readSummary } from "./verify.ts";

export const USAGE =
  `usage: deno task rebaseline --preset smoke|cpu-mini|cpu-study --summary FILE [--summary FILE ...]
         --reason "why" [--baselines benchmarks/reproduce/expected/baselines]
         [--min-seeds ${MIN_SEEDS}] [--allow-dirty]
  Writes benchmarks/reproduce/expected/baselines/<preset>/baseline.csv from the per-seed rows of
  one or more reproduce summaries: per checked metric the mean and sd over seeds, tolerance =
  max(3 sd, resolution), the floor a model that learned nothing reaches (measured on the preset's
  test split) and the threshold; a metric whose threshold is at or below its floor is stored
  report-only.`;

/** Floors of each task of a preset, measured on its prepared test split. */
export async function presetFloors(
  preset: PresetName,
  tasks: readonly TaskName[],
): Promise<Partial<Record<TaskName, FloorTable>>> {
  const out: Partial<Record<TaskName, FloorTable>> = {};
  for (const task of tasks) {
    const cfg = runConfig(preset, task, "trm-attn", 0, "auto");
    const recipe = presetDataRecipe(preset, task);
    if (recipe && !await exists(`${recipe.dir}/metadata.json`)) await prepareMain(recipe.args);
    const { ds } = await openRunData(cfg.data, () => {});
    out[task] = trivialFloors(ds.test, task);
  }
  return out;
}

export async function main(args: string[], log = console.log): Promise<number> {
  const r = parseCli("rebaseline", USAGE, {
    preset: { type: "string" },
    summary: { type: "string", multiple: true },
    reason: { type: "string" },
    baselines: { type: "string", default: "benchmarks/reproduce/expected/baselines" },
    "min-seeds": { type: "string", default: String(MIN_SEEDS) },
  }, args);
  if ("exit" in r) {
    (r.exit ? console.error : log)(r.text);
    return r.exit;
  }
  const v = r.values;
  const preset = v.preset as Exclude<PresetName, "paper">;
  if (!isReducedPreset(String(v.preset))) {
    console.error(
      `--preset: ${PRESET_NAMES.filter(isReducedPreset).join(", ")} (paper is checked against ` +
        `the published values)`,
    );
    return 2;
  }
  if (!v.summary?.length || !v.reason?.trim()) {
    console.error(`--summary and a non-empty --reason are required\n${USAGE}`);
    return 2;
  }
  const minSeeds = Number(v["min-seeds"]);
  if (!Number.isInteger(minSeeds) || minSeeds < 1) {
    console.error(`--min-seeds: an integer ≥ 1: ${v["min-seeds"]}`);
    return 2;
  }
  const rows: SummaryRow[] = [];
  for (const f of v.summary) rows.push(...await readSummary(f));
  const dirty = [...new Set(rows.map((r) => String(r.commit)).filter((c) => c.includes("dirty")))];
  if (dirty.length && !v["allow-dirty"]) {
    console.error(
      `rebaseline: refused: rows from uncommitted code (${dirty.join(", ")}); rerun at a clean ` +
        `commit, or pass --allow-dirty to accept them (their commit stays in the baseline)`,
    );
    return 1;
  }
  const dir = `${v.baselines}/${preset}`;
  await guardResultsWrite(dir, { allowDirty: v["allow-dirty"], what: "rebaseline" });
  // The commit label of this re-baseline, read before its own files are written: they sit under
  // the code paths, so reading it afterwards would always say "-dirty".
  const commit = gitCommit();
  const tasks = [...new Set(rows.map((r) => r.task as TaskName))];
  const floors = await presetFloors(preset, tasks);
  const baseline = buildBaseline(preset, rows, floors, minSeeds);
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/baseline.csv`, await baselineText(baseline));
  await Deno.writeTextFile(`${dir}/summary.csv`, await csvText(REPRO_SUMMARY_COLUMNS, rows));
  const reasonsPath = `${dir}/reasons.csv`;
  const old = await exists(reasonsPath) ? await readCsv(reasonsPath, REASONS_COLUMNS) : [];
  const reasons = [
    ...old.map(({ line: _l, ...r }) => r),
    {
      date: new Date().toISOString(),
      preset,
      commit,
      summary: v.summary.join(" "),
      seeds: [...new Set(rows.map((r) => r.seed))].join(" "),
      reason: v.reason.trim(),
    },
  ];
  await Deno.writeTextFile(reasonsPath, await csvText(REASONS_COLUMNS, reasons));
  for (const b of baseline) {
    log(
      `${
        String(b.check === CHECKED ? "checked" : "report-only").padEnd(11)
      } ${b.task}/${b.model} ` +
        `${b.metric}: mean ${(b.mean as number).toFixed(2)} sd ${
          b.sd === null ? "—" : (b.sd as number).toFixed(2)
        } over seeds ${b.seeds}; tolerance ${(b.tolerance as number).toFixed(2)}; fails below ${
          (b.threshold as number).toFixed(2)
        } (floor ${(b.floor as number).toFixed(2)})`,
    );
  }
  log(`wrote ${dir}/baseline.csv, summary.csv, reasons.csv`);
  return 0;
}

if (import.meta.main) await runMain(main, { name: "rebaseline", usage: USAGE });
