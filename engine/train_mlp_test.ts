/**
 * End-to-end engine checks on a 2-layer MLP: training on `cpu` is bitwise reproducible run to run,
 * and `cpu` follows `ref` closely over the same steps.
 */
import assert from "node:assert/strict";
import type { Backend } from "./backend.ts";
import { createRefBackend } from "./backends/ref/mod.ts";
import { getBackend, nativeStatus } from "./backends/mod.ts";
import { backward } from "./autograd.ts";
import { lecunNormal } from "./init.ts";
import { linear, rmsnorm, silu } from "./ops.ts";
import { stablemaxXent, sum } from "./ops_nn.ts";
import { AdamATan2 } from "./optim.ts";
import { Rng } from "./rng.ts";
import { tensor } from "./tensor.ts";

/** Trains a tiny classifier (tokens → 2 linear layers → stable-max CE); returns the losses. */
function trainMlp(be: Backend, seed: number, steps: number): number[] {
  const rng = new Rng(seed);
  const [batch, seq, din, hidden, vocab] = [8, 5, 12, 32, 7];
  const w1 = tensor(be, lecunNormal(rng, hidden, din), [hidden, din], { requiresGrad: true });
  const w2 = tensor(be, lecunNormal(rng, vocab, hidden), [vocab, hidden], { requiresGrad: true });
  const opt = new AdamATan2([w1, w2], { lr: 3e-3, weightDecay: 0.1 });
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const x = new Float32Array(batch * seq * din).map(() => rng.normal());
    // Labels: a fixed function of the input, so the loss can fall; a few ignored positions.
    const labels = Array.from(
      { length: batch * seq },
      (_, i) => i % 6 === 5 ? -100 : Math.abs(Math.floor(x[i * din] * 3)) % vocab,
    );
    const xt = tensor(be, x, [batch, seq, din]);
    const h = rmsnorm(silu(linear(xt, w1)));
    const logits = linear(h, w2);
    const loss = sum(stablemaxXent(logits, tensor(be, labels, [batch, seq], { dtype: "i32" })));
    w1.grad = w2.grad = null;
    backward(loss);
    opt.update();
    losses.push(loss.item());
  }
  return losses;
}

const native = nativeStatus();
if (!native.ok) console.warn(`SKIPPING cpu training tests: ${native.reason}`);

Deno.test({
  name: "2-layer MLP: 50 training steps on cpu give bitwise-identical losses in two runs",
  ignore: !native.ok,
  fn() {
    const be = getBackend("cpu");
    const a = trainMlp(be, 7, 50), b = trainMlp(be, 7, 50);
    assert.deepEqual(a, b);
    assert.ok(a[49] < a[0], `loss should fall: ${a[0]} → ${a[49]}`);
    assert.notDeepEqual(trainMlp(be, 8, 3), a.slice(0, 3), "a different seed differs");
  },
});

Deno.test({
  name: "2-layer MLP: cpu follows ref over 20 steps",
  ignore: !native.ok,
  fn() {
    const c = trainMlp(getBackend("cpu"), 3, 20), r = trainMlp(createRefBackend(), 3, 20);
    // f32 rounding differs between backends (FMA, summation order) and compounds through the
    // optimiser; 1e-3 relative over 20 steps is what such drift allows.
    c.forEach((v, i) =>
      assert.ok(Math.abs(v - r[i]) <= 1e-3 * Math.abs(r[i]), `step ${i}: cpu ${v} vs ref ${r[i]}`)
    );
  },
});

Deno.test("2-layer MLP: the ref backend is reproducible and learns", () => {
  const a = trainMlp(createRefBackend(), 5, 30), b = trainMlp(createRefBackend(), 5, 30);
  assert.deepEqual(a, b);
  assert.ok(a[29] < a[0]);
});
