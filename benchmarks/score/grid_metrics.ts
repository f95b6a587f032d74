/**
 * Sudoku / Maze metrics as TRM's loss head logs them (`models/losses.py`):
 *
 * - exact accuracy: fraction of examples whose every non-ignored label cell is predicted right;
 * - cell accuracy: per example, the fraction of non-ignored cells right, then the mean over
 *   examples (TRM's `accuracy`); the pooled fraction over all cells is given too;
 * - mean ACT steps over examples.
 *
 * Examples with no supervised cell (every label ignored) are skipped and counted, as TRM excludes
 * them from `count`. Label `IGNORE_LABEL` (−100) marks an ignored cell.
 *
 * @example
 * ```ts
 * import { gridMetrics } from "./grid_metrics.ts";
 * gridMetrics([{ prediction: [1, 2], label: [1, -100], steps: 16 }]).exactAccuracy; // 1
 * ```
 */
import { IGNORE_LABEL } from "../../tasks/dataset.ts";

/** One example: predicted tokens, label tokens (−100 = ignored), ACT steps used. */
export interface GridExample {
  readonly prediction: ArrayLike<number>;
  readonly label: ArrayLike<number>;
  readonly steps: number;
}

/** Result of `gridMetrics`. */
export interface GridMetrics {
  /** Examples counted (with at least one supervised cell). */
  readonly n: number;
  /** Examples skipped because every label cell is ignored. */
  readonly nSkipped: number;
  readonly exactAccuracy: number;
  /** Mean over examples of the per-example fraction of supervised cells right (TRM). */
  readonly cellAccuracy: number;
  /** Right supervised cells / all supervised cells. */
  readonly cellAccuracyPooled: number;
  readonly meanSteps: number;
  readonly supervisedCells: number;
}

/** Accumulates examples; `gridMetrics` wraps it for arrays. */
export class GridMetricsAccumulator {
  #n = 0;
  #skipped = 0;
  #exact = 0;
  #cellSum = 0;
  #right = 0;
  #cells = 0;
  #steps = 0;

  /** Adds one example; a length mismatch is a TypeError, non-integer steps a RangeError. */
  add(e: GridExample): void {
    if (e.prediction.length !== e.label.length) {
      throw new TypeError(
        `prediction has ${e.prediction.length} cells, label has ${e.label.length}`,
      );
    }
    if (!Number.isInteger(e.steps) || e.steps < 0) {
      throw new RangeError(`steps must be a non-negative integer: ${e.steps}`);
    }
    let supervised = 0, right = 0;
    for (let k = 0; k < e.label.length; k++) {
      const y = e.label[k];
      if (y === IGNORE_LABEL) continue;
      supervised++;
      if (e.prediction[k] === y) right++;
    }
    if (supervised === 0) {
      this.#skipped++;
      return;
    }
    this.#n++;
    if (right === supervised) this.#exact++;
    this.#cellSum += right / supervised;
    this.#right += right;
    this.#cells += supervised;
    this.#steps += e.steps;
  }

  /** The metrics so far (NaN fractions when nothing was counted). */
  result(): GridMetrics {
    const n = this.#n;
    return {
      n,
      nSkipped: this.#skipped,
      exactAccuracy: n ? this.#exact / n : NaN,
      cellAccuracy: n ? this.#cellSum / n : NaN,
      cellAccuracyPooled: this.#cells ? this.#right / this.#cells : NaN,
      meanSteps: n ? this.#steps / n : NaN,
      supervisedCells: this.#cells,
    };
  }
}

/** Metrics over an array of examples. */
export function gridMetrics(examples: Iterable<GridExample>): GridMetrics {
  const acc = new GridMetricsAccumulator();
  for (const e of examples) acc.add(e);
  return acc.result();
}

/**
 * Validates one line of a Sudoku/Maze PRED.jsonl: `{"prediction": [ints], "label": [ints],
 * "steps": int}`; other keys are ignored.
 */
export function parseGridExample(value: unknown): GridExample {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(
      `must be a JSON object, got ${Array.isArray(value) ? "a list" : typeof value}`,
    );
  }
  const v = value as Record<string, unknown>;
  const ints = (field: string): number[] => {
    const a = v[field];
    if (!Array.isArray(a) || a.length === 0) {
      throw new TypeError(`field "${field}": must be a non-empty list of integers`);
    }
    const bad = a.findIndex((x) => typeof x !== "number" || !Number.isInteger(x));
    if (bad >= 0) {
      throw new TypeError(
        `field "${field}": element ${bad} is not an integer: ${JSON.stringify(a[bad])}`,
      );
    }
    return a;
  };
  const steps = v.steps;
  if (typeof steps !== "number" || !Number.isInteger(steps) || steps < 0) {
    throw new TypeError(`field "steps": must be a non-negative integer: ${JSON.stringify(steps)}`);
  }
  return { prediction: ints("prediction"), label: ints("label"), steps };
}
