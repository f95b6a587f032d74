/**
 * `deno task train`: trains a TRM model (spec-trm §C.6–C.10) with deep supervision and ACT, EMA
 * evaluation, metrics CSVs, atomic checkpoints and bit-exact resume.
 *
 *   deno task train --task sudoku --model trm-attn --preset cpu-mini --seed 0 --out runs/NAME
 *                   [--data DIR] [--resume] [--backend auto|ref|cpu] [--config FILE.json]
 *                   [--steps N] [--batch N] [--lr X] [--l-cycles N] [--eval-every N]
 *                   [--checkpoint-every N] [--threads N] [--max-minutes M] [--log-every N]
 *                   [--micro-batches N|auto] [--recompute] [--memory-gib G]
 *                   [--progress | --no-progress]
 *
 * Writes into OUT: `config.json` (resolved configuration, its hash, commit, seed, backend, machine,
 * dataset), `metrics.csv` (every step), `eval.csv` (every evaluation), `checkpoint.safetensors`
 * (+ `checkpoint.prev.safetensors`). `--resume` continues from OUT's checkpoint; the configuration
 * (from the same flags, or from OUT/config.json when --task/--model/--preset are left out) must
 * hash the same as the checkpoint's.
 */
import { parseArgs } from "node:util";
import type { Backend } from "../engine/backend.ts";
import { getBackend } from "../engine/backends/mod.ts";
import { Rng } from "../engine/rng.ts";
import { zeros } from "../engine/tensor.ts";
import { guardResultsWrite, machineInfo, trainSourceHash } from "../benchmarks/provenance.ts";
import { type Batch, evalBatches, type SplitStore } from "../tasks/dataset.ts";
import { MODEL_NAMES, type ModelConfig, type ModelName } from "./config.ts";
import { createTrm, trmParamCount } from "./model.ts";
import { runMemoryPlan } from "./memory_plan.ts";
import {
  type EvalBatchResult,
  evaluateBatch,
  type MemoryPlan,
  type StepMetrics,
  Trainer,
  type TrainHyper,
} from "./trainer.ts";
import { predictionRows, predictionsDir, stepPredictionsPath, writeLines } from "./predictions.ts";
import {
  type Checkpoint,
  latestCheckpoint,
  readCheckpoint,
  restoreTrainer,
  saveCheckpoint,
} from "./checkpoint.ts";
import { BatchStream, openRunData, stepsForEpochs } from "./data.ts";
import {
  BACKEND_NAMES,
  configDiff,
  configHash,
  mergeConfig,
  PRESET_NAMES,
  presetConfig,
  type PresetName,
  type RunConfig,
  TASK_NAMES,
  type TaskName,
  validateConfig,
} from "./presets.ts";
import { createProgress, CsvLog, type ProgressFields } from "./run_log.ts";

export const METRICS_COLUMNS = [
  "step",
  "lr",
  "lm_loss",
  "q_halt_loss",
  "halted",
  "token_acc",
  "exact_acc",
  "q_halt_acc",
  "mean_act_steps",
  "step_ms",
  "elapsed_s",
] as const;

export const EVAL_COLUMNS = [
  "step",
  "examples",
  "exact_acc",
  "cell_acc",
  "mean_q_halt_logit",
  "q_halt_acc",
  "act_steps",
  "eval_s",
  "elapsed_s",
] as const;

/** One evaluation on the test split with the EMA weights (valid rows only). */
export interface EvalResult {
  examples: number;
  exactAcc: number;
  cellAcc: number;
  meanQHalt: number;
  qHaltAcc: number;
  actSteps: number;
}

/** Raised when the loss or a gradient is NaN/Inf; names the step and the tensors. */
export class NonFiniteError extends Error {
  override name = "NonFiniteError";
}

