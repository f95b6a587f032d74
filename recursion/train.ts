/**
 * `deno task train`: trains a TRM model (the recipe of TRM's `pretrain.py`) with deep supervision
 * and ACT, EMA evaluation, metrics CSVs, atomic checkpoints and bit-exact resume.
 *
 *   deno task train --task sudoku --model trm-attn --preset cpu-mini --seed 0 --out runs/NAME
 *                   [--data DIR] [--resume | --force] [--backend auto|ref|cpu] [--dtype f32|bf16]
 *                   [--config FILE.json]
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
 *
 * This file is the command line; the run itself is recursion/run/: config.ts (the configuration
 * schema: merge, validate, hash), loop.ts (set-up and the training loop), evaluate.ts, record.ts
 * (config.json and the CSV column contracts) and log.ts (CSV logs and progress).
 */
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
import { guardResultsWrite } from "../engine/provenance.ts";
import { ALL_MODEL_NAMES, DTYPES, type ModelName } from "./config.ts";
import { presetConfig } from "./presets.ts";
import {
  BACKEND_NAMES,
  mergeConfig,
  PRESET_NAMES,
  type PresetName,
  type RunConfig,
  TASK_NAMES,
  type TaskName,
  validateConfig,
} from "./run/config.ts";
import { type RunControl, runTraining } from "./run/loop.ts";

const USAGE = `usage: deno task train --task ${TASK_NAMES.join("|")} --model ${
  ALL_MODEL_NAMES.join("|")
}
         --preset ${PRESET_NAMES.join("|")} --out DIR [--seed 0] [--data DIR] [--resume | --force]
         [--backend ${BACKEND_NAMES.join("|")}] [--dtype f32|bf16] [--config FILE.json]
         [--steps N] [--batch N]
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
  --dtype bf16 trains and evaluates in the official TRM's forward dtype (bf16 weights at use,
  bf16 activations and carry, f32 losses, master weights and optimiser state; part of the
  configuration and its hash; the rounding points in engine/bf16.ts); f32 is the default.
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
  dtype: { type: "string" },
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
  const arch: Record<string, unknown> = {};
  set(arch, "lCycles", num(values["l-cycles"], "l-cycles", int));
  if (values.dtype !== undefined) {
    if (!(DTYPES as readonly string[]).includes(values.dtype)) {
      throw new UsageError(`--dtype: expected ${DTYPES.join(" or ")}, got ${values.dtype}`);
    }
    arch.dtype = values.dtype;
  }
  if (Object.keys(arch).length) patch.arch = arch;
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
