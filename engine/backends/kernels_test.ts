/**
 * Every kernel of the kernel table (engine/kernels.ts) on every backend available here against the
 * float64 `ref` oracle, on seeded cases of awkward shapes (sizes of 1, odd sizes, sizes that do
 * not divide the native tiles, padded strides, in-place calls where the table allows them), with
 * the tolerance class the table gives the kernel. The operands come from the table: each buffer
 * is as long as the kernel needs (plus padding), inputs N(0, 1) unless a case gives their domain,
 * outputs start from the same random contents on every backend (so accumulating kernels and
 * untouched padding compare too). Backends: cpu when the native library builds, cuda when a GPU
 * is present (each loudly skipped otherwise).
 */
import assert from "node:assert/strict";
import type { Backend, Buf, HostArray } from "../backend.ts";
import { NativeUnavailableError } from "../errors.ts";
import {
  type Args,
  KERNEL_NAMES,
  type KernelDecl,
  type KernelName,
  KERNELS,
  namedArgs,
  TOLERANCE,
} from "../kernels.ts";
import { Rng } from "../rng.ts";
import { createCpuBackend } from "./cpu/mod.ts";
import { createCudaBackend } from "./cuda/cuda.ts";
import { createRefBackend } from "./ref/mod.ts";

const oracle = createRefBackend({ precision: "f64" });

/** The backends under test, each a factory that throws NativeUnavailableError when absent. */
const CANDIDATES: [string, () => Backend][] = [
  ["cpu", () => createCpuBackend()],
  ["cpu (own GEMM)", () => createCpuBackend({ blas: "own" })],
  ["cuda", () => createCudaBackend()],
];

/** One case: the non-buffer arguments, optional input domains, a tolerance scale. */
interface Case {
  args: Args;
  /** Input contents by buffer name (default N(0, 1)). */
  fill?: Record<string, (rng: Rng, n: number, a: Args) => ArrayLike<number>>;
  /** Buffer lengths beyond what the table requires (tables of several rows). */
  lengths?: Record<string, (a: Args) => number>;
  /** Multiplies the class tolerance (long sums: √k). */
  scale?: number;
  /** [output, input] pairs to pass as one buffer (in place; must be declared in the table). */
  inPlace?: [string, string][];
  label?: string;
}

const ids = (rows: number) => (rng: Rng, n: number) =>
  Int32Array.from({ length: n }, () => rng.int(rows));
/** A table of `r` rows of the case's `dim`. */
const rows = (r: number) => (a: Args) => r * a.dim;
const positive = (rng: Rng, n: number) =>
  Float64Array.from({ length: n }, () => 0.5 + rng.uniform());
const negative = (rng: Rng, n: number) =>
  Float64Array.from({ length: n }, () => -0.5 - rng.uniform());
const small = (rng: Rng, n: number) => Float64Array.from({ length: n }, () => 0.1 * rng.uniform());
const probs = (rng: Rng, n: number) => Float64Array.from({ length: n }, () => rng.uniform());
const labels = (vocab: number) => (rng: Rng, n: number) =>
  Int32Array.from({ length: n }, () => (rng.uniform() < 0.2 ? -100 : rng.int(vocab)));
/** cos/sin of RoPE angles (any table works; these keep values in [-1, 1]). */
const trig = (fn: (x: number) => number) => (rng: Rng, n: number) =>
  Float64Array.from({ length: n }, () => fn(6 * rng.uniform()));
/** A log-sum-exp that keeps exp(s − lse) ≤ e^4 for the random attention scores here. */
const lse = (rng: Rng, n: number) => Float64Array.from({ length: n }, () => 4 + rng.uniform());

const gemm = (
  m: number,
  n: number,
  k: number,
  transA: boolean,
  transB: boolean,
  batch: number,
  beta: number,
): Case => {
  const ac = transA ? m : k, bc = transB ? k : n;
  const lda = ac + 3, ldb = bc + 1, ldc = n + 2;
  const ar = transA ? k : m, br = transB ? n : k;
  return {
    args: {
      transA,
      transB,
      m,
      n,
      k,
      alpha: 1.5,
      lda,
      ldb,
      beta,
      ldc,
      batch,
      strideA: ar * lda + 5,
      strideB: br * ldb,
      strideC: m * ldc + 1,
    },
    scale: Math.sqrt(k + 1),
    label: `${m}×${n}×${k} ${transA ? "T" : "N"}${transB ? "T" : "N"} batch ${batch}`,
  };
};

