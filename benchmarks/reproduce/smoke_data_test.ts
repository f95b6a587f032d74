/**
 * The smoke preset's ARC dataset is built from three tasks of the shipped ARC-AGI-1 copy
 * (tasks/arc/data); it must stay the dataset the committed baseline
 * (benchmarks/reproduce/expected/baselines/smoke) was trained on. Its content hash and the checksum
 * of the three task files read are those of the build made when the three files were a separate
 * folder.
 */
import assert from "node:assert/strict";
import { presetDataRecipe } from "../../recursion/presets.ts";
import { main as prepareMain } from "../../tasks/prepare.ts";

Deno.test("the smoke preset's ARC data, built from the shipped ARC-AGI-1 copy, is the baseline's", async () => {
  const recipe = presetDataRecipe("smoke", "arc")!;
  const at = recipe.args.indexOf("--out");
  assert.ok(at > 0);
  const tmp = await Deno.makeTempDir();
  try {
    const args = [...recipe.args];
    args[at + 1] = `${tmp}/arc`;
    const m = await prepareMain(args);
    assert.equal(m.contentHash, "847dfc5f3f64aa9587ba9b687e48c85605a13d64bdd169786450878c3a957a51");
    assert.deepEqual(m.sources, [{
      kind: "local",
      location: "tasks/arc/data/arc-agi-1",
      sha256: "e24de7a5a439a06f6a7e740e48e2b4740acd24ad17c555aa0821a4cc455ee4cd",
    }]);
    assert.deepEqual([m.splits.train.groups, m.splits.train.puzzles, m.splits.test.examples], [
      3,
      12,
      12,
    ]);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
