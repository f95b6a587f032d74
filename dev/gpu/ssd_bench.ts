/**
 * SSD scan on the GPU against its memory-bound floor (run by dev/gpu/check.sh): forward + backward
 * (`ssdScan` then `ssdScanBackward`, no initial or final state, as in training) at the paper's
 * Mamba-2 shape — width 512, expand 2: 16 heads of headDim 64, dState 128, 1 group, chunk 256 —
 * and seq 916 (ARC), for the mainline sequential kernels (`seq`, ssd.cu: the cuda backend) and the
 * kernel lab's chunked (`chunked`: `labBackend("ssd-chunked")`) and chunked tensor-core
 * (`chunked-tc`: `labBackend("ssd-chunked-tc")`, tf32 tile products) variants (dev/cuda/): the
 * timed benchmark a variant must win to be promoted (dev/cuda/README.md).
 *
 * Floor: the bytes the two calls must move at least — every input read once, every output written
 * once: forward x, Δ, B, C in and y out; backward x, dy, Δ, B, C in and dx, dΔ, dB, dC out (A, D,
 * dA, dD negligible) — divided by the HBM bandwidth (`--hbm-tbs`, H200: 4.8 TB/s). The goal is
 * chunked(-tc) ≤ 2 × floor (reported, not checked).
 *
 * Rows appended to `--out` (default $OUT/gpu.csv, else dev/gpu/out/gpu.csv; columns
 * model,check,batch,ok,value,detail; model "ssd", batch = --batch):
 * - `ssd-chunked-vs-seq`: the chunked outputs agree with the seq ones (|Δ| ≤ 1e-4·√(batch·seq·
 *   headDim) + 1e-3·|seq|, as the SSD cases of kernels_test.ts); value: the worst ratio of |Δ| to that
 *   allowance (ok ≤ 1);
 * - `ssd-chunked-tc-vs-seq`: the same for chunked-tc with the tf32 allowance of
 *   dev/cuda/lab_test.ts (atol the larger of the above and SSD_TF32_TOL.atol × max |seq| of that
 *   output, rtol SSD_TF32_TOL.rtol);
 * - `ssd-fwd-bwd-seconds-{seq,chunked,chunked-tc}`: median of `--reps` timed runs (each ends
 *   with sync) after one warm-up;
 * - `ssd-floor-seconds`; `ssd-{seq,chunked,chunked-tc}-over-floor` (time / floor).
 *
 *   deno run -A dev/gpu/ssd_bench.ts [--batch 32] [--seq 916] [--heads 16] [--head-dim 64]
 *       [--d-state 128] [--groups 1] [--chunk 256] [--reps 5] [--hbm-tbs 4.8] [--out FILE]
 *
 * Exit status: 0 all rows ok, 1 a row not ok (or a kernel failed), 2 usage.
 */
import { cliArgs } from "../../engine/cli.ts";
import type { Backend, Buf, SsdDims } from "../../engine/backend.ts";
import { createCudaBackend } from "../../engine/backends/cuda/cuda.ts";
import { labBackend, SSD_TF32_TOL } from "../cuda/lab.ts";
import { Rng } from "../../engine/rng.ts";
import { randomArray } from "../../engine/testing.ts";
import { GpuCsv, gpuCsvPath, median, positiveArg } from "./gpu_csv.ts";

const USAGE = `usage: deno run -A dev/gpu/ssd_bench.ts [--batch 32] [--seq 916] [--heads 16]
    [--head-dim 64] [--d-state 128] [--groups 1] [--chunk 256] [--reps 5] [--hbm-tbs 4.8]
    [--out FILE]
  The SSD scan on the GPU (seq, chunked, chunked-tc) against its memory-bound floor (rows of
  gpu.csv: --out, else $OUT/gpu.csv, else dev/gpu/out/gpu.csv).`;
const { values: a } = cliArgs("ssd_bench", USAGE, {
  batch: { type: "string", default: "32" },
  seq: { type: "string", default: "916" },
  heads: { type: "string", default: "16" },
  "head-dim": { type: "string", default: "64" },
  "d-state": { type: "string", default: "128" },
  groups: { type: "string", default: "1" },
  chunk: { type: "string", default: "256" },
  reps: { type: "string", default: "5" },
  "hbm-tbs": { type: "string", default: "4.8" },
  out: { type: "string", default: "" },
});
const num = (s: string, name: string) => positiveArg("ssd_bench", s, name);
const d: SsdDims = {
  batch: num(a.batch, "batch"),
  seq: num(a.seq, "seq"),
  heads: num(a.heads, "heads"),
  headDim: num(a["head-dim"], "head-dim"),
  groups: num(a.groups, "groups"),
  dState: num(a["d-state"], "d-state"),
  chunk: num(a.chunk, "chunk"),
};
const reps = num(a.reps, "reps"), hbm = num(a["hbm-tbs"], "hbm-tbs") * 1e12;
const outPath = gpuCsvPath(a.out);
const csv = new GpuCsv(outPath);
/** Appends a row (model "ssd", this batch) to gpu.csv and prints it. */
const record = (check: string, ok: boolean, value: string, detail: string) =>
  csv.record({ model: "ssd", check, batch: d.batch, ok, value, detail });