/** Run-control settings: they do not change the numbers, so they are not hashed. */
export interface RunControl {
  out: string;
  resume: boolean;
  /** Stop after this many minutes of training (evaluate and checkpoint first). */
  maxMinutes: number | null;
  /** Plain-line progress every this many steps. */
  logEvery: number;
  /** Progress bar (true), plain lines (false). */
  progress: boolean;
  /** Settings changed from the preset, as given (recorded in config.json). */
  overrides: Record<string, unknown>;
  /** Console output (default console.log). */
  log?: (line: string) => void;
  /**
   * How each step uses memory (recursion/trainer.ts MemoryPlan; default the whole batch at once,
   * no recomputation), or "auto": measured before training (recursion/memory_plan.ts) and chosen
   * to fit 90 % of `memoryBytes`. Recorded in config.json, not hashed: a resumed run may use
   * another plan.
   */
  memory?: MemoryPlan | "auto";
  /** Device memory that "auto" plans for (default: the backend's device, else the machine's). */
  memoryBytes?: number;
  /** Called before every step (tests inject faults here). */
  beforeStep?: (trainer: Trainer) => void;
  /** Called after every completed step, after logging and checkpointing (tests "kill" here). */
  afterStep?: (trainer: Trainer) => void;
  /**
   * Write every evaluation's predictions to OUT/predictions/step-<N>.jsonl (recursion/
   * predictions.ts; the reproduce pipeline pools ARC votes over them). Evaluations must then
   * cover the whole test split (train.evalMaxExamples null).
   */
  dumpPredictions?: boolean;
}

export interface RunResult {
  trainer: Trainer;
  totalSteps: number;
  evals: (EvalResult & { step: number })[];
  stopped: "done" | "time";
  wallSeconds: number;
}

/** The model configuration for a run's settings and its dataset's shape. */
export function modelConfigFor(
  c: RunConfig,
  meta: { vocabSize: number; seqLen: number; numPuzzleIdentifiers: number },
): ModelConfig {
  return {
    ...c.arch,
    mamba: { ...c.arch.mamba },
    model: c.model,
    vocab: meta.vocabSize,
    seqLen: meta.seqLen,
    numPuzzleIds: meta.numPuzzleIdentifiers,
  };
}

/** Stops with a NonFiniteError if the step's loss or any parameter gradient is not finite. */
export function checkFinite(tr: Trainer, m: StepMetrics): void {
  const bad: string[] = [];
  if (!Number.isFinite(m.lmLoss)) bad.push(`lm_loss = ${m.lmLoss}`);
  if (!Number.isFinite(m.qLoss)) bad.push(`q_halt_loss = ${m.qLoss}`);
  const be = tr.model.backend;
  const scratch = zeros(be, [1]);
  try {
    // One host read per parameter: the gradient's sum is finite iff no element is NaN/Inf
    // (barring overflow of the sum itself, which is worth stopping for as well).
    for (const [name, p] of Object.entries(tr.model.params)) {
      if (!p.grad) continue;
      be.sum(p.grad.size, p.grad.buf, scratch.buf);
      const s = scratch.item();
      if (!Number.isFinite(s)) bad.push(`grad of ${name} (sum ${s})`);
    }
  } finally {
    scratch.dispose();
  }
  if (bad.length) {
    throw new NonFiniteError(
      `non-finite values at step ${m.step}: ${bad.slice(0, 6).join(", ")}${
        bad.length > 6 ? ` and ${bad.length - 6} more` : ""
      }`,
    );
  }
}

/**
 * Evaluates with the EMA weights on (the first `max` examples of) a split; see spec-trm §C.6.
 * Under a plan of M micro-batches the batches hold ⌈batchSize / M⌉ examples (a step that needs M
 * slices to fit would not fit a whole evaluation batch either); examples are independent, so the
 * results do not depend on the batch size (bit for bit on the cpu backend: recursion/trainer_test).
 */
export function evaluate(
  tr: Trainer,
  split: SplitStore,
  batchSize: number,
  max: number | null,
  rng: Rng,
  onBatch?: (batch: Batch, result: EvalBatchResult) => void,
): EvalResult {
  const limit = max ?? split.numExamples;
  const size = Math.max(1, Math.ceil(batchSize / tr.memory.microBatches));
  let n = 0, exact = 0, cells = 0, cellsOk = 0, q = 0, qOk = 0, steps = 0;
  tr.withEmaWeights(() => {
    for (const batch of evalBatches(split, size)) {
      if (n >= limit) break;
      const r = evaluateBatch(tr.model, batch, rng);
      onBatch?.(batch, r);
      steps = r.steps;
      for (let i = 0; i < batch.valid && n < limit; i++, n++) {
        exact += r.correct[i];
        cells += r.tokenCount[i];
        cellsOk += r.tokenCorrect[i];
        q += r.qHalt[i];
        qOk += (r.qHalt[i] >= 0 ? 1 : 0) === r.correct[i] ? 1 : 0;
      }
    }
  });
  return {
    examples: n,
    exactAcc: n ? exact / n : NaN,
    cellAcc: cells ? cellsOk / cells : NaN,
    meanQHalt: n ? q / n : NaN,
    qHaltAcc: n ? qOk / n : NaN,
    actSteps: steps,
  };
}

