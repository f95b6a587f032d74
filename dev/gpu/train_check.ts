/**
 * GPU training check (run by dev/gpu/check.sh on a machine with an NVIDIA GPU), in two modes, each
 * appending rows `model,check,batch,ok,value,detail` to `--out` (default $OUT/gpu.csv, else
 * dev/gpu/out/gpu.csv; the header is written when the file is new). Prints only what it measured.
 *
 * `loss` — correctness and a memory forecast, for `trm-attn` and `tr-mamba2attn` at ARC shapes
 * (paper width, L = 900 + prefix):
 * 1. two training steps (forward, backward, optimisers) on the `cpu` backend and on `cuda` in each
 *    GEMM math of `--maths` (same weights, data and seeds) at a reduced batch (`--small`, 4); the
 *    losses of both steps must agree: f32 |Δ| ≤ 1e-3 + 1e-3·|cpu| (f32 on both, different
 *    summation orders); tf32 1e-3 + 5e-3·|cpu|; bf16 2e-3 + 2e-2·|cpu| (GEMM inputs rounded to
 *    10 / 7 mantissa bits; judged, not derived: the loss averages many rounding errors);
 * 2. the same two steps on cuda (f32) with 2 micro-batches and recomputation (recursion/trainer.ts
 *    MemoryPlan, the plans the paper batch needs on one device) against the cpu's whole-batch
 *    steps, at the f32 tolerance.
 * (The memory a batch needs, and the plan that fits B = 768, come from
 * benchmarks/speed/memory_plan.ts --backend cuda, run by check.sh.)
 *
 * `time` — the step time of one model at one batch and GEMM math, in a fresh process (a failed
 * allocation must not leave memory behind for the next attempt): one warm-up step (its losses
 * must be finite), then up to `--reps` timed steps within `--budget` seconds (at least one unless
 * `--reps 0`), each followed by `sync()`; the row `step-seconds-<math>` (or `--check`) holds the median (with
 * `--reps 0`: the warm-up step's time, first allocations included, and the detail says so). `--micro-batches M` and
 * `--recompute` set the step's memory plan (named in the row's detail). Running out of device
 * memory anywhere is a recorded row (value "oom", ok) and exit status 3.
 *
 *   deno run -A dev/gpu/train_check.ts loss [--models a,b] [--small 4]
 *       [--maths f32,tf32,bf16] [--out FILE]
 *   deno run -A dev/gpu/train_check.ts time --model M --batch B [--math f32] [--reps 1]
 *       [--budget 120] [--micro-batches 1] [--recompute] [--check NAME] [--out FILE]
 *
 * Exit status: 0 all rows ok, 1 a check failed, 3 (time) out of memory, 2 usage.
 */
import { cliArgs, usageText } from "../../engine/cli.ts";
import { createCpuBackend } from "../../engine/backends/cpu/mod.ts";
import { createPooledCuda } from "../../engine/backends/mod.ts";
import { cudaMemInfo, type GemmMath } from "../../engine/backends/cuda/cuda.ts";
import type { PooledBackend } from "../../engine/backends/pool.ts";
import { OutOfMemoryError } from "../../engine/errors.ts";
import { benchSetup } from "../../recursion/bench_setup.ts";
import type { ModelName } from "../../recursion/config.ts";
import { trainStepFlops } from "../../recursion/flops.ts";
import { gib, GpuCsv, gpuCsvPath, type GpuCsvRow, median } from "./gpu_csv.ts";
import type { StepMetrics } from "../../recursion/trainer.ts";

const USAGE = `usage: deno run -A dev/gpu/train_check.ts loss [--models a,b] [--small 4]
           [--maths f32,tf32,bf16] [--out FILE]
       deno run -A dev/gpu/train_check.ts time --model M --batch B [--math f32] [--reps 1]
           [--budget 120] [--micro-batches 1] [--recompute] [--check NAME] [--out FILE]
  loss: cpu against cuda losses of two training steps; time: one model's step time (rows of
  gpu.csv: --out, else $OUT/gpu.csv, else dev/gpu/out/gpu.csv). Exit 3: out of device memory.`;
