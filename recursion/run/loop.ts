/**
 * One training run in a folder: `runTraining` takes the folder's lock, clears what a killed run
 * left, refuses a folder holding another run (unless resume/force), sets the run up (data,
 * checkpoint, model, trainer, memory check, run record) and runs the loop — a step, its metrics,
 * the checkpoint before each scheduled evaluation, the evaluation, a time limit.
 */
import type { Backend } from "../../engine/backend.ts";
import { getBackend } from "../../engine/backends/mod.ts";
import { machineInfo } from "../../engine/provenance.ts";
import { Rng } from "../../engine/rng.ts";
import { folderLockPath, removeStaleTemporaries, withLock } from "../../tasks/lock.ts";
import {
  type Checkpoint,
  loadLatestCheckpoint,
  restoreTrainer,
  saveCheckpoint,
} from "../checkpoint.ts";
import type { ModelConfig } from "../config.ts";
import { BatchStream, openRunData, stepsForEpochs } from "../data.ts";
import { checkRunMemory, type EvalMemory, runMemoryPlan } from "../memory_plan.ts";
import { createTrm, trmParamCount } from "../model.ts";
import { predictionRows, predictionsDir, stepPredictionsPath, writeLines } from "../predictions.ts";
import { type MemoryPlan, type StepMetrics, Trainer, type TrainHyper } from "../trainer.ts";
import { configDiff, configHash, type RunConfig, validateConfig } from "./config.ts";
import { checkFinite, type EvalResult, evaluate } from "./evaluate.ts";
import { createProgress, CsvLog, Window } from "./log.ts";
import { EVAL_COLUMNS, loggedSteps, METRICS_COLUMNS, runFiles, writeRunRecord } from "./record.ts";

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

/** Everything a run's loop works with, once set up (and its record written). */
interface RunSetup {
  config: RunConfig;
  hash: string;
  out: string;
  log: (line: string) => void;
  ds: RunData["ds"];
  ck: Checkpoint | null;
  trainer: Trainer;
  stream: BatchStream;
  evalRng: Rng;
  commit: string;
  totalSteps: number;
  evalEvery: number;
  ckptEvery: number;
  memory: MemoryPlan;
  evalMemory: EvalMemory | null;
}

type RunData = Awaited<ReturnType<typeof openRunData>>;

/**
 * Data, checkpoint (on resume: verified, and its configuration and dataset must match), model,
 * trainer, memory plan and check; then the run record (config.json, record.ts) and the log lines.
 */
async function setUpRun(
  config: RunConfig,
  ctl: RunControl,
  out: string,
  log: (line: string) => void,
): Promise<RunSetup> {
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
  const stream = new BatchStream(
    ds.train,
    t.batchSize,
    t.epochsPerPass,
    root.fork("data"),
    ck?.dataPosition,
  );
  const machine = machineInfo();
  const params = trmParamCount(model);
  await writeRunRecord(out, ck?.step ?? null, {
    config,
    configHash: hash,
    machine,
    backend: be,
    overrides: ctl.overrides,
    dir,
    meta,
    modelConfig: modelCfg,
    trainableParams: params,
    totalSteps,
    evalEvery,
    checkpointEvery: ckptEvery,
    maxMinutes: ctl.maxMinutes,
    memory,
    memoryPlan: memoryRecord,
    memoryCheck: memoryCheck?.check ?? null,
  });
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
    `  ${params.toLocaleString("en-US")} trainable params, ${totalSteps} steps, ` +
      `eval every ${evalEvery}, checkpoint every ${ckptEvery}` +
      (ck ? `; resuming at step ${ck.step} from ${ck.path}` : ""),
  );
  return {
    config,
    hash,
    out,
    log,
    ds,
    ck,
    trainer,
    stream,
    // Evaluation never draws (no exploration); passed for form.
    evalRng: root.fork("eval"),
    commit: String(machine.commit),
    totalSteps,
    evalEvery,
    ckptEvery,
    memory,
    evalMemory: memoryCheck?.evalMemory ?? null,
  };
}

