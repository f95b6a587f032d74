/**
 * Every backward rule, checked by central finite differences in float64 on the ref backend, at
 * inputs that include zeros, negative and large values; plus forward values against direct
 * formulas where one is short.
 */
import assert from "node:assert/strict";
import { createRefBackend } from "./backends/ref/mod.ts";
import { assertGradients, gradcheck } from "./gradcheck.ts";
import { Rng } from "./rng.ts";
import { type Tensor, tensor } from "./tensor.ts";
import * as ops from "./ops.ts";
import * as nn from "./ops_nn.ts";
import { backward } from "./autograd.ts";

const be = createRefBackend({ precision: "f64" });

/** A random f64 tensor; `special` mixes in 0, ±1e-3, ±3 and large magnitudes. */
function rand(rng: Rng, shape: number[], opts: { std?: number; special?: boolean } = {}): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const specials = [0, -0.001, 0.001, -3, 3, -25, 25];
  const d = Array.from(
    { length: n },
    (_, i) =>
      opts.special && i % 5 === 0
        ? specials[(i / 5) % specials.length]
        : rng.normal() * (opts.std ?? 1),
  );
  return tensor(be, d, shape, { requiresGrad: true });
}

function ints(data: number[], shape: number[]): Tensor {
  return tensor(be, data, shape, { dtype: "i32" });
}

const check = assertGradients;

Deno.test("gradcheck detects a wrong backward rule", () => {
  const rng = new Rng(1);
  const x = rand(rng, [3, 4]);
  // A deliberately wrong rule: forward 2x, backward claims 3g.
  const wrong = (t: Tensor) => {
    const y = ops.scale(t.detach(), 2);
    y.requiresGrad = true;
    y.node = { op: "wrong", inputs: [t], backward: (g) => [ops.scale(g, 3)] };
    return y;
  };
  assert.ok(gradcheck(wrong, [x]).failures.length > 0);
});

Deno.test("elementwise ops: add, sub, scale, mul, addRowVector", () => {
  const rng = new Rng(2);
  const a = rand(rng, [3, 5], { special: true }), b = rand(rng, [3, 5]), v = rand(rng, [5]);
  check("add", ops.add, [a, b]);
  check("sub", ops.sub, [a, b]);
  check("scale", (x) => ops.scale(x, -1.7), [a]);
  check("mul", ops.mul, [a, b]);
  check("mul(x,x)", (x) => ops.mul(x, x), [a]);
  check("addRowVector", ops.addRowVector, [a, v]);
});

Deno.test("unary ops: silu, softplus, exp, sigmoid at zero, negative and large inputs", () => {
  const rng = new Rng(3);
  const x = rand(rng, [2, 7], { special: true });
  check("silu", ops.silu, [x]);
  check("softplus", ops.softplus, [x]);
  check("sigmoid", ops.sigmoid, [x]);
  const small = rand(rng, [9], { std: 2 });
  check("exp", ops.exp, [small], { rtol: 1e-6 });
  // softplus is linear above 20 (PyTorch's threshold) and log1p(eˣ) below.
  const sp = ops.softplus(tensor(be, [25, 20, -30, 0], [4])).toList();
  assert.deepEqual(sp.map((v) => +v.toFixed(12)), [
    25,
    +Math.log1p(Math.exp(20)).toFixed(12),
    +Math.log1p(Math.exp(-30)).toFixed(12),
    +Math.log(2).toFixed(12),
  ]);
});

Deno.test("swiglu and transpose", () => {
  const rng = new Rng(4);
  check("swiglu", ops.swiglu, [rand(rng, [3, 2, 10], { special: true })]);
  check("transpose", ops.transpose, [rand(rng, [2, 3, 5])]);
  const x = tensor(be, [1, 2, 3, 4, 5, 6], [1, 2, 3]);
  assert.deepEqual(ops.transpose(x).toList(), [1, 4, 2, 5, 3, 6]);
});

