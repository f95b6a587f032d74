/**
 * What CUDA graphs could save at most, measured rather than assumed: a training step's backend
 * calls (each queues one or a few kernels; alloc, free, view, upload, download and sync excluded)
 * times the host cost of one call, against the step's own time — at ARC shapes, paper width.
 *
 *   deno run --allow-all dev/gpu/launch_bench.ts [--backend cuda|cpu] [--batch 1] [--steps 3]
 *       [--calls 20000] [--models trm-attn,tr-mamba2attn] [--out FILE]
 *
 * Rows of gpu.csv: `launch-latency` (µs per `fill` of one element, `--calls` in a row then one
 * sync: the FFI call and the launch, what a graph replay removes), and per model
 * `calls-per-step` (kernel-issuing calls in one step; `detail` also counts the host reads —
 * downloads, which a captured graph cannot span), `step-time` (median of `--steps` after one
 * warm-up) and `graph-bound` (calls × latency: the most a graph could take off the step, and its
 * share). A launch that queues several kernels (a GEMM with split-K, a backward in two kernels) is
 * one call here, so the bound is a lower bound of the launches but an upper bound of the gain
 * only as far as the GPU, not the host, waits between kernels.
 */
import { cliArgs } from "../../engine/cli.ts";
import type { Backend } from "../../engine/backend.ts";
import { getBackend } from "../../engine/backends/mod.ts";
import type { ModelName } from "../../recursion/config.ts";
import { benchSetup } from "../../recursion/bench_setup.ts";
import { GpuCsv, gpuCsvPath, median, positiveArg } from "./gpu_csv.ts";

const TOOL = "launch_bench";
const USAGE =
  `usage: deno run -A dev/gpu/launch_bench.ts [--backend cuda|cpu] [--batch 1] [--steps 3]
    [--calls 20000] [--models trm-attn,tr-mamba2attn] [--out FILE]
  Measures the host cost of one backend call and the calls per training step (rows of gpu.csv:
  --out, else $OUT/gpu.csv, else dev/gpu/out/gpu.csv).`;
const { values: a } = cliArgs(TOOL, USAGE, {
  backend: { type: "string", default: "cuda" },
  batch: { type: "string", default: "1" },
  steps: { type: "string", default: "3" },
  calls: { type: "string", default: "20000" },
  models: { type: "string", default: "trm-attn,tr-mamba2attn" },
  out: { type: "string", default: "" },
});
if (a.backend !== "cuda" && a.backend !== "cpu") {
  console.error(`${TOOL}: --backend must be cuda or cpu: ${a.backend}`);
  Deno.exit(2);
}
const batch = positiveArg(TOOL, a.batch, "batch");
const steps = positiveArg(TOOL, a.steps, "steps");
const calls = positiveArg(TOOL, a.calls, "calls");
const csv = new GpuCsv(gpuCsvPath(a.out));
const be = getBackend(a.backend);

/** Not kernel launches: memory management, host transfers, waiting. */
const HOST_ONLY = new Set(["alloc", "free", "view", "upload", "download", "sync"]);

/** `be` with every method call counted by name. */
function counting(inner: Backend, counts: Map<string, number>): Backend {
  return new Proxy(inner, {
    get(t, k, r) {
      const v = Reflect.get(t, k, r);
      if (typeof v !== "function" || typeof k !== "string") return v;
      return (...args: unknown[]) => {
        counts.set(k, (counts.get(k) ?? 0) + 1);
        return v.apply(t, args);
      };
    },
  });
}

// Host cost of one call: a one-element fill, many in a row, then one sync.
const buf = be.alloc("f32", 1);
be.fill(1, 0, buf);
be.sync();
let t0 = performance.now();
for (let i = 0; i < calls; i++) be.fill(1, i, buf);
be.sync();
const latencyUs = ((performance.now() - t0) * 1000) / calls;
be.free(buf);
csv.record({
  model: "",
  check: "launch-latency",
  batch: 0,
  ok: latencyUs > 0,
  value: `${latencyUs.toFixed(2)} us`,
  detail: `${calls} one-element fills then one sync, ${be.name}`,
});

for (const model of a.models.split(",") as ModelName[]) {
  const counts = new Map<string, number>();
  const counted = counting(be, counts);
  const { trainer, batch: data } = benchSetup(counted, model, "arc", batch, 1);
  trainer.trainStep(data); // warm-up: pool, caches, first-call costs
  const times: number[] = [];
  for (let s = 0; s < steps; s++) {
    counts.clear();
    be.sync();
    t0 = performance.now();
    trainer.trainStep(data);
    be.sync();
    times.push((performance.now() - t0) / 1000);
  }
  const sec = median(times);
  let launches = 0;
  for (const [k, n] of counts) if (!HOST_ONLY.has(k)) launches += n;
  const reads = counts.get("download") ?? 0;
  const top = [...counts].filter(([k]) => !HOST_ONLY.has(k)).sort((x, y) => y[1] - x[1])
    .slice(0, 6).map(([k, n]) => `${k} ${n}`).join(", ");
  csv.record({
    model,
    check: "calls-per-step",
    batch,
    ok: launches > 0,
    value: String(launches),
    detail: `host reads (downloads) ${reads}; most: ${top}`,
  });
  csv.record({
    model,
    check: "step-time",
    batch,
    ok: sec > 0,
    value: `${sec.toFixed(4)} s`,
    detail: `median of ${steps} steps after one warm-up, ARC shapes, paper width, ${be.name}`,
  });
  const boundMs = (launches * latencyUs) / 1000;
  csv.record({
    model,
    check: "graph-bound",
    batch,
    ok: true,
    value: `${boundMs.toFixed(2)} ms`,
    detail: `${(100 * boundMs / (sec * 1000)).toFixed(2)} % of the step (calls × launch latency)`,
  });
}