const nx = d.batch * d.seq * d.heads * d.headDim, ndt = d.batch * d.seq * d.heads;
const nbc = d.batch * d.seq * d.groups * d.dState;
const rng = new Rng(20261201).fork("ssd bench");
const host = {
  x: randomArray(rng, nx, { std: 1 }),
  dy: randomArray(rng, nx, { std: 1 }),
  dt: Float32Array.from(randomArray(rng, ndt, { std: 1 }), (v) => Math.log1p(Math.exp(v - 2))),
  A: Float32Array.from(randomArray(rng, d.heads, { lo: 0, hi: 1 }), (v) => -Math.exp(v)),
  Bm: randomArray(rng, nbc, { std: 1 }),
  Cm: randomArray(rng, nbc, { std: 1 }),
  D: randomArray(rng, d.heads, { std: 1 }),
};
const OUT_SIZES = { y: nx, dx: nx, ddt: ndt, dA: d.heads, dBm: nbc, dCm: nbc, dD: d.heads };
const bytes = 4 * (5 * nx + 3 * ndt + 6 * nbc);
const floor = bytes / hbm;
const shape = `batch ${d.batch}, seq ${d.seq}, heads ${d.heads}, headDim ${d.headDim}, ` +
  `groups ${d.groups}, dState ${d.dState}, chunk ${d.chunk}`;

/** Uploads the inputs, runs one warm-up and `reps` timed fwd+bwd; returns the median and outputs. */
function measure(
  be: Backend,
): { seconds: number; times: number[]; outs: Record<string, Float32Array> } {
  const put = (v: Float32Array) => {
    const b = be.alloc("f32", v.length);
    be.upload(b, v);
    return b;
  };
  const i = Object.fromEntries(Object.entries(host).map(([k, v]) => [k, put(v)])) as Record<
    keyof typeof host,
    Buf
  >;
  const o = Object.fromEntries(
    Object.entries(OUT_SIZES).map(([k, n]) => [k, be.alloc("f32", n)]),
  ) as Record<keyof typeof OUT_SIZES, Buf>;
  const step = () => {
    be.ssdScan(d, i.x, i.dt, i.A, i.Bm, i.Cm, i.D, null, o.y, null);
    be.ssdScanBackward(
      ...[d, i.x, i.dt, i.A, i.Bm, i.Cm, i.D, null, i.dy, null] as const,
      ...[o.dx, o.ddt, o.dA, o.dBm, o.dCm, o.dD, null] as const,
    );
    be.sync();
  };
  step();
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    step();
    times.push((performance.now() - t0) / 1000);
  }
  const outs = Object.fromEntries(
    Object.entries(o).map(([k, b]) => [k, Float32Array.from(be.download(b))]),
  );
  for (const b of [...Object.values(i), ...Object.values(o)]) be.free(b);
  return { seconds: median(times), times, outs };
}

const KERNELS = ["seq", "chunked", "chunked-tc"] as const;
const res: Record<string, ReturnType<typeof measure>> = {};
for (const ssd of KERNELS) {
  try {
    res[ssd] = measure(ssd === "seq" ? createCudaBackend() : labBackend(`ssd-${ssd}`));
  } catch (e) {
    record(`ssd-fwd-bwd-seconds-${ssd}`, false, "", `${shape}: ${String(e).slice(0, 300)}`);
  }
}
/** Rows `ssd-<kernel>-vs-seq`: the worst |kernel − seq| over its allowance (ok ≤ 1). */
function agreement(kernel: "chunked" | "chunked-tc") {
  if (!res.seq || !res[kernel]) return;
  const f32Atol = 1e-4 * Math.sqrt(d.batch * d.seq * d.headDim), f32Rtol = 1e-3;
  const tc = kernel === "chunked-tc";
  let worst = 0, where = "— (bitwise equal)", allow = "";
  for (const k of Object.keys(OUT_SIZES)) {
    const c = res[kernel].outs[k], s = res.seq.outs[k];
    const max = s.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const atol = tc ? Math.max(f32Atol, SSD_TF32_TOL.atol * max) : f32Atol;
    const rtol = tc ? Math.max(f32Rtol, SSD_TF32_TOL.rtol) : f32Rtol;
    for (let j = 0; j < s.length; j++) {
      const r = Math.abs(c[j] - s[j]) / (atol + rtol * Math.abs(s[j]));
      if (!(r <= worst)) {
        [worst, where] = [r, `${k}[${j}]: ${kernel} ${c[j]}, seq ${s[j]}`];
        allow = `${atol.toExponential(2)} + ${rtol.toPrecision(3)}·|seq|`;
      }
    }
  }
  record(
    `ssd-${kernel}-vs-seq`,
    worst <= 1,
    worst.toPrecision(3),
    `${shape}; worst |${kernel} − seq| / (${allow || "allowance"}) at ${where}` +
      (tc ? "; tf32 allowance: SSD_TF32_TOL × max |seq| per output" : ""),
  );
}
agreement("chunked");
agreement("chunked-tc");
record(
  "ssd-floor-seconds",
  true,
  floor.toExponential(3),
  `${shape}: ${(bytes / 1e6).toFixed(1)} MB moved at least (fwd x, Δ, B, C in, y out; bwd x, dy, ` +
    `Δ, B, C in, dx, dΔ, dB, dC out) / ${hbm / 1e12} TB/s`,
);
for (const ssd of KERNELS) {
  const r = res[ssd];
  if (!r) continue;
  const all = r.times.map((t) => t.toFixed(5)).join(" ");
  record(`ssd-fwd-bwd-seconds-${ssd}`, true, r.seconds.toFixed(5), `${shape}; median; all: ${all}`);
  const ratio = r.seconds / floor;
  record(
    `ssd-${ssd}-over-floor`,
    true,
    ratio.toFixed(2),
    "fwd+bwd time / memory-bound floor" +
      (ssd !== "seq" ? `; goal ≤ 2: ${ratio <= 2 ? "met" : "NOT met"}` : ""),
  );
}
console.log(`appended to ${outPath}; ${csv.failed} failed`);
Deno.exit(csv.failed > 0 ? 1 : 0);
