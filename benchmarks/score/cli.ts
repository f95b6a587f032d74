/**
 * `deno task score`: scores prediction files from any model (ours, or dumped by the official
 * PyTorch code) and writes machine-readable results.
 *
 * ```
 * deno task score arc --predictions PRED.jsonl [--predictions MORE.jsonl ...] --tasks DIR
 *     [--subset NAME] [--out DIR] [--pool | --no-pool] [--model NAME]
 * deno task score sudoku|maze --predictions PRED.jsonl [--out DIR] [--model NAME]
 * deno task score strata --diagnostics A/diagnostics.csv --diagnostics B/diagnostics.csv [--out DIR]
 * ```
 *
 * - arc: PRED.jsonl lines are `{"puzzle", "input": [900], "prediction": [900], "q_halt_logit"}`
 *   (900 tokens = TRM's 30×30 canvas; a reduced canvas side s in 1..30 gives s² tokens, the same
 *   for input and prediction, cropped on the s×s canvas); DIR holds the task JSONs with test outputs (ARC repository layout, Kaggle layout or a flat
 *   folder). Writes pass_at_k.csv, diagnostics.csv, diagnostics_summary.csv, submission.json.
 *   Several files are pooled (TRM's default: votes accumulate over a run's evaluations);
 *   `--no-pool` insists on one file. The output records which.
 * - sudoku/maze: lines are `{"prediction": [...], "label": [...], "steps": n}` (label −100 =
 *   ignored). Writes accuracy.csv.
 * - strata: difficulty-stratified pass@K across the models in the diagnostics files.
 *
 * `--out` defaults to the folder of the first input file. Exit status: 0 ok, 1 bad input, 2 usage.
 */
import { parseCli, printCliResult, runMain, UsageError, usageText } from "../../engine/cli.ts";
import { dirname } from "node:path";
import {
  modelNameOf,
  scoreArc,
  scoreGrid,
  writeAccuracy,
  writeArcOutputs,
  writeStrata,
} from "./run.ts";

const USAGE = `usage:
  deno task score arc --predictions PRED.jsonl [--predictions MORE.jsonl ...] --tasks DIR
      [--subset NAME] [--out DIR] [--pool | --no-pool] [--model NAME]
  deno task score sudoku|maze --predictions PRED.jsonl [--out DIR] [--model NAME]
  deno task score strata --diagnostics A.csv --diagnostics B.csv [--out DIR]`;

/** A command-line mistake: printed with the usage, exit status 2 (engine/cli.ts). */
export { UsageError };

const OPTIONS = {
  predictions: { type: "string", multiple: true },
  diagnostics: { type: "string", multiple: true },
  tasks: { type: "string" },
  subset: { type: "string" },
  out: { type: "string" },
  pool: { type: "boolean" },
  "no-pool": { type: "boolean" },
  model: { type: "string" },
} as const;

const ALLOWED: Record<string, readonly string[]> = {
  arc: ["predictions", "tasks", "subset", "out", "pool", "no-pool", "model"],
  sudoku: ["predictions", "out", "model"],
  maze: ["predictions", "out", "model"],
  strata: ["diagnostics", "out"],
};

function fmt(x: number, digits = 2): string {
  return Number.isNaN(x) ? "n/a" : x.toFixed(digits);
}

