/**
 * verify must be able to fail: the smoke pipeline with a sabotaged model (learning rate 0: it
 * never learns) must fail verify against the committed smoke baseline, on the sabotaged model's
 * checked metrics, while the pairs it did not run are reported as not run.
 */
import assert from "node:assert/strict";
import { reproduce } from "./pipeline.ts";
import { parseReproduceArgs } from "./options.ts";

const BASELINES = new URL("./expected/baselines", import.meta.url).pathname;

Deno.test("verify fails the smoke pipeline of a model that never learns (lr 0)", async () => {
  const root = await Deno.makeTempDir({ prefix: "trm-sabotage-test-" });
  try {
    const patch = `${root}/lr0.json`;
    // Learning rate 0 (puzzle embeddings too), and few steps: the model stays as initialised.
    await Deno.writeTextFile(
      patch,
      JSON.stringify({ train: { lr: 0, puzzleLr: 0, steps: 20, evalEvery: 20 } }),
    );
    const o = parseReproduceArgs([
      "--preset",
      "smoke",
      "--tasks",
      "sudoku",
      "--models",
      "trm-mlp-t",
      "--config",
      patch,
      "--out",
      `${root}/results`,
      "--runs",
      `${root}/runs`,
      "--baselines",
      BASELINES,
      "--no-progress",
    ]);
    const lines: string[] = [];
    const res = await reproduce(o, (l) => lines.push(l));
    const rows = res.verifyRows!;
    const mine = rows.filter((r) => r.task === "sudoku" && r.model === "trm-mlp-t");
    const failed = mine.filter((r) => r.status === "regression").map((r) => r.metric).sort();
    assert.deepEqual(failed, ["cell_accuracy", "exact_accuracy"], lines.join("\n"));
    assert.ok(res.failed >= 2, lines.join("\n"));
    assert.ok(lines.some((l) => l.startsWith("verify: FAILED")), lines.join("\n"));
    // The pairs this run did not include are named, not failed.
    const others = rows.filter((r) => !(r.task === "sudoku" && r.model === "trm-mlp-t"));
    assert.ok(others.length > 0 && others.every((r) => r.status === "not-run"));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
