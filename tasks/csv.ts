/**
 * The CSV layout of the Sudoku-Extreme and Maze-Hard files: header `source,question,answer,rating`,
 * one puzzle per row. Reading streams (the official Sudoku train file is ~700 MB).
 */
import { createReadStream } from "node:fs";
import { parse } from "csv-parse";
import { stringify } from "csv-stringify";

export const CSV_COLUMNS = ["source", "question", "answer", "rating"] as const;

/** One raw row, with its 1-based line number in the file. */
export interface CsvRow {
  source: string;
  question: string;
  answer: string;
  rating: string;
  line: number;
}

/**
 * Fails with one line naming `path` and what it should be (`expected`) unless it is a file: a
 * missing train.csv/test.csv of a `--source` folder is a usage mistake, not a stack trace.
 */
export async function requireTaskCsv(path: string, expected: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    throw new Deno.errors.NotFound(`${path}: no such file; expected ${expected}`);
  }
  if (!info.isFile) throw new TypeError(`${path}: not a file; expected ${expected}`);
}

/**
 * Streams the rows of a task CSV, checking the header and that every row has 4 fields. A row of
 * the wrong width or malformed CSV throws naming the file and line.
 */
export async function* readTaskCsv(path: string): AsyncGenerator<CsvRow> {
  const parser = createReadStream(path).pipe(
    parse({ relax_column_count: true, skip_empty_lines: true, info: true }),
  );
  let header = true;
  try {
    for await (
      const item of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>
    ) {
      const { record, info } = item;
      if (header) {
        header = false;
        if (record.length !== 4 || record.some((c, k) => c.trim() !== CSV_COLUMNS[k])) {
          throw new TypeError(
            `${path}: line ${info.lines}: header must be ${CSV_COLUMNS.join(",")}: got ${
              record.join(",")
            }`,
          );
        }
        continue;
      }
      if (record.length !== 4) {
        throw new TypeError(
          `${path}: line ${info.lines}: expected 4 fields (${
            CSV_COLUMNS.join(",")
          }), got ${record.length}`,
        );
      }
      yield {
        source: record[0],
        question: record[1],
        answer: record[2],
        rating: record[3],
        line: info.lines,
      };
    }
  } catch (e) {
    if (e instanceof Error && (e as { code?: string }).code?.startsWith("CSV_")) {
      throw new SyntaxError(`${path}: malformed CSV: ${e.message}`);
    }
    throw e;
  }
  if (header) throw new TypeError(`${path}: empty file: no header ${CSV_COLUMNS.join(",")}`);
}

/** CSV text for rows in the task layout (with header). */
export function taskCsvText(
  rows: readonly { source: string; question: string; answer: string; rating: number | string }[],
): Promise<string> {
  return new Promise((resolve, reject) => {
    stringify(
      rows.map((r) => [r.source, r.question, r.answer, String(r.rating)]),
      { header: true, columns: [...CSV_COLUMNS] },
      (err: Error | undefined, out: string) => (err ? reject(err) : resolve(out)),
    );
  });
}
