/**
 * Builds a prepared Maze dataset (spec-datasets §3.2): tokens 1 `#`, 2 space, 3 `S`, 4 `G`,
 * 5 `o` (0 PAD unused; vocab 6, seq n²), labels the full answer grid, identifier 0. With `aug`,
 * each training maze is a group of its 8 dihedral images (identity first); test is never
 * augmented.
 */
import { type DatasetMetadata, FORMAT, type SourceRecord } from "../dataset.ts";
import { dihedral } from "../grid.ts";
import { gridContentHash, gridFiles, type TokenTransform } from "../grid_store.ts";
import { taskCsvText } from "../csv.ts";
import { AtomicDir } from "../io.ts";
import { MAZE_VOCAB, mazeToString } from "./maze.ts";

export const MAZE_BUILDER = "tasks/maze@1";

/** A maze to store. */
export interface MazeItem {
  readonly source: string;
  readonly question: Uint8Array;
  readonly answer: Uint8Array;
  readonly rating: number;
}

/** The on-the-fly dihedral transform (params[0] = dihedral id). */
export function mazeTransform(n: number): TokenTransform {
  return (params, src, dst, base) => {
    const out = dihedral({ h: n, w: n, cells: src }, params[0]).cells;
    for (let k = 0; k < out.length; k++) dst[base + k] = out[k];
  };
}

/** What to write. */
export interface MazeBuildInput {
  n: number;
  train: readonly MazeItem[];
  test: readonly MazeItem[];
  aug: boolean;
  seed: number;
  sources: SourceRecord[];
  options: Record<string, unknown>;
  report: Record<string, unknown>;
  writeCsv: boolean;
}

/** Builds and writes atomically; returns the metadata. */
export async function writeMaze(
  out: string,
  input: MazeBuildInput,
  opts: { force?: boolean; name?: string } = {},
): Promise<DatasetMetadata> {
  const { n, train, test } = input;
  const L = n * n;
  const versions = input.aug ? 8 : 1;
  const enc = (items: readonly MazeItem[]) => {
    const inputs = new Uint8Array(items.length * L), labels = new Uint8Array(items.length * L);
    items.forEach((it, k) => (inputs.set(it.question, k * L), labels.set(it.answer, k * L)));
    return { inputs, labels };
  };
  const tr = enc(train), te = enc(test);
  const trainVersions = new Uint8Array(train.length * versions);
  for (let g = 0; g < train.length; g++) {
    for (let v = 0; v < versions; v++) trainVersions[g * versions + v] = v;
  }
  const data = {
    seqLen: L,
    trainInputs: tr.inputs,
    trainLabels: tr.labels,
    testInputs: te.inputs,
    testLabels: te.labels,
    versions,
    augBytes: 1,
    trainVersions,
  };
  const metadata: DatasetMetadata = {
    format: FORMAT,
    kind: "maze",
    name: opts.name ?? out.replace(/\/+$/, "").replace(/.*\//, ""),
    builder: MAZE_BUILDER,
    seed: input.seed,
    seqLen: L,
    vocabSize: MAZE_VOCAB,
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
    report: { ...input.report, layout: { side: n, versions, augBytes: 1 } },
    contentHash: gridContentHash(data),
  };
  const dir = await AtomicDir.open(out, { force: opts.force });
  try {
    for (const [name, bytes] of gridFiles(data)) await dir.write(name, bytes);
    if (input.writeCsv) {
      const rows = (items: readonly MazeItem[]) =>
        items.map((it) => ({
          source: it.source,
          question: mazeToString(it.question),
          answer: mazeToString(it.answer),
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
