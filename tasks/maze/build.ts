/**
 * Builds a prepared Maze dataset (as TRM's `dataset/build_maze_dataset.py`): tokens 1 `#`,
 * 2 space, 3 `S`, 4 `G`, 5 `o` (0 PAD unused; vocab 6, seq n²), labels the full answer grid,
 * identifier 0. With `aug` (off by default in TRM), each training maze is a group of its 8
 * dihedral images (identity first); test is never augmented.
 */
import type { DatasetMetadata, SourceRecord } from "../dataset.ts";
import { dihedral } from "../grid.ts";
import { type GridItem, type TokenTransform, writeGridDataset } from "../grid_store.ts";
import { MAZE_VOCAB, mazeToString } from "./maze.ts";

export const MAZE_BUILDER = "tasks/maze@1";

/** A maze to store. */
export type MazeItem = GridItem;

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
  const { n, train } = input;
  const versions = input.aug ? 8 : 1;
  const trainVersions = new Uint8Array(train.length * versions);
  for (let g = 0; g < train.length; g++) {
    for (let v = 0; v < versions; v++) trainVersions[g * versions + v] = v;
  }
  return await writeGridDataset(out, {
    kind: "maze",
    builder: MAZE_BUILDER,
    seed: input.seed,
    side: n,
    seqLen: n * n,
    vocabSize: MAZE_VOCAB,
    train,
    test: input.test,
    toTokens: (values, dst, at) => dst.set(values, at),
    versions,
    augBytes: 1,
    trainVersions,
    sources: input.sources,
    options: input.options,
    report: input.report,
    csvGrid: input.writeCsv ? mazeToString : undefined,
  }, opts);
}
