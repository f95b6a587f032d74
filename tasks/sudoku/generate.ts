/**
 * Our Sudoku generator, since Sudoku-Extreme (Hugging Face `sapientinc/sudoku-extreme`) cannot be
 * fetched offline.
 *
 * Sources, mimicking the original's easy/hard mix (about 1/4 easy by source):
 * - `easy`: a random full grid with clues removed at random while the solution stays unique,
 *   stopping at a random clue count (9×9: 28–36), like the Kaggle set;
 * - `minimal`: clues removed until no single removal keeps the solution unique (one pass in random
 *   order gives a minimal puzzle, as removals only make uniqueness harder), like the unbiased set;
 * - `hard`: minimal puzzles whose rating (guesses of ./solver.ts) reaches `hardMinRating`.
 * Every puzzle is checked uniquely solvable, deduplicated by the symmetry-invariant key of
 * ./canonical.ts (also against `exclude`, e.g. the train set when making test), and stored as a
 * random member of its symmetry class (as the original puzzles were randomly permuted).
 */
import type { RandomSource } from "../dataset.ts";
import { applySudokuAug, randomSudokuAug } from "./augment.ts";
import { sudokuKey } from "./canonical.ts";
import type { SudokuShape } from "./shape.ts";
import { solveSudoku } from "./solver.ts";

export type SudokuSource = "easy" | "minimal" | "hard";

/** One generated puzzle. */
export interface GeneratedSudoku {
  readonly question: Uint8Array;
  readonly answer: Uint8Array;
  /** Guesses of our solver on the stored (permuted) puzzle. */
  readonly rating: number;
  readonly source: SudokuSource;
  readonly key: string;
}

/** Generator options. */
export interface SudokuGenOptions {
  count: number;
  /** Share of each source; normalised. */
  mix: Record<SudokuSource, number>;
  /** Minimum rating of a `hard` puzzle. */
  hardMinRating: number;
  /** Clue counts of `easy` puzzles, inclusive. */
  easyClues: [number, number];
  /** Keys that must not be produced (an earlier split). */
  exclude?: ReadonlySet<string>;
  /** Give up on `hard` after this many minimal puzzles per wanted hard one (then use minimal). */
  hardAttemptsPer?: number;
  onPuzzle?: () => void;
}

/**
 * Default options per side. Hard puzzles only exist at 9×9; 4×4 has only a few dozen minimal
 * classes (a few thousand classes in all), so it uses random clue counts only.
 */
export function defaultSudokuGen(n: number, count: number): SudokuGenOptions {
  if (n === 9) {
    return {
      count,
      mix: { easy: 0.125, minimal: 0.125, hard: 0.75 },
      hardMinRating: 5,
      easyClues: [28, 36],
    };
  }
  if (n === 4) {
    return { count, mix: { easy: 1, minimal: 0, hard: 0 }, hardMinRating: 1, easyClues: [4, 11] };
  }
  return {
    count,
    mix: { easy: 0.5, minimal: 0.5, hard: 0 },
    hardMinRating: 1,
    easyClues: [12, 20],
  };
}

/** A random full grid (the first solution of the empty board with random digit order). */
export function randomFullGrid(shape: SudokuShape, rng: RandomSource): Uint8Array {
  const r = solveSudoku(shape, new Uint8Array(shape.cells), { rng });
  if (!r.solution) throw new Error("randomFullGrid: the empty board has no solution (bug)");
  return r.solution;
}

/**
 * Removes clues of a full grid in random order while the puzzle stays uniquely solvable; stops
 * when `stopAt` clues remain (null: one full pass, giving a minimal puzzle).
 */
export function removeClues(
  shape: SudokuShape,
  solution: Uint8Array,
  rng: RandomSource,
  stopAt: number | null,
): Uint8Array {
  const puzzle = solution.slice();
  const order = Array.from({ length: shape.cells }, (_, k) => k);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  let clues = shape.cells;
  for (const k of order) {
    if (stopAt !== null && clues <= stopAt) break;
    const v = puzzle[k];
    puzzle[k] = 0;
    if (solveSudoku(shape, puzzle, { limit: 2 }).solutions === 1) clues--;
    else puzzle[k] = v;
  }
  return puzzle;
}

