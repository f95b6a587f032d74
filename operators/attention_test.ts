import assert from "node:assert/strict";
import { createRefBackend } from "../engine/backends/ref/mod.ts";
import { Rng } from "../engine/rng.ts";
import { tensor } from "../engine/tensor.ts";
import type { Backend } from "../engine/backend.ts";
import { type AttentionConfig, createAttention } from "./attention.ts";
import { countParams } from "./operator.ts";
import { assertBackendsAgree, fastBackend, gradcheckOperator, runOperator } from "./testing.ts";

const fast = fastBackend();
if (!fast.be) console.warn(`SKIPPING attention ${fast.name}-vs-ref tests: ${fast.reason}`);

const maker = (cfg: AttentionConfig) => (be: Backend, rng: Rng) => createAttention(be, rng, cfg);

Deno.test("attention: parameter count at hidden 512 is 3·512² + 512² = 1,048,576", () => {
  const op = createAttention(createRefBackend(), new Rng(0), {
    hidden: 512,
    numHeads: 8,
    rope: true,
  });
  assert.equal(countParams(op), 1_048_576);
  assert.deepEqual(op.params["qkv_proj.weight"].shape, [1536, 512]);
  assert.deepEqual(op.params["o_proj.weight"].shape, [512, 512]);
  // TRM init: truncated LeCun normal, std 1/√fan_in, |w| ≤ 2σ/0.8796.
  const w = op.params["qkv_proj.weight"].toArray();
  let ss = 0, max = 0;
  for (const v of w) {
    ss += v * v;
    max = Math.max(max, Math.abs(v));
  }
  const std = Math.sqrt(ss / w.length);
  assert.ok(Math.abs(std - 1 / Math.sqrt(512)) < 0.01 / Math.sqrt(512), `std ${std}`);
  assert.ok(max <= (2 / 0.8796256610) / Math.sqrt(512) + 1e-7, `max ${max}`);
});

Deno.test("attention: rejects a bad head split, odd RoPE head dim and wrong input width", () => {
  const be = createRefBackend();
  assert.throws(() => createAttention(be, new Rng(0), { hidden: 10, numHeads: 3, rope: false }));
  assert.throws(
    () => createAttention(be, new Rng(0), { hidden: 6, numHeads: 2, rope: true }),
    /even head dim/,
  );
  const op = createAttention(be, new Rng(0), { hidden: 8, numHeads: 2, rope: false });
  assert.throws(() => op.forward(tensor(be, new Float32Array(12), [1, 2, 6])), /\[B, L, 8\]/);
});

Deno.test("attention: RoPE changes the output, and position matters only with RoPE", () => {
  const be = createRefBackend({ precision: "f64" });
  const cfg = { hidden: 8, numHeads: 2 };
  const withRope = runOperator(be, maker({ ...cfg, rope: true }), [1, 5, 8]).output;
  const without = runOperator(be, maker({ ...cfg, rope: false }), [1, 5, 8]).output;
  // Token 0 has angle 0, so its rotation is the identity for q and k — but it attends to rotated
  // keys, so every row differs; compare all.
  let diff = 0;
  for (let i = 0; i < withRope.length; i++) diff += Math.abs(withRope[i] - without[i]);
  assert.ok(diff > 1e-3, `RoPE made no difference: ${diff}`);
  // Without RoPE, attention is permutation-equivariant: swapping two tokens swaps their outputs.
  const op = createAttention(be, new Rng(3), { ...cfg, rope: false });
  const rng = new Rng(4);
  const x = Array.from({ length: 40 }, () => rng.normal());
  const swapped = [...x.slice(8, 16), ...x.slice(0, 8), ...x.slice(16)];
  const y = op.forward(tensor(be, x, [1, 5, 8])).toArray();
  const ys = op.forward(tensor(be, swapped, [1, 5, 8])).toArray();
  for (let i = 0; i < 8; i++) assert.ok(Math.abs(y[i] - ys[8 + i]) < 1e-12);
  const opR = createAttention(be, new Rng(3), { ...cfg, rope: true });
  const yr = opR.forward(tensor(be, x, [1, 5, 8])).toArray();
  const ysr = opR.forward(tensor(be, swapped, [1, 5, 8])).toArray();
  let d2 = 0;
  for (let i = 0; i < 8; i++) d2 += Math.abs(yr[i] - ysr[8 + i]);
  assert.ok(d2 > 1e-6, "with RoPE, positions must matter");
});

Deno.test("attention: gradcheck of forward and block on ref f64 (rope on and off)", () => {
  const be = createRefBackend({ precision: "f64" });
  for (const rope of [true, false]) {
    const op = createAttention(be, new Rng(5), { hidden: 8, numHeads: 2, rope });
    for (const which of ["forward", "block"] as const) {
      const r = gradcheckOperator(be, op, [2, 5, 8], which, { maxPerInput: 40 });
      assert.ok(r.checked >= 100, `checked only ${r.checked}`);
      assert.deepEqual(r.failures.slice(0, 3), [], `rope=${rope} ${which}: max err ${r.maxErr}`);
    }
  }
});

for (const [b, l] of [[2, 1], [2, 7], [2, 97]]) {
  Deno.test({
    name: `attention: ${fast.name} matches ref, output and all gradients, B=${b} L=${l}`,
    ignore: !fast.be,
    fn() {
      const make = maker({ hidden: 48, numHeads: 3, rope: true, maxSeq: 64 });
      for (const which of ["forward", "block"] as const) {
        assertBackendsAgree(fast.be!, createRefBackend(), make, [b, l, 48], which);
      }
    },
  });
}

Deno.test({
  name: `attention: ${fast.name} matches ref at L=916 (B=1, TRM's ARC length), rope on`,
  ignore: !fast.be,
  fn() {
    const make = maker({ hidden: 64, numHeads: 4, rope: true, prefixLen: 16 });
    assertBackendsAgree(fast.be!, createRefBackend(), make, [1, 916, 64]);
  },
});