const attn = (batch: number, seq: number, heads: number, headDim: number): Case => ({
  args: { batch, seq, heads, headDim, scale: 1 / Math.sqrt(headDim), ld: 3 * heads * headDim + 2 },
  fill: { lse },
  scale: Math.sqrt(seq),
});

const ssd = (
  batch: number,
  seq: number,
  heads: number,
  headDim: number,
  groups: number,
  dState: number,
  chunk: number,
): Case => ({
  args: { dims: { batch, seq, heads, headDim, groups, dState, chunk } },
  fill: { dt: small, A: negative },
});

const CASES: Record<KernelName, Case[]> = {
  copy: [{ args: { n: 1 } }, { args: { n: 37 } }],
  copy2d: [
    { args: { rows: 3, cols: 5, lds: 7, ldd: 6 } },
    { args: { rows: 4, cols: 3, lds: 0, ldd: 3 }, label: "broadcast" },
  ],
  fill: [{ args: { n: 9, value: -2.5 } }],
  gemm: [
    gemm(1, 1, 1, false, false, 1, 0),
    gemm(7, 13, 5, true, false, 3, 0.5),
    gemm(33, 65, 17, false, true, 1, 0),
    gemm(130, 70, 300, true, true, 2, 1),
    gemm(139, 64, 530, false, false, 1, 0),
    gemm(9, 4, 0, false, false, 2, 0.5),
  ],
  axpby: [
    { args: { n: 33, alpha: 0.7, beta: -1.3 } },
    { args: { n: 5, alpha: 2, beta: 1 }, inPlace: [["out", "y"]] },
  ],
  mul: [{ args: { n: 1 } }, { args: { n: 130 }, inPlace: [["out", "x"]] }],
  addRowVector: [{ args: { rows: 5, cols: 7 } }, {
    args: { rows: 3, cols: 1 },
    inPlace: [["out", "x"]],
  }],
  sumRows: [{ args: { rows: 300, cols: 3 } }, { args: { rows: 1, cols: 9 } }],
  unary: ["silu", "softplus", "exp", "sigmoid"].map((op) => ({ args: { op, n: 41 } })),
  unaryBackward: ["silu", "softplus", "exp", "sigmoid"].map((op) => ({ args: { op, n: 41 } })),
  swiglu: [{ args: { rows: 3, inter: 17 } }],
  swigluBackward: [{ args: { rows: 3, inter: 17 } }, {
    args: { rows: 1, inter: 4 },
    label: "with out",
  }],
  transpose: [{ args: { batch: 2, rows: 5, cols: 3 } }, { args: { batch: 1, rows: 1, cols: 8 } }],
  rmsnorm: [{ args: { rows: 3, cols: 10, eps: 1e-5 } }, {
    args: { rows: 2, cols: 33, eps: 1e-6 },
    label: "no weight",
  }],
  rmsnormBackward: [{ args: { rows: 3, cols: 10 }, fill: { rstd: positive } }],
  addRmsnorm: [{ args: { rows: 4, cols: 9, eps: 1e-5 } }],
  addRmsnormBackward: [
    { args: { rows: 4, cols: 9 }, fill: { rstd: positive } },
    { args: { rows: 2, cols: 5 }, fill: { rstd: positive }, inPlace: [["ds", "dy"]] },
  ],
  gatedRmsnorm: [{ args: { rows: 3, cols: 12, group: 4, eps: 1e-5 } }],
  gatedRmsnormBackward: [{ args: { rows: 300, cols: 12, group: 6 }, fill: { rstd: positive } }],
  softmax: [{ args: { rows: 3, cols: 11 } }, { args: { rows: 1, cols: 1 } }],
  softmaxBackward: [{ args: { rows: 3, cols: 11 }, fill: { y: probs } }],
  embedding: [{ args: { n: 7, dim: 5 }, fill: { ids: ids(4) }, lengths: { table: rows(4) } }],
  embeddingBackward: [{
    args: { n: 9, dim: 3 },
    fill: { ids: ids(2) },
    lengths: { dtable: rows(2) },
    label: "repeated ids",
  }],
  rope: [
    {
      args: { batch: 2, seq: 5, heads: 3, headDim: 4, ldx: 3 * 12 + 1, inverse: false, ldo: 12 },
      fill: { cos: trig(Math.cos), sin: trig(Math.sin) },
    },
    {
      args: { batch: 1, seq: 3, heads: 2, headDim: 6, ldx: 12, inverse: true, ldo: 12 },
      fill: { cos: trig(Math.cos), sin: trig(Math.sin) },
    },
  ],
  attention: [attn(1, 1, 1, 4), attn(2, 7, 3, 8), attn(1, 97, 2, 64), attn(1, 41, 2, 33)],
  attentionBackward: [attn(1, 1, 1, 4), attn(2, 7, 3, 8), attn(1, 70, 3, 32)],
  stablemaxXent: [{
    args: { batch: 3, seq: 5, vocab: 7, ignoreLabel: -100 },
    fill: { labels: labels(7) },
  }],
  stablemaxXentBackward: [{
    args: { batch: 3, seq: 5, vocab: 7, ignoreLabel: -100 },
    fill: { labels: labels(7) },
  }],
  bceWithLogits: [{ args: { n: 23 }, fill: { target: probs } }],
  bceWithLogitsBackward: [{ args: { n: 23 }, fill: { target: probs } }],
  sum: [{ args: { n: 1 } }, { args: { n: 1000 } }],
  argmax: [{ args: { rows: 5, cols: 7 } }],
  adamAtan2: [{
    args: { n: 19, lr: 1e-3, wd: 0.1, beta1: 0.9, beta2: 0.95, bc1: 0.19, bc2: 0.0975 },
    fill: { v: positive },
  }],
  signSgdRows: [{
    args: { n: 6, dim: 4, lr: 0.1, wd: 0.01 },
    fill: { ids: ids(3) },
    lengths: { table: rows(3) },
  }],
  ema: [{ args: { n: 17, decay: 0.99 } }],
  conv1dCausal: [{ args: { batch: 2, seq: 7, ch: 5, k: 4 } }, {
    args: { batch: 1, seq: 2, ch: 3, k: 4 },
  }],
  conv1dCausalBackward: [{ args: { batch: 2, seq: 7, ch: 5, k: 4 } }],
  ssdScan: [ssd(1, 5, 2, 3, 1, 4, 2), ssd(2, 9, 4, 4, 2, 3, 4)],
  ssdScanBackward: [ssd(1, 5, 2, 3, 1, 4, 2), ssd(2, 9, 4, 4, 2, 3, 4)],
};

