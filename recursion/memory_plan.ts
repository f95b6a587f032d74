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
 * proportional to it (benchmarks/speed/memory_plan.ts `--check-batch` measures how well that holds:
 * within 1.2 % at B = 4 on ARC). Each measurement also reports the growth of held bytes from step 1
 * to step 2: a step must release all it allocates, or a long run on a device runs out.
 *
 * The chosen plan for a batch B within a budget is the fewest micro-batches that fit without
 * recomputation (no extra FLOPs), else the fewest with recomputation (+ one forward of the
 * gradient cycle); micro-batches divide B. The budget is a fraction (default 0.9) of the device's
 * memory: the CUDA context, cuBLAS workspace, kernel scratch and fragmentation are outside the count.
 */
import { backward, zeroGrad } from "../engine/autograd.ts";
import type { Backend } from "../engine/backend.ts";
import type { PooledBackend } from "../engine/backends/pool.ts";
import { readSystemFile } from "../engine/proc.ts";
import { Rng } from "../engine/rng.ts";
import { scoped } from "../engine/scope.ts";
import type { Tensor } from "../engine/tensor.ts";
import { type ActBatch, actForward, initialCarry, loadHalted } from "./act.ts";
import { randomBatch } from "./bench_setup.ts";
import type { ModelConfig } from "./config.ts";
import { createTrm, type TrmModel } from "./model.ts";
import {
  evaluateBatch,
  type MemoryPlan,
  Trainer,
  type TrainHyper,
  WHOLE_BATCH,
} from "./trainer.ts";

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
  const peak = be.poolStats().peakLiveBytes - start;
  disposeTrainer(g.trainer);
  return { peak, growth: after[1] - after[0] };
}

/**
 * Releases a measurement's trainer (weights, gradients, optimiser moments, EMA, carry, buffers):
 * on a device nothing else would free them, and the held bytes that size evaluation batches
 * (checkRunMemory) must be the run's own.
 */
function disposeTrainer(tr: Trainer): void {
  zeroGrad(Object.values(tr.model.params));
  for (const t of trainerTensors(tr)) (t.base ?? t).dispose();
}

