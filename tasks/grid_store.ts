/**
 * Storage shared by Sudoku and Maze: fixed-length token sequences, one example per puzzle, and per
 * training group the packed parameters of each version (version 0 = identity), so augmented
 * versions are produced on the fly (TRM's Sudoku and Maze builders instead write every version
 * out: 1000 puzzles × 1001 versions for Sudoku-Extreme-1k).
 *
 * Files: `train_inputs.bin`, `train_labels.bin`, `test_inputs.bin`, `test_labels.bin` (u8 tokens,
 * [count × seqLen]), `train_versions.bin` (u8, [trainCount × versions × augBytes]).
 */
import { ContentHash, writeFolderAtomically } from "./io.ts";
import {
  type Augmentation,
  type DatasetMetadata,
  datasetName,
  FORMAT,
  IGNORE_LABEL,
  type SourceRecord,
  type SplitStore,
  type TaskDataset,
} from "./dataset.ts";
import { taskCsvText } from "./csv.ts";

/** Rewrites one token sequence under packed version parameters. */
export type TokenTransform = (
  params: Uint8Array,
  src: Uint8Array,
  dst: Int32Array,
  dstBase: number,
) => void;

/** Token arrays of both splits and the training versions. */
export interface GridData {
  seqLen: number;
  trainInputs: Uint8Array;
  trainLabels: Uint8Array;
  testInputs: Uint8Array;
  testLabels: Uint8Array;
  /** Versions per training group (1 = no augmentation). */
  versions: number;
  augBytes: number;
  trainVersions: Uint8Array;
}

/** File names and contents of a `GridData`, in hashing order. */
export function gridFiles(d: GridData): [string, Uint8Array][] {
  return [
    ["train_inputs.bin", d.trainInputs],
    ["train_labels.bin", d.trainLabels],
    ["test_inputs.bin", d.testInputs],
    ["test_labels.bin", d.testLabels],
    ["train_versions.bin", d.trainVersions],
  ];
}

/** Content hash over the data files (plus any extra named parts). */
export function gridContentHash(d: GridData, extra: [string, string | Uint8Array][] = []): string {
  const h = new ContentHash();
  for (const [name, data] of gridFiles(d)) h.add(name, data);
  for (const [name, data] of extra) h.add(name, data);
  return h.hex();
}

/** Reads the data files of a prepared folder, checking their sizes. */
export async function readGridData(
  dir: string,
  seqLen: number,
  versions: number,
  augBytes: number,
): Promise<GridData> {
  const read = (f: string) => Deno.readFile(`${dir}/${f}`);
  const d: GridData = {
    seqLen,
    trainInputs: await read("train_inputs.bin"),
    trainLabels: await read("train_labels.bin"),
    testInputs: await read("test_inputs.bin"),
    testLabels: await read("test_labels.bin"),
    versions,
    augBytes,
    trainVersions: await read("train_versions.bin"),
  };
  const check = (name: string, len: number, unit: number) => {
    if (len % unit !== 0) {
      throw new RangeError(`${dir}/${name}: ${len} bytes is not a multiple of ${unit}`);
    }
  };
  check("train_inputs.bin", d.trainInputs.length, seqLen);
  check("test_inputs.bin", d.testInputs.length, seqLen);
  if (
    d.trainLabels.length !== d.trainInputs.length || d.testLabels.length !== d.testInputs.length
  ) {
    throw new RangeError(`${dir}: inputs and labels files differ in size`);
  }
  const n = d.trainInputs.length / seqLen;
  if (d.trainVersions.length !== n * versions * augBytes) {
    throw new RangeError(
      `${dir}/train_versions.bin: expected ${
        n * versions * augBytes
      } bytes, got ${d.trainVersions.length}`,
    );
  }
  return d;
}

function copyTokens(src: Uint8Array, dst: Int32Array, base: number, labels: boolean) {
  for (let k = 0; k < src.length; k++) {
    const v = src[k];
    dst[base + k] = labels && v === 0 ? IGNORE_LABEL : v;
  }
}

/**
 * Split stores over `GridData`: train has one group per base puzzle with `versions` one-example
 * puzzles (identifier 0), test has one group and one puzzle per base puzzle.
 */
export function gridStores(d: GridData, transform: TokenTransform): {
  train: SplitStore;
  test: SplitStore;
} {
  const L = d.seqLen;
  const nTrain = d.trainInputs.length / L, nTest = d.testInputs.length / L;
  const tmp = new Int32Array(L);
  const train: SplitStore = {
    name: "train",
    seqLen: L,
    numGroups: nTrain,
    numPuzzles: nTrain * d.versions,
    numExamples: nTrain * d.versions,
    groupPuzzles: (g) => [g * d.versions, (g + 1) * d.versions],
    puzzleExamples: () => 1,
    puzzleIdentifier: () => 0,
    writeExample(p, _e, inputs, labels, row) {
      const g = Math.floor(p / d.versions);
      const params = d.trainVersions.subarray(p * d.augBytes, (p + 1) * d.augBytes);
      transform(params, d.trainInputs.subarray(g * L, (g + 1) * L), inputs, row * L);
      transform(params, d.trainLabels.subarray(g * L, (g + 1) * L), tmp, 0);
      for (let k = 0; k < L; k++) labels[row * L + k] = tmp[k] === 0 ? IGNORE_LABEL : tmp[k];
    },
  };
  const test: SplitStore = {
    name: "test",
    seqLen: L,
    numGroups: nTest,
    numPuzzles: nTest,
    numExamples: nTest,
    groupPuzzles: (g) => [g, g + 1],
    puzzleExamples: () => 1,
    puzzleIdentifier: () => 0,
    writeExample(p, _e, inputs, labels, row) {
      copyTokens(d.testInputs.subarray(p * L, (p + 1) * L), inputs, row * L, false);
      copyTokens(d.testLabels.subarray(p * L, (p + 1) * L), labels, row * L, true);
    },
  };
  return { train, test };
}

