/**
 * Prediction rows of an evaluation, one JSON object per example (benchmarks/score/README.md):
 * ARC rows carry the augmented puzzle name, the input tokens, the prediction and the last ACT
 * step's q_halt logit (what the TRM voter needs); Sudoku/Maze rows the prediction, the label
 * (−100 = ignored) and the ACT steps run.
 *
 * The reproduce pipeline writes them for the final checkpoint (`pred.jsonl`) and, for ARC, at every
 * evaluation during training (`train/predictions/step-<N>.jsonl`): TRM's evaluator pools the votes
 * of all evaluations of a run (`aggregated_voting`, on by default in its `evaluators/arc.py`), so
 * the pooled score needs them all.
 */
import type { Batch, TaskDataset } from "../tasks/dataset.ts";
import { writeFileAtomic } from "../tasks/io.ts";
import type { EvalBatchResult } from "./trainer.ts";

/** The JSON lines of the `batch.valid` examples of one evaluated batch. */
export function predictionRows(
  task: string,
  ds: TaskDataset,
  batch: Batch,
  out: EvalBatchResult,
): string[] {
  const len = ds.test.seqLen;
  const rows: string[] = [];
  for (let i = 0; i < batch.valid; i++) {
    const prediction = Array.from(out.preds.subarray(i * len, (i + 1) * len));
    if (task === "arc") {
      rows.push(JSON.stringify({
        puzzle: ds.puzzleInfo("test", batch.puzzleIndex[i]).name,
        input: Array.from(batch.inputs.subarray(i * len, (i + 1) * len)),
        prediction,
        q_halt_logit: out.qHalt[i],
      }));
    } else {
      rows.push(JSON.stringify({
        prediction,
        label: Array.from(batch.labels.subarray(i * len, (i + 1) * len)),
        steps: out.steps,
      }));
    }
  }
  return rows;
}

/** Writes JSON lines to `path` atomically (tasks/io.ts `writeFileAtomic`). */
export function writeLines(path: string, lines: string[]): Promise<void> {
  return writeFileAtomic(path, lines.join("\n") + (lines.length ? "\n" : ""));
}

/** Folder of the per-evaluation prediction files of a training folder. */
export const predictionsDir = (trainOut: string) => `${trainOut}/predictions`;

/** Path of the predictions of the evaluation at `step`. */
export const stepPredictionsPath = (trainOut: string, step: number) =>
  `${predictionsDir(trainOut)}/step-${String(step).padStart(8, "0")}.jsonl`;

/**
 * The per-evaluation prediction files of a training folder up to step `upTo`, in step order
 * (files of later steps — from a longer run that was cut back — are left out).
 */
export async function stepPredictionFiles(
  trainOut: string,
  upTo: number,
): Promise<{ step: number; path: string }[]> {
  const found: { step: number; path: string }[] = [];
  try {
    for await (const e of Deno.readDir(predictionsDir(trainOut))) {
      const m = /^step-(\d+)\.jsonl$/.exec(e.name);
      if (e.isFile && m && Number(m[1]) <= upTo) {
        found.push({ step: Number(m[1]), path: `${predictionsDir(trainOut)}/${e.name}` });
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return found.sort((a, b) => a.step - b.step);
}
