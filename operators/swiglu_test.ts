import assert from "node:assert/strict";
import { createRefBackend } from "../engine/backends/ref/mod.ts";
import type { Backend } from "../engine/backend.ts";
import { Rng } from "../engine/rng.ts";
import { tensor } from "../engine/tensor.ts";
import { countParams } from "./operator.ts";
import { createSwiGLU, swigluInter } from "./swiglu.ts";
import { assertBackendsAgree, fastBackend, gradcheckOperator, runOperator } from "./testing.ts";

const fast = fastBackend();
if (!fast.be) console.warn(`SKIPPING swiglu ${fast.name}-vs-ref tests: ${fast.reason}`);

Deno.test("swigluInter: TRM's width rule", () => {
  assert.equal(swigluInter(512), 1536);
  assert.equal(swigluInter(97), 512);
  assert.equal(swigluInter(916), 2560);
  assert.equal(swigluInter(16), 256);
  assert.equal(swigluInter(384), 1024); // round(1024) = 1024 exactly: no rounding up
  assert.equal(swigluInter(512, 2), 768); // round(682.67) = 683 → 768
  assert.throws(() => swigluInter(0), RangeError);
});

Deno.test("swiglu: parameter count at hidden 512 is 3·512·1536 = 2,359,296", () => {
  const op = createSwiGLU(createRefBackend(), new Rng(0), { hidden: 512 });
  assert.equal(countParams(op), 2_359_296);
  assert.deepEqual(op.params["gate_up_proj.weight"].shape, [3072, 512]);
  assert.deepEqual(op.params["down_proj.weight"].shape, [512, 1536]);
});

Deno.test("swiglu: forward is down(silu(gate) ⊙ up), gate the first half", () => {
  const be = createRefBackend({ precision: "f64" });
  const op = createSwiGLU(be, new Rng(1), { hidden: 3 });
  const x = [0.3, -1.2, 2];
  const y = op.forward(tensor(be, x, [1, 1, 3])).toArray();
  const gu = op.params["gate_up_proj.weight"].toArray(),
    dn = op.params["down_proj.weight"].toArray();
  const inter = 256;
  const h = new Float64Array(inter);
  for (let i = 0; i < inter; i++) {
    let g = 0, u = 0;
    for (let c = 0; c < 3; c++) {
      g += gu[i * 3 + c] * x[c];
      u += gu[(inter + i) * 3 + c] * x[c];
    }
    h[i] = (g / (1 + Math.exp(-g))) * u;
  }
  for (let o = 0; o < 3; o++) {
    let s = 0;
    for (let i = 0; i < inter; i++) s += dn[o * inter + i] * h[i];
    assert.ok(Math.abs(y[o] - s) < 1e-12, `output ${o}: ${y[o]} vs ${s}`);
  }
});

Deno.test("swiglu: block is RMSNorm(x + f(x)) over the feature axis", () => {
  const be = createRefBackend({ precision: "f64" });
  const make = (b: Backend, r: Rng) => createSwiGLU(b, r, { hidden: 6 });
  const out = runOperator(be, make, [2, 3, 6], "block").output;
  for (let r = 0; r < 6; r++) {
    let ms = 0;
    for (let c = 0; c < 6; c++) ms += out[r * 6 + c] ** 2 / 6;
    assert.ok(Math.abs(ms - 1) < 1e-3, `row ${r}: mean square ${ms}`);
  }
});

Deno.test("swiglu: gradcheck of forward and block on ref f64", () => {
  const be = createRefBackend({ precision: "f64" });
  const op = createSwiGLU(be, new Rng(2), { hidden: 5 });
  for (const which of ["forward", "block"] as const) {
    const r = gradcheckOperator(be, op, [2, 3, 5], which, { maxPerInput: 40 });
    assert.ok(r.checked >= 100);
    assert.deepEqual(r.failures.slice(0, 3), [], `${which}: max err ${r.maxErr}`);
  }
});

for (const [b, l] of [[2, 1], [2, 7], [2, 97]]) {
  Deno.test({
    name: `swiglu: ${fast.name} matches ref, output and all gradients, B=${b} L=${l}`,
    ignore: !fast.be,
    fn() {
      const make = (be: Backend, r: Rng) => createSwiGLU(be, r, { hidden: 40 });
      for (const which of ["forward", "block"] as const) {
        assertBackendsAgree(fast.be!, createRefBackend(), make, [b, l, 40], which);
      }
    },
  });
}
