/**
 * Training data for a run: the dataset (a prepared folder, or the preset's small generated one,
 * built once into a cache folder keyed by its parameters) and a resumable stream of training
 * batches.
 *
 * The stream concatenates iterator passes of TRM's sampler (tasks/dataset.ts `trainBatches`, each
 * pass `epochsPerPass` epochs). Pass p draws only from `root.fork(p)`, so a position (pass,
 * batches consumed) is enough to re-create the stream exactly: resume re-creates pass p's
 * generator and skips the consumed batches.
 */
import type { Rng } from "../engine/rng.ts";
import { type Batch, type SplitStore, trainBatches } from "../tasks/dataset.ts";
import type { TaskDataset } from "../tasks/dataset.ts";
import { exists } from "../tasks/io.ts";
import { openDataset } from "../tasks/open.ts";
import { prepareSudoku } from "../tasks/sudoku/prepare.ts";
import type { DataSettings, GenerateSettings } from "./run/config.ts";

/** Where the stream is: iterator pass and batches already taken from it. */
export interface StreamPosition {
  pass: number;
  consumed: number;
}

/** The cache folder of a generated dataset (its name carries every parameter). */
export function generatedDir(cacheRoot: string, g: GenerateSettings): string {
  return `${cacheRoot}/${g.kind}${g.size}-gen-${g.train}-test-${g.test}-aug-${g.aug}-seed-${g.seed}`;
}

/** Opens the run's dataset, generating it first when needed; `log` says which. */
export async function openRunData(
  d: DataSettings,
  log: (line: string) => void,
): Promise<{ ds: TaskDataset; dir: string }> {
  if (d.dir !== null) {
    log(`data: prepared dataset ${d.dir}`);
    return { ds: await openDataset(d.dir), dir: d.dir };
  }
  const g = d.generate!;
  const dir = generatedDir(d.cacheRoot, g);
  if (await exists(`${dir}/metadata.json`)) {
    log(`data: reusing the generated ${g.size}×${g.size} ${g.kind} dataset in ${dir}`);
  } else {
    log(
      `data: generating a ${g.size}×${g.size} ${g.kind} dataset (train ${g.train} × ${
        g.aug + 1
      } versions, test ${g.test}, seed ${g.seed}) into ${dir}`,
    );
    await prepareSudoku({
      source: null,
      download: false,
      cacheDir: ".cache/downloads",
      size: g.size,
      train: g.train,
      test: g.test,
      aug: g.aug,
      seed: g.seed,
      checkUnique: false,
      out: dir,
      force: false,
      progress: false,
    });
  }
  return { ds: await openDataset(dir), dir };
}

/** Training batches over concatenated passes, with an exact, resumable position. */
export class BatchStream {
  #gen: Generator<Batch>;
  #pos: StreamPosition;

  constructor(
    readonly split: SplitStore,
    readonly batchSize: number,
    readonly epochsPerPass: number,
    readonly root: Rng,
    start: StreamPosition = { pass: 0, consumed: 0 },
  ) {
    this.#pos = { pass: start.pass, consumed: 0 };
    this.#gen = this.#open(start.pass);
    for (let i = 0; i < start.consumed; i++) {
      if (this.#gen.next().done) {
        throw new RangeError(
          `BatchStream: pass ${start.pass} has fewer than ${start.consumed} batches (${i}): ` +
            `the dataset or batch size differs from the checkpoint's`,
        );
      }
      this.#pos.consumed++;
    }
  }

  #open(pass: number): Generator<Batch> {
    return trainBatches(this.split, {
      batchSize: this.batchSize,
      epochs: this.epochsPerPass,
      rng: this.root.fork(pass),
    });
  }

  /** The position after the batches taken so far. */
  get position(): StreamPosition {
    return { ...this.#pos };
  }

  /** The next batch; a new pass starts when one is exhausted. */
  next(): Batch {
    let r = this.#gen.next();
    if (r.done) {
      if (this.#pos.consumed === 0) {
        throw new RangeError(
          `BatchStream: a pass of ${this.epochsPerPass} epoch(s) over ${this.split.numExamples} ` +
            `examples gives no batch of ${this.batchSize}`,
        );
      }
      this.#pos = { pass: this.#pos.pass + 1, consumed: 0 };
      this.#gen = this.#open(this.#pos.pass);
      r = this.#gen.next();
      if (r.done) throw new RangeError(`BatchStream: pass ${this.#pos.pass} is empty`);
    }
    this.#pos.consumed++;
    return r.value;
  }
}

/** TRM's step count (`pretrain.py`): ⌊epochs · groups · mean examples per puzzle / batch⌋. */
export function stepsForEpochs(split: SplitStore, epochs: number, batchSize: number): number {
  const mean = split.numPuzzles ? split.numExamples / split.numPuzzles : 0;
  return Math.floor((epochs * split.numGroups * mean) / batchSize);
}
