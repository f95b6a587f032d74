import assert from "node:assert/strict";
import { createRefBackend } from "./backends/ref/mod.ts";
import { withPool } from "./backends/pool.ts";
import { noGrad } from "./autograd.ts";
import { add, reshape, scale } from "./ops.ts";
import { scoped, untracked } from "./scope.ts";
import { tensor, zeros } from "./tensor.ts";

Deno.test("scoped disposes intermediates, keeps the result (and a view's base), not its inputs", () => {
  const be = withPool(createRefBackend());
  const x = tensor(be, [1, 2, 3, 4], [4]);
  let cached = null as null | ReturnType<typeof zeros>;
  const y = noGrad(() =>
    scoped(() => {
      const a = scale(x, 2); // intermediate: disposed
      cached = untracked(() => zeros(be, [4])); // survives
      return reshape(add(a, x), [2, 2]); // a view: its base is kept
    })
  );
  assert.deepEqual(y.toList(), [3, 6, 9, 12]);
  assert.deepEqual(x.toList(), [1, 2, 3, 4]);
  // Exactly one buffer of 4 floats went back to the pool (the intermediate `a`).
  assert.equal(be.poolStats().pooledBytes, 4 * 4);
  // The next allocation of that size reuses it and does not touch y, x or the cache.
  const z = scale(x, 10);
  assert.deepEqual(z.toList(), [10, 20, 30, 40]);
  assert.deepEqual(y.toList(), [3, 6, 9, 12]);
  assert.deepEqual(cached!.toList(), [0, 0, 0, 0]);
});

Deno.test("nested scopes hand kept tensors to the enclosing scope", () => {
  const be = withPool(createRefBackend());
  const x = tensor(be, [1, 1], [2]);
  const out = scoped(() => {
    const inner = scoped(() => scale(x, 3));
    return [add(inner, x)];
  });
  assert.deepEqual(out[0].toList(), [4, 4]);
  assert.equal(be.poolStats().pooledBytes, 2 * 4, "inner's result was released by the outer scope");
});
