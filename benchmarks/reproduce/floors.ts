/**
 * Floors of the checked metrics: what a model that learned nothing about the task scores on the
 * held-out split. A regression check whose failure threshold (baseline mean − tolerance) lies at
 * or below its metric's floor cannot fail — a broken model would pass it — so baseline.ts marks
 * such a metric "report only" instead of pretending to guard it.
 *
 * The floor of exact and cell accuracy is the better of two trivial predictors, measured on the
 * very test split the runs are scored on:
 * - copy: predict the input token in every position (Maze: the maze itself; ARC on a canvas: the
 *   input grid; Sudoku: the givens);
 * - majority: predict, everywhere, the label token most frequent over the split's supervised
 *   cells.
 * Cell accuracy follows each task's definition in the summary: Sudoku and Maze average the
 * per-example percent of supervised cells right (TRM's accuracy), ARC counts right supervised
 * cells over all supervised cells of the augmented test examples.
 */
import { evalBatches, IGNORE_LABEL, type SplitStore } from "../../tasks/dataset.ts";
import type { TaskName } from "../../recursion/run/config.ts";

/** The floor of one metric, with the predictor that reaches it. */
export interface Floor {
  value: number;
  source: string;
}

export type FloorTable = Record<"exact_accuracy" | "cell_accuracy", Floor>;

/** Trivial predictors' exact and cell accuracy (percent) on `split`. */
export function trivialFloors(split: SplitStore, task: TaskName): FloorTable {
  // Pass 1: the majority label token over supervised cells.
  const counts = new Map<number, number>();
  for (const b of evalBatches(split, 256)) {
    for (let i = 0; i < b.valid * b.seqLen; i++) {
      const y = b.labels[i];
      if (y !== IGNORE_LABEL) counts.set(y, (counts.get(y) ?? 0) + 1);
    }
  }
  let major = -1, most = -1;
  for (const [tok, c] of [...counts].sort((a, b) => a[0] - b[0])) {
    if (c > most) [major, most] = [tok, c];
  }
  // Pass 2: both predictors' per-example right cells.
  const acc = {
    copy: { exact: 0, cellMacro: 0, right: 0 },
    majority: { exact: 0, cellMacro: 0, right: 0 },
  };
  let examples = 0, supervised = 0;
  for (const b of evalBatches(split, 256)) {
    for (let r = 0; r < b.valid; r++) {
      let cells = 0, copy = 0, maj = 0;
      for (let t = 0; t < b.seqLen; t++) {
        const i = r * b.seqLen + t, y = b.labels[i];
        if (y === IGNORE_LABEL) continue;
        cells++;
        if (b.inputs[i] === y) copy++;
        if (major === y) maj++;
      }
      if (cells === 0) continue; // as the scorers: examples without supervised cells skipped
      examples++;
      supervised += cells;
      for (const [a, right] of [[acc.copy, copy], [acc.majority, maj]] as const) {
        if (right === cells) a.exact++;
        a.cellMacro += right / cells;
        a.right += right;
      }
    }
  }
  if (examples === 0) throw new RangeError("trivialFloors: the split has no supervised cells");
  const cell = (a: typeof acc.copy) =>
    100 * (task === "arc" ? a.right / supervised : a.cellMacro / examples);
  const best = (f: (a: typeof acc.copy) => number, what: string): Floor => {
    const c = f(acc.copy), m = f(acc.majority);
    return c >= m
      ? { value: c, source: `${what}: copy the input (majority token ${m.toFixed(2)})` }
      : { value: m, source: `${what}: majority token ${major} (copy the input ${c.toFixed(2)})` };
  };
  return {
    exact_accuracy: best((a) => (100 * a.exact) / examples, `${examples} test examples`),
    cell_accuracy: best(cell, `${supervised} supervised cells of ${examples} test examples`),
  };
}