async function trainInFolder(
  config: RunConfig,
  ctl: RunControl,
  out: string,
  log: (line: string) => void,
): Promise<RunResult> {
  const run = await setUpRun(config, ctl, out, log);
  const { ck, trainer, totalSteps, evalEvery, ckptEvery } = run;
  const keep = ck ? { keepUpToStep: ck.step } : {};
  const metrics = await CsvLog.open(`${out}/metrics.csv`, METRICS_COLUMNS, keep);
  const evals = await CsvLog.open(`${out}/eval.csv`, EVAL_COLUMNS, { ...keep, flushMs: 0 });
  const progress = createProgress(totalSteps, ctl.logEvery, ctl.progress, log);
  const evalResults: RunResult["evals"] = [];
  const start = performance.now();
  const elapsed = () => (performance.now() - start) / 1000;
  const evaluator = evaluationOf(run, evals, progress, elapsed);
  const doEval = async (dump: boolean) => evalResults.push(await evaluator(dump));
  const save = async () => {
    metrics.flush();
    return await saveRunCheckpoint(run);
  };

  // Predictions are dumped at the scheduled evaluations (every evalEvery steps and the last
  // step), not at a --max-minutes stop, so a resumed run pools the same evaluations as one that
  // ran through.
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
      const batch = run.stream.next();
      ctl.beforeStep?.(trainer);
      const t0 = performance.now();
      const m = trainer.trainStep(batch);
      checkFinite(trainer, m);
      metrics.add(metricsRow(m, performance.now() - t0, elapsed()));
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
  return {
    trainer,
    totalSteps,
    evals: evalResults,
    stopped,
    wallSeconds: wall,
    evalMemory: run.evalMemory,
  };
}

/** The metrics.csv row of a step. */
function metricsRow(m: StepMetrics, stepMs: number, elapsedS: number) {
  return {
    step: m.step,
    lr: m.lr,
    lm_loss: m.lmLoss,
    q_halt_loss: m.qLoss,
    halted: m.halted,
    token_acc: m.tokenAcc,
    exact_acc: m.exactAcc,
    q_halt_acc: m.qHaltAcc,
    mean_act_steps: m.meanSteps,
    step_ms: stepMs,
    elapsed_s: elapsedS,
  };
}

/** The run's checkpoint now (recursion/checkpoint.ts), with what a resume needs. */
function saveRunCheckpoint(run: RunSetup): Promise<string> {
  return saveCheckpoint(run.out, run.trainer, {
    configHash: run.hash,
    configJson: JSON.stringify(run.config),
    datasetHash: run.ds.metadata.contentHash,
    dataPosition: run.stream.position,
    rngs: { trainer: run.trainer.rng.state() },
    commit: run.commit,
  });
}

/**
 * The run's evaluation (evaluate.ts) as one call: evaluates, dumps the predictions when asked,
 * appends the eval.csv row and logs it (and the batch size, whenever it changes).
 */
function evaluationOf(
  run: RunSetup,
  evals: CsvLog,
  progress: { log(line: string): void },
  elapsed: () => number,
): (dump: boolean) => Promise<EvalResult & { step: number }> {
  const { trainer, config, ds, out, memory } = run;
  const t = config.train;
  let evalBatch = 0;
  return async (dump) => {
    const t0 = performance.now();
    const rows: string[] = [];
    const r = evaluate(
      trainer,
      ds.test,
      t.evalBatchSize,
      t.evalMaxExamples,
      run.evalRng,
      dump ? (b, res) => rows.push(...predictionRows(config.task, ds, b, res)) : undefined,
      run.evalMemory,
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
    progress.log(
      `eval @ step ${trainer.step}: exact ${r.exactAcc.toFixed(4)}, cell ${
        r.cellAcc.toFixed(4)
      }, q_halt ${r.meanQHalt.toFixed(3)} (${r.examples} held-out examples, ${secs.toFixed(1)} s)`,
    );
    return { step: trainer.step, ...r };
  };
}