const { values: args, positionals } = cliArgs(
  "train_check",
  USAGE,
  {
    models: { type: "string", default: "trm-attn,tr-mamba2attn" },
    model: { type: "string", default: "" },
    small: { type: "string", default: "4" },
    maths: { type: "string", default: "f32,tf32,bf16" },
    math: { type: "string", default: "f32" },
    "micro-batches": { type: "string", default: "1" },
    recompute: { type: "boolean", default: false },
    check: { type: "string", default: "" },
    batch: { type: "string", default: "" },
    reps: { type: "string", default: "1" },
    budget: { type: "string", default: "120" },
    out: { type: "string", default: "" },
  },
  Deno.args,
  { positionals: { min: 1, max: 1 } },
);
const mode = positionals[0];
if (mode !== "loss" && mode !== "time") {
  console.error(usageText("train_check", `the mode must be loss or time: ${mode}`, USAGE));
  Deno.exit(2);
}
const outPath = gpuCsvPath(args.out);
const csv = new GpuCsv(outPath);
const record = (r: GpuCsvRow) => csv.record(r);

const MATHS: GemmMath[] = ["f32", "tf32", "bf16"];
/** Loss tolerance per GEMM math (see the header). */
const TOL: Record<GemmMath, { atol: number; rtol: number }> = {
  f32: { atol: 1e-3, rtol: 1e-3 },
  tf32: { atol: 1e-3, rtol: 5e-3 },
  bf16: { atol: 2e-3, rtol: 2e-2 },
};
const fmt = (m: StepMetrics) => `lm=${m.lmLoss.toPrecision(7)} q=${m.qLoss.toPrecision(7)}`;
const isOom = (e: unknown) =>
  e instanceof OutOfMemoryError || /out of memory|ALLOC_FAILED/i.test(String(e));

function parseMath(s: string): GemmMath {
  if (!(MATHS as string[]).includes(s)) {
    console.error(`train_check: math must be f32, tf32 or bf16: ${s}`);
    Deno.exit(2);
  }
  return s as GemmMath;
}

function cudaFor(math: GemmMath): PooledBackend {
  return createPooledCuda({ math }) as PooledBackend;
}

/** Device memory in use now (all processes; here only ours). */
function usedBytes(): number {
  const m = cudaMemInfo();
  return m.total - m.free;
}

function lossMode() {
  const models = args.models.split(",") as ModelName[];
  const maths = args.maths.split(",").map(parseMath);
  const small = Number(args.small);
  const cpu = createCpuBackend();
  const cudas = new Map(maths.map((m) => [m, cudaFor(m)] as const));
  console.log(`cuda: ${JSON.stringify(cudas.values().next().value!.info)}`);

  for (const model of models) {
    // 1) cuda (each math) vs cpu at the reduced batch, two steps
    let cpuMetrics: StepMetrics[] = [];
    try {
      const c = benchSetup(cpu, model, "arc", small, 7);
      cpuMetrics = [c.trainer.trainStep(c.batch), c.trainer.trainStep(c.batch)];
    } catch (e) {
      record({ model, check: "loss-cpu", batch: small, ok: false, value: "", detail: `${e}` });
      continue;
    }
    for (const [math, be] of cudas) {
      try {
        const g = benchSetup(be, model, "arc", small, 7);
        const tol = TOL[math];
        const close = (a: number, e: number) =>
          Math.abs(a - e) <= tol.atol + tol.rtol * Math.abs(e);
        for (let step = 1; step <= 2; step++) {
          const mg = g.trainer.trainStep(g.batch), mc = cpuMetrics[step - 1];
          be.sync();
          record({
            model,
            check: `loss-vs-cpu-${math}-step${step}`,
            batch: small,
            ok: close(mg.lmLoss, mc.lmLoss) && close(mg.qLoss, mc.qLoss),
            value: fmt(mg),
            detail: `cpu ${fmt(mc)}; tol ${tol.atol} + ${tol.rtol}·|cpu|; ${be.name}`,
          });
        }
      } catch (e) {
        record({
          model,
          check: `loss-vs-cpu-${math}`,
          batch: small,
          ok: false,
          value: "",
          detail: `${e}`,
        });
      }
    }

    // 2) micro-batches and recomputation on cuda (f32) vs the cpu's whole batch
    const plan = { microBatches: 2, recompute: true };
    try {
      const be = cudas.get("f32") ?? cudaFor("f32");
      const g = benchSetup(be, model, "arc", small, 7, plan);
      const tol = TOL.f32;
      const close = (a: number, e: number) => Math.abs(a - e) <= tol.atol + tol.rtol * Math.abs(e);
      for (let step = 1; step <= 2; step++) {
        const mg = g.trainer.trainStep(g.batch), mc = cpuMetrics[step - 1];
        be.sync();
        record({
          model,
          check: `loss-vs-cpu-micro2-recompute-step${step}`,
          batch: small,
          ok: close(mg.lmLoss, mc.lmLoss) && close(mg.qLoss, mc.qLoss),
          value: fmt(mg),
          detail: `cpu whole batch ${fmt(mc)}; tol ${tol.atol} + ${tol.rtol}·|cpu|; ${be.name}`,
        });
      }
    } catch (e) {
      record({
        model,
        check: "loss-vs-cpu-micro2-recompute",
        batch: small,
        ok: false,
        value: "",
        detail: `${e}`,
      });
    }
  }
}

