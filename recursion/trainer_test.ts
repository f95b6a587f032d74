/**
 * Memory plans of the Trainer (MemoryPlan): micro-batches must give the whole batch's step (the
 * same halting, gradients summed in another order) and recomputation the same numbers, for an
 * attention and a Mamba-2 model; their peak memory must go down.
 */
import assert from "node:assert/strict";
import type { Backend } from "../engine/backend.ts";
import { createRefBackend } from "../engine/backends/ref/mod.ts";
import { type PooledBackend, withPool } from "../engine/backends/pool.ts";
import { Rng } from "../engine/rng.ts";
import { assertClose, cpuOrSkip } from "../engine/testing.ts";
import type { ActBatch } from "./act.ts";
import type { ModelConfig, ModelName } from "./config.ts";
import { createTrm } from "./model.ts";
import {
  evaluateBatch,
  type MemoryPlan,
  type StepMetrics,
  Trainer,
  type TrainHyper,
  WHOLE_BATCH,
} from "./trainer.ts";
import { tinyHyper, tinyModelConfig } from "./testing.ts";

const B = 8, STEPS = 4;

/** The tests' hyperparameters (each test overrides what it needs). */
const HYPER: TrainHyper = tinyHyper(B, { totalSteps: STEPS });

function tinyCfg(model: ModelName): ModelConfig {
  return tinyModelConfig(model, { lCycles: 2 });
}

function batches(cfg: ModelConfig, seed: number): ActBatch[] {
  const rng = new Rng(seed);
  return Array.from({ length: STEPS }, () => ({
    size: B,
    inputs: Int32Array.from({ length: B * cfg.seqLen }, () => 1 + rng.int(cfg.vocab - 1)),
    labels: Int32Array.from({ length: B * cfg.seqLen }, () => 1 + rng.int(cfg.vocab - 1)),
    puzzleIdentifiers: Int32Array.from({ length: B }, () => 1 + rng.int(3)), // ids repeat
  }));
}

interface Run {
  metrics: StepMetrics[];
  grads: Float64Array[]; // after the first step
  params: Float64Array[]; // after the last
  puzzle: Float64Array;
  halted: number[][];
  peakBytes: number;
}

function train(model: ModelName, be: PooledBackend, plan: MemoryPlan): Run {
  const cfg = tinyCfg(model);
  const rng = new Rng(11);
  const m = createTrm(be as Backend, rng.fork("model"), cfg);
  // q-head bias +2: q_halt > 0 from the start, so halting depends on the exploration draws
  be.upload(m.params["q_head.bias"].buf, [2, 2]);
  const tr = new Trainer(m, { ...HYPER, lr: 3e-3 }, rng.fork("act"), plan);
  const f64 = (a: ArrayLike<number>) => Float64Array.from(a);
  const run: Run = {
    metrics: [],
    grads: [],
    params: [],
    puzzle: new Float64Array(),
    halted: [],
    peakBytes: 0,
  };
  be.resetPeak();
  const start = be.poolStats().liveBytes;
  for (const [i, batch] of batches(cfg, 3).entries()) {
    run.metrics.push(tr.trainStep(batch));
    run.halted.push(Array.from(tr.carry.halted));
    if (i === 0) run.grads = tr.trainable.map((p) => f64(be.download(p.grad!.buf)));
  }
  run.peakBytes = be.poolStats().peakLiveBytes - start;
  run.params = tr.trainable.map((p) => f64(be.download(p.buf)));
  run.puzzle = f64(be.download(m.buffers["puzzle_emb.weight"].buf));
  return run;
}

function compare(a: Run, b: Run, tol: { atol: number; rtol: number }, what: string) {
  assert.deepEqual(b.halted, a.halted, `${what}: halting decisions`);
  b.metrics.forEach((m, i) => {
    const e = a.metrics[i];
    assert.equal(m.halted, e.halted);
    assertClose([m.lmLoss, m.qLoss], [e.lmLoss, e.qLoss], { ...tol, msg: `${what}: losses ${i}` });
  });
  b.grads.forEach((g, i) => assertClose(g, a.grads[i], { ...tol, msg: `${what}: grad ${i}` }));
  b.params.forEach((p, i) => assertClose(p, a.params[i], { ...tol, msg: `${what}: param ${i}` }));
  assertClose(b.puzzle, a.puzzle, { ...tol, msg: `${what}: puzzle embeddings` });
}

for (const model of ["trm-attn", "tr-mamba2attn"] as const) {
  Deno.test(`trainer ${model}: micro-batches and recomputation give the whole batch's steps`, () => {
    const be = () => withPool(createRefBackend({ precision: "f64" }));
    const whole = train(model, be(), WHOLE_BATCH);
    // f64 reference arithmetic: only the summation order of the gradients differs
    const tol = { atol: 1e-12, rtol: 1e-9 };
    for (const microBatches of [2, 4, 8]) {
      compare(
        whole,
        train(model, be(), { microBatches, recompute: false }),
        tol,
        `×${microBatches}`,
      );
    }
    const rec = train(model, be(), { microBatches: 1, recompute: true });
    compare(whole, rec, tol, "recompute");
    const both = train(model, be(), { microBatches: 4, recompute: true });
    compare(whole, both, tol, "×4 + recompute");
    // memory: a quarter of the batch at a time, and one recursion call's activations at a time
    assert.ok(
      both.peakBytes < 0.5 * whole.peakBytes,
      `peak live bytes: ×4 + recompute ${both.peakBytes}, whole ${whole.peakBytes}`,
    );
  });
}

