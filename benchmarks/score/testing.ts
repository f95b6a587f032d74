/** Helpers for the scoring tests: tasks from literal grids, encoded prediction rows, temp files. */
import { ARC_CANVAS, encodeGrid } from "../../tasks/arc/encode.ts";
import type { ArcTask } from "../../tasks/arc/load.ts";
import { type Grid, makeGrid } from "../../tasks/grid.ts";
import type { ArcPrediction } from "./arc.ts";

/** A grid from rows. */
export function g(rows: number[][]): Grid {
  return makeGrid(rows.length, rows[0].length, rows.flat());
}

/** A task with the given test pairs (and one dummy demonstration). */
export function task(id: string, tests: { input: number[][]; output: number[][] }[]): ArcTask {
  return {
    id,
    subset: "evaluation",
    train: [{ input: g([[0]]), output: g([[0]]) }],
    test: tests.map((t) => ({ input: g(t.input), output: g(t.output) })),
  };
}

/** The tokens of a grid at (0, 0) on an N×N canvas (900 for N = 30); 0×0 gives all PAD. */
export function tokens(grid: Grid, canvas = ARC_CANVAS): number[] {
  const out = new Int32Array(canvas * canvas);
  if (grid.h > 0) encodeGrid(grid, 0, 0, out, 0, false, canvas);
  return Array.from(out);
}

/** One prediction row (on an N×N canvas, default 30). */
export function row(
  puzzle: string,
  input: Grid,
  prediction: Grid,
  q: number,
  canvas = ARC_CANVAS,
): ArcPrediction {
  return {
    puzzle,
    input: tokens(input, canvas),
    prediction: tokens(prediction, canvas),
    qHaltLogit: q,
  };
}

/** The JSONL line of a prediction row. */
export function jsonLine(p: ArcPrediction): string {
  return JSON.stringify({
    puzzle: p.puzzle,
    input: Array.from(p.input),
    prediction: Array.from(p.prediction),
    q_halt_logit: p.qHaltLogit,
  });
}

/** Writes tasks as a flat folder of task JSONs under a new temp dir; returns the folder. */
export async function writeTasks(tasks: readonly ArcTask[]): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "score-tasks-" });
  const rows = (x: Grid) =>
    Array.from({ length: x.h }, (_, i) => Array.from(x.cells.subarray(i * x.w, (i + 1) * x.w)));
  for (const t of tasks) {
    const pairs = (ps: ArcTask["train"]) =>
      ps.map((p) => ({ input: rows(p.input), output: rows(p.output) }));
    await Deno.writeTextFile(
      `${dir}/${t.id}.json`,
      JSON.stringify({ train: pairs(t.train), test: pairs(t.test) }),
    );
  }
  return dir;
}
