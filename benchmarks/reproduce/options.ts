/**
 * Command line of `deno task reproduce` (node:util parseArgs, strict: an unknown flag is an error)
 * and the models each preset runs by default.
 *
 *   deno task reproduce [--preset cpu-mini|paper|smoke] [--tasks arc,sudoku,maze]
 *                       [--models trm-attn,...] [--backend auto|ref|cpu] [--seeds 0,1,2]
 *                       [--out results/<preset>] [--runs runs/reproduce/<preset>]
 *                       [--skip-verify] [--progress | --no-progress]
 *                       [--workers N] [--threads-per-run T] [--shard i/n | --merge]
 */
import { FlagValueError, intFlag, numberFlag, parseCli, UsageError } from "../../engine/cli.ts";
import { DTYPES, MODEL_NAMES, type ModelName } from "../../recursion/config.ts";
import type { MemoryPlan } from "../../recursion/trainer.ts";
import type { ConfigPatch } from "./steps.ts";
import {
  BACKEND_NAMES,
  type BackendChoice,
  PRESET_NAMES,
  type PresetName,
  TASK_NAMES,
  type TaskName,
} from "../../recursion/run/config.ts";

/**
 * What the hybrid paper (Wang & Reid 2026) compares per task: TRM-attn vs TR-mamba2attn on every
 * task, and on Sudoku-Extreme also TRM-mlp-t and the Mamba-2 + MLP-t hybrid.
 */
export const PAPER_MODELS: Record<TaskName, readonly ModelName[]> = {
  arc: ["trm-attn", "tr-mamba2attn"],
  sudoku: ["trm-attn", "trm-mlp-t", "tr-mamba2attn", "tr-mamba2mlpt"],
  maze: ["trm-attn", "tr-mamba2attn"],
};

/**
 * Default models per preset and task. cpu-mini trims Sudoku to the attention pair (trm-attn vs
 * tr-mamba2attn, the pair compared on every task) so that the default run stays well under an
 * hour on 2 cores; `--models trm-attn,trm-mlp-t,tr-mamba2attn,tr-mamba2mlpt` adds the MLP-t pair
 * (7.7 more minutes, measured: training 3.3 + 4.3 min on 2 cores). cpu-study (the CPU-scale
 * study, `deno task study`) runs all four models on Sudoku and on Maze (the MLP-t pair on Maze
 * goes beyond the paper's Maze comparison: at this scale it asks the same question there) and
 * the attention pair on ARC.
 */
export function defaultModels(preset: PresetName, task: TaskName): readonly ModelName[] {
  if (preset === "cpu-mini" && task === "sudoku") return ["trm-attn", "tr-mamba2attn"];
  if (preset === "cpu-study" && task !== "arc") return MODEL_NAMES;
  return PAPER_MODELS[task];
}

/**
 * ARC votes: `pooled` over every evaluation of the run (TRM's default: `aggregated_voting` in its
 * `evaluators/arc.py`) or `single`, the final checkpoint's evaluation only.
 */
export const POOLING_NAMES = ["pooled", "single"] as const;
export type PoolingChoice = typeof POOLING_NAMES[number];

/** Parsed options of one reproduce run. */
export interface ReproduceOptions {
  preset: PresetName;
  tasks: TaskName[];
  /** Explicit models (every task runs them), or null for each task's defaults. */
  models: ModelName[] | null;
  backend: BackendChoice;
  seeds: number[];
  /** Committed result tables (results/<preset>). */
  out: string;
  /** Checkpoints, predictions, score files and markers (gitignored; runs/reproduce/<preset>). */
  runs: string;
  /** Committed baselines root (benchmarks/reproduce/expected/baselines). */
  baselines: string;
  verify: boolean;
  progress: boolean;
  /** ARC votes: pooled over every evaluation of a run (TRM's default) or the final one only. */
  pooling: PoolingChoice;
  /** How training steps use memory (recursion/trainer.ts MemoryPlan, or "auto"; not hashed). */
  memory: MemoryPlan | "auto";
  /** Device memory "auto" plans for (default: the backend's). */
  memoryBytes?: number;
  /** A JSON patch merged into every run's configuration (`--config FILE`; changes the hashes). */
  configPatch: ConfigPatch | null;
  /** Write into the committed results/ from a tree with uncommitted code (diff stored beside). */
  allowDirty: boolean;
  /** A missing baseline file is reported, not failed. */
  noBaseline: boolean;
  /**
   * Local worker processes the runs are spread over (`--workers N`, default 1: this process runs
   * them in turn; distribute.ts).
   */
  workers: number;
  /**
   * CPU threads of every run (`--threads-per-run T`), whatever --workers and --shard; null: this
   * process's (TRM_THREADS, else all cores). Part of a run's fixed setup: OpenBLAS rounds
   * differently at another thread count.
   */
  threadsPerRun: number | null;
  /**
   * This invocation's share of the runs (`--shard i/n`, 0-based: i = 0 … n − 1): the runs whose
   * index in the sorted run list is ≡ i (mod n); no tables, no verify. null: every run.
   */
  shard: Shard | null;
  /** `--merge`: no run; the tables and verify from the finished runs of the runs folder. */
  merge: boolean;
}

