import assert from "node:assert/strict";
import { nativeStatus } from "../engine/backends/mod.ts";
import { readSafetensors, type SafeTensor } from "../engine/safetensors.ts";
import { assertClose } from "../engine/testing.ts";
import { NativeUnavailableError } from "../engine/errors.ts";
import { cudaStatus } from "../engine/backends/cuda/cuda.ts";
import { configHash, type RunConfig } from "./run/config.ts";
import { parseCommandLine } from "./train.ts";
import { NonFiniteError } from "./checkpoint.ts";
import { type RunControl, runTraining } from "./run/loop.ts";
import { CHECKPOINT_FILE } from "./checkpoint.ts";
import { choosePlan, type Footprint, predict } from "./memory_plan.ts";
import type { Trainer } from "./trainer.ts";
import { quietControl, rejection, tinyRunConfig, withTempDir } from "./testing.ts";

// The cpu backend when it loads here, else ref: both keep f32 buffers, which the checkpoint
// stores exactly, so the bitwise comparison holds on either.
const BACKEND = nativeStatus().ok ? "cpu" : "ref";
const CACHE = await Deno.makeTempDir({ prefix: "trm-train-test-cache-" });

/** A tiny run: width 16, T = 2, n = 1, ≤ 4 ACT steps, batch 8, 12 steps on a 4×4 Sudoku. */
function tinyConfig(model: RunConfig["model"] = "trm-attn"): RunConfig {
  return tinyRunConfig({
    backend: BACKEND,
    cacheRoot: CACHE,
    model,
    // Exploration and halting draw from the trainer's Rng: exercised by the resume test.
    arch: { haltMaxSteps: 4, haltExploration: 0.5 },
    generate: { aug: 3 },
    train: { steps: 12, warmupSteps: 3, evalEvery: 6, checkpointEvery: 5 },
  });
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
  return quietControl(out, { beforeStep: haltEarly, ...extra });
}

class Killed extends Error {}

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

/**
 * Trains tinyConfig() in a fresh folder, `corrupt` applied to the trainer before its step 7: the
 * run must stop with a NonFiniteError. That error and the checkpoint left behind.
 */
async function nonFiniteRun(
  prefix: string,
  corrupt: (tr: Trainer) => void,
): Promise<{ err: NonFiniteError; checkpoint: Awaited<ReturnType<typeof readSafetensors>> }> {
  return await withTempDir(prefix, async (out) => {
    const err = await rejection(() =>
      runTraining(
        tinyConfig(),
        control(out, {
          beforeStep: (tr: Trainer) => {
            haltEarly(tr);
            if (tr.step === 6) corrupt(tr);
          },
        }),
      )
    );
    assert.ok(err instanceof NonFiniteError, String(err));
    return { err, checkpoint: await readSafetensors(`${out}/${CHECKPOINT_FILE}`) };
  });
}

Deno.test("train: a NaN in a weight stops the run naming the step and tensors; last checkpoint kept", async () => {
  const { err, checkpoint: ck } = await nonFiniteRun("trm-train-nan-", (tr) => {
    const w = tr.model.params["lm_head.weight"];
    const host = Float32Array.from(w.toArray());
    host[3] = NaN;
    w.backend.upload(w.buf, host);
  });
  assert.ok(err.message.includes("at step 7"), err.message);
  assert.ok(/grad of [\w.]+/.test(err.message), err.message);
  assert.ok(err.message.includes("lm_loss = NaN"), err.message);
  assert.deepStrictEqual(ck.metadata.step, "5");
  const w = ck.tensors["param/lm_head.weight"].data as Float32Array;
  assert.ok(w.every(Number.isFinite));
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

/** Runs `fn` with a temporary --config file holding `settings` as JSON, removed afterwards. */
async function withConfigFile(settings: unknown, fn: (file: string) => Promise<void>) {
  const file = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(file, JSON.stringify(settings));
    await fn(file);
  } finally {
    await Deno.remove(file);
  }
}

Deno.test("train: a config file with an unknown key is refused", async () => {
  await withConfigFile({ train: { learningRate: 1 } }, async (file) => {
    await rejectsWith(
      () => parseCommandLine([...NAMED, "--preset", "cpu-mini", "--config", file]),
      RangeError,
      "unknown key: train.learningRate",
    );
  });
});

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = new Deno.Command("true", { stdout: "null", stderr: "null" }).spawn();
  await child.status;
  return child.pid;
}

