/**
 * Streaming JSON Lines reading for prediction files (a full ARC evaluation dump is ~386k lines of
 * 1800 tokens, about 2 GB, so it is never read whole), with the file's SHA-256 for provenance and
 * per-line error collection: every malformed line is reported with its file and 1-based line
 * number instead of stopping at the first.
 *
 * @example
 * ```ts
 * import { readJsonl } from "./jsonl.ts";
 * const file = { sha256: "" };
 * for await (const { line, value } of readJsonl("pred.jsonl", file)) {
 *   console.log(line, value);
 * }
 * console.log(file.sha256); // set once the whole file was read
 * ```
 */
import { createHash } from "node:crypto";

/** One parsed line: its 1-based number and the JSON value. */
export interface JsonlLine {
  readonly line: number;
  readonly value: unknown;
}

/**
 * Collects errors per line and throws one error at the end: the class of the first error, with a
 * message listing the first `limit` problems as `file:line: message`.
 */
export class LineErrors {
  readonly #items: { where: string; error: Error }[] = [];
  #count = 0;
  constructor(readonly limit = 20) {}

  /** Records an error at `where` (e.g. `pred.jsonl:12`). Non-Error values are rethrown. */
  add(where: string, error: unknown): void {
    if (!(error instanceof Error)) throw error;
    this.#count++;
    if (this.#items.length < this.limit) this.#items.push({ where, error });
  }

  get count(): number {
    return this.#count;
  }

  /** Throws when any error was recorded. */
  throwIfAny(): void {
    if (this.#count === 0) return;
    const first = this.#items[0].error;
    const lines = this.#items.map(({ where, error }) => `  ${where}: ${error.message}`);
    if (this.#count > this.#items.length) {
      lines.push(`  ... and ${this.#count - this.#items.length} more`);
    }
    const Ctor = first.constructor as new (message: string) => Error;
    const msg = `${this.#count} bad line${this.#count === 1 ? "" : "s"}:\n${lines.join("\n")}`;
    let err: Error;
    try {
      err = new Ctor(msg);
    } catch {
      err = new Error(msg);
    }
    throw err;
  }
}

/**
 * Yields every non-blank line of `path` parsed as JSON. A line that is not valid JSON is recorded
 * in `errors` as a SyntaxError at `path:line` and skipped (the caller calls `throwIfAny` after
 * the loop); without `errors` it throws at once. When iteration completes, `digest.sha256` holds
 * the SHA-256 (hex) of the file's bytes. A file without a single non-blank line is a RangeError:
 * a predictions file that holds no predictions is a broken dump, never a score of nothing.
 */
export async function* readJsonl(
  path: string,
  digest: { sha256: string } = { sha256: "" },
  errors?: LineErrors,
): AsyncGenerator<JsonlLine> {
  const hash = createHash("sha256");
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const file = await Deno.open(path, { read: true }); // its stream closes it
  let rest = "";
  let lineNo = 0, nonBlank = 0;
  const parse = (text: string): JsonlLine | null => {
    lineNo++;
    if (text.endsWith("\r")) text = text.slice(0, -1);
    if (text.trim() === "") return null;
    nonBlank++;
    try {
      return { line: lineNo, value: JSON.parse(text) };
    } catch (e) {
      const err = new SyntaxError(`malformed JSON: ${(e as Error).message}`);
      if (!errors) throw new SyntaxError(`${path}:${lineNo}: ${err.message}`);
      errors.add(`${path}:${lineNo}`, err);
      return null;
    }
  };
  for await (const chunk of file.readable) {
    hash.update(chunk);
    let text: string;
    try {
      text = rest + decoder.decode(chunk, { stream: true });
    } catch (e) {
      throw new TypeError(
        `${path}: not UTF-8 text near line ${lineNo + 1}: ${(e as Error).message}`,
      );
    }
    let start = 0;
    for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n", start)) {
      const item = parse(text.slice(start, nl));
      start = nl + 1;
      if (item) yield item;
    }
    rest = text.slice(start);
  }
  rest += decoder.decode();
  if (rest !== "") {
    const item = parse(rest);
    if (item) yield item;
  }
  if (nonBlank === 0) {
    throw new RangeError(
      `${path}: no predictions: the file is ${
        lineNo === 0 ? "empty" : "blank"
      } (expected one JSON object per line)`,
    );
  }
  digest.sha256 = hash.digest("hex");
}
