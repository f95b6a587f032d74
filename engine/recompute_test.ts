import assert from "node:assert/strict";
import { createRefBackend } from "./backends/ref/mod.ts";
import { withPool } from "./backends/pool.ts";
import type { Backend } from "./backend.ts";
import { backward, noGrad, zeroGrad } from "./autograd.ts";
import { assertGradients } from "./gradcheck.ts";
import { add, linear, mul, rmsnorm, swiglu } from "./ops.ts";
import { sum } from "./ops_nn.ts";
import { recompute } from "./recompute.ts";
import { Rng } from "./rng.ts";
import { scoped } from "./scope.ts";
import { type Tensor, tensor } from "./tensor.ts";
import { assertClose, randomArray } from "./testing.ts";

/** A residual SwiGLU block with post-norm, as TRM's sub-layers: rmsnorm(h + W2·swiglu(W1·h)). */
function makeBlock(be: Backend, rng: Rng, d: number) {
  const w1 = tensor(be, randomArray(rng, 4 * d * d, { std: 0.3 }), [4 * d, d], {
    requiresGrad: true,
  });
  const w2 = tensor(be, randomArray(rng, 2 * d * d, { std: 0.3 }), [d, 2 * d], {
    requiresGrad: true,
  });
  const fn = (h: Tensor, inj: Tensor) => {
    const x = add(h, inj);
    return rmsnorm(add(x, linear(swiglu(linear(x, w1)), w2)));
  };
  return { fn, params: [w1, w2] };
}

/** A chain of `n` calls of the block (shared weights, as TRM's recursion), optionally recomputed. */
function chain(
  block: ReturnType<typeof makeBlock>,
  h0: Tensor,
  inj: Tensor,
  n: number,
  rec: boolean,
): Tensor {
  let h = h0;
  for (let i = 0; i < n; i++) {
    h = rec ? recompute(block.fn, [h, inj], block.params) : block.fn(h, inj);
  }
  return h;
}

function setup(be: Backend, rows = 6, d = 4) {
  const rng = new Rng(7);
  const block = makeBlock(be, rng, d);
  const h0 = tensor(be, randomArray(rng, rows * d, { std: 1 }), [rows, d]);
  const inj = tensor(be, randomArray(rng, rows * d, { std: 1 }), [rows, d], {
    requiresGrad: true,
  });
  const w = tensor(be, randomArray(rng, rows * d, { std: 1 }), [rows, d]);
  return { block, h0, inj, w };
}

Deno.test("recompute: same loss and gradients as the plain graph (f64), also for inputs", () => {
  const be = createRefBackend({ precision: "f64" });
  const { block, h0, inj, w } = setup(be);
  const grads = (rec: boolean) => {
    zeroGrad([...block.params, inj]);
    const loss = sum(mul(chain(block, h0, inj, 3, rec), w));
    backward(loss);
    return {
      loss: loss.item(),
      g: [...block.params, inj].map((p) => Array.from(p.grad!.toArray())),
    };
  };
  const plain = grads(false), rec = grads(true);
  assert.equal(rec.loss, plain.loss, "the forward is the same computation");
  rec.g.forEach((g, i) =>
    assertClose(g, plain.g[i], { atol: 1e-13, rtol: 1e-12, msg: `grad ${i}` })
  );
});

Deno.test("recompute: gradients match finite differences (f64)", () => {
  const be = createRefBackend({ precision: "f64" });
  const { block, h0, inj, w } = setup(be, 3, 4);
  const [w1, w2] = block.params;
  // The block over gradcheck's own inputs: weights as the params of each recomputed call.
  const f = (i: Tensor, a: Tensor, b: Tensor) => {
    const fn = (h: Tensor, j: Tensor) => {
      const x = add(h, j);
      return rmsnorm(add(x, linear(swiglu(linear(x, a)), b)));
    };
    return mul(chain({ fn, params: [a, b] }, h0, i, 2, true), w);
  };
  assertGradients("recompute chain", f, [inj, w1, w2]);
});

Deno.test("recompute: records one node over inputs and params; plain under noGrad", () => {
  const be = createRefBackend({ precision: "f64" });
  const { block, h0, inj } = setup(be);
  const y = recompute(block.fn, [h0, inj], block.params);
  assert.equal(y.node?.op, "recompute");
  assert.deepEqual(y.node!.inputs, [h0, inj, ...block.params]);
  const z = noGrad(() => recompute(block.fn, [h0, inj], block.params));
  assert.equal(z.node, null);
  assert.deepEqual(z.toList(), y.toList());
});

Deno.test("recompute: a chain's peak memory in backward is lower than the plain graph's", () => {
  // Pooled backend: live bytes = buffers handed out and not released. Scoped like a training
  // step, so everything but the gradients is released at the end.
  const peak = (rec: boolean) => {
    const be = withPool(createRefBackend({ precision: "f32" }));
    const { block, h0, inj, w } = setup(be, 64, 16);
    be.resetPeak();
    const start = be.poolStats().liveBytes;
    let loss = 0;
    scoped(() => {
      zeroGrad([...block.params, inj]);
      const l = sum(mul(chain(block, h0, inj, 6, rec), w));
      backward(l);
      loss = l.item();
      return [...block.params, inj].map((p) => p.grad!);
    });
    return { peak: be.poolStats().peakLiveBytes - start, loss };
  };
  const plain = peak(false), rec = peak(true);
  assert.equal(rec.loss, plain.loss);
  // plain keeps 6 blocks' activations (≈ 14 row-tensors each) at the start of backward;
  // recompute keeps 6 outputs plus one block's activations at a time
  assert.ok(
    rec.peak < 0.5 * plain.peak,
    `peak live bytes: recompute ${rec.peak}, plain ${plain.peak}`,
  );
});
