/**
 * The run configuration's schema: its types, the names it accepts, and the generic operations on
 * it — merging a partial patch (unknown keys and wrong types refused, naming the key), range
 * checks, the canonical JSON and SHA-256 hash every result carries, and a readable diff. The
 * presets (recursion/presets.ts) are data in this shape.
 */
import { createHash } from "node:crypto";
import {
  ALL_MODEL_NAMES,
  DTYPES,
  type ModelConfig,
  type ModelName,
  NORM_MODES,
  stackError,
} from "../config.ts";

export const TASK_NAMES = ["sudoku", "maze", "arc"] as const;
export type TaskName = typeof TASK_NAMES[number];
export const PRESET_NAMES = ["paper", "cpu-mini", "cpu-study", "smoke"] as const;
export type PresetName = typeof PRESET_NAMES[number];
export const BACKEND_NAMES = ["auto", "ref", "cpu", "cuda"] as const;
export type BackendChoice = typeof BACKEND_NAMES[number];

/**
 * Architecture settings: the model configuration less what comes from the run (the model name)
 * and from the dataset (vocab, sequence length, puzzle ids).
 */
export type ArchSettings = Omit<ModelConfig, "model" | "vocab" | "seqLen" | "numPuzzleIds">;

/** A dataset our generator builds when no `--data` folder is given. */
export interface GenerateSettings {
  kind: "sudoku";
  size: number;
  train: number;
  test: number;
  aug: number;
  seed: number;
}

export interface DataSettings {
  /** A prepared dataset folder (tasks/prepare.ts); null = build `generate` into `cacheRoot`. */
  dir: string | null;
  generate: GenerateSettings | null;
  cacheRoot: string;
}

export interface ScheduleSettings {
  batchSize: number;
  lr: number;
  warmupSteps: number;
  lrMinRatio: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  puzzleLr: number;
  puzzleWeightDecay: number;
  emaDecay: number;
  /** TRM epochs; total steps = ⌊epochs · train examples / batch⌋ unless `steps` is set. */
  epochs: number;
  /** Epochs per iterator pass (TRM's eval_interval). */
  epochsPerPass: number;
  /** Explicit number of optimiser steps (null: from epochs). */
  steps: number | null;
  /** Evaluate every this many steps (null: once per iterator pass, as TRM). */
  evalEvery: number | null;
  /** Checkpoint every this many steps (null: at every evaluation, as TRM). */
  checkpointEvery: number | null;
  evalBatchSize: number;
  /** Evaluate on the first this many test examples (null: all). */
  evalMaxExamples: number | null;
}

/** Everything that determines a run's numbers (hashed; resume refuses a different hash). */
export interface RunConfig {
  task: TaskName;
  model: ModelName;
  preset: PresetName;
  /** "paper" or an explicit label saying the run is reduced. */
  scale: string;
  seed: number;
  backend: BackendChoice;
  arch: ArchSettings;
  data: DataSettings;
  train: ScheduleSettings;
}

/**
 * The generated dataset a patch gets when it sets `data.generate` on a configuration that has
 * none (keys it leaves out come from here): cpu-mini's 4×4 Sudoku.
 */
export const DEFAULT_GENERATE: GenerateSettings = {
  kind: "sudoku",
  size: 4,
  train: 500,
  test: 250,
  aug: 100,
  seed: 42,
};

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function kindOf(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
}

/**
 * Keys a patch may add although the presets leave them out: ablation switches whose absence means
 * the paper's setting (or f32, for dtype), so that every preset configuration keeps its hash
 * (ModelConfig norm, stack, dtype).
 */
const OPTIONAL_STRINGS = new Set(["arch.norm", "arch.stack", "arch.dtype"]);

/**
 * Merges `patch` (partial settings, e.g. from a JSON file) into a copy of `base`. Every key must
 * exist in `base` (a RangeError names the first unknown key by its path) and keep its type; `null`
 * is allowed where the base allows it (the nullable fields below). The result is validated
 * (`validateConfig`) unless `validate: false`: a caller merging several patches validates the
 * complete result once (a later patch may supply what an earlier one leaves out).
 */
