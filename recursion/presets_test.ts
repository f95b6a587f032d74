import assert from "node:assert/strict";
import { swigluInter } from "../operators/swiglu.ts";
import { MODEL_NAMES, type ModelName } from "./config.ts";
import { modelParamCount } from "./model.ts";
import { matchWidths } from "./parity.ts";
import { presetConfig, presetDataRecipe, STUDY } from "./presets.ts";
import { PRESET_NAMES, TASK_NAMES, validateConfig } from "./run/config.ts";
import { tinyModelConfig } from "./testing.ts";

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

Deno.test("tr-gla: every preset and task; its GLA widths are the parity search's at that width", () => {
  for (const preset of PRESET_NAMES) {
    const chosen = (hidden: number, heads: number, expansion: number) => {
      const m = (model: ModelName) =>
        tinyModelConfig(model, { vocab: 12, hidden, heads, expansion, prefixLen: 16 });
      return matchWidths(m("tr-gla"), m("trm-attn")).candidates[0].widths;
    };
    for (const task of TASK_NAMES) {
      const c = presetConfig(preset, task, "tr-gla");
      // (the paper preset names no data: train takes --data)
      validateConfig({ ...c, data: { ...c.data, dir: c.data.dir ?? "DATA" } });
      assert.ok(c.arch.gla, `${preset}/${task}: no arch.gla`);
      assert.equal(c.arch.gla.causal, false);
      const w = chosen(c.arch.hidden, c.arch.heads, c.arch.expansion);
      assert.equal(c.arch.gla.keyDim, w["gla.keyDim"], `${preset}/${task}`);
      assert.equal(w["swiglu.inter"], swigluInter(c.arch.hidden, c.arch.expansion));
      // the paper's models carry no GLA settings: their configuration hashes are unchanged
      for (const model of MODEL_NAMES) {
        assert.equal("gla" in presetConfig(preset, task, model).arch, false);
      }
    }
  }
  // counts at cpu-mini (ARC vocabulary 12): tr-gla 133,386 vs trm-attn 132,738 (+648)
  const mini = (model: ModelName) => {
    const a = presetConfig("cpu-mini", "arc", model).arch;
    return { model, vocab: 12, seqLen: 100, numPuzzleIds: 1, ...a };
  };
  assert.equal(modelParamCount(mini("trm-attn")), 132_738);
  assert.equal(modelParamCount(mini("tr-gla")), 133_386);
  assert.throws(() => presetConfig("cpu-mini", "arc", "tr-glaa" as ModelName), /unknown model/);
});
