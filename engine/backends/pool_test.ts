import assert from "node:assert/strict";
import { createRefBackend } from "./ref.ts";
import { withPool } from "./pool.ts";
import { backward, zeroGrad } from "../autograd.ts";
import { linear, rmsnorm, silu } from "../ops.ts";
import { attention, ropeTables, sum } from "../ops_nn.ts";
import { tensor } from "../tensor.ts";
import { Rng } from "../rng.ts";

Deno.test("pool: freed buffers are reused by dtype and length, zeroed on request", () => {
  const be = withPool(createRefBackend());
  const a = be.alloc("f32", 8);
  be.upload(a, [1, 2, 3, 4, 5, 6, 7, 8]);
  be.free(a);
  const b = be.alloc("f32", 8);
  assert.equal(b, a, "same buffer handed out again");
  assert.deepEqual(Array.from(be.download(b)), [0, 0, 0, 0, 0, 0, 0, 0], "zeroed by default");
  be.upload(b, [9, 9, 9, 9, 9, 9, 9, 9]);
  be.free(b);
  const c = be.alloc("f32", 8, false);
  assert.equal(c, a);
  assert.equal(be.download(c)[0], 9, "zero=false leaves contents alone");
  assert.notEqual(be.alloc("i32", 8), a, "dtype is part of the key");
  assert.notEqual(be.alloc("f32", 7), a, "length is part of the key");
  assert.deepEqual(be.poolStats().hits, 2);
});

Deno.test("pool: views are never pooled, double free throws, maxBytes bounds the cache", () => {
  const be = withPool(createRefBackend(), { maxBytes: 64 });
  const a = be.alloc("f32", 16);
  be.free(be.view(a, 4, 4));
  assert.equal(be.poolStats().pooledBytes, 0);
  be.free(a);
  assert.throws(() => be.free(a), /twice/);
  const big = be.alloc("f32", 100);
  be.free(big);
  assert.equal(be.poolStats().pooledBytes, 64, "over the bound: dropped, not kept");
});

/** A few training steps touching every op that releases internals; returns the losses. */
function steps(be: ReturnType<typeof createRefBackend>, n: number): number[] {
  const rng = new Rng(3);
  const r = (shape: number[], g = false) =>
    tensor(be, Array.from({ length: shape.reduce((a, b) => a * b) }, () => rng.normal()), shape, {
      requiresGrad: g,
    });
  const w1 = r([24, 8], true), w2 = r([8, 8], true);
  const rope = ropeTables(be, 5, 4);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = r([2, 5, 8]);
    const h = rmsnorm(attention(linear(x, w1), 2, { rope }));
    const loss = sum(silu(linear(h, w2)));
    zeroGrad([w1, w2]);
    backward(loss);
    be.axpby(w1.size, 1, w1.buf, -0.01, w1.grad!.buf, w1.buf);
    be.axpby(w2.size, 1, w2.buf, -0.01, w2.grad!.buf, w2.buf);
    out.push(loss.item());
  }
  return out;
}

Deno.test("pool: recycling buffers changes no result (bitwise)", () => {
  const pooled = withPool(createRefBackend());
  assert.deepEqual(steps(pooled, 6), steps(createRefBackend(), 6));
  assert.ok(pooled.poolStats().hits > 0, "the pool was exercised");
});
