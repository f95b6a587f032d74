/**
 * CSV in and out with explicit column contracts: a writer that refuses rows whose keys differ
 * from the declared columns, and a reader that checks the header against them.
 *
 * @example
 * ```ts
 * import { csvText, readCsv } from "./csv.ts";
 * const text = await csvText(["a", "b"], [{ a: 1, b: "x,y" }]); // "a,b\n1,\"x,y\"\n"
 * const rows = await readCsv("t.csv", ["a", "b"]); // [{ a: "1", b: "x,y", line: 2 }]
 * ```
 */
import { parse } from "csv-parse";
import { stringify } from "csv-stringify";

/** A CSV cell value before formatting; numbers are written with JavaScript's shortest form. */
export type Cell = string | number | boolean | null;

function cellText(v: Cell): string {
  if (v === null) return "";
  if (typeof v === "number") return Number.isNaN(v) ? "NaN" : String(v);
  return String(v);
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
  return new Promise((resolve, reject) => {
    stringify(
      rows.map((r) => columns.map((c) => cellText(r[c]))),
      { header: true, columns: [...columns] },
      (err: Error | undefined, out: string) => (err ? reject(err) : resolve(out)),
    );
  });
}

/** One parsed row: column → text, plus its 1-based line number. */
export type CsvRecord = Record<string, string> & { line: number };

/**
 * Reads a CSV file whose header must equal `columns` exactly (TypeError otherwise); malformed CSV
 * is a SyntaxError naming the file.
 */
export async function readCsv(path: string, columns: readonly string[]): Promise<CsvRecord[]> {
  const text = await Deno.readTextFile(path);
  const records = await new Promise<{ record: string[]; info: { lines: number } }[]>(
    (resolve, reject) => {
      parse(text, { info: true, skip_empty_lines: true }, (err, out) => {
        if (err) reject(new SyntaxError(`${path}: malformed CSV: ${err.message}`));
        else resolve(out as unknown as { record: string[]; info: { lines: number } }[]);
      });
    },
  );
  if (records.length === 0) throw new TypeError(`${path}: empty file: no header`);
  const header = records[0].record;
  if (header.length !== columns.length || header.some((h, i) => h !== columns[i])) {
    throw new TypeError(
      `${path}: header must be ${columns.join(",")}: got ${header.join(",")}`,
    );
  }
  return records.slice(1).map(({ record, info }) => {
    if (record.length !== columns.length) {
      throw new TypeError(
        `${path}:${info.lines}: expected ${columns.length} fields, got ${record.length}`,
      );
    }
    const row = { line: info.lines } as CsvRecord;
    columns.forEach((c, i) => (row as Record<string, string>)[c] = record[i]);
    return row;
  });
}
