/**
 * Recomputing a seed's scores from its prediction files and comparing them with what the run
 * reported (score/*.csv). Labels come from the task data, never from the prediction files: the
 * Sudoku/Maze rows' `label` is replaced by the test split's label of the same example before
 * scoring, and ARC predictions are voted (benchmarks/score `scoreArc`) against the ARC task files
 * shipped in the repository. Every prediction file must hold one row per test example, in the
 * test split's order (ARC: same puzzle name and input tokens), so no example can be left out or
 * repeated. Each claimed number is compared with the recomputed one (relative tolerance 1e-9);
 * only recomputed numbers leave this module.
 */
import { type Cell, type CsvRecord, parseCsv } from "../../engine/csv.ts";
import { evalBatches, type TaskDataset } from "../../tasks/dataset.ts";
import { readJsonl } from "../score/jsonl.ts";
import { GridMetricsAccumulator, parseGridExample } from "../score/grid_metrics.ts";
import { scoreArc } from "../score/run.ts";
import {
  ACCURACY_COLUMNS,
  accuracyRows,
  DIAGNOSTICS_COLUMNS,
  diagnosticsRows,
  PASS_AT_K_COLUMNS,
  passAtKRows,
  SUMMARY_COLUMNS,
  summaryRows,
} from "../score/tables.ts";
import { canonicalJson } from "../../recursion/run/config.ts";
import { type BundleSeed, parsePredictionHashes, Refused } from "./bundle.ts";
import type { EntrySeed, LeaderboardTask } from "./entry.ts";

/** Relative tolerance of a claimed number against the recomputed one. */
export const TOLERANCE = 1e-9;

/** What a seed's verification needs. */
export interface SeedScoreInput {
  task: LeaderboardTask;
  model: string;
  seed: BundleSeed;
  /** The seed's folder, extracted (holds predictions/ and score/). */
  dir: string;
  /** The bundle files of the seed (path → bytes), for the score files and hashes. */
  files: ReadonlyMap<string, Uint8Array>;
  /** The regenerated dataset the configuration describes. */
  ds: TaskDataset;
  /** Final step and evaluation cadence, from the configuration and dataset. */
  totalSteps: number;
  evalEvery: number;
  /** ARC: a task folder (flat `evaluation/`) of the test-split tasks from the shipped files. */
  arcTasksDir?: string;
}

/** The recomputed scores of one seed (percent). */
export type SeedScores = Pick<EntrySeed, "metrics" | "passAtK">;

// ----------------------------------------------------------------------------- comparing

function closeEnough(a: number, b: number): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  return Math.abs(a - b) <= TOLERANCE * Math.max(1, Math.abs(a), Math.abs(b));
}

/** Compares a claimed CSV cell with the recomputed value (numbers: within TOLERANCE). */
export function compareCell(field: string, claimed: string, recomputed: Cell): void {
  if (typeof recomputed === "number" || recomputed === null) {
    const want = recomputed === null ? NaN : recomputed;
    const got = claimed.trim() === "" || claimed === "NaN" ? NaN : Number(claimed);
    if (!closeEnough(got, want)) {
      throw new Refused(
        field,
        `claimed ${claimed === "" ? "(empty)" : claimed}, recomputed ${
          Number.isNaN(want) ? "(none)" : want
        } from the predictions against the task data`,
      );
    }
    return;
  }
  if (claimed !== String(recomputed)) {
    throw new Refused(
      field,
      `claimed ${JSON.stringify(claimed)}, recomputed ${JSON.stringify(recomputed)}`,
    );
  }
}

/** A score table's columns that hold its values: not the row's key, nor its provenance. */
const valueColumns = (columns: readonly string[], key: readonly string[]) =>
  columns.filter((c) =>
    !key.includes(c) &&
    !["definition", "commit", "date", "tasks_sha256", "predictions_sha256"].includes(c)
  );
