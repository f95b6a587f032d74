/**
 * bf16 mode of the recursion (ModelConfig.dtype "bf16", engine/bf16.ts): a configuration switch
 * that leaves every preset hash unchanged when absent; training keeps f32 masters while the step
 * sees bf16 weights, activations and carry; evaluation restores the weights bit for bit; and the
 * ref and cpu backends agree in bf16 within a tolerance derived from bf16's unit roundoff.
 */
import assert from "node:assert/strict";
import type { Backend } from "../engine/backend.ts";
import { createRefBackend } from "../engine/backends/ref/mod.ts";
import { BF16_UNIT_ROUNDOFF, isBf16 } from "../engine/bf16.ts";
import { Rng } from "../engine/rng.ts";
import { cpuOrSkip } from "../engine/testing.ts";
import type { ActBatch } from "./act.ts";
import type { ModelConfig } from "./config.ts";
import { createTrm } from "./model.ts";
import { presetConfig } from "./presets.ts";
import { configHash, mergeConfig } from "./run/config.ts";
import { tinyHyper, tinyModelConfig } from "./testing.ts";
import { evaluateBatch, Trainer } from "./trainer.ts";

Deno.test("dtype: absent from presets; bf16 changes the hash, an explicit f32 does not", () => {
  const c = presetConfig("cpu-mini", "sudoku", "trm-attn");
  assert.equal("dtype" in c.arch, false);
  const bf = mergeConfig(c, { arch: { dtype: "bf16" } });
  assert.equal(bf.arch.dtype, "bf16");
  assert.notEqual(configHash(bf), configHash(c));
  const f32 = mergeConfig(c, { arch: { dtype: "f32" } });
  assert.equal("dtype" in f32.arch, false);
  assert.equal(configHash(f32), configHash(c));
  assert.throws(() => mergeConfig(c, { arch: { dtype: "fp16" } }), /arch\.dtype must be one of/);
});

const B = 4;

function batch(cfg: ModelConfig, seed: number): ActBatch {
  const rng = new Rng(seed);
  return {
    size: B,
    inputs: Int32Array.from({ length: B * cfg.seqLen }, () => 1 + rng.int(cfg.vocab - 1)),
    labels: Int32Array.from({ length: B * cfg.seqLen }, () => 1 + rng.int(cfg.vocab - 1)),
    puzzleIdentifiers: Int32Array.from({ length: B }, () => 1 + rng.int(3)),
  };
}

interface Trace {
  losses: number[];
  /** The weights' gradients of the first step. */
  grads: Float32Array[];
  params: Float32Array[];
  zH: Float32Array;
}

function train(
  be: Backend,
  dtype: "f32" | "bf16",
  model: "trm-attn" | "tr-mamba2attn" = "trm-attn",
  steps = 3,
): Trace {
  const cfg: ModelConfig = { ...tinyModelConfig(model, { lCycles: 2 }), dtype };
  const rng = new Rng(5);
  const m = createTrm(be, rng.fork("model"), cfg);
  const tr = new Trainer(m, tinyHyper(B, { totalSteps: 3, lr: 3e-3 }), rng.fork("act"));
  const losses = [tr.trainStep(batch(cfg, 0)).lmLoss];
  const grads = Object.values(m.params).map((p) => Float32Array.from(p.grad!.toArray()));
  for (let s = 1; s < steps; s++) losses.push(tr.trainStep(batch(cfg, s)).lmLoss);
  return {
    losses,
    grads,
    params: Object.values(m.params).map((p) => Float32Array.from(p.toArray())),
    zH: Float32Array.from(tr.carry.zH.toArray()),
  };
}

Deno.test("bf16 training: f32 masters, bf16 carry, numbers differ from f32", () => {
  const be = createRefBackend();
  const bf = train(be, "bf16"), f32 = train(be, "f32");
  // The carried state is stored in bf16; the updated master weights are not rounded.
  assert.ok(bf.zH.every(isBf16), "carry z_H holds bf16 values");
  assert.ok(f32.zH.some((v) => !isBf16(v)), "control: the f32 carry does not");
  const masters = bf.params.flatMap((p) => [...p]);
  assert.ok(masters.some((v) => !isBf16(v)), "master weights stay f32 after updates");
  // The two dtypes give close but different losses.
  assert.notDeepEqual(bf.losses, f32.losses);
  for (let s = 0; s < 3; s++) {
    assert.ok(Math.abs(bf.losses[s] - f32.losses[s]) < 0.05 * f32.losses[s], `step ${s}`);
  }
});

Deno.test("bf16 evaluation leaves the weights bit for bit as they were", () => {
  const be = createRefBackend();
  const cfg: ModelConfig = { ...tinyModelConfig("tr-mamba2attn", { lCycles: 1 }), dtype: "bf16" };
  const m = createTrm(be, new Rng(2), cfg);
  const before = Object.values(m.params).map((p) => Float32Array.from(p.toArray()));
  assert.ok(before.some((p) => p.some((v) => !isBf16(v))));
  const r = evaluateBatch(m, batch(cfg, 9), new Rng(3));
  assert.equal(r.preds.length, B * cfg.seqLen);
  Object.values(m.params).forEach((p, i) => assert.deepEqual(p.toArray(), before[i]));
});

Deno.test("bf16 training: ref and cpu agree within bf16's unit roundoff", () => {
  const cpu = cpuOrSkip("bf16 ref vs cpu");
  if (!cpu) return;
  for (const model of ["trm-attn", "tr-mamba2attn"] as const) {
    const a = train(createRefBackend(), "bf16", model, 2);
    const b = train(cpu, "bf16", model, 2);
    // One rounding that lands on the other side of a bf16 midpoint moves a value by one bf16
    // ulp (2·u relative) and the steps carry it on: a few units of roundoff, not more.
    const tol = 8 * BF16_UNIT_ROUNDOFF;
    a.losses.forEach((l, s) => {
      assert.ok(
        Math.abs(l - b.losses[s]) <= tol * Math.abs(l),
        `${model} step ${s}: ${l} vs ${b.losses[s]}`,
      );
    });
    // Gradients of the first step, normwise per tensor (a single element's rounding flip moves
    // it by a bf16 ulp of its own size; AdamATan2's sign-like steps would then differ by 2·lr in
    // the weights, which is why the weights after updates are not compared elementwise).
    let worst = 0;
    a.grads.forEach((g, i) => {
      let diff = 0, scale = 0;
      for (let j = 0; j < g.length; j++) {
        diff = Math.max(diff, Math.abs(g[j] - b.grads[i][j]));
        scale = Math.max(scale, Math.abs(g[j]));
      }
      if (scale > 0) worst = Math.max(worst, diff / scale);
    });
    console.log(
      `bf16 ref vs cpu, ${model}: losses ${
        a.losses.map((l, s) => (l - b.losses[s]) / l)
      } (relative), gradients ${worst} (normwise)`,
    );
    assert.ok(worst <= tol, `${model}: first-step gradients differ by ${worst} (normwise)`);
  }
});
