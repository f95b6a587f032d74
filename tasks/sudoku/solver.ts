/**
 * A constraint-propagation + backtracking Sudoku solver on digit bit masks. Before every guess it
 * applies naked singles (a cell with one candidate) and hidden singles (a digit with one place in a
 * unit); it branches on the first cell with the fewest candidates, digits ascending (or in random
 * order when an `rng` is given, which the generator uses to draw full grids).
 *
 * Rating (our stand-in for the Sudoku-Extreme `rating` column, which counts the backtracks of
 * the tdoku solver): `guesses` = digit trials at branching cells until the first solution; 0
 * means propagation alone solves the puzzle. Our counts are not tdoku's (tdoku has stronger
 * inference), so compare distribution shapes only.
 */
import type { RandomSource } from "../dataset.ts";
import type { SudokuShape } from "./shape.ts";

const POPCOUNT = new Uint8Array(1 << 9);
const BIT_INDEX = new Int8Array(1 << 9).fill(-1);
for (let m = 1; m < POPCOUNT.length; m++) POPCOUNT[m] = POPCOUNT[m >> 1] + (m & 1);
for (let d = 0; d < 9; d++) BIT_INDEX[1 << d] = d;

/** Result of `solveSudoku`. */
export interface SolveResult {
  /** Solutions found, at most `limit`. */
  readonly solutions: number;
  /** The first solution (values 1..n), or null. */
  readonly solution: Uint8Array | null;
  /** Guesses until the first solution (or in total when there is none). */
  readonly guesses: number;
}

/** Removes `bit` from peers after `cell` is fixed; returns false on a contradiction. */
function assign(shape: SudokuShape, cand: Uint16Array, cell: number, bit: number): boolean {
  const stack = [cell];
  cand[cell] = bit;
  while (stack.length > 0) {
    const c = stack.pop()!;
    const b = cand[c];
    for (const p of shape.peers[c]) {
      const m = cand[p];
      if ((m & b) === 0) continue;
      const nm = m & ~b;
      if (nm === 0) return false;
      cand[p] = nm;
      if (POPCOUNT[nm] === 1) stack.push(p);
    }
  }
  return true;
}

/** Applies hidden singles until nothing changes; false on a contradiction. */
function propagate(shape: SudokuShape, cand: Uint16Array): boolean {
  for (;;) {
    let changed = false;
    for (const u of shape.units) {
      let once = 0, twice = 0;
      for (const c of u) {
        const m = cand[c];
        twice |= once & m;
        once |= m;
      }
      if (once !== shape.full) return false;
      let hidden = once & ~twice;
      while (hidden !== 0) {
        const bit = hidden & -hidden;
        hidden &= ~bit;
        for (const c of u) {
          if ((cand[c] & bit) !== 0) {
            if (cand[c] !== bit) {
              if (!assign(shape, cand, c, bit)) return false;
              changed = true;
            }
            break;
          }
        }
      }
    }
    if (!changed) return true;
  }
}

/**
 * Solves `puzzle` (values 0..n, 0 blank), stopping after `limit` solutions (2 checks uniqueness).
 * With `rng`, digits are tried in random order.
 */
export function solveSudoku(
  shape: SudokuShape,
  puzzle: ArrayLike<number>,
  opts: { limit?: number; rng?: RandomSource } = {},
): SolveResult {
  const limit = opts.limit ?? 1;
  const rng = opts.rng;
  const cand = new Uint16Array(shape.cells).fill(shape.full);
  let ok = true;
  for (let k = 0; k < shape.cells && ok; k++) {
    const v = puzzle[k];
    if (v === 0) continue;
    const bit = 1 << (v - 1);
    if ((cand[k] & bit) === 0) ok = false;
    else if (cand[k] !== bit) ok = assign(shape, cand, k, bit);
  }
  let solutions = 0, guesses = 0, guessesAtFirst = -1;
  let first: Uint8Array | null = null;
  const digits = new Int8Array(shape.n);

  const search = (c0: Uint16Array): void => {
    if (!propagate(shape, c0)) return;
    let best = -1, bestCount = 99;
    for (let k = 0; k < shape.cells; k++) {
      const pc = POPCOUNT[c0[k]];
      if (pc > 1 && pc < bestCount) {
        best = k, bestCount = pc;
        if (pc === 2) break;
      }
    }
    if (best < 0) {
      solutions++;
      if (first === null) {
        first = Uint8Array.from(c0, (m) => BIT_INDEX[m] + 1);
        guessesAtFirst = guesses;
      }
      return;
    }
    const m = c0[best];
    let nd = 0;
    for (let d = 0; d < shape.n; d++) if (m & (1 << d)) digits[nd++] = d;
    const order = Array.from(digits.subarray(0, nd));
    if (rng) {
      for (let i = order.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [order[i], order[j]] = [order[j], order[i]];
      }
    }
    for (const d of order) {
      guesses++;
      const c1 = c0.slice();
      if (assign(shape, c1, best, 1 << d)) search(c1);
      if (solutions >= limit) return;
    }
  };
  if (ok) search(cand);
  return { solutions, solution: first, guesses: guessesAtFirst >= 0 ? guessesAtFirst : guesses };
}
