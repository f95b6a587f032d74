/**
 * The one dataset interface that training and evaluation consume, whatever the task (ARC, Sudoku,
 * Maze), plus the batch samplers. As in TRM's `puzzle_dataset.py`, an epoch visits every group
 * once in random order and takes one random version (puzzle) of it, adding all of that puzzle's
 * examples to the batch.
 *
 * Storage is hierarchical as in TRM: a **group** is an original puzzle with all its augmented
 * versions, a **puzzle** is one version (one puzzle identifier), an **example** is one
 * input/label pair. Splits are stores that write one example's tokens on demand, so augmented
 * versions are encoded on the fly instead of being materialised.
 *
 * @example
 * ```ts
 * import { openDataset } from "./open.ts";
 * import { trainBatches } from "./dataset.ts";
 * import { Rng } from "../engine/rng.ts";
 * const ds = await openDataset(".cache/datasets/arc1concept-aug-1000");
 * for (const b of trainBatches(ds.train, { batchSize: 768, epochs: 1, rng: new Rng(0) })) {
 *   // b.inputs, b.labels (-100 = ignored), b.puzzleIdentifiers
 * }
 * ```
 */

/** Label value excluded from the loss (PyTorch's default ignore index). */
export const IGNORE_LABEL = -100;

/** Version of the on-disk format written by the builders in `tasks/`. */
export const FORMAT = "trm-tasks/1";

/** One batch: `size` rows of `seqLen` tokens; rows ≥ `valid` are padding. */
export interface Batch {
  readonly size: number;
  readonly seqLen: number;
  /** Input tokens, [size × seqLen]; padding rows are all PAD (0). */
  readonly inputs: Int32Array;
  /** Target tokens, [size × seqLen]; `IGNORE_LABEL` where unsupervised and in padding rows. */
  readonly labels: Int32Array;
  /** Puzzle identifier per row (embedding row); 0 = blank (padding). */
  readonly puzzleIdentifiers: Int32Array;
  /** Index of the row's puzzle in its split (for `puzzleInfo`), −1 for padding. */
  readonly puzzleIndex: Int32Array;
  /** Index of the row's example within its puzzle, −1 for padding. */
  readonly exampleIndex: Int32Array;
  /** Number of real rows; they come first. */
  readonly valid: number;
}

/** A split as groups → puzzles → examples, encoding examples on demand. */
export interface SplitStore {
  readonly name: "train" | "test";
  readonly seqLen: number;
  readonly numGroups: number;
  readonly numPuzzles: number;
  readonly numExamples: number;
  /** Puzzles of group g: indices [start, end). */
  groupPuzzles(g: number): readonly [number, number];
  /** Number of examples of puzzle p. */
  puzzleExamples(p: number): number;
  /** Puzzle identifier (embedding row) of puzzle p. */
  puzzleIdentifier(p: number): number;
  /**
   * Writes example e of puzzle p into row `row` of `inputs`/`labels` (each [rows × seqLen]).
   * Labels use `IGNORE_LABEL` for cells excluded from the loss.
   */
  writeExample(p: number, e: number, inputs: Int32Array, labels: Int32Array, row: number): void;
}

/** How a puzzle version was derived from its original; `inverse*` helpers live per task. */
export type Augmentation =
  | { kind: "none" }
  /** ARC: colour map applied first (`colourMap[old] = new`, 0 fixed), then dihedral map. */
  | { kind: "arc"; dihedral: number; colourMap: readonly number[] }
  /** Sudoku: optional transpose first, then new cell (i, j) = old (rowPerm[i], colPerm[j]),
   * then digits relabelled by `digitMap[old] = new` (index 0 = blank, fixed). */
  | {
    kind: "sudoku";
    transpose: boolean;
    digitMap: readonly number[];
    rowPerm: readonly number[];
    colPerm: readonly number[];
  }
  /** Maze: dihedral map of the whole grid. */
  | { kind: "maze"; dihedral: number };

/** What a puzzle of a split is. */
export interface PuzzleInfo {
  /** Puzzle name (ARC: `<task>|||t<d>|||<digits>` for augmented versions). */
  readonly name: string;
  /** Id of the original puzzle or task. */
  readonly sourceId: string;
  readonly group: number;
  readonly identifier: number;
  readonly augmentation: Augmentation;
}

/** Counts of one split. */
export interface SplitCounts {
  groups: number;
  puzzles: number;
  examples: number;
  /** examples / puzzles */
  meanPuzzleExamples: number;
}

/** Where the raw data came from. */
export interface SourceRecord {
  kind: "local" | "download" | "generated";
  /** Folder, URL, or generator name. */
  location: string;
  /** SHA-256 of the source bytes (archive, CSV, or sorted files), or of the generated content. */
  sha256: string;
}

