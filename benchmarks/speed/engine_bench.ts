/**
 * Engine benchmark (`deno task bench`): raw `cblas_sgemm` vs our `linear` forward+backward on the
 * same shapes, in one run; RMSNorm / SwiGLU bandwidth and fused attention GFLOP/s; and the same
 * figures from PyTorch CPU (benchmarks/peers/torch_engine.py) when /usr/bin/python3 has torch.
 * Validates each kernel against the ref backend before timing it. Writes results/bench/engine.csv.
 * The peer runs in the same invocation, right after ours, through bench_util.ts `runPeer`: without
 * OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE in its environment; its rows carry the peer's torch
 * version, OpenBLAS core, CPU capability and thread counts, and every row its `measured_at`.
 *
 *   deno task bench [--threads N] [--reps N] [--quick] [--no-torch] [--out FILE] [--help]
 */
import { createCpuBackend } from "../../engine/backends/cpu/mod.ts";
import { createRefBackend } from "../../engine/backends/ref/mod.ts";
import { withPool } from "../../engine/backends/pool.ts";
import { backward, zeroGrad } from "../../engine/autograd.ts";
import { linear, rmsnorm, swiglu } from "../../engine/ops.ts";
import { attention } from "../../engine/ops_nn.ts";
import { Rng } from "../../engine/rng.ts";
import { type Tensor, tensor } from "../../engine/tensor.ts";
import {
  benchArgs,
  bestTimes as timeInterleaved,
  intArg,
  makeRow,
  randomTensor,
  type Row,
  type RowInput,
  runPeer,
  writeBenchCsv,
} from "./bench_util.ts";
import { readSwitch } from "../../engine/switches.ts";

const USAGE =
  `Engine benchmark: raw sgemm vs our linear fwd+bwd, RMSNorm, SwiGLU, attention; PyTorch peer.

  deno task bench [--threads N] [--reps N] [--quick] [--no-torch] [--out FILE]

  --threads N   threads of ours and of the peer (default: all cores)
  --reps N      best of N, interleaved (default 5)
  --quick       fewer shapes
  --no-torch    no PyTorch peer
  --out FILE    CSV (default results/bench/engine.csv)
  --help        this text`;

const args = benchArgs("engine_bench", USAGE, {
  threads: { type: "string" },
  reps: { type: "string", default: "5" },
  quick: { type: "boolean", default: false },
  "no-torch": { type: "boolean", default: false },
  out: { type: "string", default: "results/bench/engine.csv" },
});
const threads = args.threads === undefined
  ? navigator.hardwareConcurrency
  : intArg("threads", args.threads);
const reps = intArg("reps", args.reps);
const rng = new Rng(0);
/** The backend our ops run on: the default ("auto") GEMM choice. */
const be = withPool(createCpuBackend({ threads }));
/** Our own GEMM, called raw on preallocated buffers (its floor). */
const own = createCpuBackend({ threads, blas: "own" });
const ref = createRefBackend();

const rows: Row[] = [];
function add(r: RowInput) {
  const row = makeRow(r);
  rows.push(row);
  const ratio = row.ratio === "" ? "" : `  (${row.ratio.toFixed(3)}× ${row.ratio_to})`;
  console.log(
    `${r.name.padEnd(18)} ${r.shape.padEnd(16)} ${r.impl.padEnd(8)} ${
      r.value.toFixed(1).padStart(8)
    } ${r.unit}${ratio}`,
  );
}

function bestTime(fn: () => void, n = reps): number {
  return bestTimes([fn], n)[0];
}

/** Best-of-n times of several functions, measured interleaved (see bench_util.ts). */
function bestTimes(fns: (() => void)[], n = reps): number[] {
  return timeInterleaved(fns, n, () => be.sync());
}

function randT(shape: number[], requiresGrad = false, backend = be): Tensor {
  return randomTensor(backend, shape, rng, requiresGrad);
}

function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / Math.max(den, 1e-30);
}

function validate(name: string, got: ArrayLike<number>, want: ArrayLike<number>, tol = 1e-4) {
  const e = maxRelErr(got, want);
  if (!(e <= tol)) throw new Error(`${name}: cpu differs from ref before timing: max rel err ${e}`);
}

