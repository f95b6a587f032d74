import assert from "node:assert/strict";
import { AssertionError } from "node:assert";
import { assertClose, randomArray, randomArray64, TOL_F32, TOL_F64 } from "./testing.ts";
import { Rng } from "./rng.ts";

function failure(fn: () => void): string {
  let message = "";
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof AssertionError, `expected an AssertionError, got ${e}`);
    message = e.message;
    return true;
  });
  return message;
}

Deno.test("assertClose passes within atol + rtol·|expected|", () => {
  assertClose([1, 2, 3], [1, 2, 3]);
  assertClose(new Float32Array([1 + 5e-5, 1000.05]), [1, 1000]); // rtol 1e-4 allows 1e-1 at 1000
  assertClose([1e-6], [0]); // atol 1e-5
  assertClose([NaN, Infinity, -Infinity, 0], [NaN, Infinity, -Infinity, -0]);
  assertClose([], []);
  assertClose(new Float64Array([1 + 5e-9]), [1], TOL_F64);
  assertClose([1.5], [1], { atol: 0.5, rtol: 0 });
  assertClose([2], [1], { atol: 0, rtol: 1 });
});

Deno.test("assertClose fails just past the tolerance, with a message that locates the error", () => {
  const msg = failure(() => assertClose([1, 2, 3.01, 4.5], [1, 2, 3, 4], { msg: "matmul out" }));
  assert.match(msg, /^matmul out: /);
  assert.match(msg, /2 of 4 elements differ/);
  assert.match(msg, /worst at index 3: actual 4\.5, expected 4/);
  assert.match(msg, /abs err 0\.5, rel err 0\.125/);
  assert.match(msg, /lengths 4\/4/);
  // The boundary itself: atol + rtol·|e| passes, a little more fails.
  assertClose([1 + 0.5], [1], { atol: 0.25, rtol: 0.25 });
  failure(() => assertClose([1 + 0.5001], [1], { atol: 0.25, rtol: 0.25 }));
  // The default is f32-level: a float64-level tolerance catches what it lets through.
  assertClose([1 + 5e-5], [1]);
  failure(() => assertClose([1 + 5e-5], [1], TOL_F64));
  assert.equal(TOL_F32.atol, 1e-5);
  assert.equal(TOL_F32.rtol, 1e-4);
});

Deno.test("assertClose: NaN matches only NaN in the same place; infinities must be equal", () => {
  assert.match(failure(() => assertClose([NaN, 1], [1, 1])), /index 0: actual NaN, expected 1/);
  assert.match(failure(() => assertClose([1, 1], [1, NaN])), /index 1: actual 1, expected NaN/);
  failure(() => assertClose([NaN, 0], [0, NaN]));
  failure(() => assertClose([Infinity], [-Infinity]));
  failure(() => assertClose([Infinity], [1e308]));
  // Zero tolerance: only exact equality passes.
  failure(() => assertClose([1 + 2 ** -52], [1], { atol: 0, rtol: 0 }));
});

Deno.test("assertClose: a length mismatch fails even when the common prefix agrees", () => {
  assert.match(
    failure(() => assertClose([1, 2], [1, 2, 3])),
    /lengths differ: actual 2, expected 3/,
  );
  assert.throws(() => assertClose([1], [1], { atol: -1 }), RangeError);
});

Deno.test("randomArray is seeded and honours its spec", () => {
  const u = randomArray(new Rng(1), 1000, { lo: -1, hi: 1 });
  assert.ok(u instanceof Float32Array && u.every((x) => x >= -1 && x < 1));
  assert.deepEqual(u, randomArray(new Rng(1), 1000, { lo: -1, hi: 1 }));
  const g = randomArray64(new Rng(2), 20_000, { std: 2, mean: 3 });
  assert.ok(g instanceof Float64Array);
  const mean = g.reduce((a, b) => a + b, 0) / g.length;
  const sd = Math.sqrt(g.reduce((a, b) => a + (b - mean) ** 2, 0) / g.length);
  assert.ok(Math.abs(mean - 3) < 0.06 && Math.abs(sd - 2) < 0.06, `mean ${mean}, sd ${sd}`);
});
