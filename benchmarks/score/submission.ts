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
 * - an empty (0×0) candidate is written as the placeholder grid too (TRM writes `[]`, which the
 *   competition format refuses: a grid has 1–30 rows of 1–30 cells).
 *
 * `validateSubmission` checks a submission against the competition format and the task set: every
 * task and every test input present, two attempts each, grids of 1–30 equal rows of digits 0–9.
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
import type { ArcTask } from "../../tasks/arc/load.ts";

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
  return g.h === 0 || g.w === 0 ? MISSING_PREDICTION_GRID.map((row) => [...row]) : gridToRows(g);
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

/** Largest grid side the ARC format allows. */
export const MAX_GRID_SIDE = 30;

/** Why `g` is not an ARC grid (1–30 rows of 1–30 cells, all rows equal, digits 0–9), or null. */
function gridProblem(g: unknown): string | null {
  if (!Array.isArray(g) || g.length === 0) return "not a non-empty list of rows";
  if (g.length > MAX_GRID_SIDE) return `${g.length} rows (at most ${MAX_GRID_SIDE})`;
  const w = Array.isArray(g[0]) ? g[0].length : -1;
  if (w < 1 || w > MAX_GRID_SIDE) return `a row of ${w < 0 ? "no list" : w} cells (1–30)`;
  for (const [i, row] of g.entries()) {
    if (!Array.isArray(row) || row.length !== w) return `row ${i} is not ${w} cells like row 0`;
    if (row.some((c) => !Number.isInteger(c) || c < 0 || c > 9)) {
      return `row ${i} holds a value that is not a digit 0–9`;
    }
  }
  return null;
}

/**
 * Problems of `sub` as an ARC Prize submission for `tasks` (empty: valid): a JSON object with every
 * task id, a list with one entry per test input of the task, each entry exactly
 * `{attempt_1, attempt_2}` with valid grids; no task that is not in the set.
 */
export function validateSubmission(sub: unknown, tasks: readonly ArcTask[]): string[] {
  const problems: string[] = [];
  if (sub === null || typeof sub !== "object" || Array.isArray(sub)) {
    return ["the submission is not a JSON object of task id → entries"];
  }
  const o = sub as Record<string, unknown>;
  const ids = new Set(tasks.map((t) => t.id));
  for (const k of Object.keys(o)) if (!ids.has(k)) problems.push(`${k}: not a task of the set`);
  for (const t of tasks) {
    const entries = o[t.id];
    if (entries === undefined) {
      problems.push(`${t.id}: missing`);
      continue;
    }
    if (!Array.isArray(entries) || entries.length !== t.test.length) {
      problems.push(
        `${t.id}: ${t.test.length} entries expected (one per test input), got ${
          Array.isArray(entries) ? entries.length : typeof entries
        }`,
      );
      continue;
    }
    entries.forEach((e, i) => {
      const keys = e && typeof e === "object" ? Object.keys(e).sort() : [];
      if (keys.join(",") !== "attempt_1,attempt_2") {
        problems.push(`${t.id}[${i}]: needs exactly attempt_1 and attempt_2, got {${keys}}`);
        return;
      }
      for (const a of ["attempt_1", "attempt_2"] as const) {
        const why = gridProblem((e as Record<string, unknown>)[a]);
        if (why) problems.push(`${t.id}[${i}].${a}: ${why}`);
      }
    });
  }
  return problems;
}
