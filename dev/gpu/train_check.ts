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
 * 2. device memory after one pooled f32 step at `--small` and at `--probe` (16), each on a fresh
 *    backend: the pool keeps every buffer a step allocated (up to 90 % of the device), so the
 *    growth of used memory is what a pooled run at that batch needs; a line
 *    through the two forecasts the footprint at each of `--batches`, and the row
 *    `predicted-max-batch` names the largest predicted to fit in 92 % of the device memory (0: none).
 *
 * `time` — the step time of one model at one batch and GEMM math, in a fresh process (a failed
 * allocation must not leave memory behind for the next attempt): one warm-up step (its losses
 * must be finite), then up to `--reps` timed steps within `--budget` seconds (at least one), each
 * followed by `sync()`; the row `step-seconds-<math>` holds the median. Running out of device
 * memory anywhere is a recorded row (value "oom", ok) and exit status 3.
 *
 *   deno run -A dev/gpu/train_check.ts loss [--models a,b] [--small 4] [--probe 16]
 *       [--maths f32,tf32,bf16] [--batches 768,384,192,96] [--out FILE]
 *   deno run -A dev/gpu/train_check.ts time --model M --batch B [--math f32] [--reps 1]
 *       [--budget 120] [--out FILE]
 *
 * Exit status: 0 all rows ok, 1 a check failed, 3 (time) out of memory, 2 usage.
 */
import { parseArgs } from "node:util";
import { createCpuBackend } from "../../engine/backends/cpu.ts";
import { createPooledCuda } from "../../engine/backends/mod.ts";
import { cudaMemInfo, type GemmMath } from "../../engine/backends/cuda/cuda.ts";
import type { PooledBackend } from "../../engine/backends/pool.ts";
import { OutOfMemoryError } from "../../engine/errors.ts";
import { benchSetup } from "../../recursion/bench_setup.ts";
import type { ModelName } from "../../recursion/config.ts";
import { trainStepFlops } from "../../recursion/flops.ts";
import type { StepMetrics } from "../../recursion/trainer.ts";

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    models: { type: "string", default: "trm-attn,tr-mamba2attn" },
    model: { type: "string", default: "" },
    small: { type: "string", default: "4" },
    probe: { type: "string", default: "16" },
    maths: { type: "string", default: "f32,tf32,bf16" },
    math: { type: "string", default: "f32" },
    batches: { type: "string", default: "768,384,192,96" },
    batch: { type: "string", default: "" },
    reps: { type: "string", default: "1" },
    budget: { type: "string", default: "120" },
    out: { type: "string", default: "" },
  },
});
const mode = positionals[0];
if (mode !== "loss" && mode !== "time") {
  console.error("usage: train_check.ts loss|time [options] (see the header)");
  Deno.exit(2);
}
const outDir = Deno.env.get("OUT") || new URL("./out", import.meta.url).pathname;
const outPath = args.out || `${outDir}/gpu.csv`;

interface Row {
  model: string;
  check: string;
  batch: number;
  ok: boolean;
  value: string;
  detail: string;
}
const COLUMNS = "model,check,batch,ok,value,detail";
let failed = 0;

