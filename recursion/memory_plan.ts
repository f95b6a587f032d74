/**
 * The memory of a training step and the plan that fits a batch into a memory budget
 * (recursion/trainer.ts MemoryPlan: micro-batches, recomputation).
 *
 * Measured on a pooled backend (engine/backends/pool.ts counts the bytes of every buffer handed
 * out and not yet released — what a device holds, the pool's cache aside): the peak footprint of a
 * fresh model, its Trainer and two training steps. The footprint is modelled as
 * F(B, M) = fixed + carry·B + act·B/M + [M > 1]·extra: what does not depend on the batch (weights,
 * Adam moments, EMA), what every slot holds for the whole step (carry states, puzzle-row
 * gradients), the activations of one micro-batch, and, with several micro-batches, the gradients
 * of a later micro-batch before they are added to the parameters' (≈ the trainable bytes). Four
 * measurements — F(1), F(P), and F(P), F(P+1) in micro-batches of one — give the four terms
 * exactly, on the assumption that every buffer of a step is independent of the batch or
 * proportional to it (benchmarks/memory_plan.ts `--check-batch` measures how well that holds:
 * within 1.2 % at B = 4 on ARC). Each measurement also reports the growth of held bytes from step 1
 * to step 2: a step must release all it allocates, or a long run on a device runs out.
 *
 * The chosen plan for a batch B within a budget is the fewest micro-batches that fit without
 * recomputation (no extra FLOPs), else the fewest with recomputation (+ one forward of the
 * gradient cycle); micro-batches divide B. The budget is a fraction (default 0.9) of the device's
 * memory: the CUDA context, cuBLAS workspace, kernel scratch and fragmentation are outside the count.
 */
