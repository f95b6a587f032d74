/** Opens a prepared Sudoku folder (written by ./build.ts) as a `TaskDataset`. */
import type { DatasetMetadata, TaskDataset } from "../dataset.ts";
import { gridLayout, gridStores, readGridData } from "../grid_store.ts";
import { unpackSudokuAug } from "./augment.ts";
import { sudokuTransform } from "./build.ts";
import { sudokuShape } from "./shape.ts";

/** Opens a prepared Sudoku dataset folder. */
export async function openSudoku(dir: string, metadata: DatasetMetadata): Promise<TaskDataset> {
  const layout = gridLayout(metadata, dir);
  const shape = sudokuShape(layout.side);
  const data = await readGridData(dir, shape.cells, layout.versions, layout.augBytes);
  const { train, test } = gridStores(data, sudokuTransform(shape));
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
      const aug = unpackSudokuAug(data.trainVersions, shape.n, p * layout.augBytes);
      return {
        name: v === 0 ? `train/${g}` : `train/${g}|||v${v}`,
        sourceId: `train/${g}`,
        group: g,
        identifier: 0,
        augmentation: {
          kind: "sudoku",
          transpose: aug.transpose,
          digitMap: Array.from(aug.digitMap),
          rowPerm: Array.from(aug.rowPerm),
          colPerm: Array.from(aug.colPerm),
        },
      };
    },
  };
}
