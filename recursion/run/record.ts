/**
 * What a training run leaves in its folder and how it is read back: the column contracts of
 * metrics.csv and eval.csv (the reproduce pipeline and the study read them by these names), the
 * run record written as config.json (configuration, hash, provenance, dataset, memory plan), the
 * files that mark a folder as holding a run, and the steps an eval.csv already holds.
 */
import type { Backend } from "../../engine/backend.ts";
import { parseCsv } from "../../engine/csv.ts";
import { trainSourceHash } from "../../engine/provenance.ts";
import { readSwitch } from "../../engine/switches.ts";
import type { DatasetMetadata } from "../../tasks/dataset.ts";
import { writeFileAtomic } from "../../tasks/io.ts";
import type { ModelConfig } from "../config.ts";
import type { MemoryPlan } from "../trainer.ts";
import type { RunConfig } from "./config.ts";

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

/** The files of a run in its folder (what `force` removes; any of them marks a run). */
export async function runFiles(out: string): Promise<string[]> {
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

/** The steps of the rows of a run's eval.csv (empty if there is none). */
export async function loggedSteps(path: string): Promise<Set<number>> {
  const text = await Deno.readTextFile(path).catch((e) => {
    if (e instanceof Deno.errors.NotFound) return "";
    throw e;
  });
  if (text.trim() === "") return new Set();
  return new Set(parseCsv(text, EVAL_COLUMNS, path).map((r) => Number(r.step)));
}

/** What the run record is built from (record.ts `writeRunRecord`). */
export interface RunRecordInputs {
  config: RunConfig;
  configHash: string;
  machine: Record<string, string | number>;
  backend: Backend;
  overrides: Record<string, unknown>;
  /** The dataset's folder and metadata. */
  dir: string;
  meta: DatasetMetadata;
  modelConfig: ModelConfig;
  trainableParams: number;
  totalSteps: number;
  evalEvery: number;
  checkpointEvery: number;
  maxMinutes: number | null;
  memory: MemoryPlan;
  memoryPlan: unknown;
  memoryCheck: unknown;
}

/**
 * Writes the run record: OUT/config.json for a fresh run, OUT/config.resume-<step>.json for a run
 * resumed at `resumedFrom` (atomically). Everything a reader needs to know what produced the
 * numbers: the configuration and its hash, commit and source hash, backend and its settings, the
 * machine (with the environment switches), the dataset and its content hash, the model, the
 * schedule, the memory plan and check, and the command.
 */
export async function writeRunRecord(
  out: string,
  resumedFrom: number | null,
  r: RunRecordInputs,
): Promise<void> {
  const c = r.config, meta = r.meta;
  const record = {
    config: c,
    configHash: r.configHash,
    preset: c.preset,
    scale: c.scale,
    seed: c.seed,
    commit: r.machine.commit,
    /** Hash of the engine/operators/recursion/tasks source (a pipeline never resumes other code). */
    sourceHash: trainSourceHash(),
    backend: { name: r.backend.name, info: r.backend.info },
    threads: readSwitch("TRM_THREADS") ?? null,
    machine: r.machine,
    startedAt: new Date().toISOString(),
    resumedFromStep: resumedFrom,
    overrides: r.overrides,
    dataset: {
      dir: r.dir,
      name: meta.name,
      kind: meta.kind,
      contentHash: meta.contentHash,
      seqLen: meta.seqLen,
      vocabSize: meta.vocabSize,
      numPuzzleIdentifiers: meta.numPuzzleIdentifiers,
      splits: meta.splits,
    },
    modelConfig: r.modelConfig,
    trainableParams: r.trainableParams,
    totalSteps: r.totalSteps,
    evalEvery: r.evalEvery,
    checkpointEvery: r.checkpointEvery,
    maxMinutes: r.maxMinutes,
    memory: r.memory,
    memoryPlan: r.memoryPlan,
    memoryCheck: r.memoryCheck,
    command: ["deno", "task", "train", ...Deno.args],
  };
  await writeFileAtomic(
    resumedFrom !== null ? `${out}/config.resume-${resumedFrom}.json` : `${out}/config.json`,
    JSON.stringify(record, null, 2) + "\n",
  );
}
