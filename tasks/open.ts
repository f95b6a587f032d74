/**
 * Opens any prepared dataset folder by its `metadata.json` kind.
 *
 * @example
 * ```ts
 * import { openDataset } from "./open.ts";
 * const ds = await openDataset(".cache/datasets/sudoku-extreme-1k-aug-1000");
 * console.log(ds.metadata.splits);
 * ```
 */
import { type DatasetMetadata, FORMAT, type TaskDataset } from "./dataset.ts";
import { openArc } from "./arc/dataset.ts";
import { parseJsonFile } from "./arc/load.ts";
import { openSudoku } from "./sudoku/dataset.ts";
import { openMaze } from "./maze/dataset.ts";

/** Reads and checks `metadata.json` of a prepared folder. */
export async function readMetadata(dir: string): Promise<DatasetMetadata> {
  const file = `${dir}/metadata.json`;
  const m = parseJsonFile(await Deno.readTextFile(file), file) as DatasetMetadata;
  if (typeof m !== "object" || m === null || m.format !== FORMAT) {
    throw new TypeError(`${file}: format must be ${FORMAT}: ${JSON.stringify(m?.format)}`);
  }
  return m;
}

/** Opens a prepared dataset folder. */
export async function openDataset(dir: string): Promise<TaskDataset> {
  dir = dir.replace(/\/+$/, "");
  const m = await readMetadata(dir);
  switch (m.kind) {
    case "arc":
      return openArc(dir, m);
    case "sudoku":
      return openSudoku(dir, m);
    case "maze":
      return openMaze(dir, m);
    default:
      throw new TypeError(`${dir}/metadata.json: unknown kind ${JSON.stringify(m.kind)}`);
  }
}
