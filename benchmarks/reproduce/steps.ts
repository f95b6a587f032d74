/**
 * The pipeline steps of one run (task, model, seed): prepare → parity → train → evaluate → score.
 * Each step is skipped when its marker (markers.ts) carries the hash of its current inputs, and
 * clears the markers after it when it runs. Files of a run (gitignored):
 *
 *   <runs>/<task>/<model>/seed-<s>/train/       config.json, metrics.csv, eval.csv, checkpoints,
 *                                               ARC: predictions/step-<N>.jsonl of every evaluation
 *   <runs>/<task>/<model>/seed-<s>/pred.jsonl   predictions (benchmarks/score/README.md format)
 *   <runs>/<task>/<model>/seed-<s>/score/       pass_at_k.csv … or accuracy.csv
 *   <runs>/<task>/<model>/seed-<s>/markers/     one JSON per finished step
 *   <runs>/arc/score-tasks/<sha>/evaluation/    the original JSON of the ARC test-split tasks,
 *                                               per content of the dataset's tasks.json (written
 *                                               once, never rewritten: concurrent score steps of
 *                                               workers and shards share it safely)
 */
import { createHash } from "node:crypto";
import { Rng } from "../../engine/rng.ts";
import type { ModelName } from "../../recursion/config.ts";
import { latestCheckpoint } from "../../recursion/checkpoint.ts";
import { openRunData } from "../../recursion/data.ts";
import { parityRow, PUBLISHED } from "../../recursion/parity.ts";
import { presetConfig, presetDataRecipe } from "../../recursion/presets.ts";
import {
  configHash,
  mergeConfig,
  type PresetName,
  type RunConfig,
  type TaskName,
} from "../../recursion/run/config.ts";
import { evaluate } from "../../recursion/run/evaluate.ts";
import { type RunResult, runTraining } from "../../recursion/run/loop.ts";
import type { MemoryPlan, Trainer } from "../../recursion/trainer.ts";
import { predictionRows, stepPredictionFiles, writeLines } from "../../recursion/predictions.ts";
import { exists } from "../../tasks/io.ts";
import { sourceHash, TRAIN_SOURCES, trainSourceHash } from "../../engine/provenance.ts";
import { main as prepareMain } from "../../tasks/prepare.ts";
import { scoreArc, scoreGrid, writeAccuracy, writeArcOutputs } from "../score/run.ts";
import type { PoolingChoice } from "./options.ts";
import {
  clearAfter,
  doneMarker,
  hashOf,
  type Marker,
  type StepName,
  writeMarker,
} from "./markers.ts";

/** Bumped when the predictions or score files change for the same inputs. */
export const EVAL_FORMAT = "reproduce-eval/1";
export const SCORE_FORMAT = "reproduce-score/1";
/** ARC training also writes every evaluation's predictions (the pooled score needs them). */
export const ARC_TRAIN_FORMAT = "reproduce-train-arc/2 (per-evaluation predictions)";

/** One (task, model, seed) of a reproduce run. */
export interface RunSpec {
  preset: PresetName;
  task: TaskName;
  model: ModelName;
  seed: number;
  config: RunConfig;
  /** Root of all runs of this reproduce (`--runs`). */
  runsRoot: string;
  /** This run's folder. */
  dir: string;
  /** ARC: which evaluations' votes the score pools. */
  pooling: PoolingChoice;
}

/** The run configuration: the preset's, with the backend and (paper) the prepared data folder. */
export function runConfig(
  preset: PresetName,
  task: TaskName,
  model: ModelName,
  seed: number,
  backend: RunConfig["backend"],
  configPatch: ConfigPatch | null = null,
): RunConfig {
  const base = presetConfig(preset, task, model, seed);
  const recipe = presetDataRecipe(preset, task);
  const patch: Record<string, unknown> = { backend };
  if (recipe && base.data.dir !== recipe.dir) patch.data = { dir: recipe.dir };
  const cfg = mergeConfig(base, patch, `preset ${preset}`);
  return configPatch ? mergeConfig(cfg, configPatch.patch, configPatch.source) : cfg;
}

/** A JSON patch applied to every run's configuration (`--config FILE`), with where it came from. */
export interface ConfigPatch {
  patch: Record<string, unknown>;
  source: string;
}

export function runSpec(
  preset: PresetName,
  task: TaskName,
  model: ModelName,
  seed: number,
  backend: RunConfig["backend"],
  runsRoot: string,
  pooling: PoolingChoice = "pooled",
  configPatch: ConfigPatch | null = null,
): RunSpec {
  return {
    pooling,
    preset,
    task,
    model,
    seed,
    config: runConfig(preset, task, model, seed, backend, configPatch),
    runsRoot,
    dir: `${runsRoot}/${task}/${model}/seed-${seed}`,
  };
}

