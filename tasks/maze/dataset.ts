/** Opens a prepared Maze folder (written by ./build.ts) as a `TaskDataset`. */
import type { DatasetMetadata, TaskDataset } from "../dataset.ts";
import { gridLayout, gridStores, readGridData } from "../grid_store.ts";
import { mazeTransform } from "./build.ts";

/** Opens a prepared Maze dataset folder. */
export async function openMaze(dir: string, metadata: DatasetMetadata): Promise<TaskDataset> {
  const layout = gridLayout(metadata, dir);
  const n = layout.side;
  const data = await readGridData(dir, n * n, layout.versions, layout.augBytes);
  const { train, test } = gridStores(data, mazeTransform(n));
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
      const g = Math.floor(p / layout.versions), v = p % layout.versions;
      return {
        name: v === 0 ? `train/${g}` : `train/${g}|||t${data.trainVersions[p]}`,
        sourceId: `train/${g}`,
        group: g,
        identifier: 0,
        augmentation: { kind: "maze", dihedral: data.trainVersions[p] },
      };
    },
  };
}