function hyperFor(c: RunConfig, totalSteps: number): TrainHyper {
  const t = c.train;
  return {
    batchSize: t.batchSize,
    lr: t.lr,
    warmupSteps: t.warmupSteps,
    lrMinRatio: t.lrMinRatio,
    totalSteps,
    weightDecay: t.weightDecay,
    beta1: t.beta1,
    beta2: t.beta2,
    puzzleLr: t.puzzleLr,
    puzzleWeightDecay: t.puzzleWeightDecay,
    emaDecay: t.emaDecay,
  };
}

/** Window means of the step metrics for the progress display. */
class Window {
  steps = 0;
  loss = 0;
  halted = 0;
  tok = 0;
  exact = 0;
  act = 0;
  t0 = performance.now();
  add(m: StepMetrics) {
    this.steps++;
    this.loss += m.lmLoss;
    if (m.halted) {
      this.halted += m.halted;
      this.tok += m.tokenAcc * m.halted;
      this.exact += m.exactAcc * m.halted;
      this.act += m.meanSteps * m.halted;
    }
  }
  fields(step: number, total: number): ProgressFields {
    const sps = this.steps / ((performance.now() - this.t0) / 1000);
    return {
      step,
      loss: this.loss / this.steps,
      tokenAcc: this.tok / this.halted,
      exactAcc: this.exact / this.halted,
      actSteps: this.act / this.halted,
      stepsPerSec: sps,
      etaSec: (total - step) / sps,
    };
  }
}