import type { Backend } from "../engine/backend.ts";
import type { PooledBackend } from "../engine/backends/pool.ts";
import { Rng } from "../engine/rng.ts";
import type { ActBatch } from "./act.ts";
import { randomBatch } from "./bench_setup.ts";
import type { ModelConfig } from "./config.ts";
import { createTrm } from "./model.ts";
import { type MemoryPlan, Trainer, type TrainHyper, WHOLE_BATCH } from "./trainer.ts";

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
export function divisors(n: number): number[] {
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

/** A fresh trainer and batch of `batch` examples stepping with `plan` (on the measured backend). */
export type StepMaker = (batch: number, plan: MemoryPlan) => { trainer: Trainer; batch: ActBatch };

/** Whether `be` counts held bytes (a pooled backend). */
export function isPooled(be: Backend): be is PooledBackend {
  return typeof (be as Partial<PooledBackend>).poolStats === "function";
}

/**
 * Peak held bytes of a fresh setup plus two steps (the second at steady state), and the growth of
 * held bytes from after step 1 to after step 2.
 */
export function measureStep(
  be: PooledBackend,
  make: StepMaker,
  batch: number,
  plan: MemoryPlan,
): { peak: number; growth: number } {
  be.emptyPool();
  be.resetPeak();
  const start = be.poolStats().liveBytes;
  const g = make(batch, plan);
  const after: number[] = [];
  for (let i = 0; i < 2; i++) {
    g.trainer.trainStep(g.batch);
    after.push(be.poolStats().liveBytes);
  }
  be.sync();
  return { peak: be.poolStats().peakLiveBytes - start, growth: after[1] - after[0] };
}

/** The four measurements of one recomputation setting and the footprint they give. */
export interface Measured {
  footprint: Footprint;
  /** F(1), F(P), F(P; P micro), F(P+1; P+1 micro), bytes. */
  peaks: [number, number, number, number];
  /** Largest growth of held bytes from step 1 to step 2 over the four. */
  growth: number;
}

export function measureFootprint(
  be: PooledBackend,
  make: StepMaker,
  probe: number,
  recompute: boolean,
): Measured {
  const runs = [[1, 1], [probe, 1], [probe, probe], [probe + 1, probe + 1]].map(([b, m]) =>
    measureStep(be, make, b, { microBatches: m, recompute })
  );
  const peaks = runs.map((r) => r.peak) as Measured["peaks"];
  return {
    footprint: footprintFrom(...peaks, probe),
    peaks,
    growth: Math.max(...runs.map((r) => r.growth)),
  };
}

/** Bytes as GiB (2 decimals), or MiB below 1 GiB. */
export function fmtBytes(x: number): string {
  return x >= 2 ** 30 ? `${(x / 2 ** 30).toFixed(2)} GiB` : `${(x / 2 ** 20).toFixed(1)} MiB`;
}

/** Memory of the backend's device: `info.memoryBytes` (cuda), else the machine's memory. */
export function deviceMemoryBytes(be: Backend): number {
  const m = Number(be.info.memoryBytes);
  return Number.isFinite(m) && m > 0 ? m : Deno.systemMemoryInfo().total;
}

/**
 * Measures both footprints with `make` (probe batch 2) and chooses the plan for `batch` within
 * `budget` bytes; a RangeError naming the footprints when nothing fits.
 */
export function autoPlan(
  be: PooledBackend,
  make: StepMaker,
  batch: number,
  budget: number,
): PlanChoice & { whole: Footprint; recomputed: Footprint } {
  const whole = measureFootprint(be, make, 2, false).footprint;
  const recomputed = measureFootprint(be, make, 2, true).footprint;
  be.emptyPool();
  const c = choosePlan(whole, recomputed, batch, budget);
  if (!c) {
    throw new RangeError(
      `no memory plan fits batch ${batch} in ${fmtBytes(budget)}: even one example per ` +
        `micro-batch with recomputation needs ${fmtBytes(predict(recomputed, batch, batch))}`,
    );
  }
  return { ...c, whole, recomputed };
}

/**
 * A run's memory plan (train.ts RunControl.memory): as given (default the whole batch), or for
 * "auto" measured with fresh models of `cfg` on `be` and chosen to fit 90 % of `memoryBytes`
 * (default the device's); `memoryRecord` (for config.json) holds the measured footprints.
 */
export function runMemoryPlan(
  given: MemoryPlan | "auto" | undefined,
  memoryBytes: number | undefined,
  be: Backend,
  cfg: ModelConfig,
  hyper: TrainHyper,
  log: (line: string) => void,
): { memory: MemoryPlan; memoryRecord: Record<string, unknown> | null } {
  if (given !== "auto") return { memory: given ?? WHOLE_BATCH, memoryRecord: null };
  if (!isPooled(be)) {
    throw new Error(`--micro-batches auto needs a pooled backend (cpu or cuda), not ${be.name}`);
  }
  const device = memoryBytes ?? deviceMemoryBytes(be);
  const rng = new Rng(1); // fresh models and batches: the run's own streams are untouched
  const make: StepMaker = (b, plan) => ({
    trainer: new Trainer(
      createTrm(be, rng.fork("model"), cfg),
      { ...hyper, batchSize: b },
      rng,
      plan,
    ),
    batch: randomBatch(cfg, b, rng.fork("data")),
  });
  log(`  --micro-batches auto: measuring the memory of a step at batches 1–3 ...`);
  const c = autoPlan(be, make, hyper.batchSize, 0.9 * device);
  const memory = { microBatches: c.microBatches, recompute: c.recompute };
  log(
    `  memory plan: ${c.microBatches} micro-batch(es)${c.recompute ? ", recompute" : ""}, ` +
      `predicted ${fmtBytes(c.bytes)} of ${fmtBytes(0.9 * device)} (90 % of ${fmtBytes(device)})`,
  );
  return {
    memory,
    memoryRecord: {
      auto: true,
      deviceBytes: device,
      budgetBytes: 0.9 * device,
      predictedBytes: c.bytes,
      whole: c.whole,
      recomputed: c.recomputed,
    },
  };
}
