/**
 * Loader for the Maze-Hard CSV (`source,question,answer,rating`; n² characters of `#`, space,
 * `S`, `G`, `o`), validating each row with ./maze.ts (one S, one G, the `o` cells a shortest
 * 4-connected S–G path).
 */
import { CSV_COLUMNS, readTaskCsv, requireTaskCsv } from "../csv.ts";
import { parseMaze, validateMaze } from "./maze.ts";

/** One validated maze. */
export interface MazeRow {
  readonly source: string;
  readonly question: Uint8Array;
  readonly answer: Uint8Array;
  readonly rating: number;
  readonly steps: number;
}

/** Validates one row; the side is taken from the first row when `n` is null. */
export function parseMazeRow(
  row: { source: string; question: string; answer: string; rating: string },
  n: number,
  where: string,
): MazeRow {
  const question = parseMaze(row.question, n, `${where}: question`, false);
  const answer = parseMaze(row.answer, n, `${where}: answer`, true);
  const steps = validateMaze(question, answer, n, where);
  const rating = Number(row.rating);
  if (row.rating.trim() === "" || !Number.isFinite(rating)) {
    throw new TypeError(`${where}: rating: not a number: ${JSON.stringify(row.rating)}`);
  }
  return { source: row.source, question, answer, rating, steps };
}

/** Reads and validates a maze CSV; the side is the square root of the first question's length. */
export async function readMazeCsv(path: string): Promise<{ rows: MazeRow[]; side: number }> {
  await requireTaskCsv(
    path,
    `the Maze-Hard CSV layout (header ${CSV_COLUMNS.join(",")}; n² characters of "#", " ", ` +
      `"S", "G", "o"): a --source folder holds train.csv and test.csv`,
  );
  const rows: MazeRow[] = [];
  let side = 0;
  for await (const raw of readTaskCsv(path)) {
    const where = `${path}: line ${raw.line}`;
    if (side === 0) {
      side = Math.round(Math.sqrt(raw.question.length));
      if (side * side !== raw.question.length || side < 2) {
        throw new RangeError(
          `${where}: question: length ${raw.question.length} is not a square side²`,
        );
      }
    }
    rows.push(parseMazeRow(raw, side, where));
  }
  if (rows.length === 0) throw new RangeError(`${path}: no mazes`);
  return { rows, side };
}