/** Appends the row to the CSV at once (a later crash keeps what was measured) and prints it. */
function record(r: Row) {
  if (!r.ok) failed++;
  console.log(
    `${r.ok ? "ok  " : "FAIL"} ${r.model} ${r.check} B=${r.batch}: ${r.value} ${r.detail}`,
  );
  const esc = (s: string) => /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  const line = [r.model, r.check, String(r.batch), String(r.ok), r.value, r.detail].map(esc)
    .join(",");
  Deno.mkdirSync(outPath.replace(/\/[^/]*$/, "") || ".", { recursive: true });
  let fresh = true;
  try {
    fresh = Deno.statSync(outPath).size === 0;
  } catch { /* new file */ }
  Deno.writeTextFileSync(outPath, (fresh ? COLUMNS + "\n" : "") + line + "\n", { append: true });
}

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
const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;

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
  const small = Number(args.small), probe = Number(args.probe);
  const batches = args.batches.split(",").map(Number);
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

    // 2) memory forecast from two pooled f32 steps, each on a fresh backend (its own pool)
    try {
      const foot: number[] = [];
      for (const b of [small, probe]) {
        const before = usedBytes();
        const be = cudaFor("f32");
        const g = benchSetup(be, model, "arc", b, 7);
        g.trainer.trainStep(g.batch);
        be.sync();
        foot.push(usedBytes() - before);
      }
      const slope = (foot[1] - foot[0]) / (probe - small), base = foot[0] - slope * small;
      const limit = 0.92 * cudaMemInfo().total;
      const predict = (b: number) => base + slope * b;
      const fits = batches.filter((b) => predict(b) <= limit);
      record({
        model,
        check: "predicted-max-batch",
        batch: fits.length ? Math.max(...fits) : 0,
        ok: true,
        value: String(fits.length ? Math.max(...fits) : 0),
        detail: `footprint B=${small} ${gib(foot[0])}, B=${probe} ${gib(foot[1])}; ` +
          `≈ ${gib(base)} + ${(slope / 2 ** 20).toFixed(1)} MiB·B; limit ${gib(limit)}; ` +
          batches.map((b) => `B=${b} ${gib(predict(b))}`).join(", "),
      });
    } catch (e) {
      record({ model, check: "memory-probe", batch: probe, ok: false, value: "", detail: `${e}` });
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
  const check = `step-seconds-${math}`;
  let be: PooledBackend | null = null;
  try {
    be = cudaFor(math);
    const t0 = performance.now();
    const g = benchSetup(be, model, "arc", b, 7);
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
      detail: `warm-up ${warm.toFixed(3)} s; setup ${((tw - t0) / 1000).toFixed(1)} s`,
    });
    const times: number[] = [];
    for (let i = 0; i < Math.max(1, reps); i++) {
      const elapsed = (performance.now() - t0) / 1000, last = times.at(-1) ?? warm;
      if (times.length > 0 && elapsed + last > budget) break;
      const ts = performance.now();
      g.trainer.trainStep(g.batch);
      be.sync();
      times.push((performance.now() - ts) / 1000);
    }
    const sorted = [...times].sort((x, y) => x - y);
    const med = sorted[Math.floor(sorted.length / 2)];
    const flops = trainStepFlops(g.cfg, b);
    const st = be.poolStats();
    record({
      model,
      check,
      batch: b,
      ok: Number.isFinite(med),
      value: med.toFixed(4),
      detail: `median of ${times.length} after 1 warm-up (${warm.toFixed(3)} s); ` +
        `${(flops / med / 1e12).toFixed(2)} TFLOP/s; ${be.name}: ${be.info.precision}; ` +
        `${be.info.gemm}; SSD ${be.info.ssd}; ` +
        `device memory used ${gib(usedBytes())}; pool hits ${st.hits}, ` +
        `misses ${st.misses}, cached ${gib(st.pooledBytes)}, oom retries ${st.oomRetries}; ` +
        `all: ${times.map((t) => t.toFixed(4)).join(" ")}`,
    });
    return failed > 0 ? 1 : 0;
  } catch (e) {
    if (isOom(e)) {
      record({
        model,
        check,
        batch: b,
        ok: true,
        value: "oom",
        detail: `out of device memory: ${String(e).slice(0, 300)}`,
      });
      return 3;
    }
    record({ model, check, batch: b, ok: false, value: "", detail: `${e}` });
    return 1;
  }
}

if (mode === "loss") {
  lossMode();
  console.log(`appended to ${outPath}; ${failed} failed`);
  Deno.exit(failed > 0 ? 1 : 0);
} else {
  const rc = timeMode();
  console.log(`appended to ${outPath}; exit ${rc}`);
  Deno.exit(rc);
}