export const trainDir = (r: RunSpec) => `${r.dir}/train`;
export const predPath = (r: RunSpec) => `${r.dir}/pred.jsonl`;
export const scoreDir = (r: RunSpec) => `${r.dir}/score`;
/** Where the ARC score steps find the test-split tasks of the dataset whose tasks.json has `key`. */
export const arcTasksDir = (runsRoot: string, key: string) => `${runsRoot}/arc/score-tasks/${key}`;

/** What a step reports back to the pipeline. */
export interface StepOutcome {
  step: StepName;
  skipped: boolean;
  marker: Marker;
}

/** Context shared by the steps of a run. */
export interface StepContext {
  log: (line: string) => void;
  progress: boolean;
  /** Memory plan of the training steps (default the whole batch), or "auto". */
  memory?: MemoryPlan | "auto";
  /** Device memory "auto" plans for (default: the backend's). */
  memoryBytes?: number;
  /** The trainer of a run trained in this process (evaluate reuses it). */
  trained?: RunResult;
}

/**
 * The source folders whose code produces each step's output (engine/provenance.ts
 * sourceHash: every non-test .ts/.c/.h/.cu/.cuh/.py file). A change there reruns the step and
 * every step after it: numbers are never re-verified from stale code.
 */
export const STEP_SOURCES = {
  prepare: ["tasks"],
  parity: ["engine", "operators", "recursion"],
  /** Training and evaluation: the engine (TS, native C, CUDA), operators, scaffold, data. */
  train: TRAIN_SOURCES,
  score: ["benchmarks/score"],
} as const;

/** Input hashes of the steps: each includes its upstream step's hash and its source hash. */
export function stepHashes(r: RunSpec): Record<StepName, string> {
  const recipe = dataRecipe(r);
  const prepare = hashOf(
    "prepare",
    r.config.data,
    recipe?.args ?? null,
    sourceHash(STEP_SOURCES.prepare),
  );
  const parity = hashOf(
    "parity",
    r.task,
    r.model,
    PUBLISHED[`${r.task}/${r.model}`] ?? null,
    sourceHash(STEP_SOURCES.parity),
  );
  const config = configHash(r.config);
  const train = hashOf(
    "train",
    config,
    r.task === "arc" ? ARC_TRAIN_FORMAT : "",
    trainSourceHash(),
  );
  const evaluate = hashOf("evaluate", train, EVAL_FORMAT);
  const score = hashOf(
    "score",
    evaluate,
    SCORE_FORMAT,
    r.task === "arc" ? r.pooling : "",
    sourceHash(STEP_SOURCES.score),
  );
  return { prepare, parity, train, evaluate, score };
}

async function runStep(
  r: RunSpec,
  step: StepName,
  hash: string,
  body: () => Promise<Record<string, unknown>>,
): Promise<StepOutcome> {
  const done = await doneMarker(r.dir, step, hash);
  if (done) return { step, skipped: true, marker: done };
  await clearAfter(r.dir, step);
  const t0 = performance.now();
  const info = await body();
  const marker: Marker = {
    step,
    hash,
    finishedAt: new Date().toISOString(),
    seconds: (performance.now() - t0) / 1000,
    info,
  };
  await writeMarker(r.dir, marker);
  return { step, skipped: false, marker };
}

/**
 * The folder holding the original JSON of the ARC test-split tasks of a prepared dataset (for
 * scoring): arcTasksDir keyed by the SHA-256 of the dataset's tasks.json. Written once (into a
 * temporary folder of this process, renamed into place) and never rewritten, so score steps running
 * at the same time in other processes (--workers, --shard) never read it half-written.
 */
async function arcScoreTasks(datasetDir: string, runsRoot: string): Promise<string> {
  const text = await Deno.readTextFile(`${datasetDir}/tasks.json`);
  const out = arcTasksDir(runsRoot, createHash("sha256").update(text).digest("hex").slice(0, 16));
  if (await exists(out)) return out;
  const groups = JSON.parse(text) as {
    id: string;
    inTestSplit: boolean;
    train: unknown;
    test: unknown;
  }[];
  const tmp = `${out}.tmp-${Deno.pid}-${Date.now().toString(36)}`;
  await Deno.mkdir(`${tmp}/evaluation`, { recursive: true });
  try {
    for (const g of groups.filter((g) => g.inTestSplit)) {
      await Deno.writeTextFile(
        `${tmp}/evaluation/${g.id}.json`,
        JSON.stringify({ train: g.train, test: g.test }),
      );
    }
    await Deno.rename(tmp, out);
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    if (!await exists(out)) throw e; // else another process put the same tasks there first
  }
  return out;
}

