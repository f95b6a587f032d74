/**
 * The fused ops of ops_fused.ts: derivatives by finite differences (f64 ref), the values of the ops
 * they stand for, and — on the cpu backend — bit-for-bit equality with those ops where the fused op
 * runs the same kernels (swigluLinear), or its forward does (addRmsnorm; its backward works from the
 * output, another formula).
 */
import assert from "node:assert/strict";
import type { Backend } from "./backend.ts";
import { createRefBackend } from "./backends/ref/mod.ts";
import { assertGradients } from "./gradcheck.ts";
import { add, linear, mul, rmsnorm, swiglu } from "./ops.ts";
import { addRmsnorm, swigluLinear } from "./ops_fused.ts";
import { Rng } from "./rng.ts";
import { type Tensor, tensor } from "./tensor.ts";
import { assertClose, assertSameBits, cpuOrSkip, outputAndGrads } from "./testing.ts";

const ref = createRefBackend({ precision: "f64" });
const cpu = cpuOrSkip("ops_fused_test: cpu tests");

function rand(be: Backend, rng: Rng, shape: number[], std = 1): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tensor(be, Array.from({ length: n }, () => std * rng.normal()), shape, {
    requiresGrad: true,
  });
}

const f32 = (rng: Rng, n: number, std = 1) =>
  Float32Array.from({ length: n }, () => Math.fround(std * rng.normal()));

Deno.test("addRmsnorm: gradients (also when both inputs share a path), forward = rmsnorm(add)", () => {
  const rng = new Rng(61);
  const x = rand(ref, rng, [4, 9], 3), y = rand(ref, rng, [4, 9]);
  assertGradients("addRmsnorm", (a, b) => addRmsnorm(a, b, 1e-5), [x, y]);
  // The post-norm shape: both inputs' gradients (one tensor from the rule) meet again in x.
  assertGradients("addRmsnorm(x, x ⊙ w)", (a, w) => addRmsnorm(a, mul(a, w)), [x, y]);
  const want = rmsnorm(add(x, y), 1e-5).toList();
  assertClose(Float64Array.from(addRmsnorm(x, y, 1e-5).toList()), want, { atol: 0, rtol: 1e-14 });
  assert.throws(() => addRmsnorm(x, rand(ref, rng, [4, 8])), /shapes differ/);
});

Deno.test("swigluLinear: gradients, values of linear(swiglu(gu), w), shape errors", () => {
  const rng = new Rng(62);
  const gu = rand(ref, rng, [2, 3, 8], 2), w = rand(ref, rng, [5, 4]);
  assertGradients("swigluLinear", swigluLinear, [gu, w]);
  const want = linear(swiglu(gu), w).toList();
  assertClose(Float64Array.from(swigluLinear(gu, w).toList()), want, { atol: 0, rtol: 1e-14 });
  assert.throws(() => swigluLinear(gu, rand(ref, rng, [5, 8])), /does not fit/);
  assert.throws(() => swigluLinear(rand(ref, rng, [2, 7]), w), /does not fit/);
});

Deno.test({
  name: "fused ops on cpu: swigluLinear bitwise the two ops; addRmsnorm's forward bitwise",
  ignore: cpu === null,
  fn: () => {
    const be = cpu!, rng = new Rng(63);
    const [rows, inter, n] = [37, 96, 50];
    const gu = f32(rng, rows * 2 * inter, 2), w = f32(rng, n * inter, 0.1);
    const shapes = [[rows, 2 * inter], [n, inter]];
    assertSameBits(
      outputAndGrads(be, swigluLinear, [gu, w], shapes),
      outputAndGrads(be, (a, b) => linear(swiglu(a), b), [gu, w], shapes),
      ["out", "dgu", "dw"],
    );
    const x = f32(rng, rows * n, 2), y = f32(rng, rows * n);
    const s = [[rows, n], [rows, n]];
    const fused = outputAndGrads(be, (a, b) => addRmsnorm(a, b), [x, y], s);
    const plain = outputAndGrads(be, (a, b) => rmsnorm(add(a, b), 1e-5), [x, y], s);
    assertSameBits([fused[0]], [plain[0]], ["out"]);
    // The backward from the output is another formula: equal to f32 rounding, not bitwise.
    assertClose(fused[1], plain[1], { atol: 1e-6, rtol: 1e-5 });
    assertClose(fused[2], plain[2], { atol: 1e-6, rtol: 1e-5 });
  },
});
