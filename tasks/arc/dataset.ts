/**
 * Opens a prepared ARC folder (written by ./build.ts) as a `TaskDataset`; examples are encoded on
 * the fly from the raw tasks, each version's augmentation and the stored translation offsets, on
 * the canvas the metadata records (`canvas`, absent = 30; `seqLen` must be its square).
 */
import type { DatasetMetadata, PuzzleInfo, SplitStore, TaskDataset } from "../dataset.ts";
import { type ArcAug, NAME_SEPARATOR } from "./augment.ts";
import { ARC_CANVAS, checkCanvas, encodeTransformed } from "./encode.ts";
import { type ArcPair, type ArcTask, parseGrid, parseJsonFile } from "./load.ts";

interface StoredGroup {
  task: ArcTask;
  inTestSplit: boolean;
  versions: number;
  firstPuzzle: number;
  trainPairs: readonly ArcPair[];
}

async function readJson(path: string): Promise<unknown> {
  return parseJsonFile(await Deno.readTextFile(path), path);
}

function parseStoredGroups(value: unknown, file: string): StoredGroup[] {
  if (!Array.isArray(value)) throw new TypeError(`${file}: must be a list of tasks`);
  let first = 0;
  return value.map((raw, g) => {
    const at = `${file}: [${g}]`;
    const pairs = (list: unknown, field: string): ArcPair[] => {
      if (!Array.isArray(list)) throw new TypeError(`${at}.${field}: must be a list`);
      return list.map((p, k) => ({
        input: parseGrid(p?.input, `${at}.${field}[${k}].input`),
        output: parseGrid(p?.output, `${at}.${field}[${k}].output`),
      }));
    };
    if (typeof raw?.id !== "string" || typeof raw?.versions !== "number") {
      throw new TypeError(`${at}: id (string) and versions (number) are required`);
    }
    const task: ArcTask = {
      id: raw.id,
      subset: String(raw.subset),
      train: pairs(raw.train, "train"),
      test: pairs(raw.test, "test"),
    };
    const inTestSplit = raw.inTestSplit === true;
    const group: StoredGroup = {
      task,
      inTestSplit,
      versions: raw.versions,
      firstPuzzle: first,
      trainPairs: inTestSplit ? task.train : [...task.train, ...task.test],
    };
    first += raw.versions;
    return group;
  });
}

