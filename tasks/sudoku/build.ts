/**
 * Builds a prepared Sudoku dataset (as TRM's `dataset/build_sudoku_dataset.py`): tokens 0 PAD,
 * 1 blank, 2..n+1 digits (vocab n + 2, seq n²; 9×9: 11 and 81); labels are the full solution
 * (every cell supervised); every puzzle has identifier 0. Train: each puzzle is a group of the
 * original plus `numAug` random symmetries (no dedup, as TRM), stored as parameters; test: the
 * puzzles as they are.
 */
import { Rng } from "../../engine/rng.ts";
import type { DatasetMetadata, SourceRecord } from "../dataset.ts";
import { type GridItem, type TokenTransform, writeGridDataset } from "../grid_store.ts";
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
export type SudokuItem = GridItem;

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
  const { shape, train, numAug } = input;
  const versions = numAug + 1;
  const augBytes = sudokuAugBytes(shape.n);
  const rng = new Rng(input.seed).fork("sudoku/augment");
  const trainVersions = new Uint8Array(train.length * versions * augBytes);
  const identity = identitySudokuAug(shape);
  for (let g = 0; g < train.length; g++) {
    for (let v = 0; v < versions; v++) {
      const aug = v === 0 ? identity : randomSudokuAug(shape, rng);
      packSudokuAug(aug, shape.n, trainVersions, (g * versions + v) * augBytes);
    }
  }
  return await writeGridDataset(out, {
    kind: "sudoku",
    builder: SUDOKU_BUILDER,
    seed: input.seed,
    side: shape.n,
    seqLen: shape.cells,
    vocabSize: shape.n + 2,
    train,
    test: input.test,
    toTokens,
    versions,
    augBytes,
    trainVersions,
    sources: input.sources,
    options: input.options,
    report: input.report,
    csvGrid: input.writeCsv ? boardToString : undefined,
  }, opts);
}