/** Runs the CLI on `args`; returns the exit status. Output goes to `log` (console.log). */
export async function main(args: string[], log = console.log): Promise<number> {
  const parsed = parseCli("score", USAGE, OPTIONS, args, { positionals: true });
  if ("exit" in parsed) return printCliResult(parsed, log);
  try {
    const [cmd, ...extra] = parsed.positionals;
    if (!cmd || !(cmd in ALLOWED)) {
      throw new UsageError(
        `first argument must be one of ${Object.keys(ALLOWED).join("|")}: ${cmd ?? "(none)"}`,
      );
    }
    if (extra.length) throw new UsageError(`unexpected argument(s): ${extra.join(" ")}`);
    for (const k of Object.keys(parsed.values)) {
      if (!ALLOWED[cmd].includes(k)) throw new UsageError(`${cmd}: option --${k} does not apply`);
    }
    if (parsed.values.pool && parsed.values["no-pool"]) {
      throw new UsageError("give --pool or --no-pool, not both");
    }
    if (cmd === "strata") {
      if (!parsed.values.diagnostics?.length) {
        throw new UsageError("strata: --diagnostics is required");
      }
    } else {
      if (!parsed.values.predictions?.length) {
        throw new UsageError(`${cmd}: --predictions is required`);
      }
      if (cmd !== "arc" && parsed.values.predictions.length > 1) {
        throw new UsageError(`${cmd}: give one --predictions file`);
      }
      if (cmd === "arc" && !parsed.values.tasks) {
        throw new UsageError("arc: --tasks DIR is required");
      }
    }
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(usageText("score", e.message, USAGE));
      return 2;
    }
    throw e;
  }
  const v = parsed.values;
  const cmd = parsed.positionals[0];
  try {
    if (cmd === "arc") {
      const predictions = v.predictions!;
      const run = await scoreArc({
        predictions,
        tasksDir: v.tasks!,
        subset: v.subset,
        pool: !v["no-pool"],
        model: v.model,
      });
      const written = await writeArcOutputs(run, v.out ?? dirname(predictions[0]));
      const s = run.score, d = run.summary;
      log(
        `ARC ${run.info.subset}: model ${run.info.model}, ${run.info.pooling} ` +
          `(${run.info.nPredictionFiles} file(s), ${s.nPredictions} predictions), ${s.nTasks} tasks, ` +
          `${s.nTestInputs} test inputs (${s.nTestInputsWithPredictions} with predictions)`,
      );
      log("      K   pass@K %    credit");
      s.ks.forEach((k, i) => {
        log(
          `${String(k).padStart(7)} ${fmt(100 * s.passAtK[i]).padStart(10)} ${
            String(s.credit[i]).padStart(9)
          }`,
        );
      });
      log(
        `distinct candidates per test input ${fmt(d.meanDistinctCandidates)}, vote entropy ` +
          `${fmt(d.meanEntropyNats, 3)} nats = ${
            fmt(d.meanEntropyBits, 3)
          } bits (means over ${d.nWithVotes})`,
      );
      log(`wrote ${written.join(", ")}`);
    } else if (cmd === "strata") {
      const files = v.diagnostics!;
      const { path, rows } = await writeStrata(files, v.out ?? dirname(files[0]));
      log("stratum  model                    K      N   pass@K %");
      for (const r of rows) {
        log(
          `${r.stratum.padEnd(8)} ${r.model.padEnd(22)} ${String(r.k).padStart(4)} ${
            String(r.n).padStart(6)
          } ${fmt(100 * r.passAtK).padStart(10)}`,
        );
      }
      log(`wrote ${path}`);
    } else {
      const path = v.predictions![0];
      const { metrics, provenance } = await scoreGrid(path);
      const model = v.model ?? modelNameOf(path);
      const out = await writeAccuracy(
        metrics,
        { model, task: cmd },
        provenance,
        v.out ?? dirname(path),
      );
      log(
        `${cmd}: model ${model}, ${metrics.n} examples (${metrics.nSkipped} skipped): exact ` +
          `${fmt(100 * metrics.exactAccuracy)} %, cell ${fmt(100 * metrics.cellAccuracy)} %, ` +
          `mean ACT steps ${fmt(metrics.meanSteps)}`,
      );
      log(`wrote ${out}`);
    }
  } catch (e) {
    if (e instanceof Error && !(e instanceof Deno.errors.NotCapable)) { // runMain says that one
      console.error(`score ${cmd}: ${e.name}: ${e.message}`);
      return 1;
    }
    throw e;
  }
  return 0;
}

if (import.meta.main) await runMain(main, { name: "score", usage: USAGE });