Deno.test("linear and bmm in all transpose combinations, incl. a broadcast operand", () => {
  const rng = new Rng(5);
  check("linear", ops.linear, [rand(rng, [2, 3, 7]), rand(rng, [5, 7])]);
  for (const ta of [false, true]) {
    for (const tb of [false, true]) {
      const m = 3, k = 4, n = 5, bt = 2;
      const a = rand(rng, ta ? [bt, k, m] : [bt, m, k]);
      const b = rand(rng, tb ? [bt, n, k] : [bt, k, n]);
      check(`bmm ${ta} ${tb}`, (x, y) => ops.bmm(x, y, ta, tb), [a, b]);
      const a1 = rand(rng, ta ? [1, k, m] : [1, m, k]);
      check(`bmm shared A ${ta} ${tb}`, (x, y) => ops.bmm(x, y, ta, tb), [a1, b]);
      const b1 = rand(rng, tb ? [1, n, k] : [1, k, n]);
      check(`bmm shared B ${ta} ${tb}`, (x, y) => ops.bmm(x, y, ta, tb), [a, b1]);
    }
  }
  // Forward value against a hand computation.
  const x = tensor(be, [1, 2, 3, 4], [1, 2, 2]), w = tensor(be, [1, 0, 1, 1], [2, 2]);
  assert.deepEqual(ops.linear(x, w).toList(), [1, 3, 3, 7]);
});

Deno.test("rmsnorm with and without weight, softmax", () => {
  const rng = new Rng(6);
  const x = rand(rng, [4, 9], { special: true });
  check("rmsnorm", (t) => ops.rmsnorm(t, 1e-5), [x]);
  check("rmsnorm weighted", (t, w) => ops.rmsnorm(t, 1e-5, w), [x, rand(rng, [9])]);
  check("softmax", ops.softmax, [rand(rng, [3, 6], { std: 3 })]);
  const y = ops.rmsnorm(tensor(be, [3, 4], [1, 2]), 0).toList();
  assert.ok(
    Math.abs(y[0] - 3 / Math.sqrt(12.5)) < 1e-12 && Math.abs(y[1] - 4 / Math.sqrt(12.5)) < 1e-12,
  );
});

Deno.test("embedding with repeated ids, slice and concat along axis 1, reshape", () => {
  const rng = new Rng(7);
  const table = rand(rng, [5, 3]);
  const ids = ints([4, 0, 4, 2, 4, 1], [2, 3]);
  check("embedding", (t) => nn_embed(t, ids), [table]);
  const x = rand(rng, [2, 5, 3]), y = rand(rng, [2, 2, 3]);
  check("slice", (t) => ops.sliceAxis1(t, 1, 3), [x]);
  check("concat", ops.concatAxis1, [x, y]);
  check("reshape", (t) => ops.mul(ops.reshape(t, [10, 3]), ops.reshape(t, [10, 3])), [x]);
  assert.throws(() => ops.embedding(table, ints([5], [1])), RangeError);
});

function nn_embed(t: Tensor, ids: Tensor): Tensor {
  return ops.embedding(t, ids);
}

Deno.test("attention with and without RoPE (odd sizes)", () => {
  const rng = new Rng(8);
  for (const [b, l, h, d] of [[1, 1, 1, 2], [2, 5, 2, 4], [1, 7, 3, 6]]) {
    const qkv = rand(rng, [b, l, 3 * h * d]);
    check(`attention ${b}x${l}x${h}x${d}`, (t) => nn.attention(t, h), [qkv]);
    const rope = nn.ropeTables(be, l + 2, d);
    check(`attention+rope ${b}x${l}x${h}x${d}`, (t) => nn.attention(t, h, { rope }), [qkv]);
  }
});

Deno.test("attention forward equals softmax(QKᵀ/√d)V built from primitive ops", () => {
  const rng = new Rng(9);
  const [l, d] = [6, 4];
  const qkv = rand(rng, [1, l, 3 * d]);
  const host = qkv.toList();
  const pick = (o: number) =>
    tensor(
      be,
      Array.from({ length: l * d }, (_, i) => host[Math.floor(i / d) * 3 * d + o + (i % d)]),
      [1, l, d],
    );
  const [q, k, v] = [pick(0), pick(d), pick(2 * d)];
  const p = ops.softmax(ops.scale(ops.bmm(q, k, false, true), 1 / Math.sqrt(d)));
  const want = ops.bmm(p, v).toList();
  const got = nn.attention(qkv, 1).toList();
  got.forEach((g, i) => assert.ok(Math.abs(g - want[i]) < 1e-12, `at ${i}: ${g} vs ${want[i]}`));
});