/** The value columns of diagnostics.csv and pass_at_k.csv, compared claim against recomputation. */
const DIAGNOSTIC_VALUES = valueColumns(DIAGNOSTICS_COLUMNS, ["model", "task", "test_index"]);
const PASS_AT_K_VALUES = valueColumns(PASS_AT_K_COLUMNS, ["model", "k"]);

/**
 * Compares every claimed row of a score table with the recomputed row of the same key, column by
 * column (`columns`); a claimed key the recomputation does not give, or a key claimed twice, is
 * refused. Returns the keys claimed.
 */
export function compareTable(
  file: string,
  claimed: CsvRecord[],
  recomputed: Record<string, Cell>[],
  key: (r: Record<string, unknown>) => string,
  columns: readonly string[],
): Set<string> {
  if (claimed.length === 0) throw new Refused(file, "no rows: nothing is claimed");
  const byKey = new Map(recomputed.map((r) => [key(r), r]));
  const seen = new Set<string>();
  for (const c of claimed) {
    const k = key(c);
    if (seen.has(k)) throw new Refused(`${file} ${k}`, "claimed twice");
    seen.add(k);
    const r = byKey.get(k);
    if (!r) throw new Refused(`${file} ${k}`, "claimed, but the predictions give no such score");
    for (const col of columns) compareCell(`${file} ${k} ${col}`, c[col], r[col]);
  }
  return seen;
}

function text(files: ReadonlyMap<string, Uint8Array>, path: string): string | null {
  const b = files.get(path);
  return b ? new TextDecoder().decode(b) : null;
}

function readTable(
  files: ReadonlyMap<string, Uint8Array>,
  path: string,
  columns: readonly string[],
): CsvRecord[] | null {
  const t = text(files, path);
  if (t === null) return null;
  try {
    return parseCsv(t, columns, path);
  } catch (e) {
    throw new Refused(path, (e as Error).message.replace(`${path}: `, ""));
  }
}

/** The claimed predictions_sha256 must name the packed files, in order, with their hashes. */
function checkNamedPredictions(field: string, cell: string, s: SeedScoreInput, shas: string[]) {
  let named;
  try {
    named = parsePredictionHashes(cell);
  } catch (e) {
    throw new Refused(field, (e as Error).message);
  }
  const want = s.seed.predictions.map((n, i) => `${n}:${shas[i]}`).join(";");
  if (named.map((p) => `${p.name}:${p.sha256}`).join(";") !== want) {
    throw new Refused(field, `names other prediction files than the bundle's (${want})`);
  }
}

// ----------------------------------------------------------------------------- predictions

/** One test example: its puzzle, input and label tokens. */
interface TestExample {
  puzzleIndex: number;
  input: Int32Array;
  label: Int32Array;
}

/** Every test example in the order evaluation dumps them (recursion/predictions.ts). */
function* testExamples(ds: TaskDataset): Generator<TestExample> {
  const len = ds.test.seqLen;
  for (const b of evalBatches(ds.test, 256)) {
    for (let i = 0; i < b.valid; i++) {
      yield {
        puzzleIndex: b.puzzleIndex[i],
        input: b.inputs.subarray(i * len, (i + 1) * len),
        label: b.labels.subarray(i * len, (i + 1) * len),
      };
    }
  }
}

/** File names allowed as the final evaluation's predictions. */
export function stepFileName(step: number): string {
  return `step-${String(step).padStart(8, "0")}.jsonl`;
}

/** The evaluations a run dumps (every evalEvery steps and the last), as file names. */
export function scheduledFiles(totalSteps: number, evalEvery: number): string[] {
  const steps: number[] = [];
  for (let s = evalEvery; s < totalSteps; s += evalEvery) steps.push(s);
  steps.push(totalSteps);
  return steps.map(stepFileName);
}

/**
 * The prediction files must be the final evaluation's (single: pred.jsonl or the last step's
 * file) or, pooled (ARC), every scheduled evaluation's in step order: none may be picked out.
 */