/** Opens a prepared ARC dataset folder. */
export async function openArc(dir: string, metadata: DatasetMetadata): Promise<TaskDataset> {
  const canvas = checkCanvas(metadata.canvas ?? ARC_CANVAS, `${dir}/metadata.json: canvas`);
  const seqLen = canvas * canvas;
  if (metadata.seqLen !== seqLen) {
    throw new RangeError(
      `${dir}/metadata.json: seqLen ${metadata.seqLen} is not ${seqLen} (canvas ${canvas}x${canvas})`,
    );
  }
  const groups = parseStoredGroups(await readJson(`${dir}/tasks.json`), `${dir}/tasks.json`);
  const versions = await Deno.readFile(`${dir}/versions.bin`);
  const offsets = await Deno.readFile(`${dir}/offsets.bin`);
  const identifiers = await readJson(`${dir}/identifiers.json`) as string[];
  const numPuzzles = groups.reduce((a, g) => a + g.versions, 0);
  if (versions.length !== numPuzzles * 11) {
    throw new RangeError(
      `${dir}/versions.bin: expected ${
        numPuzzles * 11
      } bytes for ${numPuzzles} puzzles, got ${versions.length}`,
    );
  }
  if (!Array.isArray(identifiers) || identifiers.length !== numPuzzles + 1) {
    throw new RangeError(`${dir}/identifiers.json: expected ${numPuzzles + 1} names`);
  }
  // Per puzzle: group and start of its examples in offsets.bin (train split).
  const puzzleGroup = new Int32Array(numPuzzles);
  const exStart = new Float64Array(numPuzzles + 1);
  let p = 0;
  for (let g = 0; g < groups.length; g++) {
    for (let v = 0; v < groups[g].versions; v++, p++) {
      puzzleGroup[p] = g;
      exStart[p + 1] = exStart[p] + groups[g].trainPairs.length;
    }
  }
  if (offsets.length !== exStart[numPuzzles] * 2) {
    throw new RangeError(
      `${dir}/offsets.bin: expected ${exStart[numPuzzles] * 2} bytes, got ${offsets.length}`,
    );
  }
  const aug = (p: number): ArcAug => ({
    t: versions[p * 11],
    map: versions.subarray(p * 11 + 1, p * 11 + 11),
  });

  const train: SplitStore = {
    name: "train",
    seqLen,
    numGroups: groups.length,
    numPuzzles,
    numExamples: exStart[numPuzzles],
    groupPuzzles: (g) => [groups[g].firstPuzzle, groups[g].firstPuzzle + groups[g].versions],
    puzzleExamples: (p) => groups[puzzleGroup[p]].trainPairs.length,
    puzzleIdentifier: (p) => p + 1,
    writeExample(p, e, inputs, labels, row) {
      const pair = groups[puzzleGroup[p]].trainPairs[e];
      const a = aug(p);
      const k = 2 * (exStart[p] + e);
      const r0 = offsets[k], c0 = offsets[k + 1];
      encodeTransformed(pair.input, a.t, a.map, r0, c0, inputs, row * seqLen, false, canvas);
      encodeTransformed(pair.output, a.t, a.map, r0, c0, labels, row * seqLen, true, canvas);
    },
  };

  // Test split: the versions of held-out tasks, same identifiers, grids at (0, 0).
  const testGroups = groups.filter((g) => g.inTestSplit);
  const testFirst = new Int32Array(testGroups.length + 1);
  testGroups.forEach((g, i) => testFirst[i + 1] = testFirst[i] + g.versions);
  const testPuzzleToGlobal = new Int32Array(testFirst[testGroups.length]);
  const testPuzzleGroup = new Int32Array(testPuzzleToGlobal.length);
  testGroups.forEach((g, i) => {
    for (let v = 0; v < g.versions; v++) {
      testPuzzleToGlobal[testFirst[i] + v] = g.firstPuzzle + v;
      testPuzzleGroup[testFirst[i] + v] = i;
    }
  });
  const test: SplitStore = {
    name: "test",
    seqLen,
    numGroups: testGroups.length,
    numPuzzles: testPuzzleToGlobal.length,
    numExamples: testGroups.reduce((a, g) => a + g.versions * g.task.test.length, 0),
    groupPuzzles: (g) => [testFirst[g], testFirst[g + 1]],
    puzzleExamples: (q) => testGroups[testPuzzleGroup[q]].task.test.length,
    puzzleIdentifier: (q) => testPuzzleToGlobal[q] + 1,
    writeExample(q, e, inputs, labels, row) {
      const pair = testGroups[testPuzzleGroup[q]].task.test[e];
      const a = aug(testPuzzleToGlobal[q]);
      encodeTransformed(pair.input, a.t, a.map, 0, 0, inputs, row * seqLen, false, canvas);
      encodeTransformed(pair.output, a.t, a.map, 0, 0, labels, row * seqLen, true, canvas);
    },
  };

  const info = (global: number, group: number): PuzzleInfo => {
    const a = aug(global);
    return {
      name: identifiers[global + 1],
      sourceId: identifiers[global + 1].split(NAME_SEPARATOR)[0],
      group,
      identifier: global + 1,
      augmentation: { kind: "arc", dihedral: a.t, colourMap: Array.from(a.map) },
    };
  };
  return {
    dir,
    metadata,
    train,
    test,
    puzzleInfo(split, p) {
      if (split === "train") {
        if (!(p >= 0 && p < numPuzzles)) {
          throw new RangeError(`puzzleInfo: train puzzle ${p} out of range`);
        }
        return info(p, puzzleGroup[p]);
      }
      if (!(p >= 0 && p < testPuzzleToGlobal.length)) {
        throw new RangeError(`puzzleInfo: test puzzle ${p} out of range`);
      }
      return info(testPuzzleToGlobal[p], testPuzzleGroup[p]);
    },
  };
}
