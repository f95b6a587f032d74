import assert from "node:assert/strict";
import { createRefBackend } from "./backends/ref/mod.ts";
import { AdamATan2, Ema, signSgdRows } from "./optim.ts";
import { tensor } from "./tensor.ts";

const be = createRefBackend({ precision: "f64" });

Deno.test("AdamATan2 matches the fused kernel's formula step by step (decay before moments)", () => {
  const p0 = [0.5, -1, 0, 2];
  const p = tensor(be, p0, [4], { requiresGrad: true });
  const opt = new AdamATan2([p], { lr: 0.01, weightDecay: 0.1, beta1: 0.9, beta2: 0.95 });
  const want = [...p0], m = [0, 0, 0, 0], v = [0, 0, 0, 0];
  const grads = [[0.1, -0.2, 0, 3], [-0.3, 0.2, 0.5, 1], [0, 0, 0, 0]];
  grads.forEach((g, s) => {
    p.grad = tensor(be, g, [4]);
    opt.update();
    const t = s + 1, bc1 = 1 - 0.9 ** t, bc2 = 1 - 0.95 ** t;
    for (let i = 0; i < 4; i++) {
      want[i] *= 1 - 0.01 * 0.1;
      m[i] += 0.1 * (g[i] - m[i]);
      v[i] += 0.05 * (g[i] * g[i] - v[i]);
      want[i] -= (0.01 / bc1) * Math.atan2(m[i], Math.sqrt(v[i]) / Math.sqrt(bc2));
    }
    p.toList().forEach((x, i) =>
      assert.ok(Math.abs(x - want[i]) < 1e-14, `step ${t} [${i}]: ${x} vs ${want[i]}`)
    );
  });
  // The first step moves every element with a nonzero gradient by ≈ lr (atan2 of equal signs → π/4·…)
  assert.equal(opt.step, 3);
});

Deno.test("AdamATan2 rejects parameters without grad and mismatched gradients", () => {
  assert.throws(() => new AdamATan2([tensor(be, [1], [1])], { lr: 1 }), TypeError);
  const p = tensor(be, [1, 2], [2], { requiresGrad: true });
  const opt = new AdamATan2([p], { lr: 1 });
  p.grad = tensor(be, [1, 2, 3], [3]);
  assert.throws(() => opt.update(), TypeError);
});

Deno.test("sign-SGD touches only the given rows, with decoupled decay and sign(0) = 0", () => {
  const table = tensor(be, [1, 1, 2, 2, 3, 3], [3, 2]);
  const ids = tensor(be, [2, 0], [2], { dtype: "i32" });
  const g = tensor(be, [5, -0.1, 0, 7], [2, 2]);
  signSgdRows(table, ids, g, 0.5, 0.2);
  const d = 1 - 0.5 * 0.2;
  assert.deepEqual(table.toList(), [1 * d, 1 * d - 0.5, 2, 2, 3 * d - 0.5, 3 * d + 0.5]);
});

Deno.test("EMA starts as a copy and moves by (1 − decay)", () => {
  const p = tensor(be, [1, 2], [2], { requiresGrad: true });
  const ema = new Ema([p], 0.9);
  be.upload(p.buf, [11, 2]);
  ema.update();
  const s = ema.shadow[0].toList();
  assert.ok(Math.abs(s[0] - 2) < 1e-12 && Math.abs(s[1] - 2) < 1e-12);
});