/** `metadata.json` of every prepared dataset. */
export interface DatasetMetadata {
  format: typeof FORMAT;
  kind: "arc" | "sudoku" | "maze";
  name: string;
  /** Builder module and version; bump when outputs change for the same inputs and seed. */
  builder: string;
  seed: number;
  /** ARC only, and only when not 30: the side N of the square canvas (seqLen = N²). */
  canvas?: number;
  seqLen: number;
  vocabSize: number;
  padId: 0;
  /** Label token that is excluded from the loss (mapped to `IGNORE_LABEL` in batches); null = none. */
  ignoreLabelToken: number | null;
  blankIdentifierId: 0;
  numPuzzleIdentifiers: number;
  splits: { train: SplitCounts; test: SplitCounts };
  sources: SourceRecord[];
  /** Build options as given. */
  options: Record<string, unknown>;
  /** Task-specific statistics (distributions, checks). */
  report: Record<string, unknown>;
  /** SHA-256 over all data files of the folder (not this metadata). Same seed → same hash. */
  contentHash: string;
}

/** The dataset name: `name` if given, else the last component of the folder `out`. */
export function datasetName(out: string, name?: string): string {
  return name ?? out.replace(/\/+$/, "").replace(/.*\//, "");
}

/** A prepared dataset, opened. */
export interface TaskDataset {
  readonly dir: string;
  readonly metadata: DatasetMetadata;
  readonly train: SplitStore;
  readonly test: SplitStore;
  /** Details of puzzle p of a split (name, origin, augmentation to invert for voting). */
  puzzleInfo(split: "train" | "test", p: number): PuzzleInfo;
}

/** The only randomness the samplers need; `engine/rng.ts`'s `Rng` satisfies it. */
export interface RandomSource {
  /** Uniform integer in [0, n). */
  int(n: number): number;
}

/** Counts of a split store. */
export function splitCounts(s: SplitStore): SplitCounts {
  return {
    groups: s.numGroups,
    puzzles: s.numPuzzles,
    examples: s.numExamples,
    meanPuzzleExamples: s.numPuzzles === 0 ? 0 : s.numExamples / s.numPuzzles,
  };
}

function emptyBatch(size: number, seqLen: number): Batch & { valid: number } {
  return {
    size,
    seqLen,
    inputs: new Int32Array(size * seqLen),
    labels: new Int32Array(size * seqLen).fill(IGNORE_LABEL),
    puzzleIdentifiers: new Int32Array(size),
    puzzleIndex: new Int32Array(size).fill(-1),
    exampleIndex: new Int32Array(size).fill(-1),
    valid: 0,
  };
}

/** Writes example e of puzzle p into the next row of `batch`; true when that fills the batch. */
function addExample(batch: Batch & { valid: number }, split: SplitStore, p: number, e: number) {
  const row = batch.valid;
  split.writeExample(p, e, batch.inputs, batch.labels, row);
  batch.puzzleIdentifiers[row] = split.puzzleIdentifier(p);
  batch.puzzleIndex[row] = p;
  batch.exampleIndex[row] = e;
  batch.valid++;
  return batch.valid === batch.size;
}

function permutation(n: number, rng: RandomSource): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/** Options of `trainBatches`. */
export interface TrainBatchOptions {
  /** Global batch size (rows per batch). */
  batchSize: number;
  /** Epochs concatenated into this pass (TRM's `eval_interval`); default 1. */
  epochs?: number;
  rng: RandomSource;
}

/**
 * Training batches as TRM draws them: each epoch visits every group once in random order, picks
 * one random puzzle (version) of the group, and appends all its examples in random order; when the
 * batch fills mid-puzzle the rest of that puzzle is dropped for this visit. Epochs are concatenated
 * and only the final incomplete batch of the whole pass is dropped. Draws only from `rng`.
 */
export function* trainBatches(split: SplitStore, opts: TrainBatchOptions): Generator<Batch> {
  const { batchSize, rng } = opts;
  const epochs = opts.epochs ?? 1;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`trainBatches: batchSize must be a positive integer: ${batchSize}`);
  }
  if (!Number.isInteger(epochs) || epochs < 1) {
    throw new RangeError(`trainBatches: epochs must be a positive integer: ${epochs}`);
  }
  let batch = emptyBatch(batchSize, split.seqLen);
  for (let ep = 0; ep < epochs; ep++) {
    const order = permutation(split.numGroups, rng);
    for (const g of order) {
      const [start, end] = split.groupPuzzles(g);
      if (end <= start) continue;
      const p = start + rng.int(end - start);
      const exOrder = permutation(split.puzzleExamples(p), rng);
      for (const e of exOrder) {
        if (addExample(batch, split, p, e)) {
          yield batch;
          batch = emptyBatch(batchSize, split.seqLen);
          break; // the rest of this puzzle is dropped for this visit
        }
      }
    }
  }
}

/**
 * Every example of the split in order (group, puzzle, example), in batches of `batchSize`; the last
 * batch is padded with PAD inputs, ignored labels and blank identifier 0.
 */
export function* evalBatches(split: SplitStore, batchSize: number): Generator<Batch> {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`evalBatches: batchSize must be a positive integer: ${batchSize}`);
  }
  let batch = emptyBatch(batchSize, split.seqLen);
  for (let p = 0; p < split.numPuzzles; p++) {
    const n = split.puzzleExamples(p);
    for (let e = 0; e < n; e++) {
      if (addExample(batch, split, p, e)) {
        yield batch;
        batch = emptyBatch(batchSize, split.seqLen);
      }
    }
  }
  if (batch.valid > 0) yield batch;
}
