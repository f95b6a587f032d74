/**
 * Scoring runs over files, shared by `cli.ts` and the reproduce pipeline: read PRED.jsonl files
 * (streaming, every bad line reported with file and line), score, and write the result files.
 *
 * @example
 * ```ts
 * import { scoreArc, writeArcOutputs } from "./run.ts";
 * const run = await scoreArc({ predictions: ["pred.jsonl"], tasksDir: "tasks/arc/data/arc-agi-1" });
 * await writeArcOutputs(run, "results/score/trm-attn");
 * ```
 */
import { basename } from "node:path";
import { loadArcSource } from "../../tasks/arc/load.ts";
import { sha256Hex } from "../../tasks/io.ts";
import type { ArcSource, ArcTask } from "../../tasks/arc/load.ts";
import { gitCommit } from "../../engine/provenance.ts";
import { type ArcScore, ArcVoter, parsePrediction, PASS_KS } from "./arc.ts";
import {
  type DiagnosticsSummary,
  DIFFICULTY_THRESHOLD,
  type ModelVotes,
  stratifiedPassAtK,
  summarizeDiagnostics,
  type TestInputDiagnostics,
  testInputDiagnostics,
} from "./diagnostics.ts";
import { type GridMetrics, GridMetricsAccumulator, parseGridExample } from "./grid_metrics.ts";
import { LineErrors, readJsonl } from "./jsonl.ts";
import { csvText, readCsv } from "../../engine/csv.ts";
import { buildSubmission, type Submission, validateSubmission } from "./submission.ts";
import {
  ACCURACY_COLUMNS,
  accuracyRows,
  type ArcRunInfo,
  DIAGNOSTICS_COLUMNS,
  diagnosticsRows,
  PASS_AT_K_COLUMNS,
  passAtKRows,
  type Provenance,
  STRATA_COLUMNS,
  strataRows,
  SUMMARY_COLUMNS,
  summaryRows,
} from "./tables.ts";

/** Options of `scoreArc`. */
export interface ArcScoreOptions {
  /** PRED.jsonl files (one per evaluation of a run, in evaluation order). */
  readonly predictions: readonly string[];
  /** Task folder with test outputs (any layout `loadArcSource` reads). */
  readonly tasksDir: string;
  /** Subset to score; default `evaluation` when present, else the only subset. */
  readonly subset?: string;
  /** Pool votes across all files (TRM's default); false requires exactly one file. */
  readonly pool?: boolean;
  /** Model name; default the first file's name without extension. */
  readonly model?: string;
  readonly ks?: readonly number[];
}

/** Everything one ARC scoring run produced. */
export interface ArcScoreRun {
  readonly score: ArcScore;
  readonly diagnostics: TestInputDiagnostics[];
  readonly summary: DiagnosticsSummary;
  readonly submission: Submission;
  readonly info: ArcRunInfo;
  readonly provenance: Provenance;
}

/** The model name derived from a predictions path (`dir/trm-attn.jsonl` → `trm-attn`). */
export function modelNameOf(path: string): string {
  return basename(path).replace(/\.jsonl?$/i, "");
}

/** Picks the tasks to score from a loaded source. */
export function chooseSubset(
  source: ArcSource,
  subset?: string,
): { name: string; tasks: ArcTask[] } {
  const names = [...source.subsets.keys()];
  const name = subset ??
    (source.subsets.has("evaluation") ? "evaluation" : names.length === 1 ? names[0] : undefined);
  if (name === undefined) {
    throw new TypeError(
      `${source.dir}: several subsets (${
        names.join(", ")
      }) and none is "evaluation": choose one with --subset`,
    );
  }
  const tasks = source.subsets.get(name);
  if (!tasks) {
    throw new RangeError(`${source.dir}: no subset ${name} (have ${names.join(", ")})`);
  }
  return { name, tasks };
}

function fileHashes(files: { path: string; sha256: string }[]): string {
  return files.map((f) => `${basename(f.path)}:${f.sha256}`).join(";");
}

/** Scores ARC prediction files against the task folder. */
export async function scoreArc(opts: ArcScoreOptions): Promise<ArcScoreRun> {
  if (opts.predictions.length === 0) throw new TypeError("scoreArc: no predictions file given");
  const pool = opts.pool ?? true;
  if (!pool && opts.predictions.length > 1) {
    throw new TypeError(
      `scoreArc: --no-pool scores exactly one predictions file, got ${opts.predictions.length}`,
    );
  }
  const source = await loadArcSource(opts.tasksDir);
  const { name: subset, tasks } = chooseSubset(source, opts.subset);
  const voter = new ArcVoter(tasks);
  const errors = new LineErrors();
  const files: { path: string; sha256: string }[] = [];
  for (const path of opts.predictions) {
    const digest = { sha256: "" };
    for await (const { line, value } of readJsonl(path, digest, errors)) {
      try {
        voter.add(parsePrediction(value));
      } catch (e) {
        errors.add(`${path}:${line}`, e);
      }
    }
    files.push({ path, sha256: digest.sha256 });
  }
  errors.throwIfAny();
  const score = voter.result(opts.ks ?? PASS_KS);
  const diagnostics = score.testInputs.map(testInputDiagnostics);
  const submission = buildSubmission(score);
  // The competition format, checked before anything is written (a failure is our bug).
  const problems = validateSubmission(submission, tasks);
  if (problems.length) {
    throw new Error(`submission.json would not be valid: ${problems.slice(0, 5).join("; ")}`);
  }
  return {
    score,
    diagnostics,
    summary: summarizeDiagnostics(diagnostics),
    submission,
    info: {
      model: opts.model ?? modelNameOf(opts.predictions[0]),
      pooling: opts.predictions.length > 1 ? "pooled" : "single",
      nPredictionFiles: opts.predictions.length,
      subset,
      tasksSha256: source.sha256,
    },
    provenance: {
      commit: gitCommit(),
      date: new Date().toISOString(),
      predictionsSha256: fileHashes(files),
    },
  };
}

