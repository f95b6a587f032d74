/**
 * Memory of a training step and the plan that fits a batch into a device (`deno task bench:memory`).
 *
 * Measures, on a pooled backend (cpu or cuda; engine/backends/pool.ts counts the bytes of every
 * buffer handed out and not yet released — what a device would hold, the pool's cache aside),
 * the peak footprint of a fresh paper-width model, its Trainer and two training steps at a task's
 * shapes, per model and with and without recomputation (recursion/trainer.ts MemoryPlan):
 *   F(b) at b = 1 and b = P (the probe batch), and F(P) with P micro-batches of one sample.
 * The footprint is modelled as F(B, M) = fixed + carry·B + act·B/M + [M > 1]·extra: what does
 * not depend on the batch (weights, Adam moments, EMA), what every slot holds for the whole step
 * (carry states, puzzle-row gradients), the activations of one micro-batch, and, with several
 * micro-batches, the gradients of a later micro-batch before they are added to the parameters'
 * (≈ the trainable bytes). Four measurements — F(1), F(P), and F(P), F(P+1) in micro-batches of
 * one — give the four terms exactly, on the assumption that every buffer of a step is independent
 * of the batch or proportional to it; `--check-batch N` measures F(N) whole and in N micro-batches
 * and reports both beside the predictions. Each measurement also reports the growth of held bytes
 * from step 1 to step 2 (`growth_bytes`): a step must release all it allocates, or a long run on a
 * device runs out.
 *
 * For each target batch B (`--batch`, a list) and a memory budget (headroom × device memory: the CUDA context, cuBLAS
 * workspace and fragmentation are outside the count), the chosen plan is the fewest micro-batches
 * that fit without recomputation (no extra FLOPs), else the fewest with recomputation (+ one
 * forward of the gradient cycle); micro-batches must divide B. Rows go to CSV (--out) with the
 * provenance; the last lines printed are `plan <model> <B> <M> <recompute>` for scripts.
 *
 *   deno task bench:memory [--backend cpu|cuda] [--models trm-attn,tr-mamba2attn] [--task arc]
 *       [--probe 2] [--batch 768[,192…]] [--memory-gib G (default: the device's)] [--headroom 0.9]
 *       [--out results/bench/memory_plan.csv]
 */
import { parseArgs } from "node:util";
import { getBackend } from "../engine/backends/mod.ts";
import { cudaMemInfo } from "../engine/backends/cuda/cuda.ts";
import type { PooledBackend } from "../engine/backends/pool.ts";
import type { ModelName } from "../recursion/config.ts";
import { benchSetup } from "../recursion/bench_setup.ts";
import type { TaskName } from "../recursion/parity.ts";
import type { MemoryPlan } from "../recursion/trainer.ts";
import { writeBenchCsv } from "./bench_util.ts";

/** The terms of F(B, M) = fixed + carry·B + act·B/M + [M > 1]·extra, in bytes. */
export interface Footprint {
  fixed: number;
  carry: number;
  act: number;
  extra: number;
}

/**
 * Terms from F(1), F(P), and F(P), F(P + 1) in micro-batches of one sample (P ≥ 2):
 * F(1) = fixed + carry + act;  F(P) = fixed + (carry + act)·P;
 * F(P; P) = fixed + carry·P + act + extra;  F(P+1; P+1) = fixed + carry·(P+1) + act + extra.
 */
export function footprintFrom(
  f1: number,
  fP: number,
  fPmicro: number,
  fP1micro: number,
  p: number,
): Footprint {
  if (!(Number.isInteger(p) && p >= 2)) throw new RangeError(`probe batch must be ≥ 2: ${p}`);
  const carry = fP1micro - fPmicro;
  const act = (fP - f1) / (p - 1) - carry;
  const fixed = f1 - carry - act;
  return { fixed, carry, act, extra: fPmicro - fixed - carry * p - act };
}

export function predict(f: Footprint, batch: number, micro: number): number {
  return f.fixed + f.carry * batch + f.act * batch / micro + (micro > 1 ? f.extra : 0);
}

export interface PlanChoice extends MemoryPlan {
  bytes: number;
}

/** The divisors of n, ascending. */
function divisors(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1).filter((m) => n % m === 0);
}

/**
 * The plan for `batch` within `budget` bytes: fewest micro-batches without recomputation, else
 * fewest with it; null when nothing fits (one sample per micro-batch with recomputation).
 */
export function choosePlan(
  whole: Footprint,
  recomputed: Footprint,
  batch: number,
  budget: number,
): PlanChoice | null {
  for (const [recompute, f] of [[false, whole], [true, recomputed]] as const) {
    for (const microBatches of divisors(batch)) {
      const bytes = predict(f, batch, microBatches);
      if (bytes <= budget) return { microBatches, recompute, bytes };
    }
  }
  return null;
}

/**
 * Peak live bytes of a fresh setup plus two steps (the second at steady state), and the growth of
 * live bytes from after step 1 to after step 2.
 */
function measure(
  be: PooledBackend,
  model: ModelName,
  task: TaskName,
  batch: number,
  plan: MemoryPlan,
): { peak: number; growth: number } {
  be.emptyPool();
  be.resetPeak();
  const start = be.poolStats().liveBytes;
  const g = benchSetup(be, model, task, batch, 7, plan);
  const after: number[] = [];
  for (let i = 0; i < 2; i++) {
    g.trainer.trainStep(g.batch);
    after.push(be.poolStats().liveBytes);
  }
  be.sync();
  return { peak: be.poolStats().peakLiveBytes - start, growth: after[1] - after[0] };
}

