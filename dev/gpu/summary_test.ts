import assert from "node:assert/strict";
import { type GpuRow, ratioRows, torchRows } from "./summary.ts";

const row = (model: string, check: string, batch: string, value: string): GpuRow => ({
  model,
  check,
  batch,
  ok: "true",
  value,
  detail: "",
});

Deno.test("summary: torch JSON lines become rows; oom is ok, other errors are not", () => {
  const lines = [
    JSON.stringify({
      name: "torch_step",
      torch: "2.9.0",
      gpu: "H200",
      sdpa_vs_math_max_abs_diff: 3e-7,
      peer_vs_torch_trm_rel_diff: 5e-7,
    }),
    JSON.stringify({
      model: "trm-attn",
      dtype: "bf16",
      batch: 192,
      compile: true,
      attn: "sdpa",
      seconds: 0.5,
      times: [0.5, 0.51],
      reps: 2,
      tflops: 150,
      warmup_s: [40, 0.6],
      finite: true,
      peak_mem_bytes: 2 ** 31,
    }),
    JSON.stringify({
      model: "trm-attn",
      dtype: "f32",
      batch: 192,
      compile: false,
      compile_note: "torch.compile failed, eager instead: X",
      attn: "sdpa",
      seconds: 2,
      times: [2],
      reps: 1,
      tflops: 40,
      warmup_s: [2.1],
      finite: true,
    }),
    JSON.stringify({
      model: "tr-mamba2attn",
      dtype: "bf16",
      batch: 768,
      error: "oom",
      detail: "x",
    }),
    JSON.stringify({ model: "tr-mamba2attn", dtype: "f32", batch: 768, error: "RuntimeError" }),
    "not json",
  ];
  const rows = torchRows(lines);
  assert.deepEqual(rows.map((r) => [r.check, r.ok, r.value]), [
    ["torch-peer-self-check", "true", "5.00e-7"],
    ["torch-step-seconds-bf16-compile", "true", "0.5000"],
    ["torch-step-seconds-f32", "true", "2.0000"],
    ["torch-step-seconds-bf16", "true", "oom"],
    ["torch-step-seconds-f32", "false", ""],
  ]);
  assert.match(
    rows[1].detail,
    /torch 2\.9\.0 on H200; attn sdpa; micro-batches 1; sdpa vs math \|Δ\| 3\.0e-7/,
  );
  assert.match(rows[2].detail, /compile failed, eager instead/);
});

Deno.test("summary: ratios pair our and the peer's times at the same batch; goal vs bf16", () => {
  const rows = [
    row("trm-attn", "step-seconds-f32", "192", "14.0000"),
    row("trm-attn", "step-seconds-bf16", "192", "7.0000"),
    row("trm-attn", "torch-step-seconds-f32", "192", "2.0000"),
    row("trm-attn", "torch-step-seconds-bf16", "192", "1.0000"),
    row("trm-attn", "torch-step-seconds-bf16-compile", "192", "0.5000"),
    row("tr-mamba2attn", "step-seconds-f32", "96", "9.0000"),
    row("tr-mamba2attn", "step-seconds-bf16", "96", "oom"),
    row("tr-mamba2attn", "torch-step-seconds-bf16", "192", "1.0000"), // other batch: unpaired
  ];
  const r = ratioRows(rows, 0.75, false);
  assert.deepEqual(r.map((x) => [x.model, x.check, x.value, x.ok]), [
    ["trm-attn", "ratio-f32", "7.000", "true"],
    ["trm-attn", "ratio-bf16", "14.000", "true"],
    ["trm-attn", "goal", "14.000", "true"],
  ]);
  assert.match(r[2].detail, /NOT met/);
  assert.equal(ratioRows(rows, 0.75, true)[2].ok, "false", "--require-goal makes it a failure");
  const fast = ratioRows(
    [
      row("m", "step-seconds-bf16", "8", "0.3000"),
      row("m", "torch-step-seconds-bf16", "8", "0.5000"),
    ],
    0.75,
    true,
  );
  assert.deepEqual(fast.map((x) => [x.check, x.value, x.ok]), [
    ["ratio-bf16", "0.600", "true"],
    ["goal", "0.600", "true"],
  ]);
  assert.match(fast[1].detail, /: met/);
});