function checkFileChoice(s: SeedScoreInput): void {
  const field = `bundle.json seeds[seed ${s.seed.seed}].predictions`;
  const p = s.seed.predictions;
  const last = stepFileName(s.totalSteps);
  if (p.length === 1) {
    if (p[0] !== "pred.jsonl" && p[0] !== last) {
      throw new Refused(field, `${p[0]} is not the final evaluation's (pred.jsonl or ${last})`);
    }
    return;
  }
  if (s.task !== "arc") throw new Refused(field, `${s.task} is scored from one prediction file`);
  const want = scheduledFiles(s.totalSteps, s.evalEvery);
  if (p.join(",") !== want.join(",")) {
    throw new Refused(field, `pooled votes must count every evaluation: ${want.join(", ")}`);
  }
}

/**
 * Reads the seed's prediction file `name` row by row beside the test split's examples in order,
 * calling `check(row value, example, "<file>:<line>", row number)` for each; refuses a file that
 * is not JSON lines or whose row count differs from the split's. Returns the file's sha256.
 */
async function forEachTestRow(
  s: SeedScoreInput,
  name: string,
  check: (
    value: unknown,
    ex: TestExample,
    where: string,
    row: number,
  ) => void,
): Promise<string> {
  const field = `${s.seed.folder}/predictions/${name}`;
  const examples = testExamples(s.ds);
  const digest = { sha256: "" };
  let rows = 0;
  try {
    for await (const { line, value } of readJsonl(`${s.dir}/predictions/${name}`, digest)) {
      rows++;
      const ex = examples.next();
      if (ex.done) continue; // counted below
      check(value, ex.value, `${field}:${line}`, rows);
    }
  } catch (e) {
    if (e instanceof Refused) throw e;
    throw new Refused(field, (e as Error).message.split("\n")[0]);
  }
  const n = s.ds.test.numExamples;
  if (rows !== n) throw new Refused(field, `${rows} predictions, the test split has ${n} examples`);
  return digest.sha256;
}

// ----------------------------------------------------------------------------- Sudoku / Maze

/** Recomputes accuracy.csv from the predictions and the test split's labels; compares. */
export async function verifyGridSeed(s: SeedScoreInput): Promise<SeedScores> {
  checkFileChoice(s);
  const name = s.seed.predictions[0];
  const acc = new GridMetricsAccumulator();
  const sha = await forEachTestRow(s, name, (value, ex, where) => {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new Refused(where, "not a JSON object");
    }
    try {
      // The label of the task data, whatever the row says.
      acc.add(parseGridExample({ ...value, label: Array.from(ex.label) }));
    } catch (e) {
      throw new Refused(where, (e as Error).message);
    }
  });
  const m = acc.result();
  const file = `${s.seed.folder}/score/accuracy.csv`;
  const claimed = readTable(s.files, file, ACCURACY_COLUMNS)!;
  const prov = { commit: "", date: "", predictionsSha256: "" };
  const recomputed = accuracyRows(m, { model: s.model, task: s.task }, prov);
  const keys = compareTable(
    file,
    claimed,
    recomputed,
    (r) => `${r.metric}`,
    ["task", "value", "n_examples", "n_skipped"],
  );
  if (!keys.has("exact_accuracy_pct")) {
    throw new Refused(`${file} exact_accuracy_pct`, "missing: the headline score is not claimed");
  }
  for (const c of claimed) {
    checkNamedPredictions(`${file} ${c.metric} predictions_sha256`, c.predictions_sha256, s, [sha]);
  }
  return {
    metrics: {
      exact_accuracy: 100 * m.exactAccuracy,
      cell_accuracy: 100 * m.cellAccuracy,
      cell_accuracy_pooled: 100 * m.cellAccuracyPooled,
    },
    passAtK: [],
  };
}

// ----------------------------------------------------------------------------- ARC

