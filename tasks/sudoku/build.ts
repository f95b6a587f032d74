/**
 * Builds a prepared Sudoku dataset (spec-datasets §2.2): tokens 0 PAD, 1 blank, 2..n+1 digits
 * (vocab n + 2, seq n²; 9×9: 11 and 81); labels are the full solution (every cell supervised);
 * every puzzle has identifier 0. Train: each puzzle is a group of the original plus `numAug`
 * random symmetries (no dedup, as TRM), stored as parameters; test: the puzzles as they are.
 */
import { Rng } from "../../engine/rng.ts";
import { type DatasetMetadata, FORMAT, type SourceRecord } from "../dataset.ts";
import { gridContentHash, gridFiles, type TokenTransform } from "../grid_store.ts";
import { taskCsvText } from "../csv.ts";
import { AtomicDir } from "../io.ts";
import {
  applySudokuAug,
  identitySudokuAug,
  packSudokuAug,
  randomSudokuAug,
  sudokuAugBytes,
  unpackSudokuAug,
} from "./augment.ts";
import { boardToString, type SudokuShape } from "./shape.ts";

export const SUDOKU_BUILDER = "tasks/sudoku@1";

/** A puzzle to store (question 0 = blank). */
export interface SudokuItem {
  readonly source: string;
  readonly question: Uint8Array;
  readonly answer: Uint8Array;
  readonly rating: number;
}

/** Writes values 0..n as tokens v + 1. */
function toTokens(values: Uint8Array, out: Uint8Array, at: number): void {
  for (let k = 0; k < values.length; k++) out[at + k] = values[k] + 1;
}

/** The on-the-fly transform of tokens under packed symmetry parameters. */
export function sudokuTransform(shape: SudokuShape): TokenTransform {
  const values = new Uint8Array(shape.cells);
  return (params, src, dst, base) => {
    const aug = unpackSudokuAug(params, shape.n, 0);
    for (let k = 0; k < shape.cells; k++) values[k] = src[k] - 1;
    const out = applySudokuAug(values, shape, aug);
    for (let k = 0; k < shape.cells; k++) dst[base + k] = out[k] + 1;
  };
}

/** What to write. */
export interface SudokuBuildInput {
  shape: SudokuShape;
  train: readonly SudokuItem[];
  test: readonly SudokuItem[];
  numAug: number;
  seed: number;
  sources: SourceRecord[];
  options: Record<string, unknown>;
  report: Record<string, unknown>;
  /** Also write `train.csv` / `test.csv` (for generated data). */
  writeCsv: boolean;
}

/** Builds and writes atomically; returns the metadata. */
export async function writeSudoku(
  out: string,
  input: SudokuBuildInput,
  opts: { force?: boolean; name?: string } = {},
): Promise<DatasetMetadata> {
  const { shape, train, test, numAug } = input;
  const L = shape.cells;
  const versions = numAug + 1;
  const augBytes = sudokuAugBytes(shape.n);
  const rng = new Rng(input.seed).fork("sudoku/augment");
  const enc = (items: readonly SudokuItem[]) => {
    const inputs = new Uint8Array(items.length * L), labels = new Uint8Array(items.length * L);
    items.forEach((
      it,
      k,
    ) => (toTokens(it.question, inputs, k * L), toTokens(it.answer, labels, k * L)));
    return { inputs, labels };
  };
  const tr = enc(train), te = enc(test);
  const trainVersions = new Uint8Array(train.length * versions * augBytes);
  const identity = identitySudokuAug(shape);
  for (let g = 0; g < train.length; g++) {
    for (let v = 0; v < versions; v++) {
      const aug = v === 0 ? identity : randomSudokuAug(shape, rng);
      packSudokuAug(aug, shape.n, trainVersions, (g * versions + v) * augBytes);
    }
  }
  const data = {
    seqLen: L,
    trainInputs: tr.inputs,
    trainLabels: tr.labels,
    testInputs: te.inputs,
    testLabels: te.labels,
    versions,
    augBytes,
    trainVersions,
  };
  const metadata: DatasetMetadata = {
    format: FORMAT,
    kind: "sudoku",
    name: opts.name ?? out.replace(/\/+$/, "").replace(/.*\//, ""),
    builder: SUDOKU_BUILDER,
    seed: input.seed,
    seqLen: L,
    vocabSize: shape.n + 2,
    padId: 0,
    ignoreLabelToken: 0,
    blankIdentifierId: 0,
    numPuzzleIdentifiers: 1,
    splits: {
      train: {
        groups: train.length,
        puzzles: train.length * versions,
        examples: train.length * versions,
        meanPuzzleExamples: 1,
      },
      test: {
        groups: test.length,
        puzzles: test.length,
        examples: test.length,
        meanPuzzleExamples: 1,
      },
    },
    sources: input.sources,
    options: input.options,
    report: { ...input.report, layout: { side: shape.n, versions, augBytes } },
    contentHash: gridContentHash(data),
  };
  const dir = await AtomicDir.open(out, { force: opts.force });
  try {
    for (const [name, bytes] of gridFiles(data)) await dir.write(name, bytes);
    if (input.writeCsv) {
      const rows = (items: readonly SudokuItem[]) =>
        items.map((it) => ({
          source: it.source,
          question: boardToString(it.question),
          answer: boardToString(it.answer),
          rating: it.rating,
        }));
      await dir.write("train.csv", await taskCsvText(rows(train)));
      await dir.write("test.csv", await taskCsvText(rows(test)));
    }
    await dir.writeJson("metadata.json", metadata, true);
    await dir.commit();
  } catch (e) {
    await dir.abort();
    throw e;
  }
  return metadata;
}
