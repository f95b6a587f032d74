/**
 * The project's one CSV writer and reader (npm csv-stringify / csv-parse), with explicit column
 * contracts: a writer that refuses rows whose keys differ from the declared columns, a line writer
 * for append-only logs, and readers that check the header against the columns.
 *
 * @example
 * ```ts
 * import { csvLine, csvText, parseCsv, readCsv } from "./csv.ts";
 * const text = await csvText(["a", "b"], [{ a: 1, b: "x,y" }]); // "a,b\n1,\"x,y\"\n"
 * csvLine([1, "x,y"]); // "1,\"x,y\"\n"
 * parseCsv(text, ["a", "b"], "t.csv"); // [{ a: "1", b: "x,y", line: 2 }]
 * const rows = await readCsv("t.csv", ["a", "b"]); // the same, from a file
 * ```
 */
import { parse } from "csv-parse/sync";
import { stringify } from "csv-stringify/sync";

/** A CSV cell value before formatting; numbers are written with JavaScript's shortest form. */
export type Cell = string | number | boolean | null;

function cellText(v: Cell): string {
  if (v === null) return "";
  if (typeof v === "number") return Number.isNaN(v) ? "NaN" : String(v);
  // Objects (provenance records passed through as unknown) as JSON, never "[object Object]".
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/** One CSV record (quoted where needed) ending in "\n": for logs appended a line at a time. */
export function csvLine(cells: readonly Cell[]): string {
  return stringify([cells.map(cellText)]);
}

/**
 * CSV text (with header) for `rows`, whose keys must be exactly `columns` (a TypeError names the
 * first row that differs).
 */
export function csvText(
  columns: readonly string[],
  rows: readonly Record<string, Cell>[],
): Promise<string> {
  const want = new Set(columns);
  rows.forEach((r, i) => {
    const keys = Object.keys(r);
    const missing = columns.filter((c) => !(c in r));
    const extra = keys.filter((k) => !want.has(k));
    if (missing.length || extra.length) {
      throw new TypeError(
        `csvText: row ${i} does not match the columns: missing [${missing.join(", ")}], ` +
          `extra [${extra.join(", ")}]`,
      );
    }
  });
  return Promise.resolve(
    stringify(rows.map((r) => columns.map((c) => cellText(r[c]))), {
      header: true,
      columns: [...columns],
    }),
  );
}

/** One parsed row: column → text, plus its 1-based line number. */
export type CsvRecord = Record<string, string> & { line: number };

/**
 * Parses CSV text whose header must equal `columns` exactly (TypeError otherwise; `where` names
 * the source in messages); malformed CSV is a SyntaxError, a row of the wrong width a TypeError
 * naming the line.
 */
export function parseCsv(text: string, columns: readonly string[], where: string): CsvRecord[] {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, { info: true, skip_empty_lines: true }) as unknown as typeof records;
  } catch (e) {
    throw new SyntaxError(`${where}: malformed CSV: ${(e as Error).message}`);
  }
  if (records.length === 0) throw new TypeError(`${where}: empty file: no header`);
  const header = records[0].record;
  if (header.length !== columns.length || header.some((h, i) => h !== columns[i])) {
    throw new TypeError(`${where}: header must be ${columns.join(",")}: got ${header.join(",")}`);
  }
  return records.slice(1).map(({ record, info }) => {
    if (record.length !== columns.length) {
      throw new TypeError(
        `${where}:${info.lines}: expected ${columns.length} fields, got ${record.length}`,
      );
    }
    const row = { line: info.lines } as CsvRecord;
    columns.forEach((c, i) => (row as Record<string, string>)[c] = record[i]);
    return row;
  });
}

/** `parseCsv` of a file (the path names it in every message). */
export async function readCsv(path: string, columns: readonly string[]): Promise<CsvRecord[]> {
  return parseCsv(await Deno.readTextFile(path), columns, path);
}

/** The header of CSV text (its first record), or null for an empty text. */
export function csvHeader(text: string): string[] | null {
  const first = parse(text, { to_line: 1, skip_empty_lines: true }) as string[][];
  return first.length ? first[0] : null;
}
