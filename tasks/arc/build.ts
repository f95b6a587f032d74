/**
 * Builds a prepared ARC dataset (the layout of TRM's `dataset/build_arc_dataset.py`) without
 * materialising tokens: it stores the raw tasks, every version's augmentation parameters, and the
 * fixed translation offsets of every training example; `openArc` (./dataset.ts) encodes batches on
 * the fly.
 *
 * Splits: demonstration pairs of every task → train; test pairs of tasks in a test subset
 * (`evaluation` by default) → test; test pairs of other subsets → train. Each task is one group
 * (original first, then its versions). Puzzle identifiers start at 1 (0 = blank), train split
 * first; the test split reuses the identifiers of the same versions.
 *
 * Canvas: `canvas` N (default 30, the paper's) is the side of the square canvas every grid is
 * encoded on (N² tokens). With N < 30, a task any of whose grids (demonstration and test, input
 * and output) is larger than N×N is left out before the `tasksPerSubset` sample, and translations
 * stay within N×N. The metadata then records `canvas` and `seqLen` N²; at N = 30 nothing about the
 * canvas is written, so the files (and content hash) are those of builds made before the option.
 *
 * Files: `tasks.json` (raw tasks in group order), `versions.bin` (u8 per puzzle: t, map[0..9]),
 * `offsets.bin` (u8 per train example: r0, c0), `identifiers.json`, `test_puzzles.json`,
 * `metadata.json`.
 */
import { Rng } from "../../engine/rng.ts";
import { gridToRows } from "../grid.ts";
import { ContentHash, progressBar, writeFolderAtomically } from "../io.ts";
import { type DatasetMetadata, datasetName, FORMAT, type SourceRecord } from "../dataset.ts";
import { type ArcAug, augName, findAugmentations, IDENTITY_AUG } from "./augment.ts";
import { ARC_CANVAS, ARC_VOCAB, arcSeqLen, checkCanvas, fitsCanvas } from "./encode.ts";
import type { ArcPair, ArcTask } from "./load.ts";

export const ARC_BUILDER = "tasks/arc@1";

/** Options of an ARC build. */
export interface ArcBuildOptions {
  seed: number;
  /** Augmented versions wanted per task (TRM 1000). */
  maxAug: number;
  /** Attempts per wanted version (TRM 5). */
  retryFactor: number;
  /** Subsets in processing order, e.g. ["training", "evaluation", "concept"]. */
  subsets: string[];
  /** Subsets whose test pairs form the test split. */
  testSubsets: string[];
  /** Keep only this many tasks per subset (a seeded random sample); null = all. */
  tasksPerSubset: number | null;
  /**
   * Only the tasks with these ids (in whichever subset), chosen before the canvas filter and the
   * `tasksPerSubset` sample; absent = every task. Recorded in the metadata's options.
   */
  taskIds?: string[];
  progress: boolean;
  /** Canvas side N, 1..30 (default 30); tasks with a grid larger than N×N are left out. */
  canvas?: number;
}

/** One group of the build. */
export interface ArcGroup {
  readonly task: ArcTask;
  /** Whether the task's test pairs go to the test split. */
  readonly inTestSplit: boolean;
  /** Versions, identity first. */
  readonly versions: ArcAug[];
  /** Attempts used to find the versions. */
  readonly tries: number;
}

/** An ARC build in memory. */
export interface ArcBuild {
  readonly options: ArcBuildOptions;
  readonly groups: ArcGroup[];
  /** Per train example (puzzle-major, then example), r0 and c0. */
  readonly offsets: Uint8Array;
  readonly numPuzzles: number;
  readonly trainExamples: number;
  /** Canvas side N. */
  readonly canvas: number;
  /** Per subset built, tasks left out for a grid larger than N×N (all 0 at N = 30). */
  readonly leftOut: Record<string, number>;
  /** Per subset built, tasks before leaving any out. */
  readonly available: Record<string, number>;
}

/** Whether every grid of a task (demonstrations and tests, inputs and outputs) fits N×N. */
export function taskFitsCanvas(task: ArcTask, canvas: number): boolean {
  return [...task.train, ...task.test].every((p) =>
    fitsCanvas(p.input, canvas) && fitsCanvas(p.output, canvas)
  );
}

/** Examples of a group's train-split puzzles: demonstrations, plus test pairs unless held out. */
export function trainPairs(g: { task: ArcTask; inTestSplit: boolean }): readonly ArcPair[] {
  return g.inTestSplit ? g.task.train : [...g.task.train, ...g.task.test];
}

/** Draws the translation offsets of one puzzle: one random pair stays at (0, 0). */
function drawOffsets(
  pairs: readonly ArcPair[],
  aug: ArcAug,
  rng: Rng,
  out: Uint8Array,
  at: number,
  canvas: number,
) {
  const keep = rng.int(pairs.length);
  const swap = aug.t === 1 || aug.t === 3 || aug.t === 6 || aug.t === 7;
  for (let e = 0; e < pairs.length; e++) {
    if (e === keep) {
      out[at + 2 * e] = 0, out[at + 2 * e + 1] = 0;
      continue;
    }
    const { input, output } = pairs[e];
    const h = Math.max(input.h, output.h), w = Math.max(input.w, output.w);
    const maxH = swap ? w : h, maxW = swap ? h : w;
    out[at + 2 * e] = rng.int(canvas - maxH + 1);
    out[at + 2 * e + 1] = rng.int(canvas - maxW + 1);
  }
}

