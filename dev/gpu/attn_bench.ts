/**
 * Attention on the GPU: the mainline scalar kernels (`simt`, attention.cu: the cuda backend)
 * against the kernel lab's tf32 tensor-core flash attention (`tc`: `labBackend("attention-tc")`,
 * dev/cuda/attention_tc.cu) — the timed benchmark a variant must win to be promoted
 * (dev/cuda/README.md) — forward and forward+backward, non-causal, at the ARC paper shape — seq
 * 916 (900 + 16), 8 heads of headDim 64, batch --batch (default 64: B·H = 512) — and at the
 * Sudoku length 97 (81 + 16, batch --sudoku-batch, default 768). q, k, v are slices of a fused
 * qkv [B, L, 3·H·D] (ld = 3·H·D), as engine/ops_nn.ts passes them; scale 1/√D.
 *
 * FLOPs (the FlashAttention convention, useful work only): forward 4·B·H·L²·D (Q·Kᵀ and P·V,
 * 2 FLOPs per multiply-add); backward 2.5 × forward (five L² × D products: S again, dP, dV, dK,
 * dQ); so forward+backward 3.5 × forward. (The tc backward recomputes S and dP in both of its
 * kernels: its real work is 3.5 × forward for the backward alone; not counted.) Achieved
 * TFLOP/s = FLOPs / median time, also as a fraction of the H200's dense tf32 tensor-core peak.
 *
 * Rows appended to `--out` (default $OUT/gpu.csv, else dev/gpu/out/gpu.csv; columns
 * model,check,batch,ok,value,detail; model "attn", batch = the shape's batch), per L:
 * - `attn-tc-vs-simt-L<L>`: value max |tc − simt| over out, lse, dq, dk, dv; ok when within the
 *   tf32 tolerances of dev/cuda/lab.ts (TF32_TOL: out and lse absolute, gradients times their
 *   largest magnitude), the worst ratio to them in the detail;
 * - `attn-fwd-seconds-<k>-L<L>`, `attn-fwd-bwd-seconds-<k>-L<L>` (k = simt, tc): median of
 *   `--reps` timed runs (each ends with sync) after one warm-up;
 * - `attn-fwd-tflops-<k>-L<L>`, `attn-fwd-bwd-tflops-<k>-L<L>`: achieved TFLOP/s; detail: the
 *   fraction of the tf32 peak;
 * - `attn-tc-speedup-L<L>`: simt time / tc time, forward+backward (forward in the detail).
 *
 *   deno run -A dev/gpu/attn_bench.ts [--batch 64] [--sudoku-batch 768] [--heads 8]
 *       [--head-dim 64] [--reps 5] [--peak-tflops 494] [--out FILE]
 *
 * Exit status: 0 all rows ok, 1 a row not ok (or a kernel failed), 2 usage.
 */
import { cliArgs } from "../../engine/cli.ts";
import type { Backend, Buf } from "../../engine/backend.ts";
import { createCudaBackend } from "../../engine/backends/cuda/cuda.ts";
import { labBackend, TF32_TOL } from "../cuda/lab.ts";
import { Rng } from "../../engine/rng.ts";
import { randomArray } from "../../engine/testing.ts";
import { GpuCsv, gpuCsvPath, median, positiveArg } from "./gpu_csv.ts";

/**
 * Dense (no sparsity) TF32 tensor-core peak of the H200 SXM in TFLOP/s: the spec sheet value
 * (NVIDIA H200 datasheet: "TF32 Tensor Core 989 TFLOPS", quoted with sparsity; dense is half).
 */
const H200_TF32_DENSE_TFLOPS = 494;

const USAGE =
  `usage: deno run -A dev/gpu/attn_bench.ts [--batch 64] [--sudoku-batch 768] [--heads 8]
    [--head-dim 64] [--reps 5] [--peak-tflops 494] [--out FILE]
  Attention on the GPU: the simt kernels against the tf32 tensor-core ones, agreement and speed
  (rows of gpu.csv: --out, else $OUT/gpu.csv, else dev/gpu/out/gpu.csv).`;
const { values: a } = cliArgs("attn_bench", USAGE, {
  batch: { type: "string", default: "64" },
  "sudoku-batch": { type: "string", default: "768" },
  heads: { type: "string", default: "8" },
  "head-dim": { type: "string", default: "64" },
  reps: { type: "string", default: "5" },
  "peak-tflops": { type: "string", default: String(H200_TF32_DENSE_TFLOPS) },
  out: { type: "string", default: "" },
});
const num = (s: string, name: string) => positiveArg("attn_bench", s, name);
const H = num(a.heads, "heads"), D = num(a["head-dim"], "head-dim"), reps = num(a.reps, "reps");
const peak = num(a["peak-tflops"], "peak-tflops") * 1e12;
const shapes = [
  { B: num(a.batch, "batch"), L: 916 },
  { B: num(a["sudoku-batch"], "sudoku-batch"), L: 97 },
];
const outPath = gpuCsvPath(a.out);
const csv = new GpuCsv(outPath);
/** Appends a row (model "attn") to gpu.csv and prints it. */
const record = (check: string, batch: number, ok: boolean, value: string, detail: string) =>
  csv.record({ model: "attn", check, batch, ok, value, detail });

interface Result {
  fwd: number;
  fwdBwd: number;
  outs: Record<"out" | "lse" | "dq" | "dk" | "dv", Float32Array>;
}

