/**
 * GPU training check (run by dev/gpu/check.sh on a machine with an NVIDIA GPU):
 *
 * 1. For `trm-attn` and `tr-mamba2attn` at ARC shapes (paper width, L = 900 + prefix), two training
 *    steps (forward, backward, optimisers) on the `cuda` and the `cpu` backend with the same
 *    weights, data and seeds at a reduced batch (default B = 4); the losses of both steps must
 *    agree (|Δ| ≤ 1e-3 + 1e-3·|cpu|: f32 on both, different summation orders).
 * 2. One paper-size step (B = 768) on cuda: the losses must be finite.
 * 3. The step time at B = 768: the median of `--reps` timed steps after one warm-up step, each
 *    followed by `sync()`.
 *
 * Writes one CSV row per (model, check) to `--out` (default $OUT/gpu.csv, else dev/gpu/out/gpu.csv)
 * and exits 1 if any check failed. Prints only what it measured.
 *
 *   deno run -A dev/gpu/train_check.ts [--batch 768] [--small 4] [--reps 3] [--models a,b]
 */
import { parseArgs } from "node:util";
import type { Backend } from "../../engine/backend.ts";
import { createCpuBackend } from "../../engine/backends/cpu.ts";
import { createCudaBackend } from "../../engine/backends/cuda/cuda.ts";
import { benchSetup } from "../../recursion/bench_setup.ts";
import type { ModelName } from "../../recursion/config.ts";
import { trainStepFlops } from "../../recursion/flops.ts";
import type { StepMetrics } from "../../recursion/trainer.ts";

const { values: args } = parseArgs({
  options: {
    batch: { type: "string", default: "768" },
    small: { type: "string", default: "4" },
    reps: { type: "string", default: "3" },
    models: { type: "string", default: "trm-attn,tr-mamba2attn" },
    out: { type: "string", default: "" },
  },
});
const outDir = Deno.env.get("OUT") || new URL("./out", import.meta.url).pathname;
const outPath = args.out || `${outDir}/gpu.csv`;

const cuda = createCudaBackend(); // throws (exit 1) without a GPU: nothing to check then
const cpu = createCpuBackend();
console.log(`cuda: ${JSON.stringify(cuda.info)}`);

interface Row {
  model: string;
  check: string;
  batch: number;
  ok: boolean;
  value: string;
  detail: string;
}
const rows: Row[] = [];
let failed = 0;
function record(r: Row) {
  rows.push(r);
  if (!r.ok) failed++;
  console.log(
    `${r.ok ? "ok  " : "FAIL"} ${r.model} ${r.check} B=${r.batch}: ${r.value} ${r.detail}`,
  );
}

function makeTrainer(be: Backend, model: ModelName, b: number) {
  const { cfg, trainer: tr, batch } = benchSetup(be, model, "arc", b, 7);
  return { cfg, tr, batch };
}

const close = (a: number, e: number) => Math.abs(a - e) <= 1e-3 + 1e-3 * Math.abs(e);
const fmt = (m: StepMetrics) => `lm=${m.lmLoss.toPrecision(7)} q=${m.qLoss.toPrecision(7)}`;

for (const model of args.models.split(",") as ModelName[]) {
  // 1) cuda vs cpu at the reduced batch, two steps
  const small = Number(args.small);
  try {
    const c = makeTrainer(cpu, model, small), g = makeTrainer(cuda, model, small);
    for (let step = 1; step <= 2; step++) {
      const mc = c.tr.trainStep(c.batch), mg = g.tr.trainStep(g.batch);
      cuda.sync();
      const ok = close(mg.lmLoss, mc.lmLoss) && close(mg.qLoss, mc.qLoss);
      record({
        model,
        check: `loss-vs-cpu-step${step}`,
        batch: small,
        ok,
        value: fmt(mg),
        detail: `cpu ${fmt(mc)}`,
      });
    }
  } catch (e) {
    record({ model, check: "loss-vs-cpu", batch: small, ok: false, value: "", detail: `${e}` });
  }

  // 2) + 3) paper batch on cuda: one step, then the timed steps
  const b = Number(args.batch);
  try {
    const g = makeTrainer(cuda, model, b);
    const m1 = g.tr.trainStep(g.batch);
    cuda.sync();
    const finite = Number.isFinite(m1.lmLoss) && Number.isFinite(m1.qLoss);
    record({ model, check: "paper-step-finite", batch: b, ok: finite, value: fmt(m1), detail: "" });
    const times: number[] = [];
    for (let i = 0; i < Number(args.reps); i++) {
      const t0 = performance.now();
      g.tr.trainStep(g.batch);
      cuda.sync();
      times.push((performance.now() - t0) / 1000);
    }
    times.sort((x, y) => x - y);
    const med = times[Math.floor(times.length / 2)];
    const flops = trainStepFlops(g.cfg, b);
    record({
      model,
      check: "step-seconds",
      batch: b,
      ok: Number.isFinite(med),
      value: med.toFixed(4),
      detail: `median of ${times.length}; ${(flops / med / 1e12).toFixed(2)} TFLOP/s (f32, ` +
        `${cuda.info.gemm}); all: ${times.map((t) => t.toFixed(4)).join(" ")}`,
    });
  } catch (e) {
    record({ model, check: "paper-step", batch: b, ok: false, value: "", detail: `${e}` });
  }
}

Deno.mkdirSync(outPath.replace(/\/[^/]*$/, ""), { recursive: true });
const esc = (s: string) => /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
const lines = [
  "model,check,batch,ok,value,detail",
  ...rows.map((r) =>
    [r.model, r.check, String(r.batch), String(r.ok), r.value, r.detail].map(esc).join(",")
  ),
];
Deno.writeTextFileSync(outPath, lines.join("\n") + "\n");
console.log(`wrote ${outPath}; ${rows.length - failed} ok, ${failed} failed`);
Deno.exit(failed > 0 ? 1 : 0);