/**
 * The preset's dataset recipe for the run, or null where the run reads another folder: a
 * `--config` patch that sets data.dir (e.g. a small dataset at the preset's geometry for a quick
 * check of the paper pipeline) uses that prepared folder as it is.
 */
function dataRecipe(r: RunSpec): { dir: string; args: string[] } | null {
  const recipe = presetDataRecipe(r.preset, r.task);
  return recipe && r.config.data.dir === recipe.dir ? recipe : null;
}

/** prepare: builds the dataset (once: a folder that exists is reused). */
export function prepareStep(r: RunSpec, ctx: StepContext): Promise<StepOutcome> {
  return runStep(r, "prepare", stepHashes(r).prepare, async () => {
    const recipe = dataRecipe(r);
    if (recipe && !await exists(`${recipe.dir}/metadata.json`)) {
      ctx.log(`  deno task prepare ${recipe.args.join(" ")}`);
      await prepareMain(recipe.args);
    }
    const given = r.config.data.dir;
    if (!recipe && given !== null && !await exists(`${given}/metadata.json`)) {
      throw new Error(
        `prepare: data.dir ${given} (set by the configuration patch) holds no prepared dataset ` +
          `(no metadata.json): build it first with deno task prepare ${r.task} ... --out ${given}`,
      );
    }
    const { ds, dir } = await openRunData(r.config.data, (l) => ctx.log(`  ${l}`));
    return { dataset: dir, contentHash: ds.metadata.contentHash, splits: ds.metadata.splits };
  });
}

/** parity: the model at paper size has the published parameter count (when there is one). */
export function parityStep(r: RunSpec, _ctx: StepContext): Promise<StepOutcome> {
  return runStep(r, "parity", stepHashes(r).parity, () => {
    const row = parityRow(r.model, r.task);
    if (row.match === "no") {
      throw new Error(
        `parity: ${r.task}/${r.model} has ${row.params} parameters at paper size, the paper ` +
          `${row.expected} (${row.paper}): ${row.breakdown}`,
      );
    }
    return Promise.resolve({
      paperParams: row.params,
      expected: row.expected,
      match: row.match,
    });
  });
}