/** Reads `report.layout` of a grid-store dataset. */
export function gridLayout(m: DatasetMetadata, dir: string) {
  const l = m.report?.layout as { side?: number; versions?: number; augBytes?: number } | undefined;
  if (
    !l || !Number.isInteger(l.side) || !Number.isInteger(l.versions) ||
    !Number.isInteger(l.augBytes)
  ) {
    throw new TypeError(`${dir}/metadata.json: report.layout must hold side, versions, augBytes`);
  }
  return l as { side: number; versions: number; augBytes: number };
}

/** A puzzle to store: question and full answer grid (one value per cell). */
export interface GridItem {
  readonly source: string;
  readonly question: Uint8Array;
  readonly answer: Uint8Array;
  readonly rating: number;
}

/** What `writeGridDataset` writes. */
export interface GridBuild {
  kind: DatasetMetadata["kind"];
  builder: string;
  seed: number;
  /** Grid side (stored in `report.layout`); sequences are `seqLen` tokens. */
  side: number;
  seqLen: number;
  vocabSize: number;
  train: readonly GridItem[];
  test: readonly GridItem[];
  /** Writes one grid's values as tokens at `dst[at..]`. */
  toTokens: (values: Uint8Array, dst: Uint8Array, at: number) => void;
  /** Versions per training group, and the packed parameters of each ([train × versions × augBytes]). */
  versions: number;
  augBytes: number;
  trainVersions: Uint8Array;
  sources: SourceRecord[];
  options: Record<string, unknown>;
  report: Record<string, unknown>;
  /** When given, also write `train.csv` / `test.csv` with grids as this text. */
  csvGrid?: (values: Uint8Array) => string;
}

/** Builds a grid-store dataset and writes it atomically to `out`; returns the metadata. */
export async function writeGridDataset(
  out: string,
  b: GridBuild,
  opts: { force?: boolean; name?: string } = {},
): Promise<DatasetMetadata> {
  const { train, test, versions, seqLen: L } = b;
  const enc = (items: readonly GridItem[]) => {
    const inputs = new Uint8Array(items.length * L), labels = new Uint8Array(items.length * L);
    items.forEach((
      it,
      k,
    ) => (b.toTokens(it.question, inputs, k * L), b.toTokens(it.answer, labels, k * L)));
    return { inputs, labels };
  };
  const tr = enc(train), te = enc(test);
  const data: GridData = {
    seqLen: L,
    trainInputs: tr.inputs,
    trainLabels: tr.labels,
    testInputs: te.inputs,
    testLabels: te.labels,
    versions,
    augBytes: b.augBytes,
    trainVersions: b.trainVersions,
  };
  const metadata: DatasetMetadata = {
    format: FORMAT,
    kind: b.kind,
    name: datasetName(out, opts.name),
    builder: b.builder,
    seed: b.seed,
    seqLen: L,
    vocabSize: b.vocabSize,
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
    sources: b.sources,
    options: b.options,
    report: { ...b.report, layout: { side: b.side, versions, augBytes: b.augBytes } },
    contentHash: gridContentHash(data),
  };
  const files: [string, Uint8Array | string][] = gridFiles(data);
  const text = b.csvGrid;
  if (text) {
    const rows = (items: readonly GridItem[]) =>
      items.map((it) => ({
        source: it.source,
        question: text(it.question),
        answer: text(it.answer),
        rating: it.rating,
      }));
    files.push(["train.csv", await taskCsvText(rows(train))]);
    files.push(["test.csv", await taskCsvText(rows(test))]);
  }
  await writeFolderAtomically(out, files, metadata, { force: opts.force });
  return metadata;
}

/**
 * How training puzzle `p` (version `v`; 0 = the original) was derived, and its name tag (used after
 * `|||` when v > 0).
 */
export type GridVersionInfo = (p: number, v: number) => { tag: string; augmentation: Augmentation };

/** A grid-store folder's data as a `TaskDataset`. */
export function gridDataset(
  dir: string,
  metadata: DatasetMetadata,
  data: GridData,
  transform: TokenTransform,
  versionInfo: GridVersionInfo,
): TaskDataset {
  const { train, test } = gridStores(data, transform);
  return {
    dir,
    metadata,
    train,
    test,
    puzzleInfo(split, p) {
      const store = split === "train" ? train : test;
      if (!(Number.isInteger(p) && p >= 0 && p < store.numPuzzles)) {
        throw new RangeError(
          `puzzleInfo: ${split} puzzle ${p} out of range 0..${store.numPuzzles - 1}`,
        );
      }
      if (split === "test") {
        return {
          name: `test/${p}`,
          sourceId: `test/${p}`,
          group: p,
          identifier: 0,
          augmentation: { kind: "none" },
        };
      }
      const g = Math.floor(p / data.versions), v = p % data.versions;
      const { tag, augmentation } = versionInfo(p, v);
      return {
        name: v === 0 ? `train/${g}` : `train/${g}|||${tag}`,
        sourceId: `train/${g}`,
        group: g,
        identifier: 0,
        augmentation,
      };
    },
  };
}