Deno.test("trainer: no read after free — a pool that poisons freed buffers changes no bit", () => {
  // Operators release intermediates early (ops_fused.ts, mamba2.ts, rmsnorm.ts postNorm); a
  // release too early would read a buffer the pool has handed out again. Here every freed buffer
  // is filled with NaN and reused at once, against a run whose buffers are never reused.
  const plain = (): PooledBackend => {
    const be = createRefBackend({ precision: "f64" });
    return withPool({ ...be, free: () => {} }, { maxBytes: 0 });
  };
  for (const model of ["trm-attn", "tr-mamba2attn"] as const) {
    for (const plan of [WHOLE_BATCH, { microBatches: 2, recompute: true }]) {
      const poisoned = withPool(createRefBackend({ precision: "f64" }), { poison: true });
      const want = train(model, plain(), plan), got = train(model, poisoned, plan);
      assert.ok(poisoned.poolStats().hits > 0, "the pool reused buffers");
      compare(want, got, { atol: 0, rtol: 0 }, `${model} ${JSON.stringify(plan)}`);
    }
  }
});

Deno.test("trainer: micro-batches must divide the batch", () => {
  const cfg = tinyCfg("trm-attn");
  const m = createTrm(createRefBackend(), new Rng(1), cfg);
  assert.throws(
    () => new Trainer(m, HYPER, new Rng(2), { microBatches: 3, recompute: false }),
    /divisor of the batch 8: 3/,
  );
});

Deno.test("trainer: steps and evaluations release what they allocate (no growth on a device)", () => {
  // On the cuda backend a buffer nobody disposes is never freed: held bytes must not grow.
  for (const plan of [WHOLE_BATCH, { microBatches: 2, recompute: true }]) {
    const be = withPool(createRefBackend({ precision: "f32" }));
    const cfg = tinyCfg("tr-mamba2attn");
    const m = createTrm(be, new Rng(4), cfg);
    const tr = new Trainer(m, HYPER, new Rng(5), plan);
    const held: number[] = [];
    for (const batch of batches(cfg, 9)) {
      tr.trainStep(batch);
      held.push(be.poolStats().liveBytes);
    }
    for (let i = 0; i < 2; i++) {
      tr.withEmaWeights(() => evaluateBatch(m, batches(cfg, 9)[0], new Rng(6)));
      held.push(be.poolStats().liveBytes);
    }
    assert.deepEqual(held.map((h) => h - held[0]), held.map(() => 0), JSON.stringify(plan));
  }
});

Deno.test("trainer: the no-grad recursion cycles keep no activations (peak independent of T)", () => {
  const peak = (hCycles: number) => {
    const be = withPool(createRefBackend({ precision: "f32" }));
    const cfg = { ...tinyCfg("trm-attn"), hCycles };
    const m = createTrm(be, new Rng(4), cfg);
    const tr = new Trainer(m, { ...HYPER, totalSteps: 2 }, new Rng(5));
    const [b1, b2] = batches(cfg, 9);
    tr.trainStep(b1);
    be.resetPeak();
    const start = be.poolStats().liveBytes;
    tr.trainStep(b2);
    return be.poolStats().peakLiveBytes - start;
  };
  const p2 = peak(2), p5 = peak(5);
  assert.ok(p2 > 0);
  assert.equal(p5, p2, `peak bytes of a step: T=5 ${p5}, T=2 ${p2}`);
});

Deno.test("evaluation: an example's results do not depend on the batch it is in (bitwise)", () => {
  // evaluate() splits its batches under micro-batch plans: that must not change any number.
  const backends: [string, Backend][] = [["ref", createRefBackend({ precision: "f32" })]];
  const cpu = cpuOrSkip("evaluation batch test on cpu");
  if (cpu) backends.push(["cpu", cpu]);
  for (const [name, be] of backends) {
    for (const model of ["trm-attn", "tr-mamba2attn"] as const) {
      const cfg = tinyCfg(model);
      const m = createTrm(be, new Rng(4), cfg);
      const whole = batches(cfg, 21)[0]; // 8 examples
      const slice = (a: number, b: number): ActBatch => ({
        size: b - a,
        inputs: whole.inputs.slice(a * cfg.seqLen, b * cfg.seqLen),
        labels: whole.labels.slice(a * cfg.seqLen, b * cfg.seqLen),
        puzzleIdentifiers: whole.puzzleIdentifiers.slice(a, b),
      });
      const all = evaluateBatch(m, whole, new Rng(6));
      for (const [a, b] of [[0, 3], [3, 8]]) {
        const part = evaluateBatch(m, slice(a, b), new Rng(6));
        const what = `${name} ${model} examples ${a}..${b}`;
        assert.deepEqual(part.preds, all.preds.slice(a * cfg.seqLen, b * cfg.seqLen), what);
        assert.deepEqual(part.qHalt, all.qHalt.slice(a, b), what);
      }
    }
  }
});
