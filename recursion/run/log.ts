/**
 * What a run writes while it trains: CSV files with an explicit column list (rows buffered and
 * appended periodically, so a crash loses at most a few seconds of rows) and the console progress
 * (a cli-progress bar on a terminal, plain log lines otherwise).
 */
import process from "node:process";
import cliProgress from "cli-progress";
import { csvLine, parseCsv } from "../../engine/csv.ts";
import { exists } from "../../tasks/io.ts";
import type { StepMetrics } from "../trainer.ts";

type Cell = number | string;

/** A logged value: NaN empty, non-integers to 7 significant digits (engine/csv.ts quotes). */
function cell(v: Cell): string {
  if (typeof v === "string") return v;
  if (Number.isNaN(v)) return "";
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(7)));
}

/** An append-only CSV file with a fixed header; rows are flushed every `flushMs`. */
export class CsvLog {
  #pending: string[] = [];
  #last = performance.now();

  private constructor(
    readonly path: string,
    readonly columns: readonly string[],
    readonly flushMs: number,
  ) {}

  /**
   * Opens `path` for appending. A fresh run (no `keepUpToStep`) starts the file with the header;
   * a resumed run keeps the rows whose `step` column is ≤ `keepUpToStep` (rows written after the
   * checkpoint are dropped, since the resumed run writes them again).
   */
  static async open(
    path: string,
    columns: readonly string[],
    opts: { keepUpToStep?: number; flushMs?: number } = {},
  ): Promise<CsvLog> {
    const header = csvLine(columns);
    if (opts.keepUpToStep !== undefined && await exists(path)) {
      const rows = parseCsv(await Deno.readTextFile(path), columns, path);
      const kept = rows.filter((r) => Number(r.step) <= opts.keepUpToStep!);
      await Deno.writeTextFile(
        path,
        header + kept.map((r) => csvLine(columns.map((c) => r[c]))).join(""),
      );
    } else {
      await Deno.writeTextFile(path, header);
    }
    return new CsvLog(path, columns, opts.flushMs ?? 5000);
  }

  /** Adds a row (values for every column, by name). */
  add(row: Record<string, Cell>): void {
    const missing = this.columns.filter((c) => !(c in row));
    if (missing.length) throw new TypeError(`${this.path}: row lacks columns ${missing}`);
    this.#pending.push(csvLine(this.columns.map((c) => cell(row[c]))));
    if (performance.now() - this.#last >= this.flushMs) this.flush();
  }

  /** Appends the buffered rows to the file now. */
  flush(): void {
    if (this.#pending.length) {
      try {
        Deno.writeTextFileSync(this.path, this.#pending.join(""), { append: true });
      } catch (e) {
        // The system's message ("No space left on device") names no file.
        throw new Error(`cannot append to ${this.path}: ${(e as Error).message}`, { cause: e });
      }
      this.#pending = [];
    }
    this.#last = performance.now();
  }
}

/** Fields the progress display shows. */
export interface ProgressFields {
  step: number;
  loss: number;
  tokenAcc: number;
  exactAcc: number;
  actSteps: number;
  stepsPerSec: number;
  etaSec: number;
}

export interface Progress {
  update(f: ProgressFields): void;
  /** A line above the bar (or a plain line). */
  log(line: string): void;
  stop(): void;
}

function fmt(x: number, digits = 3): string {
  return Number.isFinite(x) ? x.toFixed(digits) : "-";
}

function eta(sec: number): string {
  if (!Number.isFinite(sec)) return "-";
  const s = Math.round(sec), m = Math.floor(s / 60);
  return m ? `${m}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

interface Bar {
  start(total: number, value: number, payload?: Record<string, unknown>): void;
  update(value: number, payload?: Record<string, unknown>): void;
  stop(): void;
}

/**
 * A cli-progress bar on stdout when it is a terminal, else a plain line every `every` steps.
 * The loss, token and exact accuracy are running means since the previous display.
 */
export function createProgress(
  total: number,
  every: number,
  tty: boolean,
  print: (line: string) => void = (line) => console.log(line),
): Progress {
  if (!tty) {
    return {
      update(f) {
        if (f.step % every !== 0 && f.step !== total) return;
        print(
          `step ${f.step}/${total} loss ${fmt(f.loss)} tok ${fmt(f.tokenAcc)} exact ${
            fmt(f.exactAcc)
          } act ${fmt(f.actSteps, 2)} ${fmt(f.stepsPerSec, 2)} steps/s eta ${eta(f.etaSec)}`,
        );
      },
      log: print,
      stop() {},
    };
  }
  const Ctor = cliProgress as unknown as {
    SingleBar: new (opts: Record<string, unknown>, preset: unknown) => Bar;
    Presets: Record<string, unknown>;
  };
  const bar = new Ctor.SingleBar({
    format: "[{bar}] {value}/{total} | loss {loss} | tok {tok} | exact {exact} | act {act} | " +
      "{sps} steps/s | eta {etaText}",
    stream: process.stdout,
    hideCursor: false,
    barsize: 24,
    fps: 5,
  }, Ctor.Presets.shades_classic);
  const payload = (f?: ProgressFields) => ({
    loss: fmt(f?.loss ?? NaN),
    tok: fmt(f?.tokenAcc ?? NaN),
    exact: fmt(f?.exactAcc ?? NaN),
    act: fmt(f?.actSteps ?? NaN, 2),
    sps: fmt(f?.stepsPerSec ?? NaN, 2),
    etaText: eta(f?.etaSec ?? NaN),
  });
  let started = false, value = 0;
  return {
    update(f) {
      if (!started) {
        bar.start(total, f.step, payload(f));
        started = true;
      }
      value = f.step;
      bar.update(f.step, payload(f));
    },
    log(line) {
      // Clear the bar's line, print, and let the next update redraw it.
      if (started) process.stdout.write("\r\x1b[2K");
      console.log(line);
      if (started) bar.update(value);
    },
    stop: () => started && bar.stop(),
  };
}

/** Window means of the step metrics for the progress display. */
export class Window {
  steps = 0;
  loss = 0;
  halted = 0;
  tok = 0;
  exact = 0;
  act = 0;
  t0 = performance.now();
  add(m: StepMetrics) {
    this.steps++;
    this.loss += m.lmLoss;
    if (m.halted) {
      this.halted += m.halted;
      this.tok += m.tokenAcc * m.halted;
      this.exact += m.exactAcc * m.halted;
      this.act += m.meanSteps * m.halted;
    }
  }
  fields(step: number, total: number): ProgressFields {
    const sps = this.steps / ((performance.now() - this.t0) / 1000);
    return {
      step,
      loss: this.loss / this.steps,
      tokenAcc: this.tok / this.halted,
      exactAcc: this.exact / this.halted,
      actSteps: this.act / this.halted,
      stepsPerSec: sps,
      etaSec: (total - step) / sps,
    };
  }
}