Deno.test("RoPE: position 0 is the identity and the inverse undoes the rotation", () => {
  const { cos, sin } = nn.ropeTables(be, 4, 8);
  const rng = new Rng(10);
  const x = rand(rng, [1, 4, 8]);
  const y = be.alloc("f32", 32), z = be.alloc("f32", 32);
  be.rope(1, 4, 1, 8, x.buf, 8, cos.buf, sin.buf, false, y, 8);
  be.rope(1, 4, 1, 8, y, 8, cos.buf, sin.buf, true, z, 8);
  const xs = x.toList(), ys = Array.from(be.download(y)), zs = Array.from(be.download(z));
  for (let i = 0; i < 8; i++) assert.ok(Math.abs(ys[i] - xs[i]) < 1e-12);
  // The tables hold float32 cos/sin (as the reference does), so cos² + sin² = 1 only to ~1e-7.
  for (let i = 0; i < 32; i++) assert.ok(Math.abs(zs[i] - xs[i]) < 1e-6);
  assert.ok(Math.abs(ys[8] - xs[8]) > 1e-6, "position 1 must rotate");
});

Deno.test("stable-max cross-entropy: gradient, ignore label, per-sequence mean", () => {
  const rng = new Rng(11);
  const logits = rand(rng, [2, 4, 5], { special: true });
  const labels = ints([1, -100, 4, 0, -100, -100, -100, -100], [2, 4]);
  check("stablemaxXent", (t) => nn.stablemaxXent(t, labels), [logits]);
  const loss = nn.stablemaxXent(logits, labels).toList();
  assert.equal(loss[1], 0, "all-ignored sequence has loss 0");
  // Direct formula for sequence 0.
  const x = logits.toList(), s = (v: number) => (v < 0 ? 1 / (1 - v) : v + 1);
  let acc = 0;
  for (const [t, lab] of [[0, 1], [2, 4], [3, 0]]) {
    const row = x.slice(t * 5, t * 5 + 5);
    acc += -Math.log(s(row[lab]) / row.reduce((a, v) => a + s(v), 0));
  }
  assert.ok(Math.abs(loss[0] - acc / 3) < 1e-12);
});

Deno.test("BCE with logits, sum, mean, argmax", () => {
  const rng = new Rng(12);
  const x = rand(rng, [6], { special: true });
  const tgt = tensor(be, [1, 0, 1, 0, 0.5, 1], [6]);
  check("bce", (t) => nn.bceWithLogits(t, tgt), [x]);
  check("sum", (t) => nn.sum(t), [rand(rng, [3, 3])]);
  check("mean", (t) => nn.mean(t), [rand(rng, [7])]);
  const big = nn.bceWithLogits(tensor(be, [100, -100], [2]), tensor(be, [0, 1], [2])).toList();
  assert.ok(Math.abs(big[0] - 100) < 1e-9 && Math.abs(big[1] - 100) < 1e-9, "no overflow");
  assert.deepEqual(nn.argmax(tensor(be, [1, 3, 3, 0, -1, -2], [2, 3])).toList(), [1, 0]);
});

Deno.test("gradients accumulate across backward calls and sum over reuse", () => {
  const x = tensor(be, [1, 2, 3], [3], { requiresGrad: true });
  backward(nn.sum(ops.mul(x, x)));
  assert.deepEqual(x.grad!.toList(), [2, 4, 6]);
  backward(nn.sum(ops.add(x, x)));
  assert.deepEqual(x.grad!.toList(), [4, 6, 8]);
});

Deno.test("shape and dtype errors name the shapes", () => {
  const a = tensor(be, [1, 2, 3, 4, 5, 6], [2, 3]), b = tensor(be, [1, 2], [2, 1]);
  assert.throws(
    () => ops.add(a, b),
    (e: Error) => e instanceof TypeError && /\[2, 3\].*\[2, 1\]/.test(e.message),
  );
  assert.throws(
    () => ops.linear(a, b),
    (e: Error) => e instanceof TypeError && /\[2, 3\]/.test(e.message),
  );
  assert.throws(() => ops.reshape(a, [4]), TypeError);
  assert.throws(
    () => ops.silu(ints([1], [1])),
    (e: Error) => e instanceof TypeError && /i32/.test(e.message),
  );
  assert.throws(() => ops.sliceAxis1(a, 2, 5), RangeError);
  assert.throws(() => tensor(be, [1, 2, 3], [2, 2]), TypeError);
});
