/**
 * Per-kernel micro-benchmark of the native CPU library, several builds side by side in one
 * process: each library is dlopen'ed directly (its own copy of every kernel) and the kernels are
 * timed interleaved, round by round (lib 1, lib 2, …), best of `--reps` rounds. It also prints the
 * largest difference of each kernel's outputs between the first library and the others, so a
 * vector path can be checked against the portable C one.
 *
 *   deno run --allow-all benchmarks/speed/avx2_bench.ts [--libs A.so,B.so] [--names a,b]
 *        [--reps N] [--threads T] [--only attn,unary,swiglu,softmax,ssd,gemm] [--min-ms M]
 *
 * Without --libs it times the library of the current sources (built if needed) alone. A build of
 * other sources or flags, e.g. the portable C paths:
 *
 *   cc -O3 -march=native -mno-avx2 -mno-fma -fopenmp -fPIC -shared -std=gnu11 \
 *      -fvisibility=hidden -o /tmp/libscalar.so engine/native/*.c -lm -Wl,-z,nodelete
 */
import { parseArgs } from "node:util";
import { SYMBOLS } from "../../engine/backends/cpu/symbols.ts";
import { ensureNativeLibrary } from "../../engine/native/build.ts";

type Lib = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
// deno-lint-ignore no-explicit-any
type AnyFn = (...a: any[]) => any;

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    libs: { type: "string" },
    names: { type: "string" },
    reps: { type: "string", default: "5" },
    threads: { type: "string", default: "1" },
    only: { type: "string" },
    "min-ms": { type: "string", default: "60" },
  },
});

const paths = args.libs ? args.libs.split(",") : [ensureNativeLibrary()];
const names = args.names ? args.names.split(",") : paths.map((p) => p.split("/").pop()!);
const reps = Number(args.reps), threads = Number(args.threads), minMs = Number(args["min-ms"]);
const only = args.only ? new Set(args.only.split(",")) : null;

Deno.env.set("GOMP_SPINCOUNT", Deno.env.get("GOMP_SPINCOUNT") ?? "1000");
const libs: Lib[] = paths.map((p) => {
  const l = Deno.dlopen(p, SYMBOLS).symbols;
  l.trm_set_num_threads(threads);
  return l;
});

let seed = 12345;
function rnd(n: number, lo = -1, hi = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    a[i] = lo + (hi - lo) * (seed / 4294967296);
  }
  return a;
}

interface Case {
  group: string;
  name: string;
  /** Runs the kernel of `lib` once, writing into `outs(libIndex)`. */
  run: (lib: Lib, li: number) => void;
  /** Output buffers of library li (compared across libraries). */
  outs: Float32Array[][];
}

const cases: Case[] = [];
function add(group: string, name: string, nout: number[], fn: (l: Lib, o: Float32Array[]) => void) {
  if (only && !only.has(group)) return;
  const outs = libs.map(() => nout.map((n) => new Float32Array(n)));
  cases.push({ group, name, run: (l, li) => fn(l, outs[li]), outs });
}

// ---- attention: q, k, v [B·L, H·D] (ld = H·D), out [B·L, H·D], lse [B·H·L]
function attention(B: number, L: number, H: number, D: number) {
  const HD = H * D, n = B * L * HD, scale = 1 / Math.sqrt(D);
  const q = rnd(n, -2, 2), k = rnd(n, -2, 2), v = rnd(n), dout = rnd(n);
  const out = new Float32Array(n), lse = new Float32Array(B * H * L);
  /** Calls an attention kernel with (B, L, H, D, scale, q, k, v, ld) and then `rest`. */
  const call = (fn: AnyFn, ...rest: unknown[]) =>
    fn(BigInt(B), BigInt(L), BigInt(H), BigInt(D), scale, q, k, v, BigInt(HD), ...rest);
  call(libs[0].trm_attention, out, lse);
  const tag = `B=${B} L=${L} H=${H} D=${D}`;
  add("attn", `attention fwd ${tag}`, [n, B * H * L], (l, o) => call(l.trm_attention, o[0], o[1]));
  add(
    "attn",
    `attention bwd ${tag}`,
    [n, n, n],
    (l, o) => call(l.trm_attention_backward, out, lse, dout, o[0], o[1], o[2]),
  );
}
attention(1, 916, 8, 64);
attention(16, 97, 8, 64);
attention(16, 81, 8, 64);
attention(1, 916, 16, 32);
attention(1, 300, 8, 16);

// ---- activations
{
  const n = 916 * 2048, x = rnd(n, -8, 8), dy = rnd(n);
  for (const [op, nm] of [[0, "silu"], [3, "sigmoid"], [2, "exp"]] as const) {
    add(
      "unary",
      `unary ${nm} fwd n=${n}`,
      [n],
      (l, o) => (l.trm_unary as AnyFn)(op, BigInt(n), x, o[0]),
    );
    add(
      "unary",
      `unary ${nm} bwd n=${n}`,
      [n],
      (l, o) => (l.trm_unary_backward as AnyFn)(op, BigInt(n), x, dy, o[0]),
    );
  }
  const rows = 916, inter = 1536, gu = rnd(rows * 2 * inter, -6, 6), d2 = rnd(rows * inter);
  add(
    "swiglu",
    `swiglu fwd ${rows}x${inter}`,
    [rows * inter],
    (l, o) => (l.trm_swiglu as AnyFn)(BigInt(rows), BigInt(inter), gu, o[0]),
  );
  add(
    "swiglu",
    `swiglu bwd ${rows}x${inter}`,
    [2 * rows * inter, rows * inter],
    (l, o) => (l.trm_swiglu_backward as AnyFn)(BigInt(rows), BigInt(inter), gu, d2, o[0], o[1]),
  );
  const gc = 1024, y = rnd(rows * gc), z = rnd(rows * gc, -6, 6), w = rnd(gc, 0.5, 1.5);
  add(
    "swiglu",
    `gated_rmsnorm fwd ${rows}x${gc}`,
    [rows * gc, rows],
    (l, o) =>
      (l.trm_gated_rmsnorm as AnyFn)(
        BigInt(rows),
        BigInt(gc),
        BigInt(gc),
        y,
        z,
        w,
        1e-5,
        o[0],
        o[1],
      ),
  );
}