/** Trains one run as configured; see the module comment for what it writes. */
export async function runTraining(config: RunConfig, ctl: RunControl): Promise<RunResult> {
  const log = ctl.log ?? ((line: string) => console.log(line));
  validateConfig(config);
  const out = ctl.out.replace(/\/+$/, "");
  await Deno.mkdir(out, { recursive: true });
  const hash = configHash(config);

  const be: Backend = getBackend(config.backend);
  const { ds, dir } = await openRunData(config.data, log);
  const meta = ds.metadata;

  let ck: Checkpoint | null = null;
  if (ctl.resume) {
    const path = await latestCheckpoint(out);
    if (!path) throw new Error(`--resume: no checkpoint in ${out}`);
    ck = await readCheckpoint(path);
    if (ck.configHash !== hash) {
      const diff = configDiff(JSON.parse(ck.configJson), config);
      throw new Error(
        `--resume: ${path} was written by a different configuration (hash ${
          ck.configHash.slice(0, 12)
        } vs ${hash.slice(0, 12)}): ${diff.join("; ")}`,
      );
    }
    if (ck.datasetHash !== meta.contentHash) {
      throw new Error(
        `--resume: ${path} was trained on dataset ${ck.datasetHash.slice(0, 12)}, ${dir} has ${
          meta.contentHash.slice(0, 12)
        }`,
      );
    }
  }

  const root = new Rng(config.seed);
  const modelCfg = modelConfigFor(config, meta);
  const model = createTrm(be, root.fork("model"), modelCfg);
  const t = config.train;
  const totalSteps = t.steps ?? stepsForEpochs(ds.train, t.epochs, t.batchSize);
  const evalEvery = t.evalEvery ??
    Math.max(1, stepsForEpochs(ds.train, t.epochsPerPass, t.batchSize));
  const ckptEvery = t.checkpointEvery ?? evalEvery;
  const trainRng = ck ? Rng.fromState(ck.rngs.trainer) : root.fork("act");
  const { memory, memoryRecord } = runMemoryPlan(
    ctl.memory,
    ctl.memoryBytes,
    be,
    modelCfg,
    hyperFor(config, totalSteps),
    log,
  );
  const trainer = new Trainer(model, hyperFor(config, totalSteps), trainRng, memory);
  if (ck) restoreTrainer(trainer, ck);
  const stream = new BatchStream(
    ds.train,
    t.batchSize,
    t.epochsPerPass,
    root.fork("data"),
    ck?.dataPosition,
  );
  const evalRng = root.fork("eval"); // evaluation never draws (no exploration); passed for form

  const machine = machineInfo();
  const record = {
    config,
    configHash: hash,
    preset: config.preset,
    scale: config.scale,
    seed: config.seed,
    commit: machine.commit,
    /** Hash of the engine/operators/recursion/tasks source (a pipeline never resumes other code). */
    sourceHash: trainSourceHash(),
    backend: { name: be.name, info: be.info },
    threads: Deno.env.get("TRM_THREADS") ?? null,
    machine,
    startedAt: new Date().toISOString(),
    resumedFromStep: ck ? ck.step : null,
    overrides: ctl.overrides,
    dataset: {
      dir,
      name: meta.name,
      kind: meta.kind,
      contentHash: meta.contentHash,
      seqLen: meta.seqLen,
      vocabSize: meta.vocabSize,
      numPuzzleIdentifiers: meta.numPuzzleIdentifiers,
      splits: meta.splits,
    },
    modelConfig: modelCfg,
    trainableParams: trmParamCount(model),
    totalSteps,
    evalEvery,
    checkpointEvery: ckptEvery,
    maxMinutes: ctl.maxMinutes,
    memory,
    memoryPlan: memoryRecord,
    command: ["deno", "task", "train", ...Deno.args],
  };
  const recordText = JSON.stringify(record, null, 2) + "\n";
  await Deno.writeTextFile(
    ck ? `${out}/config.resume-${ck.step}.json` : `${out}/config.json`,
    recordText,
  );
  log(
    `train: ${config.model} on ${meta.name} (${config.task}), preset ${config.preset} — ${config.scale}`,
  );
  log(
    `  seed ${config.seed}, backend ${be.name} ${
      JSON.stringify(be.info)
    }, commit ${machine.commit}`,
  );
  log(`  config hash ${hash}`);
  log(`  config ${JSON.stringify(config)}`);
  log(
    `  ${trmParamCount(model).toLocaleString("en-US")} trainable params, ${totalSteps} steps, ` +
      `eval every ${evalEvery}, checkpoint every ${ckptEvery}` +
      (ck ? `; resuming at step ${ck.step} from ${ck.path}` : ""),
  );

  const keep = ck ? { keepUpToStep: ck.step } : {};
  const metrics = await CsvLog.open(`${out}/metrics.csv`, METRICS_COLUMNS, keep);
  const evals = await CsvLog.open(`${out}/eval.csv`, EVAL_COLUMNS, { ...keep, flushMs: 0 });
  const progress = createProgress(totalSteps, ctl.logEvery, ctl.progress, log);
  const evalResults: RunResult["evals"] = [];
  const start = performance.now();
  const elapsed = () => (performance.now() - start) / 1000;

  // Predictions are dumped at the scheduled evaluations (every evalEvery steps and the last
  // step), not at a --max-minutes stop, so a resumed run pools the same evaluations as one that
  // ran through.
  const doEval = async (dump: boolean) => {
    const t0 = performance.now();
    const rows: string[] = [];
    const r = evaluate(
      trainer,
      ds.test,
      t.evalBatchSize,
      t.evalMaxExamples,
      evalRng,
      dump ? (b, res) => rows.push(...predictionRows(config.task, ds, b, res)) : undefined,
    );
    if (dump) {
      await Deno.mkdir(predictionsDir(out), { recursive: true });
      await writeLines(stepPredictionsPath(out, trainer.step), rows);
    }
    const secs = (performance.now() - t0) / 1000;
    evals.add({
      step: trainer.step,
      examples: r.examples,
      exact_acc: r.exactAcc,
      cell_acc: r.cellAcc,
      mean_q_halt_logit: r.meanQHalt,
      q_halt_acc: r.qHaltAcc,
      act_steps: r.actSteps,
      eval_s: secs,
      elapsed_s: elapsed(),
    });
    evalResults.push({ step: trainer.step, ...r });
    progress.log(
      `eval @ step ${trainer.step}: exact ${r.exactAcc.toFixed(4)}, cell ${
        r.cellAcc.toFixed(4)
      }, q_halt ${r.meanQHalt.toFixed(3)} (${r.examples} held-out examples, ${secs.toFixed(1)} s)`,
    );
  };
  const save = async () => {
    metrics.flush();
    const path = await saveCheckpoint(out, trainer, {
      configHash: hash,
      configJson: JSON.stringify(config),
      datasetHash: meta.contentHash,
      dataPosition: stream.position,
      rngs: { trainer: trainer.rng.state() },
      commit: String(machine.commit),
    });
    return path;
  };

  let stopped: RunResult["stopped"] = "done";
  let window = new Window();
  try {
    while (trainer.step < totalSteps) {
      const batch = stream.next();
      ctl.beforeStep?.(trainer);
      const t0 = performance.now();
      const m = trainer.trainStep(batch);
      checkFinite(trainer, m);
      metrics.add({
        step: m.step,
        lr: m.lr,
        lm_loss: m.lmLoss,
        q_halt_loss: m.qLoss,
        halted: m.halted,
        token_acc: m.tokenAcc,
        exact_acc: m.exactAcc,
        q_halt_acc: m.qHaltAcc,
        mean_act_steps: m.meanSteps,
        step_ms: performance.now() - t0,
        elapsed_s: elapsed(),
      });
      window.add(m);
      progress.update(window.fields(m.step, totalSteps));
      if (window.steps >= ctl.logEvery) window = new Window();
      const timeUp = ctl.maxMinutes !== null && elapsed() >= ctl.maxMinutes * 60;
      const last = m.step === totalSteps || timeUp;
      const scheduled = m.step % evalEvery === 0 || m.step === totalSteps;
      if (scheduled || last) await doEval(scheduled && (ctl.dumpPredictions ?? false));
      if (m.step % ckptEvery === 0 || last) await save();
      ctl.afterStep?.(trainer);
      if (timeUp && m.step < totalSteps) {
        stopped = "time";
        progress.log(`stopping at step ${m.step}: --max-minutes ${ctl.maxMinutes} reached`);
        break;
      }
    }
  } finally {
    progress.stop();
    metrics.flush();
    evals.flush();
  }
  const wall = elapsed();
  log(`done: ${trainer.step} steps in ${wall.toFixed(1)} s; outputs in ${out}`);
  return { trainer, totalSteps, evals: evalResults, stopped, wallSeconds: wall };
}

