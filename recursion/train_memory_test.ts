/**
 * Memory of a training run (recursion/memory_plan.ts checkRunMemory): evaluation batches sized to
 * the budget, a run that cannot fit refused before it starts, a checkpoint before the first
 * evaluation, and the probes' predictions against measured peaks.
 */
import assert from "node:assert/strict";
import { getBackend, nativeStatus } from "../engine/backends/mod.ts";
import { type PooledBackend, withPool } from "../engine/backends/pool.ts";
import { createRefBackend } from "../engine/backends/ref/mod.ts";
import { Rng } from "../engine/rng.ts";
import { readSafetensors } from "../engine/safetensors.ts";
import { randomBatch } from "./bench_setup.ts";
import { CHECKPOINT_FILE } from "./checkpoint.ts";
import {
  checkRunMemory,
  isPooled,
  measureEvalFootprint,
  measureTrainExample,
  type RunMemoryCheck,
  trainerBytes,
} from "./memory_plan.ts";
import { createTrm } from "./model.ts";
import { stepPredictionsPath } from "./predictions.ts";
import type { RunConfig } from "./run/config.ts";
import { runTraining } from "./run/loop.ts";
import { evaluateBatch, Trainer } from "./trainer.ts";
import { quietControl, rejection, tinyHyper, tinyModelConfig, tinyRunConfig } from "./testing.ts";

const BACKEND = nativeStatus().ok ? "cpu" : "ref";
const CACHE = await Deno.makeTempDir({ prefix: "trm-train-memory-cache-" });

/** A tiny Sudoku run: width 16, batch 2, 2 steps, 64 held-out puzzles, evaluation batch 768. */
function tinyConfig(): RunConfig {
  return tinyRunConfig({
    backend: BACKEND,
    cacheRoot: CACHE,
    arch: { haltMaxSteps: 3 },
    generate: { test: 64 },
    train: {
      batchSize: 2,
      steps: 2,
      warmupSteps: 1,
      evalEvery: 2,
      checkpointEvery: 2,
      // The paper's: an evaluation batch far larger than the memory holds.
      evalBatchSize: 768,
    },
  });
}

async function withDirs<T>(n: number, fn: (dirs: string[]) => Promise<T>): Promise<T> {
  const dirs: string[] = [];
  for (let i = 0; i < n; i++) dirs.push(await Deno.makeTempDir({ prefix: "trm-train-memory-" }));
  try {
    return await fn(dirs);
  } finally {
    for (const d of dirs) await Deno.remove(d, { recursive: true });
  }
}

async function memoryCheckOf(out: string): Promise<RunMemoryCheck> {
  const check = JSON.parse(await Deno.readTextFile(`${out}/config.json`)).memoryCheck;
  assert.ok(check, "config.json records the memory check");
  return check;
}

Deno.test({
  name: "train: evaluation batches fit the memory budget (not the configured 768); same results",
  ignore: BACKEND !== "cpu", // needs a pooled backend
  async fn() {
    await withDirs(2, async ([roomyDir, tightDir]) => {
      const cfg = tinyConfig();
      const roomy = await runTraining(cfg, quietControl(roomyDir, { memoryBytes: 2 ** 40 }));
      const examples = roomy.evals[0].examples;
      assert.equal(examples, 64);
      // Never more examples per batch than are evaluated (768 slots of padding before).
      assert.equal(roomy.evals[0].batchSize, examples);
      const c = await memoryCheckOf(roomyDir);
      assert.ok(c.eval.perExample > 0 && c.trainStep > c.held, JSON.stringify(c));

      // A budget the training step just fits: a few evaluation examples fit beside the run.
      const memoryBytes = 1.01 * c.trainStep / 0.9;
      const evalHeld = c.held + 2 * c.paramBytes;
      const want = Math.floor((0.9 * memoryBytes - evalHeld - c.eval.fixed) / c.eval.perExample);
      assert.ok(want >= 1 && want < examples, `expected batch ${want}: ${JSON.stringify(c)}`);
      const be = getBackend("cpu") as PooledBackend;
      let live0 = 0, peak = 0;
      const lines: string[] = [];
      const tight = await runTraining(
        cfg,
        quietControl(tightDir, {
          memoryBytes,
          log: (l) => lines.push(l),
          // The peak of the last step and its evaluation above what was held before them.
          beforeStep: (tr) => {
            if (tr.step !== 1) return;
            be.emptyPool();
            be.resetPeak();
            live0 = be.poolStats().liveBytes;
          },
          afterStep: () => void (peak = be.poolStats().peakLiveBytes),
        }),
      );
      assert.equal(tight.evals[0].batchSize, want);
      assert.ok(
        lines.some((l) => l.includes(`evaluation in batches of ${want} examples`)),
        lines.join("\n"),
      );
      for (const k of ["examples", "exactAcc", "cellAcc", "meanQHalt", "qHaltAcc"] as const) {
        assert.equal(tight.evals[0][k], roomy.evals[0][k], k);
      }
      // What the run held before the step (its trainer, the last gradients) plus the peak above it.
      const used = c.held + c.paramBytes + (peak - live0);
      assert.ok(used <= 0.9 * memoryBytes, `peak ${used} B > budget ${0.9 * memoryBytes} B`);
    });
  },
});