/**
 * Builds groups, versions and offsets from tasks by subset. Randomness: the task order of each
 * subset comes from `fork("order/<subset>")`, each task's versions and offsets from
 * `fork("task/<subset>/<id>")`, so a reduced build has the same versions for the tasks it keeps.
 * With a canvas N < 30, the tasks that do not fit are dropped from the shuffled order (which keeps
 * the relative order of the others) before the first `tasksPerSubset` are taken; a subset none of
 * whose tasks fits is an error.
 */
export function buildArc(subsets: Map<string, ArcTask[]>, options: ArcBuildOptions): ArcBuild {
  const canvas = checkCanvas(options.canvas ?? ARC_CANVAS, "arc build");
  const root = new Rng(options.seed);
  const chosen: ArcGroup[] = [];
  const leftOut: Record<string, number> = {}, available: Record<string, number> = {};
  const only = options.taskIds ? new Set(options.taskIds) : null;
  for (const name of options.subsets) {
    const found = subsets.get(name);
    if (!found) {
      throw new RangeError(
        `arc build: subset ${name} not found in the sources: have ${
          [...subsets.keys()].join(", ")
        }`,
      );
    }
    const tasks = only ? found.filter((t) => only.has(t.id)) : found;
    if (tasks.length === 0) {
      // An empty subset builds nothing from it: a mistyped --subsets/--task-ids or an empty folder.
      throw new RangeError(
        `arc build: subset ${name} holds no tasks${
          only ? ` of --task-ids ${[...only].join(",")}` : " (its folder has no task .json files)"
        }: nothing to build from it`,
      );
    }
    const shuffled = [...tasks].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    root.fork(`order/${name}`).shuffle(shuffled);
    const order = canvas === ARC_CANVAS
      ? shuffled
      : shuffled.filter((t) => taskFitsCanvas(t, canvas));
    available[name] = tasks.length;
    leftOut[name] = tasks.length - order.length;
    if (order.length === 0 && tasks.length > 0) {
      throw new RangeError(
        `arc build: none of the ${tasks.length} tasks of subset ${name} fits the ` +
          `${canvas}x${canvas} canvas (each has a grid larger than ${canvas}x${canvas}); ` +
          `choose a larger --canvas`,
      );
    }
    const n = options.tasksPerSubset === null
      ? order.length
      : Math.min(options.tasksPerSubset, order.length);
    for (const task of order.slice(0, n)) {
      chosen.push({
        task,
        inTestSplit: options.testSubsets.includes(name),
        versions: [],
        tries: 0,
      });
    }
  }
  for (const t of options.testSubsets) {
    if (!options.subsets.includes(t)) {
      throw new RangeError(`arc build: test subset ${t} is not among the subsets built`);
    }
  }
  const bar = progressBar("arc augment", chosen.length, options.progress);
  const groups: ArcGroup[] = [];
  const offsetChunks: Uint8Array[] = [];
  let numPuzzles = 0, trainExamples = 0;
  for (const g of chosen) {
    const rng = root.fork(`task/${g.task.subset}/${g.task.id}`);
    const found = findAugmentations(g.task, options.maxAug, rng, options.retryFactor);
    const versions = [IDENTITY_AUG, ...found.augs];
    const pairs = trainPairs(g);
    const off = new Uint8Array(versions.length * pairs.length * 2);
    versions.forEach((aug, v) => drawOffsets(pairs, aug, rng, off, v * pairs.length * 2, canvas));
    offsetChunks.push(off);
    groups.push({ ...g, versions, tries: found.tries });
    numPuzzles += versions.length;
    trainExamples += versions.length * pairs.length;
    bar.tick();
  }
  bar.stop();
  const offsets = new Uint8Array(trainExamples * 2);
  let at = 0;
  for (const c of offsetChunks) offsets.set(c, at), at += c.length;
  return { options, groups, offsets, numPuzzles, trainExamples, canvas, leftOut, available };
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Counts and distributions of a build (also written to metadata.report). */
export function arcReport(b: ArcBuild): Record<string, unknown> {
  const full = b.options.maxAug + 1;
  const bySubset: Record<string, Record<string, number>> = {};
  const counts = b.groups.map((g) => g.versions.length).sort((x, y) => x - y);
  for (const g of b.groups) {
    const s = (bySubset[g.task.subset] ??= {
      tasks: 0,
      demoPairs: 0,
      testPairs: 0,
      tasksBelowFullVersions: 0,
    });
    s.tasks++;
    s.demoPairs += g.task.train.length;
    s.testPairs += g.task.test.length;
    if (g.versions.length < full) s.tasksBelowFullVersions++;
  }
  const test = b.groups.filter((g) => g.inTestSplit);
  const histogram: Record<string, number> = {};
  for (const c of counts) {
    const bucket = c >= full
      ? `${full}`
      : c < 100
      ? "<100"
      : `${Math.floor(c / 100) * 100}-${Math.floor(c / 100) * 100 + 99}`;
    histogram[bucket] = (histogram[bucket] ?? 0) + 1;
  }
  return {
    groups: b.groups.length,
    bySubset,
    testSplitTasks: test.length,
    heldOutTestInputs: test.reduce((a, g) => a + g.task.test.length, 0),
    testSubsetDemoPairsInTrain: test.reduce((a, g) => a + g.task.train.length, 0),
    trainExamplesPerEpoch: b.groups.reduce((a, g) => a + trainPairs(g).length, 0),
    versionsPerTask: {
      full,
      tasksAtFull: counts.filter((c) => c >= full).length,
      tasksBelowFull: counts.filter((c) => c < full).length,
      min: counts[0] ?? 0,
      median: quantile(counts, 0.5),
      smallest: counts.slice(0, 10),
      histogram,
    },
    attempts: b.groups.reduce((a, g) => a + g.tries, 0),
    // Only for a reduced canvas, so that 30×30 reports stay as they were.
    ...(b.canvas === ARC_CANVAS ? {} : {
      canvas: {
        side: b.canvas,
        tasksAvailable: b.available,
        tasksLeftOutTooLarge: b.leftOut,
      },
    }),
  };
}

function pairsJson(pairs: readonly ArcPair[]) {
  return pairs.map((p) => ({ input: gridToRows(p.input), output: gridToRows(p.output) }));
}

/** Writes a build to `out` atomically; returns its metadata. */
export async function writeArc(
  b: ArcBuild,
  out: string,
  sources: SourceRecord[],
  opts: { force?: boolean; name?: string } = {},
): Promise<DatasetMetadata> {
  const tasksJson = JSON.stringify(b.groups.map((g) => ({
    id: g.task.id,
    subset: g.task.subset,
    inTestSplit: g.inTestSplit,
    versions: g.versions.length,
    train: pairsJson(g.task.train),
    test: pairsJson(g.task.test),
  })));
  const versions = new Uint8Array(b.numPuzzles * 11);
  const identifiers: string[] = ["<blank>"];
  let p = 0;
  for (const g of b.groups) {
    for (const aug of g.versions) {
      versions[p * 11] = aug.t;
      versions.set(aug.map, p * 11 + 1);
      identifiers.push(augName(g.task.id, aug));
      p++;
    }
  }
  const testPuzzles: Record<string, unknown> = {};
  for (const g of b.groups) {
    if (g.inTestSplit) {
      testPuzzles[g.task.id] = { train: pairsJson(g.task.train), test: pairsJson(g.task.test) };
    }
  }
  const files: [string, Uint8Array | string][] = [
    ["tasks.json", tasksJson],
    ["versions.bin", versions],
    ["offsets.bin", b.offsets],
    ["identifiers.json", JSON.stringify(identifiers)],
    ["test_puzzles.json", JSON.stringify(testPuzzles)],
  ];
  const hash = new ContentHash();
  for (const [name, data] of files) hash.add(name, data);
  if (b.canvas !== ARC_CANVAS) hash.add("canvas", String(b.canvas));
  const test = b.groups.filter((g) => g.inTestSplit);
  const testPuzzlesCount = test.reduce((a, g) => a + g.versions.length, 0);
  const testExamples = test.reduce((a, g) => a + g.versions.length * g.task.test.length, 0);
  const metadata: DatasetMetadata = {
    format: FORMAT,
    kind: "arc",
    name: datasetName(out, opts.name),
    builder: ARC_BUILDER,
    seed: b.options.seed,
    ...(b.canvas === ARC_CANVAS ? {} : { canvas: b.canvas }),
    seqLen: arcSeqLen(b.canvas),
    vocabSize: ARC_VOCAB,
    padId: 0,
    ignoreLabelToken: 0,
    blankIdentifierId: 0,
    numPuzzleIdentifiers: b.numPuzzles + 1,
    splits: {
      train: {
        groups: b.groups.length,
        puzzles: b.numPuzzles,
        examples: b.trainExamples,
        meanPuzzleExamples: b.trainExamples / b.numPuzzles,
      },
      test: {
        groups: test.length,
        puzzles: testPuzzlesCount,
        examples: testExamples,
        meanPuzzleExamples: testPuzzlesCount ? testExamples / testPuzzlesCount : 0,
      },
    },
    sources,
    options: {
      ...b.options,
      progress: undefined,
      canvas: b.canvas === ARC_CANVAS ? undefined : b.canvas,
    },
    report: arcReport(b),
    contentHash: hash.hex(),
  };
  await writeFolderAtomically(out, files, metadata, { force: opts.force });
  return metadata;
}
