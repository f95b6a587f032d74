/**
 * `deno task train`: trains a TRM model (the recipe of TRM's `pretrain.py`) with deep supervision
 * and ACT, EMA evaluation, metrics CSVs, atomic checkpoints and bit-exact resume.
 *
 *   deno task train --task sudoku --model trm-attn --preset cpu-mini --seed 0 --out runs/NAME
 *                   [--data DIR] [--resume | --force] [--backend auto|ref|cpu] [--config FILE.json]
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
 *
 * Safety: the run holds an exclusive lock on OUT (`OUT/.trm.lock`, tasks/lock.ts; a second
 * process on the same OUT is refused); a folder that holds a run (config.json, metrics.csv, a
 * checkpoint) is refused without `--resume` or `--force` (start over: those files are removed);
 * temporaries a killed run left are removed on start; checkpoints carry checksums, are verified on
 * resume, and a corrupt current checkpoint falls back to the previous one (recursion/
 * checkpoint.ts).
 */
import type { Backend } from "../engine/backend.ts";
import {
  assertWritable,
  asUsage,
  dieWithParent,
  numberFlag,
  parseCli,
  printCliResult,
  runMain,
  UsageError,
} from "../engine/cli.ts";
import { getBackend } from "../engine/backends/mod.ts";
import { Rng } from "../engine/rng.ts";
import { zeros } from "../engine/tensor.ts";
import { guardResultsWrite, machineInfo, trainSourceHash } from "../benchmarks/provenance.ts";
import { type Batch, evalBatches, type SplitStore } from "../tasks/dataset.ts";
import { MODEL_NAMES, type ModelConfig, type ModelName } from "./config.ts";
import { createTrm, trmParamCount } from "./model.ts";
import {
  checkRunMemory,
  evalBatchFor,
  type EvalMemory,
  fmtBytes,
  isPooled,
  runMemoryPlan,
} from "./memory_plan.ts";
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
  loadLatestCheckpoint,
  NonFiniteError,
  restoreTrainer,
  saveCheckpoint,
} from "./checkpoint.ts";
import { folderLockPath, removeStaleTemporaries, withLock } from "../tasks/lock.ts";
import { writeFileAtomic } from "../tasks/io.ts";
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
  /** Examples per evaluation batch (the configured size, capped by the examples and memory). */
  batchSize: number;
}

export { NonFiniteError } from "./checkpoint.ts";