if (import.meta.main) {
  const { values: args } = parseArgs({
    options: {
      backend: { type: "string", default: "cpu" },
      models: { type: "string", default: "trm-attn,tr-mamba2attn" },
      task: { type: "string", default: "arc" },
      probe: { type: "string", default: "2" },
      batch: { type: "string", default: "768" },
      "memory-gib": { type: "string" },
      headroom: { type: "string", default: "0.9" },
      "check-batch": { type: "string" },
      out: { type: "string", default: "results/bench/memory_plan.csv" },
    },
  });
  if (args.backend !== "cpu" && args.backend !== "cuda") {
    throw new RangeError(`--backend must be cpu or cuda: ${args.backend}`);
  }
  const be = getBackend(args.backend) as PooledBackend;
  if (typeof be.poolStats !== "function") throw new Error(`${be.name}: not a pooled backend`);
  const p = Number(args.probe), headroom = Number(args.headroom);
  const task = args.task as TaskName;
  const targets = args.batch.split(",").map(Number);
  if (!targets.every((b) => Number.isSafeInteger(b) && b >= 1)) {
    throw new RangeError(`--batch: expected integers ≥ 1: ${args.batch}`);
  }
  const device = args["memory-gib"] !== undefined
    ? Number(args["memory-gib"]) * 2 ** 30
    : args.backend === "cuda"
    ? cudaMemInfo().total
    : Deno.systemMemoryInfo().total;
  const budget = headroom * device;
  const gib = (x: number) => +(x / 2 ** 30).toFixed(3);
  const rows: Record<string, unknown>[] = [];
  const plans: string[] = [];
  for (const model of args.models.split(",") as ModelName[]) {
    const fp: Record<string, Footprint> = {};
    const modelRows: Record<string, unknown>[] = [];
    for (const recompute of [false, true]) {
      const t0 = performance.now();
      const m1 = measure(be, model, task, 1, { microBatches: 1, recompute });
      const mP = measure(be, model, task, p, { microBatches: 1, recompute });
      const mPm = measure(be, model, task, p, { microBatches: p, recompute });
      const mP1m = measure(be, model, task, p + 1, { microBatches: p + 1, recompute });
      const [f1, fP, fPm, fP1m] = [m1.peak, mP.peak, mPm.peak, mP1m.peak];
      const f = footprintFrom(f1, fP, fPm, fP1m, p);
      const n = args["check-batch"] ? Number(args["check-batch"]) : null;
      const check = n
        ? [1, n].map((m) => ({
          m,
          peak: measure(be, model, task, n, { microBatches: m, recompute }).peak,
        }))
        : [];
      fp[String(recompute)] = f;
      const secs = (performance.now() - t0) / 1000;
      console.log(
        `${model} recompute=${recompute}: fixed ${gib(f.fixed)} GiB, carry ${
          (f.carry / 2 ** 20).toFixed(2)
        } MiB/sample, activations ${(f.act / 2 ** 20).toFixed(1)} MiB/sample, micro-batch extra ${
          (f.extra / 2 ** 20).toFixed(1)
        } MiB (${secs.toFixed(0)} s)`,
      );
      for (const target of targets) {
        for (const micro of divisors(target)) {
          modelRows.push({
            model,
            task,
            recompute,
            batch: target,
            micro_batches: micro,
            predicted_gib: gib(predict(f, target, micro)),
            fits: predict(f, target, micro) <= budget,
            fixed_gib: gib(f.fixed),
            carry_mib_per_sample: +(f.carry / 2 ** 20).toFixed(3),
            act_mib_per_sample: +(f.act / 2 ** 20).toFixed(3),
            micro_extra_mib: +(f.extra / 2 ** 20).toFixed(3),
            measured_gib: `F(1)=${gib(f1)} F(${p})=${gib(fP)} F(${p};${p} micro)=${gib(fPm)} ` +
              `F(${p + 1};${p + 1} micro)=${gib(fP1m)}`,
            budget_gib: gib(budget),
            growth_bytes: Math.max(m1.growth, mP.growth, mPm.growth, mP1m.growth),
            check: check.map((c) =>
              `B=${n} M=${c.m}: measured ${gib(c.peak)} GiB, predicted ${gib(predict(f, n!, c.m))}`
            ).join("; "),
          });
        }
      }
    }
    for (const target of targets) {
      const c = choosePlan(fp["false"], fp["true"], target, budget);
      const isChosen = (r: Record<string, unknown>) =>
        c !== null && r.batch === target && r.micro_batches === c.microBatches &&
        r.recompute === c.recompute;
      // Rows: 1, 2, 4, 8, 16 micro-batches (those dividing B) and the chosen plan, marked.
      for (const r of modelRows.filter((r) => r.batch === target)) {
        if (![1, 2, 4, 8, 16].includes(r.micro_batches as number) && !isChosen(r)) continue;
        rows.push({ ...r, chosen: isChosen(r) });
      }
      plans.push(
        c
          ? `plan ${model} ${target} ${c.microBatches} ${c.recompute} (${gib(c.bytes)} GiB of ${
            gib(budget)
          })`
          : `plan ${model} ${target} none (nothing fits ${gib(budget)} GiB)`,
      );
    }
  }
  await writeBenchCsv(args.out, rows, {
    backend: be.name,
    backend_info: JSON.stringify(be.info),
    probe: p,
    headroom,
    device_gib: gib(device),
  });
  for (const line of plans) console.log(line);
}