/** `--shard i/n`: this invocation runs the runs whose sorted index ≡ index (mod count). */
export interface Shard {
  index: number;
  count: number;
}

export const USAGE = `usage: deno task reproduce [--preset ${PRESET_NAMES.join("|")}] [--tasks ${
  TASK_NAMES.join(",")
}]
         [--models ${MODEL_NAMES.join(",")}] [--backend ${BACKEND_NAMES.join("|")}]
         [--seeds 0,1,2] [--out results/<preset>] [--runs runs/reproduce/<preset>]
         [--baselines benchmarks/reproduce/expected/baselines]
         [--pooling ${POOLING_NAMES.join("|")}] [--skip-verify]
         [--micro-batches N|auto] [--recompute] [--memory-gib G] [--config FILE.json]
         [--dtype f32|bf16]
         [--no-baseline] [--allow-dirty] [--progress | --no-progress]
         [--workers N] [--threads-per-run T] [--shard i/n | --merge]
  default: --preset cpu-mini, all three tasks, the paper's models per task, seed 0; ARC votes
  pooled over every evaluation of a run (TRM's aggregated voting; --pooling single: final only).
  --micro-batches N / --recompute: train each batch in N slices / recompute activations in
  backward, for memory; --micro-batches auto measures each run's step and picks both to fit 90 %
  of the device (--memory-gib G: of G GiB; also the budget every run checks before training and
  sizes its evaluation batches to). Results agree up to the order of gradient sums, and runs
  trained either way are reused.
  --config FILE.json: a JSON patch merged into every run's configuration (e.g.
  {"train": {"lr": 0}}); it changes the configuration hashes, so verify names the baseline as
  another configuration's. --no-baseline: a missing baseline file is reported, not failed.
  --dtype bf16: every run in the official forward dtype (recursion/config.ts ModelConfig.dtype;
  a configuration patch like --config, applied after it; summary rows name the dtype).
  --allow-dirty: write into the committed results/ although the code differs from the commit
  (refused otherwise); the diff is stored beside the results and named in every row.
  --workers N: run the independent (task, model, seed) runs in N local worker processes at once;
  datasets are prepared first, in turn; a failed run is named and the others finish (exit 1 at
  the end). --threads-per-run T: the CPU threads of every run (default TRM_THREADS, else all
  cores), whatever --workers and --shard, so that results do not depend on them (OpenBLAS rounds
  differently at another thread count); with --workers N, T = ⌊cores / N⌋ keeps the cores busy
  without oversubscribing them.
  --shard i/n (0-based, 0 ≤ i < n): run only the runs whose index in the sorted run list is
  ≡ i (mod n), into the shared --runs folder, and write no tables; afterwards --merge (same
  --preset/--tasks/--models/--seeds/--config/--runs) writes the tables and verify from the
  finished runs and fails naming every run that is missing.`;

function list<T extends string>(v: string, allowed: readonly T[], flag: string): T[] {
  const items = v.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (items.length === 0) throw new RangeError(`--${flag}: empty list`);
  for (const s of items) {
    if (!allowed.includes(s as T)) {
      throw new RangeError(`--${flag}: unknown value ${s} (expected ${allowed.join(", ")})`);
    }
  }
  return [...new Set(items)] as T[];
}

/** The flags of `deno task reproduce` (plus --help, engine/cli.ts). */
export const OPTIONS = {
  preset: { type: "string" },
  tasks: { type: "string" },
  models: { type: "string" },
  backend: { type: "string" },
  seeds: { type: "string" },
  out: { type: "string" },
  runs: { type: "string" },
  baselines: { type: "string" },
  pooling: { type: "string" },
  "micro-batches": { type: "string" },
  recompute: { type: "boolean" },
  "memory-gib": { type: "string" },
  config: { type: "string" },
  dtype: { type: "string" },
  "no-baseline": { type: "boolean" },
  "allow-dirty": { type: "boolean" },
  "skip-verify": { type: "boolean" },
  progress: { type: "boolean" },
  "no-progress": { type: "boolean" },
  workers: { type: "string" },
  "threads-per-run": { type: "string" },
  shard: { type: "string" },
  merge: { type: "boolean" },
} as const;

/** Parses `--shard i/n` (0-based: 0 ≤ i < n). */
export function parseShard(text: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const index = m ? Number(m[1]) : NaN, count = m ? Number(m[2]) : NaN;
  if (!m || !Number.isSafeInteger(count) || count < 1 || index >= count) {
    throw new FlagValueError(
      `--shard: expected i/n with n ≥ 1 and 0 ≤ i < n (0-based: 0/4 … 3/4), got ${
        JSON.stringify(text)
      }`,
    );
  }
  return { index, count };
}

/**
 * Parses `args` (not --help: `deno task reproduce` answers that first, engine/cli.ts parseCli). A
 * UsageError (a TypeError) for positionals or unknown flags, a RangeError for a bad value.
 */
