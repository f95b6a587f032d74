import assert from "node:assert/strict";
import { nativeStatus } from "../engine/backends/mod.ts";
import { readSafetensors, type SafeTensor } from "../engine/safetensors.ts";
import { assertClose } from "../engine/testing.ts";
import { NativeUnavailableError } from "../engine/errors.ts";
import { cudaStatus } from "../engine/backends/cuda/cuda.ts";
import { configHash, presetConfig, type RunConfig } from "./presets.ts";
import { NonFiniteError, parseCommandLine, type RunControl, runTraining } from "./train.ts";
import { CHECKPOINT_FILE } from "./checkpoint.ts";
import { choosePlan, type Footprint, predict } from "./memory_plan.ts";
import type { Trainer } from "./trainer.ts";

// The cpu backend when it loads here, else ref: both keep f32 buffers, which the checkpoint
// stores exactly, so the bitwise comparison holds on either.
const BACKEND = nativeStatus().ok ? "cpu" : "ref";
const CACHE = await Deno.makeTempDir({ prefix: "trm-train-test-cache-" });

/** A tiny run: width 16, T = 2, n = 1, ≤ 4 ACT steps, batch 8, 12 steps on a 4×4 Sudoku. */
function tinyConfig(model: RunConfig["model"] = "trm-attn"): RunConfig {
  const c = presetConfig("cpu-mini", "sudoku", model, 3);
  c.backend = BACKEND;
  c.arch = {
    ...c.arch,
    hidden: 16,
    heads: 2,
    prefixLen: 4,
    hCycles: 2,
    lCycles: 1,
    haltMaxSteps: 4,
    haltExploration: 0.5,
    mamba: { ...c.arch.mamba, dState: 8, headdim: 8, chunkSize: 16 },
  };
  c.data = {
    dir: null,
    generate: { kind: "sudoku", size: 4, train: 24, test: 6, aug: 3, seed: 5 },
    cacheRoot: CACHE,
  };
  c.train = {
    ...c.train,
    batchSize: 8,
    steps: 12,
    warmupSteps: 3,
    evalEvery: 6,
    checkpointEvery: 5,
    evalBatchSize: 4,
    // Exploration and halting draw from the trainer's Rng: exercised by the resume test.
    lr: 3e-3,
  };
  return c;
}

/**
 * Sets the Q-head bias to +2 before the first step, so that q_halt > 0 and halting depends on the
 * exploration draws of the trainer's Rng from the start (with the paper's −5 it would take many
 * steps before the Q head ever says halt, and the resume test would not see that Rng at all).
 */
function haltEarly(tr: Trainer): void {
  if (tr.step !== 0) return;
  const b = tr.model.params["q_head.bias"];
  b.backend.upload(b.buf, [2, 2]);
}

function control(out: string, extra: Partial<RunControl> = {}): RunControl {
  return {
    beforeStep: haltEarly,
    out,
    resume: false,
    maxMinutes: null,
    logEvery: 1000,
    progress: false,
    overrides: {},
    log: () => {},
    ...extra,
  };
}

class Killed extends Error {}

/** Awaits a rejection and returns the error. */
async function rejection(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    return e as Error;
  }
  throw new assert.AssertionError({ message: "expected a rejection" });
}