const USAGE = `usage: deno task train --task ${TASK_NAMES.join("|")} --model ${
  MODEL_NAMES.join("|")
}
         --preset ${PRESET_NAMES.join("|")} --out DIR [--seed 0] [--data DIR] [--resume]
         [--backend ${BACKEND_NAMES.join("|")}] [--config FILE.json] [--steps N] [--batch N]
         [--lr X] [--l-cycles N] [--eval-every N] [--checkpoint-every N] [--threads N]
         [--max-minutes M] [--log-every N] [--dump-predictions] [--micro-batches N|auto]
         [--recompute] [--memory-gib G] [--allow-dirty] [--progress | --no-progress]
  --resume with only --out continues with OUT/config.json's configuration.
  --micro-batches N runs each batch as N slices summed into one step (TRM's multi-GPU step on one
  device; the batch must divide by N), --recompute recomputes the recursion's activations in
  backward: both cut memory, neither changes the configuration (results agree up to the order of
  gradient sums). --micro-batches auto measures a step's memory first and picks both to fit 90 %
  of the device's memory (--memory-gib G: of G GiB instead).
  --dump-predictions writes every evaluation's predictions to OUT/predictions/step-<N>.jsonl
  (the deno task score format; ARC votes can be pooled over them).`;

function num(v: string | undefined, flag: string, integer: boolean): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === "" || !Number.isFinite(x) || (integer && !Number.isInteger(x))) {
    throw new RangeError(`--${flag}: expected ${integer ? "an integer" : "a number"}: ${v}`);
  }
  return x;
}

/** Parses the command line into a configuration and run controls (no side effects but reads). */
export async function parseCommandLine(
  args: string[],
): Promise<
  { config: RunConfig; control: RunControl; threads: number | null; allowDirty: boolean }