// Raw OpenBLAS, called directly (the floor our linear is compared with).
const blasPath = readSwitch("TRM_OPENBLAS") ?? "libopenblas.so.0";
const blas = Deno.dlopen(blasPath, {
  cblas_sgemm: {
    parameters: [
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "f32",
      "buffer",
      "i32",
      "buffer",
      "i32",
      "f32",
      "buffer",
      "i32",
    ],
    result: "void",
  },
  openblas_set_num_threads: { parameters: ["i32"], result: "void" },
});
blas.symbols.openblas_set_num_threads(threads);

console.log(`engine benchmark: backend cpu (gemm: ${be.info.blas}), ${threads} threads`);
const gemms: [number, number, number][] = args.quick
  ? [[512, 2048, 512], [4096, 512, 512]]
  : [[512, 2048, 512], [4096, 512, 512], [768 * 97, 512, 1536]];
for (const [m, k, n] of gemms) {
  const shape = `${m}x${k}x${n}`;
  const a = new Float32Array(m * k).map(() => rng.normal());
  const b = new Float32Array(k * n).map(() => rng.normal());
  const c = new Float32Array(m * n);
  const flop = 2 * m * k * n;
  const [tRaw, tOwn] = bestTimes([
    () => blas.symbols.cblas_sgemm(101, 111, 111, m, n, k, 1, a, k, b, n, 0, c, n),
    () => own.gemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n, 1, 0, 0, 0),
  ]);
  const raw = flop / tRaw / 1e9;
  add({ name: "gemm", shape, impl: "openblas", metric: "gflops", value: raw, unit: "GFLOP/s" });
  const rawOwn = flop / tOwn / 1e9;
  add({
    name: "gemm",
    shape,
    impl: "own",
    metric: "gflops",
    value: rawOwn,
    unit: "GFLOP/s",
    ratio_to: "openblas gemm",
    ratio: rawOwn / raw,
  });
  // The floor of linear forward + backward: the same three GEMMs it issues (y = x·Wᵀ, dx = g·W,
  // dW = gᵀ·x), raw, on preallocated buffers, with the GEMM implementation the backend uses.
  const xs = new Float32Array(m * k).map(() => rng.normal());
  const ws = new Float32Array(n * k).map(() => rng.normal());
  const gs = new Float32Array(m * n).map(() => rng.normal());
  const ys = new Float32Array(m * n), dxs = new Float32Array(m * k), dws = new Float32Array(n * k);
  const x = randT([m, k], true), w = randT([n, k], true), g = randT([m, n]);
  // As a training step does: gradients released by zeroGrad, the output when no longer needed.
  const step = () => {
    zeroGrad([x, w]);
    const y = linear(x, w);
    backward(y, g);
    y.dispose();
  };
  const [tFloor, tLin] = bestTimes([
    () => {
      be.gemm(false, true, m, n, k, 1, xs, k, ws, k, 0, ys, n, 1, 0, 0, 0);
      be.gemm(false, false, m, k, n, 1, gs, n, ws, k, 0, dxs, k, 1, 0, 0, 0);
      be.gemm(true, false, n, k, m, 1, gs, n, xs, k, 0, dws, k, 1, 0, 0, 0);
    },
    step,
  ]);
  const floor = (3 * flop) / tFloor / 1e9;
  add({
    name: "linear_gemms_raw",
    shape,
    impl: String(be.info.blas),
    metric: "gflops",
    value: floor,
    unit: "GFLOP/s",
  });
  const ours = (3 * flop) / tLin / 1e9;
  add({
    name: "linear_fwd_bwd",
    shape,
    impl: "ours",
    metric: "gflops",
    value: ours,
    unit: "GFLOP/s",
    ratio_to: "its 3 raw gemms",
    ratio: ours / floor,
  });
  add({
    name: "linear_fwd_bwd",
    shape,
    impl: "ours",
    metric: "gflops_vs_openblas",
    value: ours,
    unit: "GFLOP/s",
    ratio_to: "openblas gemm",
    ratio: ours / raw,
  });
}

