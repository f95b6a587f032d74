/** Opens a prepared Maze folder (written by ./build.ts) as a `TaskDataset`. */
import type { DatasetMetadata, TaskDataset } from "../dataset.ts";
import { gridDataset, gridLayout, readGridData } from "../grid_store.ts";
import { mazeTransform } from "./build.ts";

/** Opens a prepared Maze dataset folder. */
export async function openMaze(dir: string, metadata: DatasetMetadata): Promise<TaskDataset> {
  const layout = gridLayout(metadata, dir);
  const n = layout.side;
  const data = await readGridData(dir, n * n, layout.versions, layout.augBytes);
  return gridDataset(dir, metadata, data, mazeTransform(n), (p) => ({
    tag: `t${data.trainVersions[p]}`,
    augmentation: { kind: "maze", dihedral: data.trainVersions[p] },
  }));
}