export function mergeConfig(
  base: RunConfig,
  patch: unknown,
  where = "config",
  o: { validate?: boolean } = {},
): RunConfig {
  const nullable = new Set([
    "data.dir",
    "data.generate",
    "train.steps",
    "train.evalEvery",
    "train.checkpointEvery",
    "train.evalMaxExamples",
  ]);
  const merge = (b: Json, p: unknown, path: string): Json => {
    if (kindOf(p) !== "object") {
      throw new TypeError(`${where}: ${path || "(root)"} must be an object: ${JSON.stringify(p)}`);
    }
    const out: Record<string, Json> = { ...(b as Record<string, Json>) };
    for (const [k, v] of Object.entries(p as Record<string, unknown>)) {
      const key = path ? `${path}.${k}` : k;
      if (!Object.hasOwn(out, k) && OPTIONAL_STRINGS.has(key)) {
        // An ablation switch the presets leave out (absent = the paper's setting; same hash).
        if (typeof v !== "string") throw new TypeError(`${where}: ${key} must be a string`);
        out[k] = v;
        continue;
      }
      if (!Object.hasOwn(out, k)) throw new RangeError(`${where}: unknown key: ${key}`);
      const cur = out[k];
      if (key === "arch.mamba.bidirectional") {
        if (v !== false && v !== "shared") {
          throw new TypeError(`${where}: ${key} must be false or "shared": ${JSON.stringify(v)}`);
        }
        out[k] = v;
        continue;
      }
      if (v === null) {
        if (!nullable.has(key)) throw new TypeError(`${where}: ${key} must not be null`);
        out[k] = null;
      } else if (cur === null) {
        // A nullable field being set: objects are checked against the preset's shape.
        if (key === "data.generate") {
          out[k] = merge({ ...DEFAULT_GENERATE } as unknown as Json, v, key);
        } else if (kindOf(v) === "number" || kindOf(v) === "string") out[k] = v as Json;
        else throw new TypeError(`${where}: ${key} has the wrong type: ${kindOf(v)}`);
      } else if (kindOf(cur) === "object") out[k] = merge(cur, v, key);
      else if (kindOf(v) !== kindOf(cur)) {
        throw new TypeError(
          `${where}: ${key} must be a ${kindOf(cur)}: got ${kindOf(v)} ${JSON.stringify(v)}`,
        );
      } else out[k] = v as Json;
    }
    return out;
  };
  const merged = merge(base as unknown as Json, patch, "") as unknown as RunConfig;
  // f32 is the default forward dtype: stated or not, one configuration (and one hash).
  if (merged.arch.dtype === "f32") {
    const { dtype: _, ...arch } = merged.arch;
    merged.arch = arch;
  }
  if (o.validate ?? true) validateConfig(merged, where);
  return merged;
}