function timeMode(): number {
  const model = args.model as ModelName;
  const b = Number(args.batch);
  const math = parseMath(args.math);
  if (!model || !Number.isInteger(b) || b < 1) {
    console.error("train_check time: --model and --batch are required");
    return 2;
  }
  const reps = Number(args.reps), budget = Number(args.budget);
  const plan = { microBatches: Number(args["micro-batches"]), recompute: args.recompute };
  const planText = `micro-batches ${plan.microBatches}${plan.recompute ? ", recompute" : ""}`;
  const check = args.check || `step-seconds-${math}`;
  let be: PooledBackend | null = null;
  try {
    be = cudaFor(math);
    const t0 = performance.now();
    const g = benchSetup(be, model, "arc", b, 7, plan);
    const tw = performance.now();
    const m1 = g.trainer.trainStep(g.batch);
    be.sync();
    const warm = (performance.now() - tw) / 1000;
    const finite = Number.isFinite(m1.lmLoss) && Number.isFinite(m1.qLoss);
    record({
      model,
      check: `step-finite-${math}`,
      batch: b,
      ok: finite,
      value: fmt(m1),
      detail: `warm-up ${warm.toFixed(3)} s; setup ${((tw - t0) / 1000).toFixed(1)} s; ${planText}`,
    });
    const times: number[] = [];
    for (let i = 0; i < reps; i++) {
      const elapsed = (performance.now() - t0) / 1000, last = times.at(-1) ?? warm;
      if (times.length > 0 && elapsed + last > budget) break;
      const ts = performance.now();
      g.trainer.trainStep(g.batch);
      be.sync();
      times.push((performance.now() - ts) / 1000);
    }
    const med = times.length ? median(times) : warm;
    const flops = trainStepFlops(g.cfg, b);
    const st = be.poolStats();
    record({
      model,
      check,
      batch: b,
      ok: Number.isFinite(med),
      value: med.toFixed(4),
      detail: (times.length
        ? `median of ${times.length} after 1 warm-up (${warm.toFixed(3)} s); `
        : "the warm-up step only (first allocations included); ") +
        `${planText}; ` +
        `${(flops / med / 1e12).toFixed(2)} TFLOP/s${
          plan.recompute ? " (the step's FLOPs, recomputation not counted)" : ""
        }; ${be.name}: ${be.info.precision}; ` +
        `${be.info.gemm}; SSD ${be.info.ssd}; ` +
        `device memory used ${gib(usedBytes())}, peak held ${gib(st.peakLiveBytes)}; ` +
        `pool hits ${st.hits}, ` +
        `misses ${st.misses}, cached ${gib(st.pooledBytes)}, oom retries ${st.oomRetries}; ` +
        `all: ${
          times.map((t) => t.toFixed(4)).join(" ")
        }`,
    });
    return csv.failed > 0 ? 1 : 0;
  } catch (e) {
    if (isOom(e)) {
      record({
        model,
        check,
        batch: b,
        ok: true,
        value: "oom",
        detail: `out of device memory (${planText}): ${String(e).slice(0, 300)}`,
      });
      return 3;
    }
    record({ model, check, batch: b, ok: false, value: "", detail: `${e}` });
    return 1;
  }
}

if (mode === "loss") {
  lossMode();
  console.log(`appended to ${outPath}; ${csv.failed} failed`);
  Deno.exit(csv.failed > 0 ? 1 : 0);
} else {
  const rc = timeMode();
  console.log(`appended to ${outPath}; exit ${rc}`);
  Deno.exit(rc);
}