{
  const [r, c] = [8192, 512];
  const x = randT([r, c]);
  const xr = tensor(ref, x.toArray(), [r, c]);
  validate("rmsnorm", rmsnorm(x).toArray(), rmsnorm(xr).toArray());
  const t = bestTime(() => rmsnorm(x).dispose());
  add({
    name: "rmsnorm",
    shape: `${r}x${c}`,
    impl: "ours",
    metric: "gbps",
    value: (2 * r * c * 4) / t / 1e9,
    unit: "GB/s",
  });
  const inter = 1536;
  const gu = randT([r, 2 * inter]);
  const t2 = bestTime(() => swiglu(gu).dispose());
  add({
    name: "swiglu",
    shape: `${r}x${inter}`,
    impl: "ours",
    metric: "gbps",
    value: (3 * r * inter * 4) / t2 / 1e9,
    unit: "GB/s",
  });
}

for (const [b, l] of args.quick ? [[1, 916]] : [[1, 916], [64, 97]]) {
  const [h, d] = [8, 64];
  const shape = `${b}x${l}x${h}x${d}`;
  const qkv = randT([b, l, 3 * h * d], true);
  if (b === 1) {
    const qr = tensor(ref, qkv.toArray(), qkv.shape);
    validate("attention", attention(qkv, h).toArray(), attention(qr, h).toArray());
  }
  const t = bestTime(() => attention(qkv, h).dispose());
  add({
    name: "attention_fwd",
    shape,
    impl: "ours",
    metric: "gflops",
    value: (4 * b * h * l * l * d) / t / 1e9,
    unit: "GFLOP/s",
  });
  const go = randT([b, l, h * d]);
  const t2 = bestTime(() => {
    zeroGrad([qkv]);
    const o = attention(qkv, h);
    backward(o, go);
    o.dispose();
  });
  add({
    name: "attention_fwd_bwd",
    shape,
    impl: "ours",
    metric: "gflops",
    value: (12 * b * h * l * l * d) / t2 / 1e9,
    unit: "GFLOP/s",
  });
}

// PyTorch CPU peer, same shapes, same machine, same run.
if (!args["no-torch"]) {
  const peer = await runPeer("torch_engine.py", [
    "--threads",
    String(threads),
    "--reps",
    String(reps),
    ...(args.quick ? ["--quick"] : []),
  ]);
  if (peer) {
    for (const o of peer.rows) {
      if (
        typeof o.name !== "string" || typeof o.shape !== "string" || typeof o.value !== "number"
      ) {
        console.warn(`PyTorch peer: not a result line, skipped: ${JSON.stringify(o)}`);
        continue;
      }
      // Against the implementation our ops run: for raw GEMMs the one `auto` chose (gemm_choice).
      const inUse = be.info.blas === "own" ? "own" : "openblas";
      const mine = rows.find((r) =>
        r.name === o.name && r.shape === o.shape && r.metric === o.metric &&
        (r.name === "gemm" ? r.impl === inUse : r.impl !== "openblas")
      );
      add({
        name: o.name,
        shape: o.shape,
        impl: "torch",
        metric: o.metric,
        value: o.value,
        unit: o.unit,
        measured_at: o.measured_at,
        peer: peer.info,
        ...(mine ? { ratio_to: `ours (${mine.impl})`, ratio: o.value / mine.value } : {}),
      });
    }
  }
}

await writeBenchCsv(args.out, rows, {
  backend: "cpu",
  threads,
  gemm: String(be.info.blas),
  openblas: blasPath,
  glibc_tunables: Deno.env.get("GLIBC_TUNABLES") ?? "",
  source_hash: String(be.info.sourceHash ?? ""),
});

const lin = rows.filter((r) =>
  r.name === "linear_fwd_bwd" && r.metric === "gflops" && r.impl === "ours"
);
const worst = Math.min(...lin.map((r) => r.ratio as number));
const vsBlas = rows.filter((r) => r.metric === "gflops_vs_openblas");
console.log(
  `linear fwd+bwd / its 3 raw GEMMs: worst ${worst.toFixed(3)} (target ≥ 0.95): ${
    worst >= 0.95 ? "met" : "MISSED"
  }; vs raw cblas_sgemm: worst ${Math.min(...vsBlas.map((r) => r.ratio as number)).toFixed(3)}`,
);
