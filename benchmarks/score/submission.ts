/**
 * The ARC Prize `submission.json` (as TRM's `evaluators/arc.py` writes it): task id → one
 * `{attempt_1, attempt_2}` per test input, in the task's test order. Attempts are the top-2 voted
 * candidates; with a single candidate, attempt_2 repeats attempt_1 (as TRM). Differences from TRM,
 * on purpose:
 *
 * - a test input without any prediction still gets its entry, with the placeholder grid `[[0]]`
 *   as both attempts (TRM skips it, which shifts later test inputs of the task to wrong slots);
 * - every task of the scored set appears, in the set's order.
 *
 * An empty (0×0) candidate is written as `[]`, which is what TRM writes for it.
 *
 * @example
 * ```ts
 * import { buildSubmission } from "./submission.ts";
 * const sub = buildSubmission(score); // score from ArcVoter.result()
 * await Deno.writeTextFile("submission.json", JSON.stringify(sub));
 * ```
 */
import { gridToRows } from "../../tasks/grid.ts";
import type { Grid } from "../../tasks/grid.ts";
import type { ArcScore } from "./arc.ts";

/** Both attempts for one test input. */
export interface SubmissionEntry {
  attempt_1: number[][];
  attempt_2: number[][];
}

/** Task id → entries per test input. */
export type Submission = Record<string, SubmissionEntry[]>;

/** The grid written for a test input that received no prediction. */
export const MISSING_PREDICTION_GRID: readonly (readonly number[])[] = [[0]];

function rows(g: Grid): number[][] {
  return g.h === 0 || g.w === 0 ? [] : gridToRows(g);
}

/** Builds the submission object from a score. */
export function buildSubmission(score: ArcScore): Submission {
  const out: Submission = {};
  for (const t of score.tasks) out[t.taskId] = [];
  for (const r of score.testInputs) {
    const list = out[r.taskId];
    if (list.length !== r.testIndex) {
      throw new RangeError(
        `buildSubmission: task ${r.taskId}: test input ${r.testIndex} out of order (have ${list.length})`,
      );
    }
    const [a, b] = r.candidates;
    if (!a) {
      list.push({
        attempt_1: MISSING_PREDICTION_GRID.map((row) => [...row]),
        attempt_2: MISSING_PREDICTION_GRID.map((row) => [...row]),
      });
    } else {
      list.push({ attempt_1: rows(a.grid), attempt_2: rows((b ?? a).grid) });
    }
  }
  return out;
}
