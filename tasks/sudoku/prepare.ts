/**
 * `prepare sudoku`: from the official CSVs (local `--source DIR` with train.csv/test.csv, or
 * downloaded) or from our generator, then build and write.
 */
import { Rng } from "../../engine/rng.ts";
import type { DatasetMetadata, SourceRecord } from "../dataset.ts";
import { downloadCsvs, localCsvSources } from "../download.ts";
import { ContentHash, progressBar } from "../io.ts";
import { type SudokuItem, writeSudoku } from "./build.ts";
import { defaultSudokuGen, generateSudokus, ratingReport } from "./generate.ts";
import { readSudokuCsv } from "./load.ts";
import { boardToString, sudokuShape } from "./shape.ts";

/** Options of `prepareSudoku`. */
export interface PrepareSudokuOptions {
  /** Folder with train.csv and test.csv; null = generate (or download with `download`). */
  source: string | null;
  download: boolean;
  cacheDir: string;
  mirror?: string;
  size: number;
  /** Training puzzles (a seeded sample of train.csv, or generated). */
  train: number;
  /** Test puzzles: generated count; for CSV sources null = all rows, else a seeded sample. */
  test: number | null;
  /** Augmented versions per training puzzle (TRM 1000). */
  aug: number;
  seed: number;
  /** Minimum rating of generated hard puzzles (default per size). */
  hardMinRating?: number;
  checkUnique: boolean;
  out: string;
  force: boolean;
  progress: boolean;
}

/** Builds and writes a prepared Sudoku dataset. */
export async function prepareSudoku(o: PrepareSudokuOptions): Promise<DatasetMetadata> {
  const shape = sudokuShape(o.size);
  const rng = new Rng(o.seed);
  let train: SudokuItem[], test: SudokuItem[];
  const sources: SourceRecord[] = [];
  let report: Record<string, unknown>;
  let dir = o.source;
  if (dir === null && o.download) {
    if (o.size !== 9) {
      throw new RangeError(
        `sudoku: the official data is 9x9; --size ${o.size} needs the generator`,
      );
    }
    dir = await downloadCsvs("sudoku", o, sources);
  }
  if (dir !== null) {
    const trainFile = `${dir}/train.csv`, testFile = `${dir}/test.csv`;
    const tr = await readSudokuCsv(trainFile, shape, {
      checkUnique: o.checkUnique,
      sample: { count: o.train, rng: rng.fork("sudoku/sample-train") },
    });
    const te = await readSudokuCsv(testFile, shape, {
      checkUnique: o.checkUnique,
      sample: o.test === null ? undefined : { count: o.test, rng: rng.fork("sudoku/sample-test") },
    });
    train = tr.rows, test = te.rows;
    if (o.source !== null) sources.push(...await localCsvSources(dir));
    report = {
      rowsRead: { train: tr.total, test: te.total },
      ratings: { train: ratingReport(train), test: ratingReport(test) },
    };
  } else {
    const gen = (count: number, label: string, exclude?: Set<string>) => {
      const opts = defaultSudokuGen(o.size, count);
      if (o.hardMinRating !== undefined) opts.hardMinRating = o.hardMinRating;
      const bar = progressBar(`sudoku ${label}`, count, o.progress);
      const t0 = performance.now();
      const out = generateSudokus(
        shape,
        { ...opts, exclude, onPuzzle: () => bar.tick() },
        rng.fork(`sudoku/${label}`),
      );
      bar.stop();
      return { out, opts, ms: performance.now() - t0 };
    };
    const tr = gen(o.train, "train");
    const te = gen(o.test ?? o.train, "test", new Set(tr.out.map((p) => p.key)));
    const hash = new ContentHash();
    for (const p of [...tr.out, ...te.out]) {
      hash.add(p.source, boardToString(p.question) + boardToString(p.answer));
    }
    sources.push({ kind: "generated", location: "tasks/sudoku/generate.ts", sha256: hash.hex() });
    const item = (p: (typeof tr.out)[number]): SudokuItem => ({
      source: p.source,
      question: p.question,
      answer: p.answer,
      rating: p.rating,
    });
    train = tr.out.map(item), test = te.out.map(item);
    report = {
      generator: {
        mix: tr.opts.mix,
        hardMinRating: tr.opts.hardMinRating,
        easyClues: tr.opts.easyClues,
      },
      generationMs: { train: Math.round(tr.ms), test: Math.round(te.ms) },
      ratings: { train: ratingReport(tr.out), test: ratingReport(te.out) },
      trainTestInequivalent: true,
    };
  }
  const clues = (items: SudokuItem[]) =>
    items.reduce((a, p) => a + p.question.filter((v) => v).length, 0) / Math.max(1, items.length);
  report.meanGivens = { train: clues(train), test: clues(test) };
  return await writeSudoku(o.out, {
    shape,
    train,
    test,
    numAug: o.aug,
    seed: o.seed,
    sources,
    options: { ...o, progress: undefined },
    report,
    writeCsv: dir === null,
  }, { force: o.force });
}
