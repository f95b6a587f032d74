/**
 * Loader for the Sudoku-Extreme CSV (`source,question,answer,rating`; 81 characters, `.` blank),
 * validating every row: lengths, characters, the answer is a valid solution that agrees with the
 * givens, the rating is a number; optionally that the puzzle's solution is unique.
 */
import type { RandomSource } from "../dataset.ts";
import { CSV_COLUMNS, readTaskCsv, requireTaskCsv } from "../csv.ts";
import { agreesWithGivens, isValidSolution, parseBoard, type SudokuShape } from "./shape.ts";
import { solveSudoku } from "./solver.ts";

/** One validated puzzle. */
export interface SudokuRow {
  readonly source: string;
  readonly question: Uint8Array;
  readonly answer: Uint8Array;
  readonly rating: number;
}

/** Options of `readSudokuCsv`. */
export interface SudokuReadOptions {
  /** Also check that each puzzle has exactly one solution (slow on millions of rows). */
  checkUnique?: boolean;
  /** Keep a seeded uniform sample of this many rows (reservoir sampling); all rows are validated. */
  sample?: { count: number; rng: RandomSource };
}

/** Validates one CSV row; `where` is `file: line N`. */
export function parseSudokuRow(
  row: { source: string; question: string; answer: string; rating: string },
  shape: SudokuShape,
  where: string,
  checkUnique = false,
): SudokuRow {
  const question = parseBoard(row.question, shape, `${where}: question`, true);
  const answer = parseBoard(row.answer, shape, `${where}: answer`, false);
  if (!isValidSolution(answer, shape)) {
    throw new RangeError(`${where}: answer: not a valid solution (a digit repeats in a unit)`);
  }
  if (!agreesWithGivens(question, answer)) {
    throw new RangeError(`${where}: answer: inconsistent with the question's givens`);
  }
  const rating = Number(row.rating);
  if (row.rating.trim() === "" || !Number.isFinite(rating)) {
    throw new TypeError(`${where}: rating: not a number: ${JSON.stringify(row.rating)}`);
  }
  if (checkUnique) {
    const r = solveSudoku(shape, question, { limit: 2 });
    if (r.solutions !== 1) {
      throw new RangeError(
        `${where}: question: has ${r.solutions === 0 ? "no" : "several"} solutions`,
      );
    }
  }
  return { source: row.source, question, answer, rating };
}

/** Reads and validates a Sudoku CSV; returns the rows kept and the number of rows read. */
export async function readSudokuCsv(
  path: string,
  shape: SudokuShape,
  opts: SudokuReadOptions = {},
): Promise<{ rows: SudokuRow[]; total: number }> {
  await requireTaskCsv(
    path,
    `the Sudoku-Extreme CSV layout (header ${CSV_COLUMNS.join(",")}; ${shape.cells}-` +
      `character boards, "." for a blank): a --source folder holds train.csv and test.csv`,
  );
  const rows: SudokuRow[] = [];
  let total = 0;
  for await (const raw of readTaskCsv(path)) {
    const row = parseSudokuRow(raw, shape, `${path}: line ${raw.line}`, opts.checkUnique);
    total++;
    if (!opts.sample) rows.push(row);
    else if (rows.length < opts.sample.count) rows.push(row);
    else {
      const j = opts.sample.rng.int(total);
      if (j < opts.sample.count) rows[j] = row;
    }
  }
  if (total === 0) throw new RangeError(`${path}: no puzzles`);
  return { rows, total };
}
