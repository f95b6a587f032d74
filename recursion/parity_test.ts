import assert from "node:assert/strict";
import { createRefBackend } from "../engine/backends/ref/mod.ts";
import { Rng } from "../engine/rng.ts";
import { ALL_MODEL_NAMES, paperConfig } from "./config.ts";
import { createTrm, modelParamCount, trmParamCount } from "./model.ts";
import {
  main,
  matchReport,
  matchWidths,
  type ParityRow,
  parityRow,
  parityTableModels,
  PUBLISHED,
  reportMismatches,
  sameWidths,
  TASK_SHAPES,
  tieGroups,
} from "./parity.ts";
import { tinyModelConfig } from "./testing.ts";

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

Deno.test('parity: a count off its published figure is match "no", a MISMATCH line, exit 1', () => {
  // A tampered figure (the published one + 1) for a real paper-size build.
  const key = "sudoku/trm-mlp-t";
  const figure = PUBLISHED[key]!.exact + 1;
  const r = parityRow("trm-mlp-t", "sudoku", {
    ...PUBLISHED,
    [key]: { exact: figure, paper: "x" },
  });
  assert.equal(r.expected, figure);
  assert.notEqual(r.params, figure);
  assert.equal(r.match, "no");
  // Rows that match, or have no figure, are not reported; the mismatched one is, and fails.
  const same: ParityRow = { ...r, model: "trm-attn", expected: r.params, match: "yes" };
  const none: ParityRow = { ...r, model: "tr-gla", expected: "", match: "no figure" };
  const err = console.error, said: string[] = [];
  console.error = (m: string) => said.push(m);
  let clean: number, failing: number;
  try {
    clean = reportMismatches([same, none]);
    failing = reportMismatches([same, r, none]);
  } finally {
    console.error = err;
  }
  assert.equal(clean, 0);
  assert.equal(failing, 1);
  assert.equal(said.length, 1, said.join("\n"));
  assert.ok(said[0].startsWith(`MISMATCH ${key}: ${r.params} vs ${figure}\n`), said[0]);
  assert.ok(said[0].endsWith(r.breakdown));
});

// ------------------------------------------------------------------ the parity search

Deno.test("modelParamCount (registry counts, nothing built) = the built model's, every model", () => {
  for (const model of ALL_MODEL_NAMES) {
    const cfg = tinyModelConfig(model);
    assert.equal(
      modelParamCount(cfg),
      trmParamCount(createTrm(createRefBackend(), new Rng(0), cfg)),
    );
  }
});

Deno.test("parity search: a hand-checkable case (width 16, 2 heads, vocabulary 3)", () => {
  // trm-attn: scaffold 2·3·16 + 2·16 + 2 = 130; per layer attention 4·16² = 1,024 and SwiGLU
  // 3·16·256 = 12,288 (TRM's rule: round_up_256(4·16·2/3) = 256): 130 + 2·13,312 = 26,754.
  // tr-gla per layer: GLA 16·2·(2dk + 3·8 + 1) + 2·(8 + 1) = 64·dk + 818, SwiGLU 3·16·inter.
  // Knobs: dk ∈ 2..16 step 2 (even: RoPE), inter ∈ 128..512 step 64: 8 × 7 = 56 candidates.
  // At inter 256 the difference is 2·(64·dk − 206): dk 2 → −156, 4 → +100, 6 → +356; one step
  // of inter moves it by 2·3·16·64 = 6,144, which no dk step offsets (2·64·2 = 256 per step).
  const base = { vocab: 3, hidden: 16, heads: 2, expansion: 4 };
  const r = matchWidths(tinyModelConfig("tr-gla", base), tinyModelConfig("trm-attn", base));
  assert.equal(r.targetParams, 26_754);
  assert.deepEqual(r.knobs, [
    { key: "gla.keyDim", values: [2, 4, 6, 8, 10, 12, 14, 16] },
    { key: "swiglu.inter", values: [128, 192, 256, 320, 384, 448, 512] },
  ]);
  assert.equal(r.candidates.length, 56);
  const top = r.candidates.slice(0, 3).map((
    c,
  ) => [c.widths["gla.keyDim"], c.widths["swiglu.inter"], c.diff]);
  assert.deepEqual(top, [[4, 256, 100], [2, 256, -156], [6, 256, 356]]);
  assert.equal(r.candidates[0].params, 26_854);
  // the default key dim (value dim 8 / 2 = 4) is the recorded one, and the chosen one
  assert.ok(sameWidths(r.recorded, r.candidates[0]));
  const text = matchReport(r, "tiny", 3);
  assert.match(text.join("\n"), /1 +4 +256 +26,854 +\+100 .*<- chosen/);
  assert.match(text.at(-1)!, /recorded configuration of tr-gla is the chosen one/);
  // a recorded config off the chosen widths is reported as such
  const off = matchWidths(
    tinyModelConfig("tr-gla", { ...base, gla: { keyDim: 8, causal: false } }),
    tinyModelConfig("trm-attn", base),
  );
  assert.equal(off.recorded.diff, 612);
  assert.match(
    matchReport(off, "tiny").join("\n"),
    /differs from the chosen one:\n +rec\. +8 +256/,
  );
});

Deno.test("parity search at paper size: tr-gla's recorded widths are the chosen ones (ARC)", () => {
  const r = matchWidths(
    paperConfig("tr-gla", TASK_SHAPES.arc),
    paperConfig("trm-attn", TASK_SHAPES.arc),
  );
  assert.equal(r.targetParams, 6_829_058);
  const best = r.candidates[0];
  assert.deepEqual(best.widths, { "gla.keyDim": 32, "swiglu.inter": 1536 });
  assert.equal(best.params, 6_838_290);
  assert.equal(best.diff, 9_232);
  // 10 other widths reach the same count (12 key dims trade for 64 of inter exactly); the tie
  // goes to the one moving no knob off the recorded (= default) widths
  assert.equal(tieGroups(r.candidates)[0].length, 11);
  assert.ok(sameWidths(r.recorded, best));
  assert.equal(paperConfig("tr-gla", TASK_SHAPES.arc).gla?.keyDim, 32);
});

Deno.test("parity: tr-gla built at paper size has 6,838,290 parameters (no published figure)", () => {
  const r = parityRow("tr-gla", "arc");
  assert.equal(r.params, 6_838_290, r.breakdown);
  assert.equal(r.match, "no figure");
  // the published table (results/parity.csv) stays the paper's four models
  assert.ok(parityTableModels().every((m) => m !== "tr-gla"));
});

Deno.test("parity CLI --match: prints the search, exit 0; bad names are usage errors", async () => {
  const log = console.log, said: string[] = [];
  console.log = (m: string) => said.push(m);
  try {
    assert.equal(await main(["--match", "tr-gla", "--task", "sudoku", "--top", "3"]), 0);
  } finally {
    console.log = log;
  }
  assert.match(said[0], /tr-gla against trm-attn on sudoku at paper size \(target 6,828,034/);
  assert.ok(said.some((l) => /<- chosen/.test(l)));
  await assert.rejects(() => main(["--match", "tr-glaa"]), /--match: unknown model tr-glaa/);
  await assert.rejects(
    () => main(["--match", "tr-gla", "--task", "chess"]),
    /--task: unknown task/,
  );
  await assert.rejects(() => main(["--match", "tr-gla", "--top", "0"]), /--top/);
});