/** Optional operands each case passes (by kernel): the rest are null. */
const OPTIONAL_GIVEN: Partial<Record<KernelName, (c: Case) => string[]>> = {
  swigluBackward: (c) => (c.label === "with out" ? ["out"] : []),
  rmsnorm: (c) => (c.label === "no weight" ? [] : ["weight"]),
  rmsnormBackward: () => ["weight", "dweight"],
  ssdScan: (c) => (c.args.dims.batch === 2 ? ["init", "finalState"] : []),
  ssdScanBackward: (c) => (c.args.dims.batch === 2 ? ["init", "dFinal", "dInit"] : []),
};

/** Host contents of every operand of a case (the same on every backend). */
function operands(k: KernelName, c: Case, seed: string): Record<string, HostArray | null> {
  const d: KernelDecl = KERNELS[k];
  const a = namedArgs(k, d.params.map((p) => c.args[p]));
  const rng = new Rng(20261207).fork(`${k} ${seed}`);
  const given = OPTIONAL_GIVEN[k]?.(c);
  const out: Record<string, HostArray | null> = {};
  for (const [name, b] of Object.entries(d.bufs)) {
    if (b.optional && !(given ?? []).includes(name)) {
      out[name] = null;
      continue;
    }
    const n = (c.lengths?.[name]?.(a) ?? b.len(a)) + 3; // padding past what the kernel touches
    const fill = c.fill?.[name];
    const i32 = b.dtype === "i32";
    if (fill) {
      const v = fill(rng, n, a);
      out[name] = i32 ? Int32Array.from(v) : Float64Array.from(v);
    } else if (i32) out[name] = Int32Array.from({ length: n }, () => rng.int(7));
    else out[name] = Float64Array.from({ length: n }, () => rng.normal());
  }
  return out;
}