/** Writes pass_at_k.csv, diagnostics.csv, diagnostics_summary.csv and submission.json. */
export async function writeArcOutputs(run: ArcScoreRun, outDir: string): Promise<string[]> {
  await Deno.mkdir(outDir, { recursive: true });
  const out = [
    [
      `${outDir}/pass_at_k.csv`,
      await csvText(PASS_AT_K_COLUMNS, passAtKRows(run.score, run.info, run.provenance)),
    ],
    [
      `${outDir}/diagnostics.csv`,
      await csvText(
        DIAGNOSTICS_COLUMNS,
        diagnosticsRows(run.diagnostics, run.info, run.provenance),
      ),
    ],
    [
      `${outDir}/diagnostics_summary.csv`,
      await csvText(SUMMARY_COLUMNS, summaryRows(run.summary, run.info, run.provenance)),
    ],
    [`${outDir}/submission.json`, JSON.stringify(run.submission) + "\n"],
  ];
  for (const [path, text] of out) await Deno.writeTextFile(path, text);
  return out.map(([p]) => p);
}

/** Reads the vote tables of `diagnostics.csv` files, grouped by model (file order kept). */
export async function readVoteTables(paths: readonly string[]): Promise<ModelVotes[]> {
  const models = new Map<string, { model: string; inputs: ModelVotes["inputs"][number][] }>();
  for (const path of paths) {
    for (const r of await readCsv(path, DIAGNOSTICS_COLUMNS)) {
      const where = `${path}:${r.line}`;
      const num = (col: string) => {
        const x = Number(r[col]);
        if (r[col] === "" || !Number.isFinite(x)) {
          throw new TypeError(`${where}: ${col} is not a number: ${JSON.stringify(r[col])}`);
        }
        return x;
      };
      let m = models.get(r.model);
      if (!m) models.set(r.model, m = { model: r.model, inputs: [] });
      m.inputs.push({
        taskId: r.task,
        testIndex: num("test_index"),
        correctVoteShare: num("correct_vote_share"),
        correctRank: num("correct_rank"),
      });
    }
  }
  return [...models.values()];
}

/** Difficulty-stratified pass@K from several models' diagnostics.csv; writes strata.csv. */
export async function writeStrata(
  diagnosticsFiles: readonly string[],
  outDir: string,
  ks: readonly number[] = PASS_KS,
): Promise<{ path: string; rows: ReturnType<typeof stratifiedPassAtK>["rows"] }> {
  const tables = await readVoteTables(diagnosticsFiles);
  if (tables.length < 2) {
    console.warn(
      `strata: only ${tables.length} model(s) in ${diagnosticsFiles.join(", ")}; ` +
        "the paper's strata average over the compared models",
    );
  }
  const { rows } = stratifiedPassAtK(tables, ks);
  const sources = await Promise.all(
    diagnosticsFiles.map(async (p) => `${basename(p)}:${sha256Hex(await Deno.readFile(p))}`),
  );
  await Deno.mkdir(outDir, { recursive: true });
  const path = `${outDir}/strata.csv`;
  const text = await csvText(
    STRATA_COLUMNS,
    strataRows(rows, DIFFICULTY_THRESHOLD, {
      commit: gitCommit(),
      date: new Date().toISOString(),
      sources: sources.join(";"),
    }),
  );
  await Deno.writeTextFile(path, text);
  return { path, rows };
}

/** Scores a Sudoku/Maze PRED.jsonl file. */
export async function scoreGrid(
  path: string,
): Promise<{ metrics: GridMetrics; provenance: Provenance }> {
  const acc = new GridMetricsAccumulator();
  const errors = new LineErrors();
  const digest = { sha256: "" };
  for await (const { line, value } of readJsonl(path, digest, errors)) {
    try {
      acc.add(parseGridExample(value));
    } catch (e) {
      errors.add(`${path}:${line}`, e);
    }
  }
  errors.throwIfAny();
  return {
    metrics: acc.result(),
    provenance: {
      commit: gitCommit(),
      date: new Date().toISOString(),
      predictionsSha256: fileHashes([{ path, sha256: digest.sha256 }]),
    },
  };
}

/** Writes accuracy.csv for a Sudoku/Maze score. */
export async function writeAccuracy(
  metrics: GridMetrics,
  run: { model: string; task: string },
  prov: Provenance,
  outDir: string,
): Promise<string> {
  await Deno.mkdir(outDir, { recursive: true });
  const path = `${outDir}/accuracy.csv`;
  await Deno.writeTextFile(path, await csvText(ACCURACY_COLUMNS, accuracyRows(metrics, run, prov)));
  return path;
}
