/**
 * A paper-width model, its Trainer with the fixed benchmark hyperparameters, and a random batch at a
 * task's shapes: the setup shared by the train-step benchmark
 * (`benchmarks/speed/train_step_bench.ts`) and the GPU training check (`dev/gpu/train_check.ts`).
 * The same backend-independent seed gives the same weights and data on every backend.
 *
 * @example
 * ```ts
 * import { getBackend } from "../engine/backends/mod.ts";
 * import { benchSetup } from "./bench_setup.ts";
 * const { trainer, batch } = benchSetup(getBackend("cpu"), "trm-attn", "sudoku", 2, 0);
 * trainer.trainStep(batch);
 * ```
 */
import type { Backend } from "../engine/backend.ts";
import { Rng } from "../engine/rng.ts";
import type { ActBatch } from "./act.ts";
import { type ModelConfig, type ModelName, paperConfig } from "./config.ts";
import { createTrm, type TrmModel } from "./model.ts";
import { TASK_SHAPES, type TaskName } from "./parity.ts";
import { type MemoryPlan, Trainer, type TrainHyper, WHOLE_BATCH } from "./trainer.ts";

/** The fixed hyperparameters of the benchmark and check steps (batch size aside). */
export const BENCH_HYPER: Omit<TrainHyper, "batchSize"> = {
  lr: 1e-4,
  warmupSteps: 10,
  lrMinRatio: 1,
  totalSteps: 100,
  weightDecay: 0.1,
  beta1: 0.9,
  beta2: 0.95,
  puzzleLr: 1e-2,
  puzzleWeightDecay: 0.1,
  emaDecay: 0.999,
};

/**
 * `model` at paper width and `task`'s shapes (16 puzzle ids) on `be`, its Trainer, and a random
 * batch of `batchSize` (tokens and labels in 1..vocab-1, puzzle ids in 1..15), all from `seed`;
 * the Trainer steps with `memory` (default the whole batch at once), in `dtype` (default f32).
 */
export function benchSetup(
  be: Backend,
  model: ModelName,
  task: TaskName,
  batchSize: number,
  seed: number,
  memory: Readonly<MemoryPlan> = WHOLE_BATCH,
  dtype: "f32" | "bf16" = "f32",
): { cfg: ModelConfig; model: TrmModel; trainer: Trainer; batch: ActBatch } {
  const paper = paperConfig(model, { ...TASK_SHAPES[task], numPuzzleIds: 16 });
  const cfg: ModelConfig = dtype === "bf16" ? { ...paper, dtype } : paper;
  const b = batchSize;
  const rng = new Rng(seed);
  const m = createTrm(be, rng.fork("model"), cfg);
  const trainer = new Trainer(m, { batchSize: b, ...BENCH_HYPER }, rng.fork("act"), memory);
  return { cfg, model: m, trainer, batch: randomBatch(cfg, b, rng.fork("data")) };
}

/**
 * A random batch for `cfg`: tokens and labels in 1..vocab-1, puzzle ids in 1..min(15, ids-1)
 * (0, the blank id, when the table has no other).
 */
export function randomBatch(cfg: ModelConfig, size: number, rng: Rng): ActBatch {
  const ids = Math.min(15, cfg.numPuzzleIds - 1);
  return {
    size,
    inputs: Int32Array.from({ length: size * cfg.seqLen }, () => 1 + rng.int(cfg.vocab - 1)),
    labels: Int32Array.from({ length: size * cfg.seqLen }, () => 1 + rng.int(cfg.vocab - 1)),
    puzzleIdentifiers: Int32Array.from({ length: size }, () => (ids >= 1 ? 1 + rng.int(ids) : 0)),
  };
}