/** The configuration and source hashes a training folder's config.json records, or null. */
async function trainedRecord(
  dir: string,
): Promise<{ configHash: string | null; sourceHash: string | null } | null> {
  try {
    const rec = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
    return { configHash: rec.configHash ?? null, sourceHash: rec.sourceHash ?? null };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/**
 * runTraining on the run's folder, resuming from its checkpoint when it has one of this config
 * trained by this source (a checkpoint of other code is never continued: the run starts over).
 */
async function train(r: RunSpec, ctx: StepContext, quiet: boolean): Promise<RunResult> {
  const dir = trainDir(r);
  const hash = configHash(r.config);
  const source = trainSourceHash();
  const rec = await trainedRecord(dir);
  let old = rec?.configHash ?? null;
  if (old !== null && old !== hash) {
    ctx.log(`  ${dir} holds a run of another configuration (${old.slice(0, 12)}): starting over`);
    await Deno.remove(dir, { recursive: true });
    old = null;
  } else if (old !== null && rec!.sourceHash !== source) {
    ctx.log(
      `  ${dir} was trained by other source code (engine/operators/recursion/tasks): ` +
        `starting over`,
    );
    await Deno.remove(dir, { recursive: true });
    old = null;
  }
  let resume = old === hash && (await latestCheckpoint(dir)) !== null;
  if (resume && r.task === "arc" && (await stepPredictionFiles(dir, Infinity)).length === 0) {
    // A run trained before training wrote per-evaluation predictions: the pooled score needs them.
    ctx.log(`  ${dir} has no per-evaluation predictions (an older run): starting over`);
    await Deno.remove(dir, { recursive: true });
    resume = false;
  }
  return await runTraining(r.config, {
    out: dir,
    resume,
    // Not resuming: whatever the folder holds (a run killed before its first checkpoint) is
    // started over; runTraining refuses an existing run without this.
    force: !resume,
    maxMinutes: null,
    logEvery: 100,
    progress: ctx.progress,
    overrides: { reproduce: { preset: r.preset } },
    dumpPredictions: r.task === "arc",
    memory: ctx.memory,
    memoryBytes: ctx.memoryBytes,
    log: quiet ? () => {} : (l) => ctx.log(`  ${l}`),
  });
}

/** train: runs (or resumes) training to its last step. */
export function trainStep(r: RunSpec, ctx: StepContext): Promise<StepOutcome> {
  return runStep(r, "train", stepHashes(r).train, async () => {
    const res = await train(r, ctx, false);
    ctx.trained = res;
    const record = JSON.parse(await Deno.readTextFile(`${trainDir(r)}/config.json`));
    const last = res.evals.at(-1);
    return {
      steps: res.trainer.step,
      totalSteps: res.totalSteps,
      wallSeconds: res.wallSeconds,
      trainableParams: record.trainableParams,
      backend: record.backend?.name ?? null,
      finalExactAcc: last?.exactAcc ?? null,
    };
  });
}

/**
 * evaluate: the EMA weights of the final checkpoint on the whole test split, every ACT step
 * (haltMaxSteps, no early halting), predictions dumped to pred.jsonl (recursion/predictions.ts:
 * ARC rows carry the augmented puzzle name, the input tokens, the prediction and the q_halt
 * logit; Sudoku/Maze rows the prediction, the label (−100 = ignored) and the ACT steps).
 */
export function evaluateStep(r: RunSpec, ctx: StepContext): Promise<StepOutcome> {
  return runStep(r, "evaluate", stepHashes(r).evaluate, async () => {
    if (!ctx.trained) {
      // Reload the finished run; never (re)train silently here.
      const dir = trainDir(r);
      const rec = await trainedRecord(dir);
      if (
        rec?.configHash !== configHash(r.config) || rec.sourceHash !== trainSourceHash() ||
        !await latestCheckpoint(dir)
      ) {
        throw new Error(
          `evaluate: ${dir} has no checkpoint of this configuration: remove ` +
            `${r.dir}/markers/train.json to train again`,
        );
      }
    }
    const res = ctx.trained ?? await train(r, ctx, true);
    if (res.trainer.step !== res.totalSteps) {
      throw new Error(
        `evaluate: ${trainDir(r)} stopped at step ${res.trainer.step} of ${res.totalSteps}`,
      );
    }
    const { ds } = await openRunData(r.config.data, () => {});
    const tr: Trainer = res.trainer;
    const rng = new Rng(r.config.seed).fork("eval");
    const lines: string[] = [];
    const ev = evaluate(
      tr,
      ds.test,
      r.config.train.evalBatchSize,
      null,
      rng,
      (b, out) => lines.push(...predictionRows(r.task, ds, b, out)),
      res.evalMemory, // batches sized to the memory, as during training
    );
    const path = predPath(r);
    await writeLines(path, lines);
    return {
      predictions: path,
      examples: ev.examples,
      exactAcc: ev.examples ? ev.exactAcc : null,
      actSteps: r.config.arch.haltMaxSteps,
      step: res.trainer.step,
    };
  });
}

/**
 * The prediction files whose votes an ARC score counts: `single`, the final checkpoint's
 * (pred.jsonl); `pooled`, every evaluation's during training (their last is the final
 * checkpoint's, with the same EMA weights as pred.jsonl).
 */
export async function arcVoteFiles(r: RunSpec): Promise<{ step: number; path: string }[]> {
  const record = JSON.parse(await Deno.readTextFile(`${trainDir(r)}/config.json`));
  const last = record.totalSteps as number;
  if (r.pooling === "single") return [{ step: last, path: predPath(r) }];
  const files = await stepPredictionFiles(trainDir(r), last);
  if (files.length === 0 || files.at(-1)!.step !== last) {
    throw new Error(
      `score: ${trainDir(r)}/predictions holds no predictions of the final evaluation (step ` +
        `${last}); remove ${r.dir}/markers/train.json to train again, or score with ` +
        `--pooling single`,
    );
  }
  return files;
}

/** score: benchmarks/score on the run's predictions. */
export function scoreStep(r: RunSpec, _ctx: StepContext): Promise<StepOutcome> {
  return runStep(r, "score", stepHashes(r).score, async () => {
    const out = scoreDir(r);
    if (r.task === "arc") {
      // The original JSON of the test-split tasks: what the voter scores against.
      const tasksDir = await arcScoreTasks(r.config.data.dir!, r.runsRoot);
      const predictions = await arcVoteFiles(r);
      const run = await scoreArc({
        predictions: predictions.map((p) => p.path),
        tasksDir,
        model: r.model,
      });
      const files = await writeArcOutputs(run, out);
      const k2 = run.score.ks.indexOf(2);
      return {
        files,
        passAt2: k2 >= 0 ? 100 * run.score.passAtK[k2] : null,
        pooling: r.pooling,
        evaluationSteps: predictions.map((p) => p.step),
      };
    }
    const { metrics, provenance } = await scoreGrid(predPath(r));
    const file = await writeAccuracy(metrics, { model: r.model, task: r.task }, provenance, out);
    return { files: [file], exactAcc: 100 * metrics.exactAccuracy };
  });
}

export const STEPS: Record<StepName, (r: RunSpec, ctx: StepContext) => Promise<StepOutcome>> = {
  prepare: prepareStep,
  parity: parityStep,
  train: trainStep,
  evaluate: evaluateStep,
  score: scoreStep,
};
