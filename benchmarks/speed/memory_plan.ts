/**
 * `deno task bench:memory`: the memory of a training step of each model at a task's paper-width
 * shapes, and the plan (micro-batches, recomputation) that fits each target batch into a device.
 * The footprint model, the measurement and the choice are recursion/memory_plan.ts's; this adds
 * `--check-batch N` (F(N) measured whole and in N micro-batches, beside the predictions) and
 * writes one CSV row per (model, recomputation, batch, micro-batches in 1, 2, 4, 8, 16 and the
 * chosen plan) with the provenance. The last lines printed are `plan <model> <B> <M> <recompute>`
 * (or `plan <model> <B> none`) for scripts (dev/gpu/check.sh).
 *
 *   deno task bench:memory [--backend cpu|cuda] [--models trm-attn,tr-mamba2attn] [--task arc]
 *       [--probe 2] [--batch 768[,192…]] [--memory-gib G (default: the device's)] [--headroom 0.9]
 *       [--check-batch N] [--out results/bench/memory_plan.csv] [--allow-dirty]
 */
import { getBackend } from "../../engine/backends/mod.ts";
import type { ModelName } from "../../recursion/config.ts";
import { benchSetup } from "../../recursion/bench_setup.ts";
import {
  choosePlan,
  deviceMemoryBytes,
  divisors,
  type Footprint,
  isPooled,
  measureFootprint,
  measureStep,
  predict,
  type StepMaker,
} from "../../recursion/memory_plan.ts";
import type { TaskName } from "../../recursion/parity.ts";
import { benchArgs, writeBenchCsv } from "./bench_util.ts";

const USAGE = `usage: deno task bench:memory [--backend cpu|cuda] [--models trm-attn,tr-mamba2attn]
         [--task arc] [--probe 2] [--batch 768[,192…]] [--memory-gib G] [--headroom 0.9]
         [--check-batch N] [--out results/bench/memory_plan.csv] [--allow-dirty]`;

if (import.meta.main) {
  const args = benchArgs("memory_plan", USAGE, {
    backend: { type: "string", default: "cpu" },
    models: { type: "string", default: "trm-attn,tr-mamba2attn" },
    task: { type: "string", default: "arc" },
    probe: { type: "string", default: "2" },
    batch: { type: "string", default: "768" },
    "memory-gib": { type: "string" },
    headroom: { type: "string", default: "0.9" },
    "check-batch": { type: "string" },
    out: { type: "string", default: "results/bench/memory_plan.csv" },
  });
  if (args.backend !== "cpu" && args.backend !== "cuda") {
    throw new RangeError(`--backend must be cpu or cuda: ${args.backend}`);
  }
  const be = getBackend(args.backend);
  if (!isPooled(be)) throw new Error(`${be.name}: not a pooled backend`);
  const p = Number(args.probe), headroom = Number(args.headroom);
  const task = args.task as TaskName;
  const targets = args.batch.split(",").map(Number);
  if (!targets.every((b) => Number.isSafeInteger(b) && b >= 1)) {
    throw new RangeError(`--batch: expected integers ≥ 1: ${args.batch}`);
  }
  const device = args["memory-gib"] !== undefined
    ? Number(args["memory-gib"]) * 2 ** 30
    : deviceMemoryBytes(be);
  const budget = headroom * device;
  const gib = (x: number) => +(x / 2 ** 30).toFixed(3);
  const rows: Record<string, unknown>[] = [];
  const plans: string[] = [];
  for (const model of args.models.split(",") as ModelName[]) {
    const fp: Record<string, Footprint> = {};
    const modelRows: Record<string, unknown>[] = [];
    const make: StepMaker = (b, plan) => benchSetup(be, model, task, b, 7, plan);
    for (const recompute of [false, true]) {
      const t0 = performance.now();
      const measured = measureFootprint(be, make, p, recompute);
      const f = measured.footprint;
      const [f1, fP, fPm, fP1m] = measured.peaks;
      const n = args["check-batch"] ? Number(args["check-batch"]) : null;
      const check = n
        ? [1, n].map((m) => ({
          m,
          peak: measureStep(be, make, n, { microBatches: m, recompute }).peak,
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
            growth_bytes: measured.growth,
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
