import assert from "node:assert/strict";
import { createRefBackend } from "./backends/ref/mod.ts";
import { backward, isGradEnabled, noGrad, zeroGrad } from "./autograd.ts";
import { tensor } from "./tensor.ts";
import { add, linear, mul, reshape, scale } from "./ops.ts";
import { addRmsnorm } from "./ops_fused.ts";
import { sum } from "./ops_nn.ts";

const be = createRefBackend({ precision: "f64" });

Deno.test("noGrad records nothing and restores the previous state, also on throw", () => {
  const x = tensor(be, [1, 2], [2], { requiresGrad: true });
  const y = noGrad(() => mul(x, x));
  assert.equal(y.requiresGrad, false);
  assert.equal(y.node, null);
  assert.equal(isGradEnabled(), true);
  assert.throws(() =>
    noGrad(() => {
      throw new Error("boom");
    }), /boom/);
  assert.equal(isGradEnabled(), true);
  assert.equal(mul(x, x).requiresGrad, true);
});

Deno.test("detach cuts the graph; constants get no gradient", () => {
  const x = tensor(be, [3], [1], { requiresGrad: true });
  const c = tensor(be, [5], [1]);
  const y = add(mul(x, x.detach()), mul(x, c)); // d/dx = x (detached half) + c
  backward(sum(y));
  assert.deepEqual(x.grad!.toList(), [8]);
  assert.equal(c.grad, null);
});

Deno.test("a caller-supplied output gradient is not modified", () => {
  const x = tensor(be, [1, 2, 3], [3], { requiresGrad: true });
  const g = tensor(be, [1, 1, 1], [3]);
  const y = add(x, x);
  backward(y, g);
  assert.deepEqual(g.toList(), [1, 1, 1]);
  assert.deepEqual(x.grad!.toList(), [2, 2, 2]);
});

Deno.test("diamond graphs and views sum their gradients; the graph is released", () => {
  const x = tensor(be, [1, 2, 3, 4], [2, 2], { requiresGrad: true });
  const r = reshape(x, [4]);
  const y = add(scale(r, 2), reshape(mul(x, x), [4]));
  const s = sum(y);
  backward(s);
  assert.deepEqual(x.grad!.toList(), [4, 6, 8, 10]);
  assert.equal(s.node, null, "graph consumed");
  assert.throws(() => backward(tensor(be, [1], [1])), TypeError);
});

Deno.test("deep chains do not overflow the stack", () => {
  const x = tensor(be, [1], [1], { requiresGrad: true });
  let y = x;
  for (let i = 0; i < 20000; i++) y = scale(y, 1);
  backward(y);
  assert.deepEqual(x.grad!.toList(), [1]);
});

Deno.test("zeroGrad clears accumulated gradients", () => {
  const w = tensor(be, [1, 2, 3, 4], [2, 2], { requiresGrad: true });
  const x = tensor(be, [1, 1], [1, 2]);
  backward(sum(linear(x, w)));
  backward(sum(linear(x, w)));
  assert.deepEqual(w.grad!.toList(), [2, 2, 2, 2]);
  zeroGrad([w]);
  assert.equal(w.grad, null);
});

Deno.test("one gradient tensor a rule returns for two inputs is copied for the second", () => {
  // addRmsnorm's rule returns the same fresh tensor for x and y; two leaves adopting it as their
  // .grad must not share storage, or the second backward would add twice into both.
  const x = tensor(be, [1, -2, 3], [3], { requiresGrad: true });
  const y = tensor(be, [0.5, 1, -1], [3], { requiresGrad: true });
  const w = tensor(be, [1, 2, 3], [3]);
  backward(sum(mul(addRmsnorm(x, y), w)));
  const once = x.grad!.toList();
  assert.deepEqual(y.grad!.toList(), once);
  backward(sum(mul(addRmsnorm(x, y), w)));
  const twice = once.map((v) => 2 * v);
  assert.deepEqual(x.grad!.toList(), twice);
  assert.deepEqual(y.grad!.toList(), twice);
});
