/**
 * bf16 mode: the rounding function against hand-worked values and against an independent
 * bit-pattern implementation; the autograd's rounding points (every computed activation and every
 * gradient of a bf16 node is a bf16 value; views and f32 scopes are left alone; the caller's
 * gradient is never rounded in place).
 */
import assert from "node:assert/strict";
import { backward, noGrad } from "./autograd.ts";
import { createRefBackend } from "./backends/ref/mod.ts";
import { BF16_MAX, currentPrecision, isBf16, roundBf16, withPrecision } from "./bf16.ts";
import * as ops from "./ops.ts";
import { Rng } from "./rng.ts";
import { tensor } from "./tensor.ts";

/** The bit-pattern rounding of an f32 (what the C kernel does), written independently. */
function roundBits(v: number): number {
  const f = new Float32Array([v]), u = new Uint32Array(f.buffer);
  const x = u[0];
  if ((x & 0x7fffffff) > 0x7f800000) return NaN;
  u[0] = ((x + 0x7fff + ((x >>> 16) & 1)) >>> 0) & 0xffff0000;
  return f[0];
}

Deno.test("roundBf16: hand-worked values (ties to even, overflow, subnormals, specials)", () => {
  const cases: [number, number][] = [
    [1, 1],
    [1 + 2 ** -8, 1], // tie between 1 and 1 + 2⁻⁷: even (1)
    [1 + 3 * 2 ** -8, 1 + 2 ** -6], // tie between 1 + 2⁻⁷ (odd) and 1 + 2⁻⁶ (even)
    [1 + 2 ** -8 + 2 ** -20, 1 + 2 ** -7], // past the tie: up
    [1 - 2 ** -10, 1], // below 1 the quantum is 2⁻⁸: 1 − 2⁻¹⁰ rounds up to 1
    [-2.5, -2.5],
    [3.14159, 3.140625],
    [BF16_MAX, BF16_MAX],
    [BF16_MAX + 2 ** 119, Infinity], // the midpoint above the largest finite value: to ∞ (even)
    [BF16_MAX + 2 ** 119 - 2 ** 100, BF16_MAX],
    [-(BF16_MAX + 2 ** 120), -Infinity],
    [2 ** -133, 2 ** -133], // smallest subnormal
    [2 ** -134, 0], // tie between 0 and 2⁻¹³³: even (0)
    [3 * 2 ** -134, 2 ** -132], // tie between 2⁻¹³³ (odd) and 2⁻¹³²: even
    [2 ** -126 + 2 ** -140, 2 ** -126],
    [0, 0],
    [Infinity, Infinity],
    [-Infinity, -Infinity],
  ];
  for (const [v, want] of cases) assert.equal(roundBf16(v), want, `roundBf16(${v})`);
  assert.ok(Object.is(roundBf16(-0), -0));
  assert.ok(Number.isNaN(roundBf16(NaN)));
  for (const [, want] of cases) assert.ok(isBf16(want), `${want} is a bf16 value`);
  assert.ok(!isBf16(1 + 2 ** -20));
});

Deno.test("roundBf16 agrees with the bit-pattern rounding on 40,000 random f32 patterns", () => {
  const rng = new Rng(7);
  const u = new Uint32Array(1), f = new Float32Array(u.buffer);
  let checked = 0;
  for (let k = 0; k < 40_000; k++) {
    u[0] = (rng.int(0x10000) << 16 | rng.int(0x10000)) >>> 0;
    // Every 4th pattern near a tie (low half 0x8000 ± 1) where the rule matters most.
    if (k % 4 === 0) u[0] = ((u[0] & 0xffff0000) | (0x7fff + rng.int(3))) >>> 0;
    const v = f[0], a = roundBf16(v), b = roundBits(v);
    if (Number.isNaN(v)) assert.ok(Number.isNaN(a) && Number.isNaN(b));
    else assert.ok(Object.is(a, b), `${v} (0x${u[0].toString(16)}): ${a} vs ${b}`);
    checked++;
  }
  assert.equal(checked, 40_000);
});

const be = createRefBackend();

Deno.test("bf16 mode: computed activations and bf16 nodes' gradients are bf16 values", () => {
  const rng = new Rng(3);
  const x = tensor(be, Array.from({ length: 24 }, () => roundBf16(rng.normal())), [4, 6], {
    requiresGrad: true,
  });
  const w = tensor(be, Array.from({ length: 30 }, () => roundBf16(rng.normal())), [5, 6], {
    requiresGrad: true,
  });
  const seed = tensor(be, Array.from({ length: 20 }, () => rng.normal()), [4, 5]);
  const seedCopy = Float32Array.from(seed.toArray());
  let y!: ReturnType<typeof ops.linear>, h!: ReturnType<typeof ops.linear>;
  withPrecision("bf16", () => {
    assert.equal(currentPrecision(), "bf16");
    h = ops.linear(x, w);
    y = ops.rmsnorm(ops.silu(h));
    backward(y, seed);
  });
  assert.equal(currentPrecision(), "f32");
  // Forward: the GEMM of bf16 operands (exact products, f32 sum) rounded once.
  const X = x.toArray(), W = w.toArray(), H = h.toArray();
  for (let i = 0; i < 4; i++) {
    for (let o = 0; o < 5; o++) {
      let acc = 0;
      for (let k = 0; k < 6; k++) acc += X[i * 6 + k] * W[o * 6 + k];
      assert.equal(H[i * 5 + o], roundBf16(Math.fround(acc)), `h[${i},${o}]`);
    }
  }
  for (const t of [h, y]) for (const v of t.toArray()) assert.ok(isBf16(v), `${v} not bf16`);
  // Backward: gradients of bf16 nodes are bf16 values; the caller's gradient is untouched.
  for (const t of [x, w]) for (const v of t.grad!.toArray()) assert.ok(isBf16(v), `grad ${v}`);
  assert.deepEqual(Float32Array.from(seed.toArray()), seedCopy);
  assert.ok(seedCopy.some((v) => !isBf16(v)), "the control gradient has non-bf16 values");
});

Deno.test("bf16 mode: differs from f32; f32 scopes, views and no-grad follow the rules", () => {
  const rng = new Rng(4);
  const data = Array.from({ length: 64 }, () => rng.normal());
  const a = tensor(be, data, [8, 8]), b = tensor(be, data.map((v) => v * 0.37), [8, 8]);
  const f32 = ops.mul(a, b).toArray();
  const bf = noGrad(() => withPrecision("bf16", () => ops.mul(a, b))).toArray();
  assert.ok(f32.some((v) => !isBf16(v)), "f32 products are not all bf16 values");
  assert.ok(bf.every((v) => isBf16(v)), "no-grad bf16 outputs are rounded too");
  assert.deepEqual(Float32Array.from(bf), Float32Array.from(f32, roundBf16));
  // Nested f32 scope inside bf16: left in f32.
  const inner = withPrecision("bf16", () => withPrecision("f32", () => ops.mul(a, b)));
  assert.deepEqual(inner.toArray(), f32);
  // A view of an f32 tensor made in bf16 mode keeps its base's values (nothing rounded in place).
  const before = Float32Array.from(a.toArray());
  withPrecision("bf16", () => ops.reshape(a, [64]));
  assert.deepEqual(Float32Array.from(a.toArray()), before);
  assert.ok(before.some((v) => !isBf16(v)));
  // The scope is restored after a throw.
  assert.throws(() => withPrecision("bf16", () => ops.add(a, ops.reshape(b, [64]))));
  assert.equal(currentPrecision(), "f32");
});
