/** Opens a prepared Sudoku folder (written by ./build.ts) as a `TaskDataset`. */
import type { DatasetMetadata, TaskDataset } from "../dataset.ts";
import { gridDataset, gridLayout, readGridData } from "../grid_store.ts";
import { unpackSudokuAug } from "./augment.ts";
import { sudokuTransform } from "./build.ts";
import { sudokuShape } from "./shape.ts";

/** Opens a prepared Sudoku dataset folder. */
export async function openSudoku(dir: string, metadata: DatasetMetadata): Promise<TaskDataset> {
  const layout = gridLayout(metadata, dir);
  const shape = sudokuShape(layout.side);
  const data = await readGridData(dir, shape.cells, layout.versions, layout.augBytes);
  return gridDataset(dir, metadata, data, sudokuTransform(shape), (p, v) => {
    const aug = unpackSudokuAug(data.trainVersions, shape.n, p * layout.augBytes);
    return {
      tag: `v${v}`,
      augmentation: {
        kind: "sudoku",
        transpose: aug.transpose,
        digitMap: Array.from(aug.digitMap),
        rowPerm: Array.from(aug.rowPerm),
        colPerm: Array.from(aug.colPerm),
      },
    };
  });
}
