/**
 * train_step_bench.ts: the parser of `--peer-cmd` output (only JSON lines with a numeric `step`
 * are results), dtype names, and the placeholders of the command. No benchmark runs here.
 */
import assert from "node:assert/strict";
import { NO_PEER_INFO } from "./bench_util.ts";
import { expandPeerCmd, normalizeDtype, parsePeerCmdOutput } from "./train_step_bench.ts";

Deno.test("parsePeerCmdOutput keeps only JSON lines with a numeric step", () => {
  const out = [
    "loading the official model…",
    '{"config": "sudoku-att", "batch": 8, "dtype": "float32", "step": 1.25, "torch": "1.13.0a0", ' +
    '"threads": 2}',
    '{"step": "1.0"}', // a string: not a result
    '{"step": null, "dtype": "f32"}',
    '{"fwd": 0.4, "bwd": 0.8}', // no step
    '{"step": -1}',
    '{"step": 0}',
    "[1, 2]",
    '{"step": 2.5e0, "dtype": "bfloat16"}',
    '{"step": 3 broken',
    '  {"step": 0.5, "dtype": "something-else", "batch": "8"}  ',
  ].join("\n");
  const got = parsePeerCmdOutput(out);
  assert.deepEqual(got.map((r) => r.step), [1.25, 2.5, 0.5]);
  assert.deepEqual(got[0], {
    step: 1.25,
    dtype: "f32",
    config: "sudoku-att",
    batch: 8,
    info: { ...NO_PEER_INFO, torch_version: "1.13.0a0", peer_threads: 2 },
  });
  assert.equal(got[1].dtype, "bf16");
  assert.equal(got[1].config, "");
  assert.equal(got[1].batch, "", "no batch field: unknown");
  assert.equal(got[2].dtype, "something-else");
  assert.equal(got[2].batch, "", "a batch that is not a number is not taken");
  assert.deepEqual(parsePeerCmdOutput(""), []);
  assert.deepEqual(parsePeerCmdOutput('{"value": 1}\nnot json\n'), []);
});

Deno.test("parsePeerCmdOutput: a peer_info line gives the peer columns, a result's own win", () => {
  const out = [
    '{"name": "peer_info", "torch_version": "1.13.0", "openblas_core": "Zen", ' +
    '"cpu_capability": "AVX2", "threads": 2, "blas_threads": 2}',
    '{"step": 1.0, "threads": 1, "measured_at": "2026-01-01T00:00:00.000Z"}',
  ].join("\n");
  const [r] = parsePeerCmdOutput(out);
  assert.deepEqual(r.info, {
    torch_version: "1.13.0",
    openblas_core: "Zen",
    cpu_capability: "AVX2",
    peer_threads: 1,
    peer_blas_threads: 2,
  });
  assert.equal(r.measured_at, "2026-01-01T00:00:00.000Z");
});

Deno.test("normalizeDtype", () => {
  assert.equal(normalizeDtype("float32"), "f32");
  assert.equal(normalizeDtype("torch.float32"), "f32");
  assert.equal(normalizeDtype("FP32"), "f32");
  assert.equal(normalizeDtype("bfloat16"), "bf16");
  assert.equal(normalizeDtype("bf16"), "bf16");
  assert.equal(normalizeDtype("float16"), "float16");
  assert.equal(normalizeDtype(undefined), "");
  assert.equal(normalizeDtype(32), "");
});

Deno.test("expandPeerCmd replaces the cell's placeholders and nothing else", () => {
  const cmd =
    "run --config {task}-att --batch {batch} --threads {threads} # {model} {other} {batch}";
  assert.equal(
    expandPeerCmd(cmd, { task: "sudoku", model: "trm-attn", batch: 8, threads: 2 }),
    "run --config sudoku-att --batch 8 --threads 2 # trm-attn {other} 8",
  );
  assert.equal(expandPeerCmd("plain", { task: "a", model: "b", batch: 1, threads: 1 }), "plain");
});