Deno.test("train: one process per run folder — a live lock is refused naming pid and folder, a stale one taken over", async () => {
  const cfg = tinyConfig();
  cfg.train.steps = 2;
  const out = await Deno.makeTempDir({ prefix: "trm-train-lock-" });
  const other = new Deno.Command("sleep", { args: ["60"] }).spawn(); // "another train process"
  try {
    const lockFile = `${out}/.trm.lock`;
    const holder = (pid: number) =>
      JSON.stringify({
        pid,
        hostname: Deno.hostname(),
        startedAt: new Date().toISOString(),
        command: "deno task train --out " + out,
      });
    await Deno.writeTextFile(lockFile, holder(other.pid));
    const err = await rejection(() => runTraining(cfg, control(out)));
    assert.match(err.message, new RegExp(`run folder ${out} is in use by pid ${other.pid}`));
    assert.ok(!err.message.includes("\n"), "one line");
    assert.ok(!(await Deno.stat(`${out}/metrics.csv`).catch(() => null)), "nothing written");
    assert.equal(JSON.parse(await Deno.readTextFile(lockFile)).pid, other.pid, "lock kept");

    // The holder died without removing its lock (kill -9): stale, taken over with a warning.
    await Deno.writeTextFile(lockFile, holder(await deadPid()));
    const lines: string[] = [];
    const res = await runTraining(cfg, control(out, { log: (l) => lines.push(l) }));
    assert.equal(res.trainer.step, 2);
    assert.ok(lines.some((l) => /taking over the stale lock/.test(l)), lines.join("\n"));
    assert.ok(!(await Deno.stat(lockFile).catch(() => null)), "lock removed at the end");
  } finally {
    other.kill("SIGKILL");
    await other.status;
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("train: a folder holding a run is refused without --resume; --force starts over", async () => {
  const cfg = tinyConfig();
  cfg.train.steps = 6; // checkpoints at 5 and 6
  const out = await Deno.makeTempDir({ prefix: "trm-train-exists-" });
  try {
    await runTraining(cfg, control(out));
    const files = async () => {
      const m = await Deno.readTextFile(`${out}/metrics.csv`);
      return [m, await Deno.readFile(`${out}/${CHECKPOINT_FILE}`)];
    };
    const before = await files();
    const err = await rejection(() => runTraining(cfg, control(out)));
    assert.match(err.message, /already holds a run \(.*config\.json.*metrics\.csv/);
    assert.match(err.message, /--resume.*--force/);
    assert.deepEqual(await files(), before, "the finished run is untouched");

    const again = structuredClone(cfg);
    again.train.steps = 2; // one checkpoint (step 2): the old run's prev must be gone
    await runTraining(again, control(out, { force: true }));
    const rows = (await Deno.readTextFile(`${out}/metrics.csv`)).trim().split("\n");
    assert.equal(rows.length, 3, rows.join("\n"));
    assert.ok(!(await Deno.stat(`${out}/checkpoint.prev.safetensors`).catch(() => null)));
    assert.equal(JSON.parse(await Deno.readTextFile(`${out}/config.json`)).config.train.steps, 2);

    const { control: c } = await parseCommandLine([...NAMED, "--preset", "smoke", "--force"]);
    assert.equal(c.force, true);
    await rejectsWith(
      () => parseCommandLine([...NAMED, "--preset", "smoke", "--force", "--resume"]),
      TypeError,
      "exclude each other",
    );
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("train: Inf in a parameter the loss does not reach is never checkpointed; the last good checkpoint stays", async () => {
  const { err, checkpoint: ck } = await nonFiniteRun("trm-train-inf-", (tr) => {
    // q_continue's bias: no loss term reads it (TRM trains q_halt only), so no gradient
    // and no step-time check sees it, while AdamW, EMA and checkpoints carry it along.
    const b = tr.model.params["q_head.bias"];
    b.backend.upload(b.buf, [2, Infinity]);
  });
  assert.match(err.message, /step-10 checkpoint/);
  assert.match(err.message, /param\/q_head\.bias/);
  assert.equal(ck.metadata.step, "5");
  for (const [name, t] of Object.entries(ck.tensors)) {
    assert.ok((t.data as Float32Array).every(Number.isFinite), name);
  }
});

Deno.test("train --resume: a corrupt checkpoint falls back to the previous one and ends bitwise equal; stale temporaries go", async () => {
  const cfg = tinyConfig();
  const out = await Deno.makeTempDir({ prefix: "trm-train-corrupt-" });
  try {
    await runTraining(cfg, control(out)); // checkpoints at 5, 10, 12
    const path = `${out}/${CHECKPOINT_FILE}`;
    const final = await readSafetensors(path);
    const metrics = await lossColumns(`${out}/metrics.csv`);

    // One flipped bit in the last tensor's data, and a temporary a killed save left.
    const bytes = await Deno.readFile(path);
    bytes[bytes.length - 3] ^= 0x01;
    await Deno.writeFile(path, bytes);
    const tmp = `checkpoint.next.safetensors.tmp-${await deadPid()}`;
    await Deno.writeFile(`${out}/${tmp}`, new Uint8Array(1000));

    const lines: string[] = [];
    const res = await runTraining(
      cfg,
      control(out, { resume: true, log: (l) => lines.push(l) }),
    );
    const text = lines.join("\n");
    assert.match(text, new RegExp(`warning: ${path} is corrupt \\(tensor .* fails its checksum`));
    assert.match(
      text,
      /falling back to the previous checkpoint .*checkpoint\.prev\.safetensors \(step 10\)/,
    );
    assert.match(text, /resuming at step 10/);
    assert.match(text, new RegExp(`note: removed 1 temporary file.*${tmp}`));
    assert.ok(!(await Deno.stat(`${out}/${tmp}`).catch(() => null)));
    assert.equal(res.trainer.step, 12);
    const again = (await readSafetensors(path)).tensors;
    for (const name of Object.keys(final.tensors)) {
      assert.deepStrictEqual(bytesOf(again[name]), bytesOf(final.tensors[name]), name);
    }
    assert.deepStrictEqual(await lossColumns(`${out}/metrics.csv`), metrics);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(CACHE, { recursive: true });
  } catch {
    // already gone
  }
});

Deno.test("train CLI: --config FILE then --data DIR: the flags are merged before validating", async () => {
  // The paper preset names no data; the file leaves it out too: --data supplies it.
  await withConfigFile({ train: { steps: 5 } }, async (file) => {
    const { config } = await parseCommandLine([
      ...["--task", "sudoku", "--model", "trm-attn", "--preset", "paper", "--out", "x"],
      ...["--config", file, "--data", "some/dir"],
    ]);
    assert.equal(config.data.dir, "some/dir");
    assert.equal(config.train.steps, 5);
    // Without --data the complete configuration is still refused, naming the file.
    await rejectsWith(
      () => parseCommandLine([...NAMED, "--preset", "paper", "--config", file]),
      RangeError,
      "no data",
    );
  });
});

Deno.test("train CLI: negative, zero and non-numeric values of numeric flags are refused", async () => {
  const base = [...NAMED, "--preset", "smoke"];
  for (
    const bad of [
      "--max-minutes=-1",
      "--max-minutes=0",
      "--max-minutes=nan",
      "--steps=0",
      "--steps=-3",
      "--batch=0",
      "--eval-every=-1",
      "--checkpoint-every=0",
      "--log-every=0",
      "--l-cycles=0",
      "--threads=0",
      "--seed=-1",
      "--lr=-0.1",
      "--memory-gib=Infinity",
      "--micro-batches=-2",
    ]
  ) {
    const flag = bad.slice(0, bad.indexOf("="));
    await rejectsWith(() => parseCommandLine([...base, bad]), RangeError, flag);
  }
  const ok = await parseCommandLine([...base, "--max-minutes", "0.5", "--lr", "0"]);
  assert.equal(ok.control.maxMinutes, 0.5);
  assert.equal(ok.config.train.lr, 0);
});

Deno.test("train: a bad value exits 2 with one line and the usage, before anything is written", async () => {
  const out = await Deno.makeTempDir({ prefix: "trm-train-cli-" });
  try {
    const r = await new Deno.Command(Deno.execPath(), {
      args: [
        ...["run", "--allow-all", "--no-check", new URL("./train.ts", import.meta.url).pathname],
        ...["--task", "sudoku", "--model", "trm-attn", "--preset", "smoke"],
        ...["--out", out, "--max-minutes=-1"],
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(r.stderr);
    assert.equal(r.code, 2, err);
    const [first, ...rest] = err.trim().split("\n");
    assert.match(first, /^train: --max-minutes: expected a number > 0, got "-1"$/);
    assert.match(rest.join("\n"), /^usage: deno task train/);
    assert.deepEqual([...Deno.readDirSync(out)], [], "nothing written");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