/** Runs a case on `be`; returns the outputs' contents (f64). */
function run(be: Backend, k: KernelName, c: Case, host: Record<string, HostArray | null>) {
  const d: KernelDecl = KERNELS[k];
  const bufs: Record<string, Buf | null> = {};
  for (const [name, v] of Object.entries(host)) {
    if (v === null) {
      bufs[name] = null;
      continue;
    }
    const dtype = v instanceof Int32Array ? "i32" : "f32";
    const b = be.alloc(dtype, v.length);
    be.upload(b, v);
    bufs[name] = b;
  }
  for (const [o, i] of c.inPlace ?? []) bufs[o] = bufs[i];
  const args = d.params.map((p) => (p in d.bufs ? bufs[p] : c.args[p]));
  (be[k] as (...x: unknown[]) => void)(...args);
  const outs: Record<string, Float64Array> = {};
  for (const [name, b] of Object.entries(d.bufs)) {
    if (!b.out || bufs[name] === null) continue;
    outs[name] = Float64Array.from(be.download(bufs[name]!));
  }
  return outs;
}

const available: [string, Backend][] = [];
for (const [name, make] of CANDIDATES) {
  try {
    available.push([name, make()]);
  } catch (e) {
    if (!(e instanceof NativeUnavailableError) && !(e as Error).name.includes("Unavailable")) {
      throw e;
    }
    console.warn(`kernels_test: ${name} vs ref SKIPPED: ${(e as Error).message}`);
  }
}

Deno.test("kernel cases: every kernel of the table has cases, with declared in-place pairs", () => {
  assert.deepEqual(Object.keys(CASES).sort(), [...KERNEL_NAMES].sort());
  for (const k of KERNEL_NAMES) {
    const allowed = (KERNELS[k] as KernelDecl).inPlace ?? [];
    for (const c of CASES[k]) {
      for (const [o, i] of c.inPlace ?? []) {
        assert.ok(allowed.some(([x, y]) => x === o && y === i), `${k}: ${o} = ${i} not declared`);
      }
    }
  }
});

/**
 * Runs case `ci` of kernel `k` on `be` and on the oracle and compares every output with the
 * table's tolerance; `perturb` edits the backend's inputs only (the test that this can fail).
 */
function compareCase(
  be: Backend,
  k: KernelName,
  ci: number,
  perturb?: (host: Record<string, HostArray | null>) => void,
): void {
  const d: KernelDecl = KERNELS[k];
  const c = CASES[k][ci];
  const host = operands(k, c, `${ci}`);
  const want = run(oracle, k, c, host);
  if (perturb) perturb(host);
  const got = run(be, k, c, host);
  const tol = TOLERANCE[d.tol];
  const s = c.scale ?? 1;
  for (const [o, w] of Object.entries(want)) {
    const g = got[o];
    // The f64 oracle rounded to f32 (so overflow is Infinity on both).
    const w32 = Float32Array.from(w);
    let max = 0;
    for (const x of w32) if (Number.isFinite(x)) max = Math.max(max, Math.abs(x));
    for (let i = 0; i < w32.length; i++) {
      const diff = Math.abs(g[i] - w32[i]);
      const ok = g[i] === w32[i] || (Number.isNaN(g[i]) && Number.isNaN(w32[i])) ||
        diff <= s * (tol.atol * Math.max(1, max) + tol.rtol * Math.abs(w32[i]));
      if (!ok) {
        assert.fail(
          `${k} case ${ci} ${c.label ?? JSON.stringify(c.args)}: ${o}[${i}] = ${g[i]}, ` +
            `ref ${w32[i]} (|Δ| ${diff.toExponential(2)}, class ${d.tol} × ${s.toFixed(1)})`,
        );
      }
    }
  }
}

for (const [name, be] of available) {
  Deno.test(`kernels: ${name} vs ref (f64), every kernel, tolerance from the table`, () => {
    for (const k of KERNEL_NAMES) CASES[k].forEach((_, ci) => compareCase(be, k, ci));
  });
}

Deno.test({
  name: "kernels: the comparison fails on a perturbed input (it can fail)",
  ignore: available.length === 0,
  fn() {
    const be = available[0][1];
    // One element of an input off by 0.1: far outside every class's tolerance.
    const nudge = (name: string) => (host: Record<string, HostArray | null>) => {
      host[name]![0] += 0.1;
    };
    assert.throws(() => compareCase(be, "gemm", 2, nudge("a")), /gemm case 2/);
    assert.throws(() => compareCase(be, "copy", 1, nudge("src")), /copy case 1/);
    assert.throws(() => compareCase(be, "ssdScan", 0, nudge("x")), /ssdScan case 0/);
  },
});
