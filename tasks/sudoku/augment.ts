/**
 * Sudoku symmetries (those of TRM's `dataset/build_sudoku_dataset.py`): digit relabelling,
 * transpose (square boxes only), band and row-within-band shuffles, stack and column-within-stack
 * shuffles. New cell (i, j) takes the (possibly transposed) old cell (rowPerm[i], colPerm[j]),
 * then digits are relabelled.
 */
import type { RandomSource } from "../dataset.ts";
import { invertPermutation } from "../grid.ts";
import type { SudokuShape } from "./shape.ts";

/** One symmetry; `digitMap[old] = new`, index 0 (blank) fixed. */
export interface SudokuAug {
  readonly transpose: boolean;
  readonly digitMap: Uint8Array;
  readonly rowPerm: Uint8Array;
  readonly colPerm: Uint8Array;
}

/** The identity symmetry of a shape. */
export function identitySudokuAug(shape: SudokuShape): SudokuAug {
  const id = Uint8Array.from({ length: shape.n }, (_, k) => k);
  return {
    transpose: false,
    digitMap: Uint8Array.from({ length: shape.n + 1 }, (_, k) => k),
    rowPerm: id,
    colPerm: id.slice(),
  };
}

function shuffled(n: number, rng: RandomSource): number[] {
  const p = Array.from({ length: n }, (_, k) => k);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/** A permutation of n lines that keeps groups of `size` lines together (bands or stacks). */
function blockPermutation(n: number, size: number, rng: RandomSource): Uint8Array {
  const blocks = shuffled(n / size, rng);
  const out = new Uint8Array(n);
  let k = 0;
  for (const b of blocks) for (const i of shuffled(size, rng)) out[k++] = b * size + i;
  return out;
}

/**
 * A uniformly random symmetry: digits, then transpose (probability 1/2 when boxes are square),
 * then bands and rows, then stacks and columns.
 */
export function randomSudokuAug(shape: SudokuShape, rng: RandomSource): SudokuAug {
  const digitMap = new Uint8Array(shape.n + 1);
  shuffled(shape.n, rng).forEach((v, k) => digitMap[k + 1] = v + 1);
  const transpose = shape.boxRows === shape.boxCols ? rng.int(2) === 1 : false;
  const rowPerm = blockPermutation(shape.n, shape.boxRows, rng);
  const colPerm = blockPermutation(shape.n, shape.boxCols, rng);
  return { transpose, digitMap, rowPerm, colPerm };
}

/** Applies a symmetry to board values (0 blank, 1..n). */
export function applySudokuAug(
  values: ArrayLike<number>,
  shape: SudokuShape,
  aug: SudokuAug,
): Uint8Array {
  const n = shape.n;
  const out = new Uint8Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const r = aug.rowPerm[i], c = aug.colPerm[j];
      out[i * n + j] = aug.digitMap[values[aug.transpose ? c * n + r : r * n + c]];
    }
  }
  return out;
}

/** The symmetry that undoes `aug` (in the same parametrisation). */
export function invertSudokuAug(aug: SudokuAug): SudokuAug {
  const rInv = invertPermutation(aug.rowPerm), cInv = invertPermutation(aug.colPerm);
  return {
    transpose: aug.transpose,
    digitMap: invertPermutation(aug.digitMap),
    rowPerm: aug.transpose ? cInv : rInv,
    colPerm: aug.transpose ? rInv : cInv,
  };
}

/** Bytes per stored symmetry: transpose, digitMap[1..n] − 1, rowPerm, colPerm. */
export function sudokuAugBytes(n: number): number {
  return 1 + 3 * n;
}

/** Packs a symmetry into `out[at..]` (see `sudokuAugBytes`). */
export function packSudokuAug(aug: SudokuAug, n: number, out: Uint8Array, at: number): void {
  out[at] = aug.transpose ? 1 : 0;
  for (let k = 0; k < n; k++) out[at + 1 + k] = aug.digitMap[k + 1] - 1;
  out.set(aug.rowPerm, at + 1 + n);
  out.set(aug.colPerm, at + 1 + 2 * n);
}

/** Unpacks a symmetry written by `packSudokuAug`. */
export function unpackSudokuAug(bytes: Uint8Array, n: number, at: number): SudokuAug {
  const digitMap = new Uint8Array(n + 1);
  for (let k = 0; k < n; k++) digitMap[k + 1] = bytes[at + 1 + k] + 1;
  return {
    transpose: bytes[at] === 1,
    digitMap,
    rowPerm: bytes.slice(at + 1 + n, at + 1 + 2 * n),
    colPerm: bytes.slice(at + 1 + 2 * n, at + 1 + 3 * n),
  };
}