function bytesOf(t: SafeTensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Every numeric column of metrics.csv except the timings. */
async function lossColumns(path: string): Promise<string[]> {
  const lines = (await Deno.readTextFile(path)).trim().split("\n");
  return lines.map((l) => l.split(",").slice(0, 9).join(","));
}

Deno.test("train: killed after step 7, resumed from the step-5 checkpoint, ends bitwise equal", async () => {
  const cfg = tinyConfig();
  const a = await Deno.makeTempDir({ prefix: "trm-train-a-" });
  const b = await Deno.makeTempDir({ prefix: "trm-train-b-" });
  const c = await Deno.makeTempDir({ prefix: "trm-train-c-" });
  try {
    const full = await runTraining(cfg, control(a));
    assert.deepStrictEqual(full.trainer.step, 12);
    // Slots halted at different ACT steps: exploration (the trainer's Rng) was in play.
    const acts = (await Deno.readTextFile(`${a}/metrics.csv`)).trim().split("\n").slice(1)
      .map((l) => l.split(",")[8]).filter((v) => v !== "");
    assert.ok(new Set(acts).size > 2, `mean ACT steps: ${acts}`);

    // Run b is "killed" (an exception, nothing saved) two steps after its step-5 checkpoint.
    const killed = await rejection(() =>
      runTraining(
        cfg,
        control(b, {
          afterStep: (tr: Trainer) => {
            if (tr.step === 7) throw new Killed("kill");
          },
        }),
      )
    );
    assert.ok(killed instanceof Killed, String(killed));
    const mid = await readSafetensors(`${b}/${CHECKPOINT_FILE}`);
    assert.deepStrictEqual(mid.metadata.step, "5");
    // All in-memory state of the killed run is gone; resume from the files alone.
    const resumed = await runTraining(cfg, control(b, { resume: true }));
    assert.deepStrictEqual(resumed.trainer.step, 12);

    const ta = (await readSafetensors(`${a}/${CHECKPOINT_FILE}`)).tensors;
    const tb = (await readSafetensors(`${b}/${CHECKPOINT_FILE}`)).tensors;
    assert.deepStrictEqual(Object.keys(tb).sort(), Object.keys(ta).sort());
    const groups = ["param/", "ema/", "adam_m/", "adam_v/", "buffer/", "carry/"];
    for (const name of Object.keys(ta)) {
      assert.ok(groups.some((g) => name.startsWith(g)), name);
      assert.deepStrictEqual(bytesOf(tb[name]), bytesOf(ta[name]), `${name} differs after resume`);
    }
    assert.ok(Object.keys(ta).includes("buffer/puzzle_emb.weight"));
    // The logs match too: rows 6 and 7 of the killed run were replaced, not duplicated.
    assert.deepStrictEqual(
      await lossColumns(`${b}/metrics.csv`),
      await lossColumns(`${a}/metrics.csv`),
    );
    const evalSteps = (await Deno.readTextFile(`${b}/eval.csv`)).trim().split("\n").slice(1)
      .map((l) => l.split(",")[0]);
    assert.deepStrictEqual(evalSteps, ["6", "12"]);

    // A different configuration is refused, naming what differs.
    const other = structuredClone(cfg);
    other.train.lr = 1e-3;
    const err = await rejection(() => runTraining(other, control(b, { resume: true })));
    assert.ok(String(err).includes("train.lr"), String(err));

    // Another memory plan (recorded, not hashed) resumes the same run: micro-batches and
    // recomputation until the kill, the whole batch after it. Same steps up to summation order.
    const memory = { microBatches: 2, recompute: true };
    const killedC = await rejection(() =>
      runTraining(
        cfg,
        control(c, {
          memory,
          afterStep: (tr: Trainer) => {
            if (tr.step === 7) throw new Killed("kill");
          },
        }),
      )
    );
    assert.ok(killedC instanceof Killed, String(killedC));
    assert.deepEqual(JSON.parse(await Deno.readTextFile(`${c}/config.json`)).memory, memory);
    await runTraining(cfg, control(c, { resume: true }));
    const tc = (await readSafetensors(`${c}/${CHECKPOINT_FILE}`)).tensors;
    for (const name of Object.keys(ta).filter((n) => n.startsWith("param/"))) {
      assertClose(tc[name].data as Float32Array, ta[name].data as Float32Array, {
        atol: 1e-5,
        rtol: 1e-3,
        msg: name,
      });
    }
    const la = await lossColumns(`${a}/metrics.csv`), lc = await lossColumns(`${c}/metrics.csv`);
    assert.equal(lc.length, la.length);
    for (let i = 1; i < la.length; i++) {
      const [ra, rc] = [la[i], lc[i]].map((r) => r.split(",").map(Number));
      const exact = [0, 1, 4]; // step, lr, halted
      assert.deepEqual(exact.map((k) => rc[k]), exact.map((k) => ra[k]), `step ${i}`);
      const rest = [2, 3, 5, 6, 7, 8]; // losses, accuracies, mean ACT steps
      assertClose(rest.map((k) => rc[k]), rest.map((k) => ra[k]), {
        atol: 1e-5,
        rtol: 1e-4,
        msg: `metrics step ${i}`,
      });
    }
  } finally {
    for (const d of [a, b, c]) await Deno.remove(d, { recursive: true });
  }
});

Deno.test("train: a NaN in a weight stops the run naming the step and tensors; last checkpoint kept", async () => {
  const cfg = tinyConfig();
  const out = await Deno.makeTempDir({ prefix: "trm-train-nan-" });
  try {
    const err = await rejection(() =>
      runTraining(
        cfg,
        control(out, {
          beforeStep: (tr: Trainer) => {
            haltEarly(tr);
            if (tr.step !== 6) return;
            const w = tr.model.params["lm_head.weight"];
            const host = Float32Array.from(w.toArray());
            host[3] = NaN;
            w.backend.upload(w.buf, host);
          },
        }),
      )
    );
    assert.ok(err instanceof NonFiniteError, String(err));
    assert.ok(err.message.includes("at step 7"), err.message);
    assert.ok(/grad of [\w.]+/.test(err.message), err.message);
    assert.ok(err.message.includes("lm_loss = NaN"), err.message);
    const ck = await readSafetensors(`${out}/${CHECKPOINT_FILE}`);
    assert.deepStrictEqual(ck.metadata.step, "5");
    const w = ck.tensors["param/lm_head.weight"].data as Float32Array;
    assert.ok(w.every(Number.isFinite));
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

async function rejectsWith(
  fn: () => Promise<unknown>,
  cls: ErrorConstructor,
  text = "",
): Promise<void> {
  const e = await rejection(fn);
  assert.ok(e instanceof cls, `${cls.name} expected: ${e}`);
  assert.ok(e.message.includes(text), e.message);
}

const NAMED = ["--task", "sudoku", "--model", "trm-attn", "--out", "x"];

Deno.test("train CLI: unknown flags and bad values are errors; overrides are applied", async () => {
  await rejectsWith(() => parseCommandLine([...NAMED, "--bogus", "1"]), TypeError, "bogus");
  await rejectsWith(
    () => parseCommandLine([...NAMED, "--preset", "nope"]),
    RangeError,
    "unknown preset",
  );
  await rejectsWith(
    () => parseCommandLine([...NAMED, "--preset", "cpu-mini", "--steps", "1.5"]),
    RangeError,
    "--steps",
  );
  const { config, control, threads } = await parseCommandLine([
    ...["--task", "maze", "--model", "tr-mamba2attn", "--preset", "paper", "--out", "runs/x"],
    ...["--data", "some/dir", "--l-cycles", "6", "--steps", "10", "--threads", "1"],
  ]);
  assert.equal(config.arch.lCycles, 6);
  assert.equal(config.train.steps, 10);
  assert.equal(config.data.dir, "some/dir");
  assert.equal(config.train.weightDecay, 1.0);
  assert.equal(threads, 1);
  assert.deepStrictEqual(control.overrides.arch, { lCycles: 6 });
  assert.equal(control.dumpPredictions, false);
  const dump = await parseCommandLine([...NAMED, "--preset", "smoke", "--dump-predictions"]);
  assert.equal(dump.control.dumpPredictions, true);
  assert.deepEqual(dump.control.memory, { microBatches: 1, recompute: false });
  const mem = await parseCommandLine([
    ...NAMED,
    "--preset",
    "smoke",
    "--micro-batches",
    "4",
    "--recompute",
  ]);
  assert.deepEqual(mem.control.memory, { microBatches: 4, recompute: true });
  assert.equal(configHash(mem.config), configHash(dump.config), "memory plans are not hashed");
  await rejectsWith(
    () => parseCommandLine([...NAMED, "--preset", "smoke", "--micro-batches", "0"]),
    RangeError,
    "--micro-batches",
  );
  const auto = await parseCommandLine([
    ...[...NAMED, "--preset", "smoke", "--micro-batches", "auto", "--memory-gib", "2"],
  ]);
  assert.equal(auto.control.memory, "auto");
  assert.equal(auto.control.memoryBytes, 2 * 2 ** 30);
  await rejectsWith(
    () =>
      parseCommandLine([...NAMED, "--preset", "smoke", "--micro-batches", "auto", "--recompute"]),
    TypeError,
    "auto decides",
  );
});

Deno.test({
  name:
    "train --micro-batches auto: measures, picks the plan that fits, records it; none fits: error",
  ignore: BACKEND !== "cpu", // needs a pooled backend
  async fn() {
    const cfg = tinyConfig();
    cfg.train.steps = 2;
    const run = async (memoryBytes: number) => {
      const out = await Deno.makeTempDir({ prefix: "trm-train-auto-" });
      try {
        await runTraining(cfg, control(out, { memory: "auto", memoryBytes }));
        return JSON.parse(await Deno.readTextFile(`${out}/config.json`));
      } finally {
        await Deno.remove(out, { recursive: true });
      }
    };
    const roomy = await run(2 ** 40);
    assert.deepEqual(roomy.memory, { microBatches: 1, recompute: false });
    const { whole, recomputed } = roomy.memoryPlan as { whole: Footprint; recomputed: Footprint };
    // a budget between the whole batch and two micro-batches: the plan must be the choosePlan one
    const b = cfg.train.batchSize, budget = (predict(whole, b, 1) + predict(whole, b, 2)) / 2;
    const want = choosePlan(whole, recomputed, b, budget)!;
    assert.ok(want.microBatches > 1, JSON.stringify(want));
    const tight = await run(budget / 0.9);
    assert.deepEqual(tight.memory, { microBatches: want.microBatches, recompute: want.recompute });
    const err = await rejection(() => run(1024));
    assert.match(String(err), /no memory plan fits batch 8/);
  },
});

Deno.test({
  name: "train --backend cuda without a usable GPU: a clear error, nothing trained",
  ignore: cudaStatus().ok,
  async fn() {
    const { config } = await parseCommandLine([...NAMED, "--preset", "smoke", "--backend", "cuda"]);
    assert.equal(config.backend, "cuda");
    const out = await Deno.makeTempDir({ prefix: "trm-train-cuda-" });
    try {
      const err = await rejection(() => runTraining(config, control(out)));
      assert.ok(err instanceof NativeUnavailableError, String(err));
      assert.match(err.message, /cuda/i);
      assert.ok(!(await Deno.stat(`${out}/metrics.csv`).catch(() => null)), "no training started");
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test("train: a config file with an unknown key is refused", async () => {
  const file = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(file, JSON.stringify({ train: { learningRate: 1 } }));
    await rejectsWith(
      () => parseCommandLine([...NAMED, "--preset", "cpu-mini", "--config", file]),
      RangeError,
      "unknown key: train.learningRate",
    );
  } finally {
    await Deno.remove(file);
  }
});

globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(CACHE, { recursive: true });
  } catch {
    // already gone
  }
});