/** One row per test example, in order, with its puzzle name and input tokens. */
function checkArcRows(s: SeedScoreInput, name: string): Promise<string> {
  return forEachTestRow(s, name, (value, ex, where, row) => {
    const v = value as { puzzle?: unknown; input?: unknown };
    const want = s.ds.puzzleInfo("test", ex.puzzleIndex).name;
    if (typeof v !== "object" || v === null || v.puzzle !== want) {
      throw new Refused(
        where,
        `puzzle ${JSON.stringify(v?.puzzle)}, the test split's example ${row} is ${want}`,
      );
    }
    const input = v.input;
    if (
      !Array.isArray(input) || input.length !== ex.input.length ||
      input.some((t, i) => t !== ex.input[i])
    ) {
      throw new Refused(where, `input differs from the test split's example ${row}`);
    }
  });
}

/** Recomputes the ARC score files (pass@K, diagnostics, submission) by voting; compares. */
export async function verifyArcSeed(s: SeedScoreInput): Promise<SeedScores> {
  checkFileChoice(s);
  const shas: string[] = [];
  for (const name of s.seed.predictions) shas.push(await checkArcRows(s, name));
  const dir = `${s.seed.folder}/score`;
  const passFile = `${dir}/pass_at_k.csv`;
  const claimed = readTable(s.files, passFile, PASS_AT_K_COLUMNS)!;
  const ks = [...new Set(claimed.map((r) => Number(r.k)))].sort((a, b) => a - b);
  if (!ks.includes(2)) {
    throw new Refused(`${passFile} k=2`, "missing: the headline pass@2 is not claimed");
  }
  if (ks.some((k) => !Number.isInteger(k) || k < 1)) {
    throw new Refused(`${passFile} k`, "not a K ≥ 1");
  }
  const run = await scoreArc({
    predictions: s.seed.predictions.map((n) => `${s.dir}/predictions/${n}`),
    tasksDir: s.arcTasksDir!,
    subset: "evaluation",
    pool: s.seed.pooling === "pooled",
    model: s.model,
    ks,
  });
  const prov = { commit: "", date: "", predictionsSha256: "" };
  const recomputed = passAtKRows(run.score, run.info, prov);
  compareTable(passFile, claimed, recomputed, (r) => `k=${r.k}`, PASS_AT_K_VALUES);
  for (const c of claimed) {
    checkNamedPredictions(`${passFile} k=${c.k} predictions_sha256`, c.predictions_sha256, s, shas);
  }
  const summaryFile = `${dir}/diagnostics_summary.csv`;
  const summary = readTable(s.files, summaryFile, SUMMARY_COLUMNS);
  if (summary) {
    compareTable(
      summaryFile,
      summary,
      summaryRows(run.summary, run.info, prov),
      (r) => `${r.metric}`,
      ["value", "n_test_inputs", "pooling"],
    );
  }
  const diagFile = `${dir}/diagnostics.csv`;
  const diag = readTable(s.files, diagFile, DIAGNOSTICS_COLUMNS);
  if (diag) {
    const rows = diagnosticsRows(run.diagnostics, run.info, prov);
    compareTable(
      diagFile,
      diag,
      rows,
      (r) => `task=${r.task} test_index=${r.test_index}`,
      DIAGNOSTIC_VALUES,
    );
    if (diag.length !== rows.length) {
      throw new Refused(diagFile, `${diag.length} rows, the tasks have ${rows.length} test inputs`);
    }
  }
  const subFile = `${dir}/submission.json`;
  const sub = text(s.files, subFile);
  if (sub !== null) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(sub);
    } catch (e) {
      throw new Refused(subFile, `not JSON: ${(e as Error).message}`);
    }
    if (canonicalJson(parsed) !== canonicalJson(run.submission)) {
      const o = (parsed ?? {}) as Record<string, unknown>;
      const bad = Object.keys(run.submission).find((id) =>
        canonicalJson(o[id]) !== canonicalJson(run.submission[id])
      ) ?? Object.keys(o).find((id) =>
        !(id in run.submission)
      );
      throw new Refused(
        `${subFile}${bad ? ` ${bad}` : ""}`,
        "differs from the submission rebuilt by voting over the predictions",
      );
    }
  }
  return {
    metrics: {},
    passAtK: run.score.ks.map((k, i) => ({ k, value: 100 * run.score.passAtK[i] })),
  };
}