/** Number of puzzles of each source for `count` (largest remainders). */
export function sourceCounts(count: number, mix: Record<SudokuSource, number>) {
  const names: SudokuSource[] = ["easy", "minimal", "hard"];
  const total = names.reduce((a, s) => a + Math.max(0, mix[s]), 0);
  if (!(total > 0)) throw new RangeError(`sudoku generator: mix has no positive share`);
  const exact = names.map((s) => (count * Math.max(0, mix[s])) / total);
  const out = exact.map(Math.floor);
  const order = names.map((_, k) => k).sort((a, b) => (exact[b] - out[b]) - (exact[a] - out[a]));
  for (let k = 0; k < count - out.reduce((a, b) => a + b, 0); k++) out[order[k]]++;
  return { easy: out[0], minimal: out[1], hard: out[2] };
}

/** Generates `count` distinct, inequivalent, uniquely solvable puzzles in a seeded order. */
export function generateSudokus(
  shape: SudokuShape,
  opts: SudokuGenOptions,
  rng: RandomSource,
): GeneratedSudoku[] {
  const counts = sourceCounts(opts.count, opts.mix);
  const plan: SudokuSource[] = [];
  for (const s of ["easy", "minimal", "hard"] as const) {
    for (let k = 0; k < counts[s]; k++) plan.push(s);
  }
  for (let i = plan.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [plan[i], plan[j]] = [plan[j], plan[i]];
  }
  const seen = new Set<string>(opts.exclude ?? []);
  const out: GeneratedSudoku[] = [];
  const hardLimit = opts.hardAttemptsPer ?? 2000;
  let duplicates = 0;
  for (const source of plan) {
    for (let attempt = 0;; attempt++) {
      const full = randomFullGrid(shape, rng);
      let q: Uint8Array;
      if (source === "easy") {
        const [lo, hi] = opts.easyClues;
        q = removeClues(shape, full, rng, lo + rng.int(hi - lo + 1));
      } else {
        q = removeClues(shape, full, rng, null);
      }
      // Rate the stored (permuted) puzzle: guess counts depend on the order cells and digits are
      // tried, so they are not invariant under the symmetries.
      const aug = randomSudokuAug(shape, rng);
      const question = applySudokuAug(q, shape, aug);
      const rating = solveSudoku(shape, question).guesses;
      if (source === "hard" && attempt < hardLimit && rating < opts.hardMinRating) continue;
      const key = sudokuKey(q, shape);
      if (seen.has(key)) {
        if (++duplicates > 100 * opts.count + 1000) {
          throw new RangeError(
            `sudoku generator: too many duplicates (${duplicates}): the ${shape.n}x${shape.n} ` +
              `space is too small for ${opts.count} inequivalent puzzles`,
          );
        }
        continue;
      }
      seen.add(key);
      const answer = applySudokuAug(full, shape, aug);
      if (solveSudoku(shape, question, { limit: 2 }).solutions !== 1) {
        throw new Error(`sudoku generator: permuted puzzle lost uniqueness (bug)`);
      }
      out.push({ question, answer, rating, source, key });
      opts.onPuzzle?.();
      break;
    }
  }
  return out;
}

/** Rating statistics: share solved without guessing, median, p90, p99, max, by source. */
export function ratingReport(puzzles: readonly { rating: number; source: string }[]) {
  const stats = (rs: number[]) => {
    const s = [...rs].sort((a, b) => a - b);
    const q = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : 0);
    return {
      count: s.length,
      zeroGuessShare: s.length ? s.filter((r) => r === 0).length / s.length : 0,
      median: q(0.5),
      p90: q(0.9),
      p99: q(0.99),
      max: s.length ? s[s.length - 1] : 0,
      mean: s.length ? s.reduce((a, b) => a + b, 0) / s.length : 0,
    };
  };
  const bySource: Record<string, ReturnType<typeof stats>> = {};
  for (const src of new Set(puzzles.map((p) => p.source))) {
    bySource[src] = stats(puzzles.filter((p) => p.source === src).map((p) => p.rating));
  }
  return { all: stats(puzzles.map((p) => p.rating)), bySource };
}