/** Uploads the inputs; times forward and forward+backward (median of reps); returns outputs. */
function measure(be: Backend, B: number, L: number, host: Record<string, Float32Array>): Result {
  const hd = H * D, ld = 3 * hd, span = (B * L - 1) * ld + hd, scale = 1 / Math.sqrt(D);
  const put = (v: Float32Array) => {
    const b = be.alloc("f32", v.length);
    be.upload(b, v);
    return b;
  };
  const qkv = put(host.qkv), dout = put(host.dout);
  const out = be.alloc("f32", B * L * hd), lse = be.alloc("f32", B * H * L);
  const dqkv = be.alloc("f32", B * L * ld);
  const part = (b: Buf, i: number) => be.view(b, i * hd, span);
  const [q, k, v] = [0, 1, 2].map((i) => part(qkv, i));
  const fwd = () => be.attention(B, L, H, D, scale, q, k, v, ld, out, lse);
  const bwd = () =>
    be.attentionBackward(
      ...[B, L, H, D, scale, q, k, v, ld, out, lse, dout] as const,
      ...[part(dqkv, 0), part(dqkv, 1), part(dqkv, 2)] as const,
    );
  const time = (f: () => void) => {
    f();
    be.sync();
    const t: number[] = [];
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      f();
      be.sync();
      t.push((performance.now() - t0) / 1000);
    }
    return median(t);
  };
  const tf = time(fwd), tfb = time(() => (fwd(), bwd()));
  const all = Float32Array.from(be.download(dqkv));
  const cols = (i: number) => {
    const r = new Float32Array(B * L * hd);
    for (let t = 0; t < B * L; t++) {
      r.set(all.subarray(t * ld + i * hd, t * ld + (i + 1) * hd), t * hd);
    }
    return r;
  };
  const outs = {
    out: Float32Array.from(be.download(out)),
    lse: Float32Array.from(be.download(lse)),
    dq: cols(0),
    dk: cols(1),
    dv: cols(2),
  };
  for (const b of [qkv, dout, out, lse, dqkv]) be.free(b);
  return { fwd: tf, fwdBwd: tfb, outs };
}

for (const { B, L } of shapes) {
  const shape = `batch ${B}, seq ${L}, heads ${H}, headDim ${D} (B·H ${B * H})`;
  const rng = new Rng(20261201).fork(`attn bench ${B} ${L}`);
  const host = {
    qkv: randomArray(rng, B * L * 3 * H * D, { std: 1 }),
    dout: randomArray(rng, B * L * H * D, { std: 1 }),
  };
  const res: Partial<Record<"simt" | "tc", Result>> = {};
  for (const kind of ["simt", "tc"] as const) {
    try {
      const be = kind === "simt" ? createCudaBackend() : labBackend("attention-tc");
      res[kind] = measure(be, B, L, host);
    } catch (e) {
      record(
        `attn-fwd-bwd-seconds-${kind}-L${L}`,
        B,
        false,
        "",
        `${shape}: ${String(e).slice(0, 300)}`,
      );
    }
  }
  if (res.simt && res.tc) {
    let maxAbs = 0, worst = 0, where = "— (bitwise equal)";
    const per: string[] = [];
    for (const key of ["out", "lse", "dq", "dk", "dv"] as const) {
      const s = res.simt.outs[key], t = res.tc.outs[key];
      const grad = key !== "out" && key !== "lse";
      const tol = TF32_TOL[grad ? "grad" : key];
      const m = grad ? s.reduce((x, y) => Math.max(x, Math.abs(y)), 0) : 1;
      let d = 0;
      for (let j = 0; j < s.length; j++) {
        const diff = Math.abs(t[j] - s[j]);
        d = Math.max(d, diff);
        const r = diff / (tol.atol * m + tol.rtol * Math.abs(s[j]));
        if (!(r <= worst)) [worst, where] = [r, `${key}[${j}]: tc ${t[j]}, simt ${s[j]}`];
      }
      maxAbs = Math.max(maxAbs, d);
      per.push(`${key} ${d.toExponential(2)}`);
    }
    record(
      `attn-tc-vs-simt-L${L}`,
      B,
      worst <= 1,
      maxAbs.toExponential(3),
      `${shape}; max |tc − simt|: ${per.join(", ")}; worst ratio to the tf32 tolerance ` +
        `${worst.toPrecision(3)} at ${where}`,
    );
  }
  const flopsFwd = 4 * B * H * L * L * D, flops = { fwd: flopsFwd, "fwd-bwd": 3.5 * flopsFwd };
  for (const kind of ["simt", "tc"] as const) {
    const r = res[kind];
    if (!r) continue;
    for (const [pass, sec] of [["fwd", r.fwd], ["fwd-bwd", r.fwdBwd]] as const) {
      record(`attn-${pass}-seconds-${kind}-L${L}`, B, true, sec.toFixed(5), `${shape}; median`);
      const tflops = flops[pass] / sec;
      record(
        `attn-${pass}-tflops-${kind}-L${L}`,
        B,
        true,
        (tflops / 1e12).toFixed(2),
        `${(flops[pass] / 1e12).toFixed(3)} TFLOP (fwd 4·B·H·L²·D, bwd 2.5 × fwd); ` +
          `${(100 * tflops / peak).toFixed(1)} % of the tf32 dense peak ${peak / 1e12} TFLOP/s`,
      );
    }
  }
  if (res.simt && res.tc) {
    record(
      `attn-tc-speedup-L${L}`,
      B,
      true,
      (res.simt.fwdBwd / res.tc.fwdBwd).toFixed(2),
      `simt / tc time, fwd+bwd; fwd alone ${(res.simt.fwd / res.tc.fwd).toFixed(2)}`,
    );
  }
}
console.log(`appended to ${outPath}; ${csv.failed} failed`);
Deno.exit(csv.failed > 0 ? 1 : 0);