> {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      task: { type: "string" },
      model: { type: "string" },
      preset: { type: "string" },
      seed: { type: "string" },
      out: { type: "string" },
      data: { type: "string" },
      resume: { type: "boolean" },
      backend: { type: "string" },
      config: { type: "string" },
      steps: { type: "string" },
      batch: { type: "string" },
      lr: { type: "string" },
      "l-cycles": { type: "string" },
      "eval-every": { type: "string" },
      "checkpoint-every": { type: "string" },
      threads: { type: "string" },
      "max-minutes": { type: "string" },
      "log-every": { type: "string" },
      "dump-predictions": { type: "boolean" },
      "micro-batches": { type: "string" },
      recompute: { type: "boolean" },
      "memory-gib": { type: "string" },
      progress: { type: "boolean" },
      "no-progress": { type: "boolean" },
      "allow-dirty": { type: "boolean" },
      help: { type: "boolean" },
    },
  });
  if (values.help || positionals.length) throw new TypeError(USAGE);
  if (!values.out) throw new TypeError(`--out is required\n${USAGE}`);
  const out = values.out;
  let base: RunConfig;
  const named = values.task !== undefined || values.model !== undefined ||
    values.preset !== undefined;
  if (!named && values.resume) {
    const file = `${out}/config.json`;
    const stored = JSON.parse(await Deno.readTextFile(file)).config as RunConfig;
    base = mergeConfig(presetConfig(stored.preset, stored.task, stored.model), stored, file);
  } else {
    if (!values.task || !values.model || !values.preset) {
      throw new TypeError(`--task, --model and --preset are required\n${USAGE}`);
    }
    base = presetConfig(
      values.preset as PresetName,
      values.task as TaskName,
      values.model as ModelName,
    );
  }
  if (values.config) {
    const text = await Deno.readTextFile(values.config);
    base = mergeConfig(base, JSON.parse(text), values.config);
  }
  const patch: Record<string, unknown> = {};
  const train: Record<string, unknown> = {};
  const set = (o: Record<string, unknown>, k: string, v: unknown) => {
    if (v !== undefined) o[k] = v;
  };
  set(patch, "seed", num(values.seed, "seed", true));
  set(patch, "backend", values.backend);
  if (values.data !== undefined) patch.data = { dir: values.data };
  set(train, "steps", num(values.steps, "steps", true));
  set(train, "batchSize", num(values.batch, "batch", true));
  set(train, "lr", num(values.lr, "lr", false));
  set(train, "evalEvery", num(values["eval-every"], "eval-every", true));
  set(train, "checkpointEvery", num(values["checkpoint-every"], "checkpoint-every", true));
  if (Object.keys(train).length) patch.train = train;
  const lCycles = num(values["l-cycles"], "l-cycles", true);
  if (lCycles !== undefined) patch.arch = { lCycles };
  const config = mergeConfig(base, patch, "command line");
  const threads = num(values.threads, "threads", true) ?? null;
  if (threads !== null && threads < 1) throw new RangeError(`--threads must be ≥ 1: ${threads}`);
  const maxMinutes = num(values["max-minutes"], "max-minutes", false) ?? null;
  const logEvery = num(values["log-every"], "log-every", true) ?? 50;
  const auto = values["micro-batches"] === "auto";
  const microBatches = auto ? 1 : num(values["micro-batches"], "micro-batches", true) ?? 1;
  if (microBatches < 1) throw new RangeError(`--micro-batches must be ≥ 1: ${microBatches}`);
  if (auto && values.recompute) {
    throw new TypeError("--recompute with --micro-batches auto: auto decides recomputation");
  }
  const memoryGib = num(values["memory-gib"], "memory-gib", false);
  if (memoryGib !== undefined && !(memoryGib > 0)) {
    throw new RangeError(`--memory-gib must be > 0: ${memoryGib}`);
  }
  const tty = Deno.stdout.isTerminal();
  return {
    config,
    threads,
    allowDirty: values["allow-dirty"] ?? false,
    control: {
      out,
      resume: values.resume ?? false,
      maxMinutes,
      logEvery: Math.max(1, logEvery),
      progress: values["no-progress"] ? false : (values.progress ?? tty),
      dumpPredictions: values["dump-predictions"] ?? false,
      memory: auto ? "auto" : { microBatches, recompute: values.recompute ?? false },
      ...(memoryGib !== undefined ? { memoryBytes: memoryGib * 2 ** 30 } : {}),
      overrides: {
        ...(values.config ? { configFile: values.config } : {}),
        ...patch,
      },
    },
  };
}

if (import.meta.main) {
  try {
    const { config, control, threads, allowDirty } = await parseCommandLine(Deno.args);
    await guardResultsWrite(control.out, { allowDirty, what: "train" });
    // The cpu backend reads its thread count when it is created (first getBackend call).
    if (threads !== null) Deno.env.set("TRM_THREADS", String(threads));
    await runTraining(config, control);
  } catch (e) {
    console.error(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
    Deno.exit(1);
  }
}
