import assert from "node:assert/strict";
import { MODEL_NAMES } from "./config.ts";
import { presetConfig, presetDataRecipe, STUDY } from "./presets.ts";
import { PRESET_NAMES, TASK_NAMES } from "./run/config.ts";

Deno.test("cpu-study: reduced-scale label, one step count for every run, data recipes", () => {
  assert.ok(PRESET_NAMES.includes("cpu-study"));
  for (const task of TASK_NAMES) {
    for (const model of MODEL_NAMES) {
      const c = presetConfig("cpu-study", task, model, 2);
      assert.equal(c.preset, "cpu-study");
      assert.equal(c.seed, 2);
      assert.match(c.scale, /^cpu-study .*reduced.*NOT the paper's setting/);
      // --budget (benchmarks/study/cli.ts) scales every run with one patch: same steps everywhere.
      assert.equal(c.train.steps, STUDY.steps);
      assert.equal(c.train.evalEvery, STUDY.evalEvery);
      assert.equal(c.train.checkpointEvery, STUDY.checkpointEvery);
      assert.equal(STUDY.steps % STUDY.evalEvery, 0, "the last step is an evaluation");
      const recipe = presetDataRecipe("cpu-study", task);
      if (task === "sudoku") {
        assert.equal(recipe, null);
        assert.deepEqual(c.data.generate, { kind: "sudoku", ...STUDY.sudoku, seed: 42 });
      } else {
        assert.ok(recipe, task);
        assert.equal(c.data.dir, recipe.dir);
        assert.ok(recipe.dir.startsWith(".cache/datasets/"), recipe.dir);
        assert.equal(recipe.args[0], task);
      }
    }
  }
  // The maze recipe names every argument in its folder name.
  const maze = presetDataRecipe("cpu-study", "maze")!;
  const s = STUDY.maze;
  assert.equal(maze.dir, `.cache/datasets/maze${s.size}-gen-${s.train}-test-${s.test}-seed-42`);
  assert.deepEqual(maze.args.slice(0, 3), ["maze", "--size", String(s.size)]);
});