export function parseReproduceArgs(args: string[]): ReproduceOptions {
  const r = parseCli("reproduce", USAGE, OPTIONS, args);
  if ("exit" in r) throw new UsageError(r.message ?? "--help: nothing to parse");
  const v = r.values;
  const preset = (v.preset ?? "cpu-mini") as PresetName;
  if (!PRESET_NAMES.includes(preset)) {
    throw new RangeError(
      `--preset: unknown preset ${preset} (expected ${PRESET_NAMES.join(", ")})`,
    );
  }
  const backend = (v.backend ?? "auto") as BackendChoice;
  if (!BACKEND_NAMES.includes(backend)) {
    throw new RangeError(
      `--backend: unknown backend ${backend} (expected ${BACKEND_NAMES.join(", ")})`,
    );
  }
  const pooling = (v.pooling ?? "pooled") as PoolingChoice;
  if (!POOLING_NAMES.includes(pooling)) {
    throw new RangeError(
      `--pooling: unknown value ${pooling} (expected ${POOLING_NAMES.join(", ")})`,
    );
  }
  const seeds = (v.seeds ?? "0").split(",").map((s) => {
    const x = Number(s.trim());
    if (s.trim() === "" || !Number.isSafeInteger(x) || x < 0) {
      throw new FlagValueError(`--seeds: expected non-negative integers: ${v.seeds}`);
    }
    return x;
  });
  const micro = v["micro-batches"] ?? "1";
  const microBatches = Number(micro);
  if (micro !== "auto" && (!Number.isSafeInteger(microBatches) || microBatches < 1)) {
    throw new FlagValueError(`--micro-batches: expected an integer ≥ 1 or auto: ${micro}`);
  }
  if (micro === "auto" && v.recompute) {
    throw new TypeError("--recompute with --micro-batches auto: auto decides recomputation");
  }
  const gib = v["memory-gib"] === undefined
    ? undefined
    : numberFlag("memory-gib", v["memory-gib"], { above: 0 });
  const workers = v.workers === undefined ? 1 : intFlag("workers", v.workers, 1);
  const tpr = v["threads-per-run"];
  const threadsPerRun = tpr === undefined ? null : intFlag("threads-per-run", tpr, 1);
  const shard = v.shard === undefined ? null : parseShard(v.shard);
  if (shard && v.merge) {
    throw new UsageError("--shard and --merge exclude each other: shards run, --merge collects");
  }
  let configPatch: ConfigPatch | null = null;
  if (v.config !== undefined) {
    let patch: unknown;
    try {
      patch = JSON.parse(Deno.readTextFileSync(v.config));
    } catch (e) {
      throw new RangeError(`--config: cannot read ${v.config} as JSON: ${(e as Error).message}`);
    }
    if (typeof patch !== "object" || patch === null || Array.isArray(patch)) {
      throw new RangeError(`--config: ${v.config} must hold a JSON object`);
    }
    configPatch = { patch: patch as Record<string, unknown>, source: v.config };
  }
  if (v.dtype !== undefined) {
    if (!(DTYPES as readonly string[]).includes(v.dtype)) {
      throw new RangeError(`--dtype: expected ${DTYPES.join(" or ")}, got ${v.dtype}`);
    }
    const p = configPatch?.patch ?? {};
    const arch = { ...(p.arch as Record<string, unknown> | undefined), dtype: v.dtype };
    configPatch = {
      patch: { ...p, arch },
      source: configPatch ? `${configPatch.source} with --dtype ${v.dtype}` : `--dtype ${v.dtype}`,
    };
  }
  return {
    preset,
    configPatch,
    allowDirty: v["allow-dirty"] ?? false,
    noBaseline: v["no-baseline"] ?? false,
    // Task order: the cheap ones first, so a broken setup shows before the long ARC runs.
    tasks: v.tasks ? list(v.tasks, TASK_NAMES, "tasks") : ["sudoku", "maze", "arc"],
    models: v.models ? list(v.models, MODEL_NAMES, "models") : null,
    backend,
    seeds: [...new Set(seeds)],
    out: (v.out ?? `results/${preset}`).replace(/\/+$/, ""),
    runs: (v.runs ?? `runs/reproduce/${preset}`).replace(/\/+$/, ""),
    baselines: (v.baselines ?? "benchmarks/reproduce/expected/baselines").replace(/\/+$/, ""),
    verify: !v["skip-verify"],
    pooling,
    memory: micro === "auto" ? "auto" : { microBatches, recompute: v.recompute ?? false },
    ...(gib !== undefined ? { memoryBytes: gib * 2 ** 30 } : {}),
    progress: v["no-progress"] ? false : (v.progress ?? Deno.stdout.isTerminal()),
    workers,
    threadsPerRun,
    shard,
    merge: v.merge ?? false,
  };
}

/** The models run for a task. */
export function modelsFor(o: ReproduceOptions, task: TaskName): readonly ModelName[] {
  return o.models ?? defaultModels(o.preset, task);
}