/** The tensors a trainer holds between steps: weights, buffers, Adam moments, EMA, carry. */
function trainerTensors(tr: Trainer): Tensor[] {
  return [
    ...Object.values(tr.model.params),
    ...Object.values(tr.model.buffers),
    ...tr.opt.m,
    ...tr.opt.v,
    ...tr.ema.shadow,
    tr.carry.zH,
    tr.carry.zL,
  ];
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
 * (default: `memoryBudget` — the device's memory, on the host what is available); `memoryRecord`
 * (for config.json) holds the measured footprints.
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
  const device = memoryBudget(be, memoryBytes).total;
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

/**
 * Host memory this process may still take: MemAvailable (/proc/meminfo, via
 * Deno.systemMemoryInfo), or less where a cgroup limit (v2 memory.max, v1 limit_in_bytes) leaves
 * less headroom.
 */
export function hostAvailableBytes(): number {
  let avail = Deno.systemMemoryInfo().available;
  const layouts = [
    ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"],
    ["/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"],
  ];
  for (const [limitFile, usageFile] of layouts) {
    let limit: number, usage: number;
    try {
      limit = Number(readSystemFile(limitFile).trim()); // "max" (no limit): NaN
      usage = Number(readSystemFile(usageFile).trim());
    } catch {
      continue; // not this cgroup layout
    }
    if (Number.isFinite(limit) && Number.isFinite(usage) && limit < 2 ** 60) {
      avail = Math.min(avail, Math.max(0, limit - usage));
    }
    break;
  }
  return avail;
}

/** The memory a run may fill: `budget` = 90 % of `total`, and where `total` came from. */
export interface MemoryBudget {
  total: number;
  budget: number;
  source: string;
}

/**
 * `memoryBytes` (--memory-gib) when given; else the device's memory (cuda `info.memoryBytes`);
 * else, on the host, the available memory (hostAvailableBytes) plus the `held` bytes of the run's
 * tensors allocated already. The budget is 90 % of it, as for the training plan: the rest is for
 * what the run's tensors do not count (CUDA context, the JS heap, the datasets' arrays).
 */
export function memoryBudget(be: Backend, memoryBytes?: number, held = 0): MemoryBudget {
  const m = Number(be.info.memoryBytes);
  let total: number, source: string;
  if (memoryBytes !== undefined) {
    total = memoryBytes;
    source = `--memory-gib ${(memoryBytes / 2 ** 30).toFixed(2)}`;
  } else if (Number.isFinite(m) && m > 0) {
    total = m;
    source = `the device's ${fmtBytes(m)}`;
  } else {
    const avail = hostAvailableBytes();
    total = avail + held;
    source = `the host's available ${fmtBytes(avail)} (MemAvailable)` +
      (held ? ` + ${fmtBytes(held)} the run holds` : "");
  }
  return { total, budget: 0.9 * total, source };
}

/** Bytes of a tensor's buffer as the pool counts them (host arrays know their size; else 4 B). */
function tensorBytes(t: Tensor): number {
  const b = t.base ?? t;
  return (b.buf as unknown as ArrayBufferView).byteLength ?? b.size * 4;
}

/**
 * Bytes a trainer holds between steps: weights, Adam moments, EMA, carry, buffers (the puzzle
 * embeddings). Counted from its tensors, not from the pool's live bytes: those also count the
 * tensors of earlier runs in the same process that only the garbage collector frees.
 */
export function trainerBytes(tr: Trainer): number {
  const bases = new Set(trainerTensors(tr).map((t) => t.base ?? t));
  return [...bases].reduce((s, t) => s + tensorBytes(t), 0);
}

/** Peak live bytes above the current ones while `fn` runs. */
function peakAbove(be: PooledBackend, fn: () => void): number {
  be.resetPeak();
  const start = be.poolStats().liveBytes;
  fn();
  return be.poolStats().peakLiveBytes - start;
}

/**
 * The model with its own weights whose ACT step runs `hCycles` × (`lCycles` + 1) calls: a probe.
 * Every no-grad call releases its intermediates, so a step's peak does not grow with the cycles —
 * from the second H cycle on, the recursion's own z_H and z_L are held besides the carry's
 * (`cycleStates` adds them back).
 */
function withCycles(model: TrmModel, hCycles: number, lCycles: number): TrmModel {
  return { ...model, cfg: { ...model.cfg, hCycles, lCycles, haltMaxSteps: 1 } };
}

/** Bytes per example of the states z_H and z_L a recursion of more than one H cycle holds. */
function cycleStates(model: TrmModel): number {
  const { seqLen, prefixLen, hidden, hCycles } = model.cfg;
  const p = model.params["q_head.weight"];
  const perElement = tensorBytes(p) / p.size;
  return hCycles > 1 ? 2 * (seqLen + prefixLen) * hidden * perElement : 0;
}

/** What an evaluation adds to the bytes held: `fixed` + `perExample` · examples of a batch. */
export interface EvalFootprint {
  fixed: number;
  perExample: number;
}

/**
 * The evaluation footprint of `model` (pooled backend), measured: one no-grad ACT step (its fresh
 * carry, one recursion call's activations at a time, the heads) at batches 1 and 2 of the probe
 * model (withCycles 1 × 1, ~2 calls per example) — every step of an evaluation peaks alike.
 * The weights are read, never changed.
 */
export function measureEvalFootprint(model: TrmModel): EvalFootprint {
  const be = model.backend as PooledBackend;
  const probe = withCycles(model, 1, 1);
  const rng = new Rng(1);
  const peak = (b: number) => {
    const batch = randomBatch(model.cfg, b, rng.fork(`eval-probe-${b}`));
    return peakAbove(be, () => {
      evaluateBatch(probe, batch, rng.fork("act"));
    });
  };
  const p1 = peak(1), p2 = peak(2);
  const perExample = Math.max(0, p2 - p1);
  return { fixed: Math.max(0, p1 - perExample), perExample: perExample + cycleStates(model) };
}

/**
 * Peak bytes of one example's training forward and backward (the recorded cycle's activations,
 * without the parameters' gradients) on `model` itself: the probe's carry is its own, the
 * gradients it makes are dropped and those the parameters had are put back; nothing else changes.
 */
export function measureTrainExample(model: TrmModel, recompute: boolean): number {
  const be = model.backend as PooledBackend;
  const probe = withCycles(model, 1, model.cfg.lCycles);
  const params = Object.values(model.params);
  const kept = params.map((p) => p.grad);
  for (const p of params) p.grad = null;
  const carry = initialCarry(probe, 1);
  loadHalted(probe, carry, randomBatch(model.cfg, 1, new Rng(2)));
  try {
    const peak = peakAbove(be, () => {
      scoped(() => {
        const out = actForward(probe, carry, true, { recompute });
        backward(out.total!);
        return [];
      });
    });
    const grads = params.reduce((s, p) => s + tensorBytes(p), 0);
    return Math.max(0, peak - grads) + cycleStates(model);
  } finally {
    zeroGrad(params);
    params.forEach((p, i) => (p.grad = kept[i]));
    for (const t of [carry.zH, carry.zL]) (t.base ?? t).dispose();
  }
}

/** What evaluation needs to size its batches (recursion/train.ts evaluate). */
export interface EvalMemory extends EvalFootprint {
  /** Bytes the run's tensors may reach (MemoryBudget.budget). */
  budget: number;
  /**
   * Bytes the run holds during an evaluation: the trainer (trainerBytes), the last step's
   * gradients and the copy of the trained weights while the EMA weights evaluate.
   */
  held: number;
}

/** The largest evaluation batch, at most `max`, that fits the budget (0: not even one). */
export function evalBatchFor(m: EvalMemory, max: number): number {
  if (!(m.perExample > 0)) return max;
  return Math.max(0, Math.min(max, Math.floor((m.budget - m.held - m.fixed) / m.perExample)));
}

/** The pre-training memory check of a run (recorded in config.json). */
export interface RunMemoryCheck {
  budget: MemoryBudget;
  /** Live bytes of the built trainer: weights, Adam moments, EMA, carry, puzzle embeddings. */
  held: number;
  /** Bytes of the trainable parameters (= of their gradients, = of the EMA swap copy). */
  paramBytes: number;
  /** Activations of one example in a training step (null: measured by --micro-batches auto). */
  trainPerExample: number | null;
  /** Predicted peak of a training step at the run's batch and plan. */
  trainStep: number;
  eval: EvalFootprint;
  /** Largest evaluation batch that fits (before the configured one caps it). */
  evalBatchFit: number;
}

/**
 * Before training: measures what a training step and an evaluation need (measureTrainExample,
 * measureEvalFootprint) beside what the built trainer holds, and throws a RangeError with the
 * numbers when the run cannot fit its budget (memoryBudget): a training step at the run's batch
 * and plan (unless `autoBytes`, the step --micro-batches auto planned), one example per step, or
 * an evaluation of one example. Returns null on a backend that counts no bytes (ref).
 */
export function checkRunMemory(
  trainer: Trainer,
  memoryBytes: number | undefined,
  autoBytes: number | null,
  log: (line: string) => void,
): { check: RunMemoryCheck; evalMemory: EvalMemory } | null {
  const model = trainer.model, be = model.backend;
  if (!isPooled(be)) {
    log(`  memory: not checked (the ${be.name} backend counts no bytes)`);
    return null;
  }
  be.emptyPool();
  const held = trainerBytes(trainer);
  const budget = memoryBudget(be, memoryBytes, held);
  const paramBytes = Object.values(model.params).reduce((s, p) => s + tensorBytes(p), 0);
  const { microBatches: m, recompute } = trainer.memory;
  const batch = trainer.hyper.batchSize;
  const trainPerExample = autoBytes === null ? measureTrainExample(model, recompute) : null;
  const step = (b: number, micro: number) =>
    held + paramBytes + trainPerExample! * b / micro + (micro > 1 ? paramBytes : 0);
  const trainStep = autoBytes ?? step(batch, m);
  const evalFootprint = measureEvalFootprint(model);
  // At an evaluation the gradients of the last step and the trained weights' copy are held too.
  const evalHeld = held + 2 * paramBytes;
  const evalMemory = { ...evalFootprint, budget: budget.budget, held: evalHeld };
  const evalBatchFit = evalBatchFor(evalMemory, Number.MAX_SAFE_INTEGER);
  be.emptyPool();
  const f = fmtBytes;
  const of = `${f(budget.budget)} (90 % of ${budget.source})`;
  const heldText = `${f(held)} held (weights, Adam moments, EMA, carry of ${batch}, puzzle ` +
    `embeddings) + ${f(paramBytes)} of gradients`;
  const fail = (what: string) => {
    throw new RangeError(
      `memory: this run does not fit in ${of}: ${what}. Use a smaller batch, ` +
        `--micro-batches auto (micro-batches and recomputation that fit), or a --memory-gib ` +
        `budget if the machine has more`,
    );
  };
  if (trainPerExample !== null) {
    const one = step(1, 1);
    if (one > budget.budget) {
      fail(
        `even a training step of one example needs ${f(one)} — ${heldText} + ${
          f(trainPerExample)
        } of activations per example${recompute ? " (with recomputation)" : ""}`,
      );
    }
    if (trainStep > budget.budget) {
      fail(
        `a training step at batch ${batch} in ${m} micro-batch(es)${
          recompute ? " with recomputation" : ""
        } needs ~${f(trainStep)} — ${heldText} + ${f(trainPerExample)} of activations per example`,
      );
    }
  }
  if (evalBatchFit < 1) {
    fail(
      `an evaluation of one example needs ${
        f(evalHeld + evalFootprint.fixed + evalFootprint.perExample)
      } — ${heldText} + ${f(paramBytes)} for the trained weights while the EMA weights evaluate + ${
        f(evalFootprint.perExample)
      } per example`,
    );
  }
  log(
    `  memory: budget ${of}; ${f(held)} held; a training step ~${f(trainStep)}; evaluation ${
      f(evalFootprint.perExample)
    } per example: batches of up to ${evalBatchFit} examples fit`,
  );
  return {
    check: {
      budget,
      held,
      paramBytes,
      trainPerExample,
      trainStep,
      eval: evalFootprint,
      evalBatchFit,
    },
    evalMemory,
  };
}