/** Range checks of a complete configuration. */
export function validateConfig(c: RunConfig, where = "config"): void {
  const posInt = (v: number | null, key: string, allowNull = false) => {
    if (v === null && allowNull) return;
    if (!Number.isInteger(v) || (v as number) < 1) {
      throw new RangeError(`${where}: ${key} must be a positive integer: ${v}`);
    }
  };
  const nonNeg = (v: number, key: string) => {
    if (!(Number.isFinite(v) && v >= 0)) {
      throw new RangeError(`${where}: ${key} must be a finite number ≥ 0: ${v}`);
    }
  };
  if (!TASK_NAMES.includes(c.task)) throw new RangeError(`${where}: unknown task: ${c.task}`);
  if (!ALL_MODEL_NAMES.includes(c.model)) {
    throw new RangeError(`${where}: unknown model: ${c.model}`);
  }
  if (!PRESET_NAMES.includes(c.preset)) {
    throw new RangeError(`${where}: unknown preset: ${c.preset}`);
  }
  if (!BACKEND_NAMES.includes(c.backend)) {
    throw new RangeError(`${where}: unknown backend: ${c.backend}`);
  }
  if (!Number.isSafeInteger(c.seed)) throw new RangeError(`${where}: seed: ${c.seed}`);
  const a = c.arch;
  for (const k of ["hidden", "heads", "expansion", "prefixLen", "hCycles", "lCycles"] as const) {
    posInt(a[k], `arch.${k}`);
  }
  posInt(a.haltMaxSteps, "arch.haltMaxSteps");
  if (a.hidden % a.heads !== 0) {
    throw new RangeError(`${where}: arch.hidden ${a.hidden} not divisible by heads ${a.heads}`);
  }
  if (a.norm !== undefined && !NORM_MODES.includes(a.norm)) {
    throw new RangeError(`${where}: arch.norm must be one of ${NORM_MODES.join(", ")}: ${a.norm}`);
  }
  if (a.dtype !== undefined && !DTYPES.includes(a.dtype)) {
    throw new RangeError(`${where}: arch.dtype must be one of ${DTYPES.join(", ")}: ${a.dtype}`);
  }
  if (a.stack !== undefined) {
    const err = stackError(c.model, a.stack);
    if (err) throw new RangeError(`${where}: arch.stack of ${c.model}: ${err}`);
  }
  if (!(a.haltExploration >= 0 && a.haltExploration <= 1)) {
    throw new RangeError(`${where}: arch.haltExploration must be in [0, 1]: ${a.haltExploration}`);
  }
  const t = c.train;
  posInt(t.batchSize, "train.batchSize");
  posInt(t.evalBatchSize, "train.evalBatchSize");
  posInt(t.epochs, "train.epochs");
  posInt(t.epochsPerPass, "train.epochsPerPass");
  posInt(t.steps, "train.steps", true);
  posInt(t.evalEvery, "train.evalEvery", true);
  posInt(t.checkpointEvery, "train.checkpointEvery", true);
  posInt(t.evalMaxExamples, "train.evalMaxExamples", true);
  if (!Number.isInteger(t.warmupSteps) || t.warmupSteps < 0) {
    throw new RangeError(`${where}: train.warmupSteps must be an integer ≥ 0: ${t.warmupSteps}`);
  }
  for (
    const k of ["lr", "weightDecay", "puzzleLr", "puzzleWeightDecay", "lrMinRatio"] as const
  ) nonNeg(t[k], `train.${k}`);
  for (const k of ["beta1", "beta2", "emaDecay"] as const) {
    if (!(t[k] >= 0 && t[k] < 1)) {
      throw new RangeError(`${where}: train.${k} must be in [0, 1): ${t[k]}`);
    }
  }
  if (c.data.dir === null && c.data.generate === null) {
    throw new RangeError(
      `${where}: no data: pass --data DIR (a prepared dataset) or set data.generate`,
    );
  }
}

/** JSON with object keys sorted at every level (arrays keep their order). */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  const o = v as Record<string, unknown>;
  return `{${
    Object.keys(o).sort().filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(",")
  }}`;
}

/** SHA-256 of the canonical JSON of the configuration. */
export function configHash(c: RunConfig): string {
  return createHash("sha256").update(canonicalJson(c)).digest("hex");
}

/** Paths (a.b.c) whose values differ between two configurations (for resume errors). */
export function configDiff(a: unknown, b: unknown, path = ""): string[] {
  if (kindOf(a) === "object" && kindOf(b) === "object") {
    const ka = a as Record<string, unknown>, kb = b as Record<string, unknown>;
    const keys = [...new Set([...Object.keys(ka), ...Object.keys(kb)])].sort();
    return keys.flatMap((k) => configDiff(ka[k], kb[k], path ? `${path}.${k}` : k));
  }
  return canonicalJson(a) === canonicalJson(b)
    ? []
    : [`${path}: ${canonicalJson(a)} → ${canonicalJson(b)}`];
}