/** Run-control settings: they do not change the numbers, so they are not hashed. */
export interface RunControl {
  out: string;
  resume: boolean;
  /**
   * Start over in a folder that holds a run (its files are removed first). Without it (and without
   * `resume`) such a folder is refused.
   */
  force?: boolean;
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
  /**
   * Memory that "auto" plans for, the check before training and the evaluation batches fit
   * (default: the device's, else the host's available memory; memory_plan.ts memoryBudget).
   */
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
  /** What evaluation sizes its batches by (null on a backend that counts no bytes). */
  evalMemory: EvalMemory | null;
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
 * Evaluates with the EMA weights on (the first `max` examples of) a split; as in TRM, the halting
 * head is ignored and every example runs the full number of ACT steps (16 at paper scale).
 * Under a plan of M micro-batches the batches hold ⌈batchSize / M⌉ examples (a step that needs M
 * slices to fit would not fit a whole evaluation batch either), never more than are evaluated;
 * with `memory` (the run's check, recursion/memory_plan.ts checkRunMemory) no more than fit beside
 * what the run holds (the backend's cache is emptied first) — a RangeError with the numbers if not
 * even one does. Examples are independent, so the results do not depend on the batch size (bit for bit on
 * the cpu backend: recursion/trainer_test).
 */
export function evaluate(
  tr: Trainer,
  split: SplitStore,
  batchSize: number,
  max: number | null,
  rng: Rng,
  onBatch?: (batch: Batch, result: EvalBatchResult) => void,
  memory?: EvalMemory | null,
): EvalResult {
  const limit = Math.min(max ?? split.numExamples, split.numExamples);
  let size = Math.max(1, Math.min(Math.ceil(batchSize / tr.memory.microBatches), limit));
  let n = 0, exact = 0, cells = 0, cellsOk = 0, q = 0, qOk = 0, steps = 0;
  tr.withEmaWeights(() => {
    const be = tr.model.backend;
    // The training steps' cached buffers go first: the budget is for the run's tensors.
    if (isPooled(be)) be.emptyPool();
    if (memory) {
      const fit = evalBatchFor(memory, size);
      if (fit < 1) {
        throw new RangeError(
          `evaluation: not even one example fits: ${fmtBytes(memory.held)} held + ${
            fmtBytes(memory.fixed + memory.perExample)
          } for one example > the budget of ${fmtBytes(memory.budget)}`,
        );
      }
      size = fit;
    }
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
    batchSize: size,
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

/** The files of a run in its folder (what `force` removes; any of them marks a run). */
async function runFiles(out: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(out)) {
    const n = e.name;
    if (
      n === "config.json" || /^config\.resume-\d+\.json$/.test(n) || n === "metrics.csv" ||
      n === "eval.csv" || n === "predictions" || /^checkpoint\..*safetensors$/.test(n)
    ) names.push(n);
  }
  return names.sort();
}

/**
 * Trains one run as configured; see the module comment for what it writes. Holds an exclusive
 * lock on the folder (tasks/lock.ts) for the whole run, removes temporaries that a killed run
 * left, and refuses a folder that already holds a run unless `resume` or `force`.
 */
export async function runTraining(config: RunConfig, ctl: RunControl): Promise<RunResult> {
  const log = ctl.log ?? ((line: string) => console.log(line));
  validateConfig(config);
  const out = ctl.out.replace(/\/+$/, "");
  await Deno.mkdir(out, { recursive: true });
  return await withLock(folderLockPath(out), `run folder ${out}`, async () => {
    for (const dir of [out, `${out}/predictions`]) {
      const gone = await removeStaleTemporaries(dir);
      if (gone.length) {
        log(
          `note: removed ${gone.length} temporary file(s) an interrupted run left in ${dir}: ${
            gone.join(", ")
          }`,
        );
      }
    }
    if (!ctl.resume) {
      const old = await runFiles(out);
      if (old.length && !ctl.force) {
        throw new Deno.errors.AlreadyExists(
          `${out} already holds a run (${old.join(", ")}): pass --resume to continue it or ` +
            `--force to start over (removing those files)`,
        );
      }
      if (old.length) {
        log(`--force: removing the previous run's files in ${out}: ${old.join(", ")}`);
        for (const n of old) await Deno.remove(`${out}/${n}`, { recursive: true });
      }
    }
    return await trainInFolder(config, ctl, out, log);
  }, { warn: log });
}

async function trainInFolder(
  config: RunConfig,
  ctl: RunControl,
  out: string,
  log: (line: string) => void,
): Promise<RunResult> {
  const hash = configHash(config);

  const be: Backend = getBackend(config.backend);
  const { ds, dir } = await openRunData(config.data, log);
  const meta = ds.metadata;

  let ck: Checkpoint | null = null;
  if (ctl.resume) {
    // Verified on reading; a corrupt current checkpoint falls back to the previous one.
    ck = await loadLatestCheckpoint(out, { warn: log });
    if (!ck) throw new Error(`--resume: no checkpoint in ${out}`);
    const path = ck.path;
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
  // Before anything is written: a run that cannot fit its memory says so now, with the numbers,
  // not by being killed at its first evaluation (recursion/memory_plan.ts checkRunMemory).
  const memoryCheck = checkRunMemory(
    trainer,
    ctl.memoryBytes,
    typeof memoryRecord?.predictedBytes === "number" ? memoryRecord.predictedBytes : null,
    log,
  );
  const evalMemory = memoryCheck?.evalMemory ?? null;
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
    memoryCheck: memoryCheck?.check ?? null,
    command: ["deno", "task", "train", ...Deno.args],
  };
  const recordText = JSON.stringify(record, null, 2) + "\n";
  await writeFileAtomic(
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
  let evalBatch = 0;
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
      evalMemory,
    );
    if (r.batchSize !== evalBatch) {
      evalBatch = r.batchSize;
      progress.log(
        `evaluation in batches of ${r.batchSize} examples (configured ${t.evalBatchSize}` +
          `${memory.microBatches > 1 ? ` / ${memory.microBatches} micro-batches` : ""}; ` +
          `capped by the examples evaluated and the memory budget)`,
      );
    }
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

  const scheduledAt = (step: number) => step % evalEvery === 0 || step === totalSteps;
  // A checkpoint of this run exists (the first evaluation is always preceded by one).
  let saved = ck !== null;
  let stopped: RunResult["stopped"] = "done";
  let window = new Window();
  try {
    if (ck && scheduledAt(ck.step) && !(await loggedSteps(`${out}/eval.csv`)).has(ck.step)) {
      // Stopped during the evaluation that follows its checkpoint: evaluate before going on.
      progress.log(`the evaluation of step ${ck.step} did not finish before the run stopped: now`);
      await doEval(ctl.dumpPredictions ?? false);
    }
    let turned = performance.now();
    while (trainer.step < totalSteps) {
      // A step is synchronous: turn the event loop now and then (≥ 200 ms apart) so that a signal
      // (SIGINT, SIGTERM: the lock's handlers release it and exit; engine/cli.ts dieWithParent)
      // acts within a step, not at the next evaluation or checkpoint.
      if (performance.now() - turned >= 200) {
        await new Promise((r) => setTimeout(r, 0));
        turned = performance.now();
      }
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
      const scheduled = scheduledAt(m.step);
      // The checkpoint before the evaluation: an evaluation that fails (out of memory, killed)
      // loses no training, and a resumed run evaluates that step first (above).
      if (m.step % ckptEvery === 0 || last || (scheduled && !saved)) {
        await save();
        saved = true;
      }
      if (scheduled || last) await doEval(scheduled && (ctl.dumpPredictions ?? false));
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
  return { trainer, totalSteps, evals: evalResults, stopped, wallSeconds: wall, evalMemory };
}

/** The steps of the rows of a run's eval.csv (empty if there is none). */
async function loggedSteps(path: string): Promise<Set<number>> {
  const text = await Deno.readTextFile(path).catch((e) => {
    if (e instanceof Deno.errors.NotFound) return "";
    throw e;
  });
  const col = EVAL_COLUMNS.indexOf("step");
  return new Set(
    text.trim().split("\n").slice(1).filter((l) => l).map((l) => Number(l.split(",")[col])),
  );
}

const USAGE = `usage: deno task train --task ${TASK_NAMES.join("|")} --model ${
  MODEL_NAMES.join("|")
}
         --preset ${PRESET_NAMES.join("|")} --out DIR [--seed 0] [--data DIR] [--resume | --force]
         [--backend ${BACKEND_NAMES.join("|")}] [--config FILE.json] [--steps N] [--batch N]
         [--lr X] [--l-cycles N] [--eval-every N] [--checkpoint-every N] [--threads N]
         [--max-minutes M] [--log-every N] [--dump-predictions] [--micro-batches N|auto]
         [--recompute] [--memory-gib G] [--allow-dirty] [--progress | --no-progress]
  --resume with only --out continues with OUT/config.json's configuration. A folder that holds a
  run is refused unless --resume, or --force (start over: its run files are removed first).
  --micro-batches N runs each batch as N slices summed into one step (TRM's multi-GPU step on one
  device; the batch must divide by N), --recompute recomputes the recursion's activations in
  backward: both cut memory, neither changes the configuration (results agree up to the order of
  gradient sums). --micro-batches auto measures a step's memory first and picks both to fit 90 %
  of the device's memory (--memory-gib G: of G GiB instead). Every run checks before training
  that a step and an evaluation of one example fit that budget (on the host: of the available
  memory), and evaluates in batches no larger than fit.
  --dump-predictions writes every evaluation's predictions to OUT/predictions/step-<N>.jsonl
  (the deno task score format; ARC votes can be pooled over them).`;

/** The flags of `deno task train` (plus --help, engine/cli.ts). */
const OPTIONS = {
  task: { type: "string" },
  model: { type: "string" },
  preset: { type: "string" },
  seed: { type: "string" },
  out: { type: "string" },
  data: { type: "string" },
  resume: { type: "boolean" },
  force: { type: "boolean" },
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
} as const;

/** `--flag`'s value as a number (see engine/cli.ts numberFlag), undefined when not given. */
function num(
  v: string | undefined,
  flag: string,
  o: { integer?: boolean; min?: number; above?: number },
): number | undefined {
  return v === undefined ? undefined : numberFlag(flag, v, o);
}

/**
 * Parses the command line into a configuration and run controls (no side effects but reads).
 * Mistakes throw: a UsageError (a TypeError) for the flags' syntax and missing flags, a RangeError
 * for values (a FlagValueError for a flag's own value, out of range or not a number).
 * The configuration is the preset (or OUT/config.json on a bare --resume), then --config FILE,
 * then the flags, and is validated once, complete: a flag may supply what the file leaves out.
 */
export async function parseCommandLine(
  args: string[],
): Promise<
  { config: RunConfig; control: RunControl; threads: number | null; allowDirty: boolean }
> {
  const r = parseCli("train", USAGE, OPTIONS, args);
  if ("exit" in r) throw new UsageError(r.message ?? "--help: nothing to parse");
  const values = r.values;
  if (!values.out) throw new UsageError("--out is required");
  if (values.force && values.resume) {
    throw new UsageError("--force (start over) and --resume (continue) exclude each other");
  }
  const out = values.out;
  let base: RunConfig;
  const named = values.task !== undefined || values.model !== undefined ||
    values.preset !== undefined;
  if (!named && values.resume) {
    const file = `${out}/config.json`;
    const stored = JSON.parse(await Deno.readTextFile(file)).config as RunConfig;
    base = mergeConfig(presetConfig(stored.preset, stored.task, stored.model), stored, file, {
      validate: false,
    });
  } else {
    if (!values.task || !values.model || !values.preset) {
      throw new UsageError("--task, --model and --preset are required");
    }
    base = presetConfig(
      values.preset as PresetName,
      values.task as TaskName,
      values.model as ModelName,
    );
  }
  if (values.config) {
    const text = await Deno.readTextFile(values.config);
    base = mergeConfig(base, JSON.parse(text), values.config, { validate: false });
  }
  const patch: Record<string, unknown> = {};
  const train: Record<string, unknown> = {};
  const set = (o: Record<string, unknown>, k: string, v: unknown) => {
    if (v !== undefined) o[k] = v;
  };
  const int = { integer: true, min: 1 };
  set(patch, "seed", num(values.seed, "seed", { integer: true, min: 0 }));
  set(patch, "backend", values.backend);
  if (values.data !== undefined) patch.data = { dir: values.data };
  set(train, "steps", num(values.steps, "steps", int));
  set(train, "batchSize", num(values.batch, "batch", int));
  set(train, "lr", num(values.lr, "lr", { min: 0 }));
  set(train, "evalEvery", num(values["eval-every"], "eval-every", int));
  set(train, "checkpointEvery", num(values["checkpoint-every"], "checkpoint-every", int));
  if (Object.keys(train).length) patch.train = train;
  const lCycles = num(values["l-cycles"], "l-cycles", int);
  if (lCycles !== undefined) patch.arch = { lCycles };
  // Flags first, then one validation of the whole: --data may supply what --config leaves out.
  const config = mergeConfig(base, patch, "command line", { validate: false });
  validateConfig(config, values.config ? `${values.config} with the command line` : "config");
  const threads = num(values.threads, "threads", int) ?? null;
  const maxMinutes = num(values["max-minutes"], "max-minutes", { above: 0 }) ?? null;
  const logEvery = num(values["log-every"], "log-every", int) ?? 50;
  const auto = values["micro-batches"] === "auto";
  const microBatches = auto ? 1 : num(values["micro-batches"], "micro-batches", int) ?? 1;
  if (auto && values.recompute) {
    throw new TypeError("--recompute with --micro-batches auto: auto decides recomputation");
  }
  const memoryGib = num(values["memory-gib"], "memory-gib", { above: 0 });
  const tty = Deno.stdout.isTerminal();
  return {
    config,
    threads,
    allowDirty: values["allow-dirty"] ?? false,
    control: {
      out,
      resume: values.resume ?? false,
      force: values.force ?? false,
      maxMinutes,
      logEvery,
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

/**
 * `deno task train`: --help (exit 0) and mistakes of the command line (exit 2: one line and the
 * usage) before anything is loaded or written; then trains. Exit 1 when training fails.
 */
export async function main(args: string[]): Promise<number> {
  const r = parseCli("train", USAGE, OPTIONS, args);
  if ("exit" in r) return printCliResult(r);
  const { config, control, threads, allowDirty } = await asUsage(() => parseCommandLine(args));
  assertWritable(control.out);
  dieWithParent(); // killing `deno task train` must not leave this process training
  await guardResultsWrite(control.out, { allowDirty, what: "train" });
  // The cpu backend reads its thread count when it is created (first getBackend call).
  if (threads !== null) Deno.env.set("TRM_THREADS", String(threads));
  await runTraining(config, control);
  return 0;
}

if (import.meta.main) await runMain(main, { name: "train", usage: USAGE });
