/**
 * Fixtures of the tests of recursion/ (and benchmarks/reproduce/): tiny models, optimiser settings
 * and training runs, a quiet run control, temporary folders and awaited rejections.
 */
import assert from "node:assert/strict";
import { MAMBA_DEFAULTS, type ModelConfig, type ModelName } from "./config.ts";
import { presetConfig } from "./presets.ts";
import {
  type ArchSettings,
  type BackendChoice,
  type GenerateSettings,
  type PresetName,
  type RunConfig,
  type ScheduleSettings,
} from "./run/config.ts";
import type { RunControl } from "./run/loop.ts";
import type { TrainHyper } from "./trainer.ts";

/**
 * A tiny model on 9-token sequences of a 6-token vocabulary and 5 puzzle ids: width 16, 2 heads,
 * T = 2, n = 1, ≤ 3 ACT steps, small Mamba-2 blocks; `o` overrides any of it.
 */
export function tinyModelConfig(
  model: ModelName = "trm-attn",
  o: Partial<ModelConfig> = {},
): ModelConfig {
  return {
    model,
    vocab: 6,
    seqLen: 9,
    hidden: 16,
    heads: 2,
    expansion: 2,
    prefixLen: 2,
    hCycles: 2,
    lCycles: 1,
    rope: true,
    mamba: { ...MAMBA_DEFAULTS, dState: 4, headdim: 8, chunkSize: 4 },
    numPuzzleIds: 5,
    haltMaxSteps: 3,
    haltExploration: 0.5,
    ...o,
  };
}

/** The tests' optimiser settings for batches of `batchSize`: lr 1e-3, 1 warm-up step, 4 steps. */
export function tinyHyper(batchSize: number, o: Partial<TrainHyper> = {}): TrainHyper {
  return {
    batchSize,
    lr: 1e-3,
    warmupSteps: 1,
    lrMinRatio: 1,
    totalSteps: 4,
    weightDecay: 0.1,
    beta1: 0.9,
    beta2: 0.95,
    puzzleLr: 1e-2,
    puzzleWeightDecay: 0.1,
    emaDecay: 0.9,
    ...o,
  };
}

/** What tinyRunConfig takes: the backend, the dataset cache and each section's overrides. */
export interface TinyRunOptions {
  backend: BackendChoice;
  /** Where the generated dataset is built. */
  cacheRoot: string;
  /** Default cpu-mini. */
  preset?: PresetName;
  /** Default trm-attn. */
  model?: ModelName;
  /** Default 3. */
  seed?: number;
  arch?: Partial<ArchSettings>;
  generate?: Partial<GenerateSettings>;
  train?: Partial<ScheduleSettings>;
}

/**
 * A tiny Sudoku run of a preset: width 16, 2 heads, prefix 4, T = 2, n = 1, small Mamba-2 blocks;
 * a 4×4 Sudoku of 24 training and 6 test puzzles (no augmentation, seed 5) generated into
 * `cacheRoot`; batches of 8 at lr 3e-3, evaluation batches of 4. `o` overrides per section.
 */
export function tinyRunConfig(o: TinyRunOptions): RunConfig {
  const c = presetConfig(o.preset ?? "cpu-mini", "sudoku", o.model ?? "trm-attn", o.seed ?? 3);
  c.backend = o.backend;
  c.arch = {
    ...c.arch,
    hidden: 16,
    heads: 2,
    prefixLen: 4,
    hCycles: 2,
    lCycles: 1,
    mamba: { ...c.arch.mamba, dState: 8, headdim: 8, chunkSize: 16 },
    ...o.arch,
  };
  c.data = {
    dir: null,
    generate: { kind: "sudoku", size: 4, train: 24, test: 6, aug: 1, seed: 5, ...o.generate },
    cacheRoot: o.cacheRoot,
  };
  c.train = { ...c.train, batchSize: 8, lr: 3e-3, evalBatchSize: 4, ...o.train };
  return c;
}

/** A quiet fresh run into `out`: no time limit, no progress, no log; `extra` overrides. */
export function quietControl(out: string, extra: Partial<RunControl> = {}): RunControl {
  return {
    out,
    resume: false,
    maxMinutes: null,
    logEvery: 1000,
    progress: false,
    overrides: {},
    log: () => {},
    ...extra,
  };
}

/** Awaits a rejection and returns the error (an AssertionError when `fn` resolves). */
export async function rejection(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    return e as Error;
  }
  throw new assert.AssertionError({ message: "expected a rejection" });
}

/** Runs `fn` in a fresh temporary folder named `prefix`…, removed afterwards whatever happens. */
export async function withTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
