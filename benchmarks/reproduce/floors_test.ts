import assert from "node:assert/strict";
import { IGNORE_LABEL, type SplitStore } from "../../tasks/dataset.ts";
import { trivialFloors } from "./floors.ts";

/** A split of fixed examples, one per puzzle. */
function split(examples: { x: number[]; y: number[] }[]): SplitStore {
  const seqLen = examples[0].x.length;
  return {
    name: "test",
    seqLen,
    numGroups: examples.length,
    numPuzzles: examples.length,
    numExamples: examples.length,
    groupPuzzles: (g) => [g, g + 1],
    puzzleExamples: () => 1,
    puzzleIdentifier: (p) => p + 1,
    writeExample(p, _e, inputs, labels, row) {
      inputs.set(examples[p].x, row * seqLen);
      labels.set(examples[p].y, row * seqLen);
    },
  };
}

Deno.test("floors: the better of copying the input and the majority token, per task's definitions", () => {
  const I = IGNORE_LABEL;
  const s = split([
    { x: [1, 2, 3, 4], y: [1, 2, 3, 4] }, // copy: all right
    { x: [1, 1, 1, 1], y: [2, 2, 1, I] }, // copy 1/3; majority (2): 2/3
    { x: [5, 5, 5, 5], y: [I, I, I, I] }, // no supervised cell: skipped
  ]);
  const sud = trivialFloors(s, "sudoku");
  // copy: exact 1 of 2, cell mean(1, 1/3) = 66.7 %; majority token 2 (3 of 7 cells): exact 0,
  // cell mean(1/4, 2/3) = 45.8 %.
  assert.equal(sud.exact_accuracy.value, 50);
  assert.match(sud.exact_accuracy.source, /copy/);
  assert.ok(Math.abs(sud.cell_accuracy.value - 200 / 3) < 1e-9);
  // ARC counts cells over the split: copy 5 of 7 right.
  assert.ok(Math.abs(trivialFloors(s, "arc").cell_accuracy.value - 500 / 7) < 1e-9);
  // Where the majority token beats copying, it is the floor.
  const m = trivialFloors(
    split([{ x: [0, 0, 0], y: [3, 3, 1] }, { x: [0, 0, 0], y: [3, 3, 3] }]),
    "maze",
  );
  assert.equal(m.exact_accuracy.value, 50);
  assert.match(m.cell_accuracy.source, /majority token 3/);
});
