import assert from "node:assert/strict";
import { parityRow } from "./parity.ts";

// The four counts the issue pins, built as real paper-size models (takes a few seconds).
for (
  const [task, model, want] of [
    ["arc", "trm-attn", 6_829_058],
    ["arc", "tr-mamba2attn", 6_860_386],
    ["sudoku", "trm-mlp-t", 5_028_866],
    ["arc", "trm-mlp-t", 18_801_666],
  ] as const
) {
  Deno.test(`parity: ${task} ${model} has exactly ${want.toLocaleString("en-US")} parameters`, () => {
    const r = parityRow(model, task);
    assert.equal(r.params, want, r.breakdown);
    assert.equal(r.match, "yes");
  });
}