Deno.test({
  name:
    "train: a run that cannot fit its memory says so with the numbers before anything is written",
  ignore: BACKEND !== "cpu",
  async fn() {
    await withDirs(1, async ([out]) => {
      const err = await rejection(() =>
        runTraining(tinyConfig(), quietControl(out, { memoryBytes: 256 * 1024 }))
      );
      assert.ok(err instanceof RangeError, String(err));
      assert.match(
        err.message,
        /^memory: this run does not fit in 0\.2 MiB \(90 % of --memory-gib 0\.00\): even a training step of one example needs [\d.]+ MiB — [\d.]+ MiB held/,
      );
      assert.match(err.message, /--micro-batches auto/);
      assert.deepEqual(
        [...Deno.readDirSync(out)].map((e) => e.name).filter((n) => !n.startsWith(".")),
        [],
      );
    });
  },
});

Deno.test("train: a checkpoint precedes the first evaluation; a run stopped in it evaluates that step on resume", async () => {
  await withDirs(2, async ([full, broken]) => {
    const cfg = tinyConfig();
    cfg.train.steps = 4;
    cfg.train.checkpointEvery = 3; // step 2 evaluates but is not a checkpoint step
    cfg.train.evalBatchSize = 16;
    const ref = await runTraining(cfg, quietControl(full, { dumpPredictions: true }));
    // The evaluation of step 2 fails after evaluating (its predictions cannot be written).
    const err = await rejection(() =>
      runTraining(
        cfg,
        quietControl(broken, {
          dumpPredictions: true,
          beforeStep: (tr) => {
            if (tr.step === 0) Deno.writeTextFileSync(`${broken}/predictions`, "in the way");
          },
        }),
      )
    );
    assert.ok(!(err instanceof assert.AssertionError), String(err));
    const ck = await readSafetensors(`${broken}/${CHECKPOINT_FILE}`);
    assert.equal(ck.metadata.step, "2", "the checkpoint of step 2 was written before evaluating");
    await Deno.remove(`${broken}/predictions`);
    const lines: string[] = [];
    const resumed = await runTraining(
      cfg,
      quietControl(broken, { resume: true, dumpPredictions: true, log: (l) => lines.push(l) }),
    );
    assert.ok(lines.some((l) => /evaluation of step 2 did not finish/.test(l)), lines.join("\n"));
    assert.deepEqual(resumed.evals.map((e) => e.step), [2, 4]);
    const rows = async (d: string) =>
      (await Deno.readTextFile(`${d}/eval.csv`)).trim().split("\n").map((l) =>
        l.split(",").slice(0, 7).join(",")
      );
    assert.deepEqual(await rows(broken), await rows(full));
    for (const step of [2, 4]) {
      assert.equal(
        await Deno.readTextFile(stepPredictionsPath(broken, step)),
        await Deno.readTextFile(stepPredictionsPath(full, step)),
        `predictions of step ${step}`,
      );
    }
    assert.deepEqual(ref.evals.map((e) => e.step), [2, 4]);
  });
});

Deno.test("memory check: the probes predict a step's and an evaluation's peak (T = 3, n = 2)", () => {
  for (const model of ["trm-attn", "tr-mamba2attn"] as const) {
    for (
      const plan of [{ microBatches: 1, recompute: false }, { microBatches: 2, recompute: true }]
    ) {
      const be = withPool(createRefBackend({ precision: "f32" }));
      const cfg = tinyModelConfig(model, { hCycles: 3, lCycles: 2 });
      const m = createTrm(be, new Rng(4), cfg);
      const tr = new Trainer(m, tinyHyper(4), new Rng(5), plan);
      const what = `${model} ${JSON.stringify(plan)}`;
      const check = checkRunMemory(tr, 2 ** 40, null, () => {})!;
      assert.ok(isPooled(be) && check, what);
      const { held, paramBytes, trainStep } = check.check;
      assert.equal(held, trainerBytes(tr));
      // Besides the trainer the pool holds only the operators' small tables (RoPE).
      const tables = be.poolStats().liveBytes - held;
      assert.ok(tables >= 0 && tables < 0.01 * held, `${what}: ${tables} B besides the trainer`);
      // A step, measured: the prediction is an upper bound, and not a loose one.
      tr.trainStep(randomBatch(cfg, 4, new Rng(7)));
      be.resetPeak();
      tr.trainStep(randomBatch(cfg, 4, new Rng(8)));
      const step = be.poolStats().peakLiveBytes;
      assert.ok(
        trainStep >= step && trainStep <= 1.2 * step,
        `${what}: step ${step}, ${trainStep}`,
      );
      // An evaluation of 3 examples (every ACT step, every cycle): exactly as predicted.
      const before = be.poolStats().liveBytes;
      assert.equal(before, held + paramBytes + tables, `${what}: trainer and gradients`);
      be.resetPeak();
      tr.withEmaWeights(() => evaluateBatch(m, randomBatch(cfg, 3, new Rng(9)), new Rng(1)));
      const evalPeak = be.poolStats().peakLiveBytes;
      const { fixed, perExample } = check.evalMemory;
      assert.equal(evalPeak - tables, check.evalMemory.held + fixed + 3 * perExample, what);
      // The probes changed nothing: no gradients left behind, nothing held.
      assert.equal(measureEvalFootprint(m).perExample, perExample);
      assert.ok(measureTrainExample(m, plan.recompute) > 0);
      assert.equal(be.poolStats().liveBytes, before, `${what}: probes release what they allocate`);
    }
  }
});