// ---- row softmax
for (const [rows, cols] of [[2048, 916], [8192, 97]]) {
  const x = rnd(rows * cols, -10, 10);
  add(
    "softmax",
    `softmax ${rows}x${cols}`,
    [rows * cols],
    (l, o) => (l.trm_softmax as AnyFn)(BigInt(rows), BigInt(cols), x, o[0]),
  );
}

// ---- SSD scan (Mamba-2 defaults at width 512: H=16, P=64, N=128, G=1, Q=256)
{
  const B = 1, T = 916, H = 16, P = 64, G = 1, N = 128, Q = 256;
  const x = rnd(B * T * H * P), dt = rnd(B * T * H, 0.001, 0.1), A = rnd(H, -16, -1);
  const Bm = rnd(B * T * G * N), Cm = rnd(B * T * G * N), Dd = rnd(H), dy = rnd(B * T * H * P);
  const dims = [B, T, H, P, G, N, Q].map(BigInt);
  add(
    "ssd",
    `ssd_scan fwd T=${T} H=${H} P=${P} N=${N} Q=${Q}`,
    [B * T * H * P],
    (l, o) => (l.trm_ssd_scan as AnyFn)(...dims, x, dt, A, Bm, Cm, Dd, null, o[0], null),
  );
  add(
    "ssd",
    `ssd_scan bwd T=${T} H=${H} P=${P} N=${N} Q=${Q}`,
    [B * T * H * P, B * T * H, H, B * T * G * N, B * T * G * N, H],
    (l, o) =>
      (l.trm_ssd_scan_backward as AnyFn)(
        ...dims,
        x,
        dt,
        A,
        Bm,
        Cm,
        Dd,
        null,
        dy,
        null,
        o[0],
        o[1],
        o[2],
        o[3],
        o[4],
        o[5],
        null,
      ),
  );
}

// ---- own GEMM (OpenBLAS is used on this machine when it loads; this is the fallback)
{
  const m = 916, n = 1536, k = 512, a = rnd(m * k), b = rnd(k * n);
  add("gemm", `own sgemm ${m}x${n}x${k}`, [m * n], (l, o) =>
    (l.trm_gemm as AnyFn)(
      0,
      0,
      BigInt(m),
      BigInt(n),
      BigInt(k),
      1,
      a,
      BigInt(k),
      b,
      BigInt(n),
      0,
      o[0],
      BigInt(n),
      1n,
      0n,
      0n,
      0n,
    ));
}

function maxDiff(a: Float32Array, b: Float32Array): { abs: number; rel: number; nan: number } {
  let abs = 0, scale = 0, nan = 0;
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i]) !== Number.isNaN(b[i])) nan++;
    const d = Math.abs(a[i] - b[i]);
    if (d > abs) abs = d;
    if (Math.abs(a[i]) > scale) scale = Math.abs(a[i]);
  }
  return { abs, rel: scale ? abs / scale : abs, nan };
}

console.log(`threads ${threads}, best of ${reps} rounds, ≥ ${minMs} ms per timing`);
console.log(`libs: ${names.map((n, i) => `${n}=${paths[i]}`).join("  ")}`);
const header = [
  "kernel",
  ...names.map((n) => `${n} ms`),
  ...names.slice(1).map((n) => `${names[0]}/${n}`),
];
console.log(header.join("\t"));
for (const c of cases) {
  // warm-up, and how many calls make one timing
  const per: number[] = [];
  for (let li = 0; li < libs.length; li++) {
    const t0 = performance.now();
    c.run(libs[li], li);
    per.push(performance.now() - t0);
  }
  const iters = Math.max(1, Math.ceil(minMs / Math.max(0.001, Math.min(...per))));
  const best = libs.map(() => Infinity);
  for (let r = 0; r < reps; r++) {
    for (let li = 0; li < libs.length; li++) {
      const t0 = performance.now();
      for (let i = 0; i < iters; i++) c.run(libs[li], li);
      const dt = (performance.now() - t0) / iters;
      if (dt < best[li]) best[li] = dt;
    }
  }
  const diffs = libs.slice(1).map((_, j) => c.outs[0].map((o, k) => maxDiff(o, c.outs[j + 1][k])));
  const row = [
    c.name,
    ...best.map((b) => b.toFixed(3)),
    ...best.slice(1).map((b) => `${(best[0] / b).toFixed(2)}x`),
  ];
  const diffText = diffs.map((ds) =>
    ds.map((d) => `${d.rel.toExponential(1)}${d.nan ? ` nan≠${d.nan}` : ""}`).join(",")
  ).join(" | ");
  console.log(row.join("\t") + (diffText ? `\t(max rel diff ${diffText})` : ""));
}
