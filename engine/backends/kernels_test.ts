/**
 * Every kernel of the kernel table (engine/kernels.ts) on every backend available here against the
 * float64 `ref` oracle, with the tolerance class the table gives the kernel. This is the one place
 * where backends are compared with the oracle: the backends' own tests (cpu/cpu_test.ts,
 * cuda/cuda_test.ts) keep only what is specific to a backend.
 *
 * The cases are seeded and awkward: sizes of 1 and 0, odd sizes, sizes that do not divide the
 * native tiles and blocks (GEMM 8 × 32 × 256 and 64 × 64 × 16 tiles, attention's 64-query and
 * 32-key blocks, 256-row reduction chunks), 100,003 elements (several threads' chunks and a SIMD
 * tail), padded and odd strides, views at offsets into longer buffers, in-place calls where the
 * table allows them, repeated ids, ignored labels, the special values of the unary functions
 * (±0, the softplus threshold 20, exp's overflow at 89, NaN), attention at L = 916 (ARC's 900
 * cells and 16 prefix tokens) and the models' head dims (16, 64), SSD shapes with and without
 * states.
 *
 * The operands come from the table: each buffer is as long as the kernel needs (plus padding),
 * inputs N(0, 1) unless a case gives their domain, rounded to float32 so that the oracle and the
 * backend see the same values. Outputs the kernel updates (UPDATED) start from the same random
 * contents on every backend; every other output starts as NaN, so a kernel that reads an output
 * it should only write (β = 0 reading C, an accumulator never cleared) fails, and padding the
 * kernel must leave alone is compared too (NaN against NaN; 7 between the rows of a GEMM's C).
 * Inputs of a backward pass can be the oracle's forward results on the case's operands
 * (`derive`), as in training. The oracle runs each case once for all backends.
 *
 * A result passes where |got − want| ≤ s_a·atol + s_r·rtol·|want| (the class's atol and rtol,
 * the case's scales s_a and s_r, default 1; `want` is the oracle's result rounded to float32, so
 * an overflow is Infinity on both sides; NaN matches NaN). Where a case scales its tolerance it
 * says why. Backends: cpu (and its two GEMMs) when the native library builds, cuda (and its own
 * GEMM) when a GPU is present, each loudly skipped otherwise.
 */
import assert from "node:assert/strict";
import type { Backend, Buf, HostArray } from "../backend.ts";
import { NativeUnavailableError } from "../errors.ts";
import {
  type Args,
  KERNEL_NAMES,
  type KernelDecl,
  type KernelFamily,
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

/**
 * The backends under test, each a factory that throws NativeUnavailableError when absent. A GEMM
 * variant runs only the gemm family: the GEMM is all it changes.
 */
const CANDIDATES: { name: string; make: () => Backend; families?: KernelFamily[] }[] = [
  { name: "cpu", make: () => createCpuBackend() },
  { name: "cpu (own GEMM)", make: () => createCpuBackend({ blas: "own" }), families: ["gemm"] },
  {
    name: "cpu (OpenBLAS GEMM)",
    make: () => createCpuBackend({ blas: "openblas" }),
    families: ["gemm"],
  },
  { name: "cuda", make: () => createCudaBackend() },
  { name: "cuda (own GEMM)", make: () => createCudaBackend({ gemm: "own" }), families: ["gemm"] },
];

type Host = Record<string, HostArray | null>;
/** Contents of an operand of `n` elements. */
type Fill = (rng: Rng, n: number, a: Args) => ArrayLike<number>;

/** Multiplies a class's atol and rtol: one number for both, or each (default 1). */
type Scale = number | { atol?: number; rtol?: number };

/** One case: the non-buffer arguments, optional input domains, tolerance scales. */
interface Case {
  args: Args;
  /** Contents by buffer name (inputs default to N(0, 1), outputs as the module comment says). */
  fill?: Record<string, Fill>;
  /** Buffer lengths beyond what the table requires (tables of several rows). */
  lengths?: Record<string, (a: Args) => number>;
  /** Operands passed as a view starting this many elements into their buffer (alignment). */
  offsets?: Record<string, number>;
  /** Optional operands this case passes (the others are null). */
  given?: string[];
  /** Rewrites inputs from the others after they are drawn (a backward's forward results). */
  derive?: (h: Host, a: Args, rng: Rng) => void;
  /** Scales the class's tolerance for every output. */
  scale?: Scale;
  /** Scales it for the outputs named (in place of `scale`): a sum over more terms than others. */
  scaleOf?: Record<string, Scale>;
  /** [output, input] pairs to pass as one buffer (in place; must be declared in the table). */
  inPlace?: [string, string][];
  label?: string;
}

/**
 * Outputs a kernel reads before it writes them (β·C, accumulation, optimiser updates): they start
 * from random contents. A GEMM case with β = 0 starts C as NaN (`nanC`): β = 0 must not read it.
 */
const UPDATED: Partial<Record<KernelName, string[]>> = {
  gemm: ["c"],
  embeddingBackward: ["dtable"],
  adamAtan2: ["p", "m", "v"],
  signSgdRows: ["table"],
  ema: ["shadow"],
};

// ------------------------------------------------------------------------------------ fills

const nan: Fill = (_rng, n) => new Float64Array(n).fill(NaN);
const uniform = (lo: number, hi: number): Fill => (rng, n) =>
  Float64Array.from({ length: n }, () => lo + (hi - lo) * rng.uniform());
const normal = (std: number): Fill => (rng, n) =>
  Float64Array.from({ length: n }, () => std * rng.normal());
/** `values` first, N(0, 1) after them. */
const leading = (values: readonly number[], rest: Fill = normal(1)): Fill => (rng, n, a) => {
  const out = Float64Array.from(rest(rng, n, a));
  out.set(values.slice(0, n));
  return out;
};
const positive = uniform(0.5, 1.5);
const negative = uniform(-1.5, -0.5);
const small = uniform(0, 0.1);
const probs = uniform(0, 1);
const ids = (rows: number): Fill => (rng, n) => Int32Array.from({ length: n }, () => rng.int(rows));
/** `n` distinct rows of `rows` (then anything). */
const distinctIds = (rows: number): Fill => (rng, n) => {
  const p = rng.permutation(rows);
  return Int32Array.from({ length: n }, (_, j) => p[j % rows]);
};
/** Integers 0 … 4 as floats: rows full of ties (the first maximum wins). */
const ties: Fill = (rng, n) => Float64Array.from({ length: n }, () => rng.int(5));
/** N(0, 1) with every fifth element 0 (sign(0) = 0). */
const someZeros: Fill = (rng, n) =>
  Float64Array.from({ length: n }, (_, j) => (j % 5 === 0 ? 0 : rng.normal()));
/** A table of `r` rows of the case's `dim`. */
const rows = (r: number) => (a: Args) => r * a.dim;
/** Labels with 20 % ignored (-100). */
const labels = (vocab: number): Fill => (rng, n) =>
  Int32Array.from({ length: n }, () => (rng.uniform() < 0.2 ? -100 : rng.int(vocab)));
/** Labels with every third token ignored and, with batch > 1, all of sequence 1 (no label). */
const sparseLabels = (vocab: number): Fill => (rng, n, a) =>
  Int32Array.from({ length: n }, (_, t) => {
    const v = rng.int(vocab);
    return t % 3 === 0 || (a.batch > 1 && t >= a.seq && t < 2 * a.seq) ? -100 : v;
  });
/** cos/sin of RoPE angles (any table works; these keep values in [-1, 1]). */
const trig = (fn: (x: number) => number) => (rng: Rng, n: number) =>
  Float64Array.from({ length: n }, () => fn(6 * rng.uniform() - 3));
/** A log-sum-exp that keeps exp(s − lse) ≤ e^4 for the random attention scores here. */
const lse = uniform(4, 5);
/** SSD step sizes as the models make them: softplus(N(0, 1) − 2). */
const softplusDt: Fill = (rng, n) =>
  Float64Array.from({ length: n }, () => Math.log1p(Math.exp(rng.normal() - 2)));
/** SSD decay rates as the models make them: −exp(U(0, 1)). */
const decayA: Fill = (rng, n) => Float64Array.from({ length: n }, () => -Math.exp(rng.uniform()));

/** The values where the unary functions change branch, overflow or misbehave. */
const SPECIAL = [0, -0, 1, -1, 19.9, 20, 20.5, 30, -30, 88, 89, 100, -87, -104, -200, NaN];
/**
 * Where rounding to bfloat16 (8 significant bits) is delicate: ties (to even: down, up), just past
 * a tie, its largest finite value, the midpoint above it (→ ∞), float32's largest, the smallest
 * normal, subnormals and their ties, ±∞, NaN.
 */
const BF16_SPECIAL = [
  0,
  -0,
  1,
  1 + 2 ** -8,
  1 + 3 * 2 ** -8,
  -(1 + 2 ** -8 + 2 ** -23),
  (2 - 2 ** -7) * 2 ** 127,
  -(2 - 2 ** -8) * 2 ** 127,
  3.4028234663852886e38,
  2 ** -126,
  1e-40,
  2 ** -133,
  2 ** -134,
  3 * 2 ** -134,
  Infinity,
  -Infinity,
  NaN,
];
/** ± 2^U(−140, 128): every binade of float32, subnormals and overflow included. */
const anyExponent: Fill = (rng, n) =>
  Float64Array.from(
    { length: n },
    () => (rng.uniform() < 0.5 ? -1 : 1) * 2 ** (268 * rng.uniform() - 140),
  );
/** 100,003 elements: several threads' chunks and a SIMD tail. */
const FLAT = [1, 17, 100_003];

// ------------------------------------------------------------------------------------ oracle runs

/**
 * Runs `kernel` on the oracle with named arguments (host arrays for buffers; a missing output is
 * allocated, a missing input drawn N(0, 1) from `rng`) and returns every buffer's contents.
 */
function oracleRun(kernel: KernelName, named: Args, rng: Rng): Record<string, Float64Array> {
  const d: KernelDecl = KERNELS[kernel];
  const a = { ...named, ...(named.dims ?? {}) };
  const bufs: Record<string, Buf | null> = {};
  for (const [name, b] of Object.entries(d.bufs)) {
    const v = named[name] as HostArray | null | undefined;
    if (v === null || (v === undefined && b.optional)) {
      bufs[name] = null;
      continue;
    }
    const host = v ?? Float64Array.from({ length: b.len(a) }, () => (b.out ? 0 : rng.normal()));
    bufs[name] = oracle.alloc(host instanceof Int32Array ? "i32" : "f32", host.length);
    oracle.upload(bufs[name]!, host);
  }
  (oracle[kernel] as (...x: unknown[]) => void)(
    ...d.params.map((p) => (p in d.bufs ? bufs[p] : named[p])),
  );
  const out: Record<string, Float64Array> = {};
  for (const [name, b] of Object.entries(bufs)) {
    if (b !== null) out[name] = Float64Array.from(oracle.download(b));
  }
  return out;
}

/**
 * `derive` for a backward: its operands `outs` (forward name → backward name) from the oracle's
 * forward on the case's operands; `extra`: the forward's other arguments (eps, inputs the
 * backward lacks; missing inputs are N(0, 1)).
 */
const fromForward = (
  kernel: KernelName,
  outs: Record<string, string>,
  extra: (a: Args, rng: Rng) => Args = () => ({}),
) =>
(h: Host, a: Args, rng: Rng) => {
  const named: Args = { ...a, ...extra(a, rng) };
  const d: KernelDecl = KERNELS[kernel];
  for (const name of Object.keys(d.bufs)) {
    const mine = outs[name] ?? name;
    if (mine in h) named[name] = h[mine];
  }
  const r = oracleRun(kernel, named, rng);
  for (const [f, b] of Object.entries(outs)) h[b] = r[f];
};

// ------------------------------------------------------------------------------------ cases

/**
 * C of a GEMM with β = 0: NaN in the m × n blocks (β = 0 must not read them), 7 in the padding
 * between rows and batches (which must stay 7, even for a kernel that writes β·C there).
 */
const nanC: Fill = (_rng, len, a) =>
  Float64Array.from({ length: len }, (_, i) => {
    const j = i % a.strideC;
    const inside = i < (a.batch - 1) * a.strideC + a.m * a.ldc && j < a.m * a.ldc &&
      j % a.ldc < a.n;
    return inside ? NaN : 7;
  });

const gemm = (
  m: number,
  n: number,
  k: number,
  transA: boolean,
  transB: boolean,
  batch: number,
  beta: number,
  share?: "A" | "B",
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
      strideA: share === "A" ? 0 : ar * lda + 5,
      strideB: share === "B" ? 0 : br * ldb,
      strideC: m * ldc + 1,
    },
    fill: beta === 0 ? { c: nanC } : undefined,
    // a k-term sum of N(0, 1) products: its absolute error grows like √k ulps of the terms
    scale: { atol: Math.sqrt(k + 1) },
    label: `${m}×${n}×${k} ${transA ? "T" : "N"}${transB ? "T" : "N"} batch ${batch} β ${beta}` +
      (share ? ` stride${share} 0` : ""),
  };
};

/**
 * The GEMM grid: every shape × the four transposes × (batch 1, β 0), (batch 3, β 0.5) and (batch
 * 3, β 0, A shared: stride 0). Shapes off the tiles of our kernels (cpu: 8 × 32 × 256 blocks,
 * reads A in place for n ≤ 64; cuda: 64 × 64 × 16 tiles).
 */
const GEMM_SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [7, 13, 5],
  [33, 65, 17],
  [65, 70, 33],
  [130, 70, 300], // two M blocks of the cpu's kernel, two K blocks
  [130, 129, 300], // cuda: three tiles each way, a ragged last one
  // n ≤ 64: the cpu's kernel reads A in place (no packing): two M blocks with a ragged 3-row
  // strip, three K panels, a ragged second column strip
  [139, 64, 530],
  [300, 33, 40],
];
const GEMM_CASES: Case[] = [
  ...GEMM_SHAPES.flatMap(([m, n, k]) =>
    [false, true].flatMap((ta) =>
      [false, true].flatMap((tb) => [
        gemm(m, n, k, ta, tb, 1, 0),
        gemm(m, n, k, ta, tb, 3, 0.5),
        gemm(m, n, k, ta, tb, 3, 0, "A"),
      ])
    )
  ),
  gemm(9, 2100, 3, false, false, 1, 0), // N over one 2048-column panel
  gemm(9, 2100, 3, false, false, 3, 0.5),
  gemm(20, 24, 31, false, true, 4, 0, "A"),
  gemm(20, 24, 31, true, false, 5, 1, "B"),
  gemm(64, 40, 48, false, false, 6, 0), // the cpu's batch-parallel path
  gemm(9, 4, 0, false, false, 2, 0.5), // k = 0: C scaled by β
  gemm(2, 2, 0, false, false, 1, 0), // k = 0, β = 0: C zeroed (NaN included)
];

/** Attention with q, k, v (and dq, dk, dv) of token stride `ld` = 3·heads·headDim + 2. */
const attn = (batch: number, seq: number, heads: number, headDim: number): Case => ({
  args: { batch, seq, heads, headDim, scale: 1 / Math.sqrt(headDim), ld: 3 * heads * headDim + 2 },
  label: `B ${batch} L ${seq} H ${heads} D ${headDim}`,
});
/** The attention shapes compared, forward and backward. */
const ATTN: [number, number, number, number][] = [
  [1, 1, 1, 4],
  [2, 7, 3, 8],
  [2, 33, 2, 20], // headDim not a multiple of 16
  [1, 97, 2, 64], // seq over one 64-query block, not a multiple of 32 keys
  [3, 65, 1, 64], // one query block + 1 row
  [1, 9, 2, 80], // headDim over one 64-column chunk
  // the tile shapes of the cpu's P·V products change at headDim 16 / 32 (16, 8, 4 rows per tile)
  [2, 50, 2, 16], // 16 rows of one vector; 50 keys: a ragged 16-row tile
  [1, 116, 4, 16], // the cpu-mini ARC shape: two query blocks
  [1, 70, 3, 32], // 8 rows of two vectors
  [1, 41, 2, 33], // just past 32: 4 rows of four vectors, mostly masked
];
/**
 * ARC's sequence: 900 cells + 16 prefix tokens, the paper models' head dim 64; 2 of their 8 heads
 * (heads are independent problems; 8 would make this the slowest case by far on the f64 oracle).
 */
const ARC_ATTN: [number, number, number, number] = [1, 916, 2, 64];

const ssd = (
  backward: boolean,
  batch: number,
  seq: number,
  heads: number,
  headDim: number,
  groups: number,
  dState: number,
  chunk: number,
  opts: { states?: boolean; models?: boolean } = {},
): Case => ({
  args: { dims: { batch, seq, heads, headDim, groups, dState, chunk } },
  fill: opts.models ? { dt: softplusDt, A: decayA } : { dt: small, A: negative },
  given: !opts.states ? [] : backward ? ["init", "dFinal", "dInit"] : ["init", "finalState"],
  // `models`: Δ and A as the models draw them, over longer sequences: f32 states over `seq`
  // steps in another order than the oracle's, and dA, dD sum batch·seq·headDim terms
  scale: opts.models ? { atol: Math.sqrt(batch * seq * headDim) } : undefined,
  label: `${JSON.stringify({ batch, seq, heads, headDim, groups, dState, chunk })}` +
    (opts.states ? " with states" : ""),
});
const ssdCases = (backward: boolean): Case[] => [
  ssd(backward, 1, 5, 2, 3, 1, 4, 2),
  ssd(backward, 2, 9, 4, 4, 2, 3, 4, { states: true }),
  // chunk not dividing seq, two groups, with and without states
  ssd(backward, 2, 37, 4, 8, 2, 5, 16, { states: true, models: true }),
  ssd(backward, 2, 37, 4, 8, 2, 5, 16, { models: true }),
  ssd(backward, 1, 1, 1, 1, 1, 1, 1, { states: true, models: true }),
  // the paper models' headdim and dState
  ssd(backward, 2, 130, 2, 64, 1, 128, 64, { states: true, models: true }),
  ssd(backward, 3, 33, 6, 40, 3, 16, 64, { states: true, models: true }),
];

const eps = (x: Args) => ({ ...x, eps: 1e-6 });
const RMS: [number, number][] = [[1, 1], [7, 13], [300, 512], [513, 3]];
const ADD_RMS: [number, number][] = [[1, 1], [7, 13], [300, 512], [513, 3], [3, 1024]];
/** [rows, cols, group, z's domain]: cpu's 256-row chunks for dweight; cuda's per-group blocks. */
const GATED: [number, number, number, Fill][] = [
  [1, 1, 1, uniform(-12, 12)],
  [7, 12, 3, uniform(-12, 12)],
  [300, 96, 96, uniform(-12, 12)],
  [700, 64, 16, uniform(-12, 12)],
  // z with silu's exp guard (±30, ±90)
  [300, 512, 256, leading([0, 30, -30, 90, -90], normal(2))],
  [513, 6, 2, leading([0, 30, -30, 90, -90], normal(2))],
  [3, 1024, 1024, leading([0, 30, -30, 90, -90], normal(2))],
];
const SOFTMAX: [number, number, number][] = [[1, 1, 1], [5, 17, 30], [300, 916, 5], [2, 1000, 80]];
const XENT: [number, number, number][] = [[1, 1, 1], [3, 7, 11], [4, 81, 10], [2, 916, 12]];
const EMB: [number, number, number][] = [[1, 1, 1], [50, 13, 11], [3000, 64, 40]];
const ROPE: [number, number, number, number][] = [[1, 1, 1, 2], [2, 5, 3, 8], [2, 33, 4, 64]];
const CONV: [number, number, number, number][] = [[1, 1, 1, 1], [2, 3, 5, 4], [3, 300, 70, 4]];
const UNARY = ["silu", "softplus", "exp", "sigmoid"];
/** Unary inputs over the range where each function is interesting (exp: no overflow). */
const unaryX = (op: string) => (op === "exp" ? uniform(-20, 20) : uniform(-30, 30));
const adam = { lr: 1e-3, wd: 0.1, beta1: 0.9, beta2: 0.95, bc1: 1 - 0.9 ** 3, bc2: 1 - 0.95 ** 3 };

/** `cases` with tolerance scales where they give none (a kernel tighter than its class). */
const scaled = (t: Pick<Case, "scale" | "scaleOf">, cases: Case[]): Case[] =>
  cases.map((c) => ({ ...t, ...c }));
/** ±(1 … 2): exp(89)·dy overflows float32 in float64 too (an f32 kernel's exp(89) is ∞). */
const unitDy: Fill = (rng, n) =>
  Float64Array.from({ length: n }, () => (rng.uniform() < 0.5 ? -1 : 1) * (1 + rng.uniform()));

const CASES: Record<KernelName, Case[]> = {
  copy: [{ args: { n: 1 } }, { args: { n: 37 } }, { args: { n: 100_003 }, offsets: { src: 1 } }],
  copy2d: [
    { args: { rows: 3, cols: 5, lds: 7, ldd: 6 } },
    { args: { rows: 4, cols: 3, lds: 0, ldd: 3 }, label: "broadcast" },
    { args: { rows: 4, cols: 3, lds: 8, ldd: 7 }, offsets: { src: 2, dst: 1 } },
  ],
  fill: [{ args: { n: 9, value: -2.5 } }, { args: { n: 100_003, value: 0 }, offsets: { dst: 3 } }],
  gemm: GEMM_CASES,
  axpby: [
    { args: { n: 33, alpha: 0.7, beta: -1.3 } },
    { args: { n: 5, alpha: 2, beta: 1 }, inPlace: [["out", "y"]] },
    ...FLAT.map((n) => ({ args: { n, alpha: 0.7, beta: -1.3 } })),
    { args: { n: 100_003, alpha: 0.7, beta: -1.3 }, inPlace: [["out", "x"]] },
  ],
  mul: [
    { args: { n: 1 } },
    { args: { n: 130 }, inPlace: [["out", "x"]] },
    { args: { n: 17 } },
    { args: { n: 100_003 }, offsets: { x: 1 } },
    { args: { n: 100_003 }, inPlace: [["out", "y"]] },
  ],
  addRowVector: [
    { args: { rows: 5, cols: 7 } },
    { args: { rows: 3, cols: 1 }, inPlace: [["out", "x"]] },
    ...[[1, 1], [7, 13], [300, 64], [1100, 3], [513, 700]].map(([rows, cols]) => ({
      args: { rows, cols },
    })),
    { args: { rows: 1100, cols: 3 }, inPlace: [["out", "x"]] },
  ],
  sumRows: [[300, 3], [1, 9], [1, 1], [7, 13], [300, 64], [1100, 3], [513, 700]].map((
    [rows, cols],
  ) => ({
    args: { rows, cols },
    // column sums of `rows` terms
    scale: { atol: Math.sqrt(rows) / 2 },
  })),
  // One rounding of a function within a few ulps: rtol 2e-6; atol 1e-7 (results near 0).
  unary: scaled(
    { scale: { atol: 0.1, rtol: 0.2 } },
    UNARY.flatMap((op): Case[] => [
      { args: { op, n: 1 } },
      { args: { op, n: 41 } },
      { args: { op, n: 100_003 }, fill: { x: unaryX(op) } },
      { args: { op, n: 100_003 }, fill: { x: unaryX(op) }, inPlace: [["out", "x"]] },
      { args: { op, n: SPECIAL.length }, fill: { x: leading(SPECIAL) }, label: `${op} special` },
      {
        args: { op, n: SPECIAL.length },
        fill: { x: leading(SPECIAL) },
        inPlace: [["out", "x"]],
        label: `${op} special in place`,
      },
    ]),
  ),
  // The derivative times dy: rtol as the class, atol 1e-7 (silu's derivative crosses 0).
  unaryBackward: scaled(
    { scale: { atol: 0.1 } },
    UNARY.flatMap((op): Case[] => [
      { args: { op, n: 1 } },
      { args: { op, n: 41 } },
      { args: { op, n: 100_003 }, fill: { x: unaryX(op) } },
      { args: { op, n: 100_003 }, fill: { x: unaryX(op) }, inPlace: [["dx", "dy"]] },
      {
        args: { op, n: SPECIAL.length },
        fill: { x: leading(SPECIAL), dy: unitDy },
        label: `${op}' special`,
      },
      {
        args: { op, n: SPECIAL.length },
        fill: { x: leading(SPECIAL), dy: unitDy },
        inPlace: [["dx", "dy"]],
        label: `${op}' special in place`,
      },
    ]),
  ),
  swiglu: [
    { args: { rows: 3, inter: 17 } },
    ...[[1, 1], [3, 13], [67, 100]].map(([rows, inter]) => ({
      args: { rows, inter },
      fill: { gu: uniform(-8, 8) },
    })),
  ],
  swigluBackward: [
    { args: { rows: 3, inter: 17 } },
    { args: { rows: 1, inter: 4 }, given: ["out"] },
    ...[[1, 1], [3, 13], [67, 100]].map(([rows, inter]) => ({
      args: { rows, inter },
      fill: { gu: uniform(-8, 8) },
      given: ["out"],
    })),
  ],
  transpose: [[2, 5, 3], [1, 1, 8], [1, 1, 1], [2, 33, 65], [3, 1, 7], [1, 100, 40]].map((
    [batch, rows, cols],
  ) => ({ args: { batch, rows, cols } })),
  // Row sums of squares, then products: errors relative to the values (atol 1e-5 near 0).
  roundBf16: [
    { args: { n: 1 } },
    { args: { n: BF16_SPECIAL.length }, fill: { x: leading(BF16_SPECIAL) }, label: "bf16 special" },
    { args: { n: 100_003 }, fill: { x: anyExponent } },
    { args: { n: 100_003 }, fill: { x: anyExponent }, inPlace: [["out", "x"]] },
  ],
  rmsnorm: scaled({ scale: { atol: 0.5 } }, [
    { args: { rows: 3, cols: 10, eps: 1e-5 }, given: ["weight"] },
    { args: { rows: 2, cols: 33, eps: 1e-6 }, label: "no weight" },
    ...RMS.flatMap(([rows, cols]) =>
      [["weight"], []].map((given) => ({
        args: eps({ rows, cols }),
        fill: { x: normal(2) },
        given,
      }))
    ),
  ]),
  rmsnormBackward: [
    { args: { rows: 3, cols: 10 }, fill: { rstd: positive }, given: ["weight", "dweight"] },
    // rstd from the forward on x; dweight sums `rows` terms
    ...RMS.flatMap(([rows, cols]) =>
      [["weight", "dweight"], []].map((given) => ({
        args: { rows, cols },
        fill: { x: normal(2) },
        given,
        derive: fromForward("rmsnorm", { rstd: "rstd" }, () => ({ eps: 1e-6 })),
        scale: { atol: 0.5 },
        scaleOf: { dweight: { atol: Math.sqrt(rows) / 2 } },
      }))
    ),
  ],
  // As rmsnorm: per-row sums, errors relative to the values.
  addRmsnorm: scaled({ scale: { atol: 0.5 } }, [
    { args: { rows: 4, cols: 9, eps: 1e-5 } },
    { args: { rows: 0, cols: 8, eps: 1e-6 } },
    ...ADD_RMS.map(([rows, cols]) => ({ args: eps({ rows, cols }), fill: { x: normal(2) } })),
  ]),
  addRmsnormBackward: scaled({ scale: { atol: 0.5 } }, [
    { args: { rows: 4, cols: 9 }, fill: { rstd: positive } },
    { args: { rows: 2, cols: 5 }, fill: { rstd: positive }, inPlace: [["ds", "dy"]] },
    // out and rstd from the forward on x ~ N(0, 4), y ~ N(0, 1)
    ...ADD_RMS.flatMap(([rows, cols]) =>
      [[], [["ds", "dy"]] as [string, string][]].map((inPlace) => ({
        args: { rows, cols },
        inPlace,
        derive: fromForward("addRmsnorm", { out: "out", rstd: "rstd" }, (a, rng) => ({
          eps: 1e-6,
          x: normal(2)(rng, rows * cols, a),
        })),
      }))
    ),
  ]),
  gatedRmsnorm: scaled({ scale: { atol: 0.5 } }, [
    { args: { rows: 3, cols: 12, group: 4, eps: 1e-5 } },
    { args: { rows: 0, cols: 8, group: 4, eps: 1e-6 } },
    ...GATED.map(([rows, cols, group, z]) => ({
      args: { rows, cols, group, eps: 1e-5 },
      fill: { y: normal(2), z },
    })),
  ]),
  gatedRmsnormBackward: [
    { args: { rows: 300, cols: 12, group: 6 }, fill: { rstd: positive } },
    { args: { rows: 0, cols: 8, group: 4 }, label: "rows 0: dweight zeroed" },
    // rstd from the forward; dweight sums `rows` terms
    ...GATED.map(([rows, cols, group, z]) => ({
      args: { rows, cols, group },
      fill: { y: normal(2), z },
      derive: fromForward("gatedRmsnorm", { rstd: "rstd" }, () => ({ eps: 1e-5 })),
      scale: { atol: 0.5 },
      scaleOf: { dweight: { atol: Math.sqrt(rows) / 2 } },
    })),
  ],
  // Probabilities in [0, 1], errors relative to them: atol 1e-7.
  softmax: scaled({ scale: { atol: 0.005 } }, [
    { args: { rows: 3, cols: 11 } },
    { args: { rows: 1, cols: 1 } },
    ...SOFTMAX.map(([rows, cols, spread]) => ({
      args: { rows, cols },
      fill: { x: uniform(-spread, spread) },
    })),
  ]),
  softmaxBackward: scaled({ scale: { atol: 0.005 } }, [
    { args: { rows: 3, cols: 11 }, fill: { y: probs } },
    // y: the softmax of x ~ U(−spread, spread)
    ...SOFTMAX.map(([rows, cols, spread]) => ({
      args: { rows, cols },
      derive: fromForward("softmax", { out: "y" }, (a, rng) => ({
        x: uniform(-spread, spread)(rng, rows * cols, a),
      })),
    })),
  ]),
  embedding: [
    { args: { n: 7, dim: 5 }, fill: { ids: ids(4) }, lengths: { table: rows(4) } },
    ...EMB.map(([n, dim, vocab]) => ({
      args: { n, dim },
      fill: { ids: ids(vocab) },
      lengths: { table: rows(vocab) },
    })),
  ],
  embeddingBackward: [
    {
      args: { n: 9, dim: 3 },
      fill: { ids: ids(2) },
      lengths: { dtable: rows(2) },
      label: "repeated ids",
    },
    ...EMB.map(([n, dim, vocab]) => ({
      args: { n, dim },
      fill: { ids: ids(vocab) },
      lengths: { dtable: rows(vocab) },
      // each row sums ~n/vocab gradients
      scale: { atol: Math.sqrt(n / vocab + 1) / 2 },
    })),
  ],
  rope: [
    {
      args: { batch: 2, seq: 5, heads: 3, headDim: 4, ldx: 3 * 12 + 1, inverse: false, ldo: 12 },
      fill: { cos: trig(Math.cos), sin: trig(Math.sin) },
    },
    {
      args: { batch: 1, seq: 3, heads: 2, headDim: 6, ldx: 12, inverse: true, ldo: 12 },
      fill: { cos: trig(Math.cos), sin: trig(Math.sin) },
    },
    // x: the k part of a fused qkv (a view at heads·headDim, token stride 3·heads·headDim)
    ...ROPE.flatMap(([batch, seq, heads, headDim]) =>
      [false, true].map((inverse) => ({
        args: {
          batch,
          seq,
          heads,
          headDim,
          ldx: 3 * heads * headDim,
          inverse,
          ldo: heads * headDim,
        },
        fill: { cos: trig(Math.cos), sin: trig(Math.sin) },
        offsets: { x: heads * headDim },
      }))
    ),
  ],
  attention: [...ATTN, ARC_ATTN].map(([b, l, h, d]) => attn(b, l, h, d)),
  attentionBackward: [
    // out and lse made up (lse keeps the weights bounded)
    ...[[1, 1, 1, 4], [2, 7, 3, 8], [1, 70, 3, 32]].map(([b, l, h, d]) => ({
      ...attn(b, l, h, d),
      fill: { lse },
    })),
    // out and lse from the forward, as in training
    ...[...ATTN, ARC_ATTN].map(([b, l, h, d]) => ({
      ...attn(b, l, h, d),
      derive: fromForward("attention", { out: "out", lse: "lse" }),
    })),
  ],
  // Short sums over the vocabulary (the cpu's in double): rtol 1e-5, atol 1e-7.
  stablemaxXent: scaled({ scale: { atol: 0.005, rtol: 0.1 } }, [
    { args: { batch: 3, seq: 5, vocab: 7, ignoreLabel: -100 }, fill: { labels: labels(7) } },
    ...XENT.map(([batch, seq, vocab]) => ({
      args: { batch, seq, vocab, ignoreLabel: -100 },
      fill: { logits: uniform(-6, 6), labels: sparseLabels(vocab) },
    })),
  ]),
  stablemaxXentBackward: scaled({ scale: { atol: 0.005, rtol: 0.1 } }, [
    { args: { batch: 3, seq: 5, vocab: 7, ignoreLabel: -100 }, fill: { labels: labels(7) } },
    ...XENT.map(([batch, seq, vocab]) => ({
      args: { batch, seq, vocab, ignoreLabel: -100 },
      fill: { logits: uniform(-6, 6), labels: sparseLabels(vocab) },
    })),
  ]),
  bceWithLogits: [
    { args: { n: 23 }, fill: { target: probs } },
    ...FLAT.map((n) => ({ args: { n }, fill: { x: uniform(-30, 30), target: probs } })),
  ],
  bceWithLogitsBackward: [
    { args: { n: 23 }, fill: { target: probs } },
    ...FLAT.map((n) => ({ args: { n }, fill: { x: uniform(-30, 30), target: probs } })),
  ],
  // One total: atol and rtol 1e-6.
  sum: [1, 1000, 17, 100_003].map((n) => ({ args: { n }, scale: { atol: 0.05, rtol: 0.01 } })),
  argmax: [
    { args: { rows: 5, cols: 7 } },
    ...[[1, 1], [7, 13], [500, 40]].map(([rows, cols]) => ({
      args: { rows, cols },
      fill: { x: ties },
    })),
  ],
  adamAtan2: [
    { args: { n: 19, ...adam, bc1: 0.19, bc2: 0.0975 }, fill: { v: positive } },
    ...FLAT.map((n) => ({ args: { n, ...adam }, fill: { m: normal(0.1), v: uniform(0, 0.1) } })),
  ],
  // Two roundings per element: atol 1e-7, rtol 1e-6.
  signSgdRows: scaled({ scale: 0.1 }, [
    {
      args: { n: 6, dim: 4, lr: 0.1, wd: 0.01 },
      fill: { ids: ids(3) },
      lengths: { table: rows(3) },
    },
    {
      args: { n: 20, dim: 37, lr: 0.01, wd: 0.1 },
      fill: { ids: distinctIds(50), grads: someZeros },
      lengths: { table: rows(50) },
      label: "sign(0) = 0",
    },
  ]),
  ema: [17, ...FLAT].map((n) => ({ args: { n, decay: n === 17 ? 0.99 : 0.999 } })),
  // Sums of k ≤ 4 products: atol 1e-5.
  conv1dCausal: scaled({ scale: { atol: 0.5 } }, [
    { args: { batch: 2, seq: 7, ch: 5, k: 4 } },
    { args: { batch: 1, seq: 2, ch: 3, k: 4 } },
    ...CONV.map(([batch, seq, ch, k]) => ({ args: { batch, seq, ch, k } })),
  ]),
  conv1dCausalBackward: [
    { args: { batch: 2, seq: 7, ch: 5, k: 4 } },
    // dx sums k ≤ 4 products; dw and dbias sum batch·seq terms
    ...CONV.map(([batch, seq, ch, k]) => ({
      args: { batch, seq, ch, k },
      scale: { atol: 0.5 },
      scaleOf: {
        dw: { atol: Math.sqrt(batch * seq) / 2 },
        dbias: { atol: Math.sqrt(batch * seq) / 2 },
      },
    })),
  ],
  ssdScan: ssdCases(false),
  ssdScanBackward: ssdCases(true),
};

// ------------------------------------------------------------------------------------ running

/** Host contents of every operand of a case (the same on every backend). */
function operands(k: KernelName, c: Case, seed: string): Host {
  const d: KernelDecl = KERNELS[k];
  const a = namedArgs(k, d.params.map((p) => c.args[p]));
  const rng = new Rng(20261207).fork(`${k} ${seed}`);
  const out: Host = {};
  for (const [name, b] of Object.entries(d.bufs)) {
    if (b.optional && !(c.given ?? []).includes(name)) {
      out[name] = null;
      continue;
    }
    // padding past what the kernel touches, and the offset of a view
    const n = (c.lengths?.[name]?.(a) ?? b.len(a)) + 3 + (c.offsets?.[name] ?? 0);
    const i32 = b.dtype === "i32";
    const fill = c.fill?.[name] ??
      (b.out && !i32 && !UPDATED[k]?.includes(name) ? nan : null);
    if (fill) {
      const v = fill(rng, n, a);
      out[name] = i32 ? Int32Array.from(v) : Float64Array.from(v);
    } else if (i32) out[name] = Int32Array.from({ length: n }, () => rng.int(7));
    else out[name] = Float64Array.from({ length: n }, () => rng.normal());
  }
  c.derive?.(out, a, rng.fork("derive"));
  // the backend stores float32: the oracle gets the same values
  for (const [name, v] of Object.entries(out)) {
    if (v instanceof Float64Array) out[name] = Float64Array.from(Float32Array.from(v));
  }
  return out;
}

/** Runs a case on `be`; returns the outputs' whole buffers (f64). */
function run(be: Backend, k: KernelName, c: Case, host: Host) {
  const d: KernelDecl = KERNELS[k];
  const bufs: Record<string, Buf | null> = {}, views: Record<string, Buf | null> = {};
  for (const [name, v] of Object.entries(host)) {
    if (v === null) {
      bufs[name] = views[name] = null;
      continue;
    }
    const b = be.alloc(v instanceof Int32Array ? "i32" : "f32", v.length);
    be.upload(b, v);
    const off = c.offsets?.[name] ?? 0;
    bufs[name] = b;
    views[name] = off === 0 ? b : be.view(b, off, v.length - off);
  }
  for (const [o, i] of c.inPlace ?? []) [bufs[o], views[o]] = [bufs[i], views[i]];
  const args = d.params.map((p) => (p in d.bufs ? views[p] : c.args[p]));
  (be[k] as (...x: unknown[]) => void)(...args);
  const outs: Record<string, Float64Array> = {};
  for (const [name, b] of Object.entries(d.bufs)) {
    if (!b.out || bufs[name] === null) continue;
    outs[name] = Float64Array.from(be.download(bufs[name]!));
  }
  for (const [name, b] of Object.entries(bufs)) {
    const shared = (c.inPlace ?? []).some(([o]) => o === name);
    if (b !== null && !shared && be !== oracle) be.free(b);
  }
  return outs;
}

const available: [string, Backend, KernelFamily[] | undefined][] = [];
for (const { name, make, families } of CANDIDATES) {
  try {
    available.push([name, make(), families]);
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
    const d: KernelDecl = KERNELS[k];
    const allowed = d.inPlace ?? [];
    for (const c of CASES[k]) {
      for (const [o, i] of c.inPlace ?? []) {
        assert.ok(allowed.some(([x, y]) => x === o && y === i), `${k}: ${o} = ${i} not declared`);
      }
      for (const name of [...(c.given ?? []), ...Object.keys(c.offsets ?? {})]) {
        assert.ok(name in d.bufs, `${k}: ${name} is not an operand`);
      }
      for (const name of Object.keys(c.scaleOf ?? {})) {
        assert.ok(d.bufs[name]?.out, `${k}: ${name}`);
      }
      for (const name of c.given ?? []) assert.ok(d.bufs[name].optional, `${k}: ${name}`);
    }
  }
});

/**
 * The operands and the oracle's outputs of each case, computed once for the backends that run it
 * (and dropped after the last one).
 */
const expected = new Map<
  string,
  { host: Host; want: Record<string, Float64Array>; uses: number }
>();
function expectedOf(k: KernelName, ci: number) {
  const key = `${k} ${ci}`;
  let e = expected.get(key);
  if (!e) {
    const c = CASES[k][ci];
    const host = operands(k, c, `${ci}`);
    const want = run(oracle, k, c, host);
    const d: KernelDecl = KERNELS[k];
    const a = namedArgs(k, d.params.map((p) => c.args[p]));
    for (const [o, w] of Object.entries(want)) {
      // NaN outputs must not make the comparison vacuous: what the kernel writes is finite somewhere
      if (d.bufs[o].len(a) > 0 && !(d.empty?.(a) ?? false)) {
        assert.ok(w.some(Number.isFinite), `${k} case ${ci}: the oracle's ${o} is all NaN`);
      }
    }
    const uses = available.filter(([, , f]) => !f || f.includes(d.family)).length;
    e = { host, want, uses };
    expected.set(key, e);
  }
  if (--e.uses <= 0) expected.delete(key);
  return e;
}

/**
 * Runs case `ci` of kernel `k` on `be` and compares every output with the oracle's within the
 * table's tolerance; `perturb` edits the backend's inputs only (the test that this can fail).
 */
function compareCase(
  be: Backend,
  k: KernelName,
  ci: number,
  perturb?: (host: Host) => void,
): void {
  const d: KernelDecl = KERNELS[k];
  const c = CASES[k][ci];
  const { host, want } = expectedOf(k, ci);
  let mine = host;
  if (perturb) {
    mine = Object.fromEntries(Object.entries(host).map(([n, v]) => [n, v && v.slice()]));
    perturb(mine);
  }
  const got = run(be, k, c, mine);
  const tol = TOLERANCE[d.tol];
  for (const [o, w] of Object.entries(want)) {
    const sc = c.scaleOf?.[o] ?? c.scale ?? 1;
    const s = typeof sc === "number" ? { atol: sc, rtol: sc } : sc;
    const atol = tol.atol * (s.atol ?? 1), rtol = tol.rtol * (s.rtol ?? 1);
    const g = got[o];
    const w32 = Float32Array.from(w);
    for (let i = 0; i < w32.length; i++) {
      const diff = Math.abs(g[i] - w32[i]);
      const ok = g[i] === w32[i] || (Number.isNaN(g[i]) && Number.isNaN(w32[i])) ||
        diff <= atol + rtol * Math.abs(w32[i]);
      if (!ok) {
        assert.fail(
          `${k} case ${ci} ${c.label ?? JSON.stringify(c.args)}: ${o}[${i}] = ${g[i]}, ` +
            `ref ${w32[i]} (|Δ| ${diff.toExponential(2)}, class ${d.tol}: ` +
            `atol ${atol.toExponential(1)}, rtol ${rtol.toExponential(1)})`,
        );
      }
    }
  }
}

for (const [name, be, families] of available) {
  const kernels = KERNEL_NAMES.filter((k) => !families || families.includes(KERNELS[k].family));
  const what = families ? `the ${families.join(", ")} kernels` : "every kernel";
  Deno.test(`kernels: ${name} vs ref (f64), ${what}, tolerance from the table`, () => {
    for (const k of kernels) CASES[k].forEach((_, ci) => compareCase(be, k, ci));
  });
}

/** `be` with some kernels replaced (broken on purpose). */
const broken = (be: Backend, kernels: Partial<Backend>): Backend =>
  Object.assign(Object.create(Object.getPrototypeOf(be)), be, kernels);

Deno.test({
  name: "kernels: the comparison fails on a perturbed input, a kernel that reads or writes what " +
    "it must not, a result off by more than the case's tolerance",
  ignore: available.length === 0,
  fn() {
    const be = available[0][1];
    // One element of an input off by 0.1: far outside every class's tolerance.
    const nudge = (name: string) => (host: Host) => {
      host[name]![0] += 0.1;
    };
    assert.throws(() => compareCase(be, "gemm", 2, nudge("a")), /gemm case 2/);
    assert.throws(() => compareCase(be, "copy", 1, nudge("src")), /copy case 1/);
    assert.throws(() => compareCase(be, "ssdScan", 0, nudge("x")), /ssdScan case 0/);
    const ci = (k: KernelName, label: string) => {
      const i = CASES[k].findIndex((c) => (c.label ?? "").startsWith(label));
      assert.ok(i >= 0, `${k}: no case ${label}`);
      return i;
    };
    // A GEMM that reads C at β = 0 (0·NaN = NaN) fails where C starts as NaN; one that scales the
    // padding between C's rows as if it were C fails on the padding's 7.
    const readsC = broken(be, {
      gemm: (...x: Parameters<Backend["gemm"]>) => {
        if (x[10] === 0) x[10] = 1e-30;
        be.gemm(...x);
      },
    });
    const nn = ci("gemm", "7×13×5 NN batch 1 β 0");
    assert.throws(() => compareCase(readsC, "gemm", nn), /gemm case \d+ .*: c\[\d+\] = NaN/);
    const padded = broken(be, {
      gemm: (...x: Parameters<Backend["gemm"]>) => {
        be.gemm(...x);
        const pad = be.view(x[11], x[3], 1); // the element after C's row 0 (ldc = n + 2)
        be.axpby(1, 0, pad, 0, pad, pad); // β·C there with β = 0: NaN would stay NaN
      },
    });
    assert.throws(() => compareCase(padded, "gemm", nn), /gemm case \d+ .*: c\[13\] = 0, ref 7/);
    // exp 4e-6 off relatively: within the elementwise class (rtol 1e-5), not unary's 2e-6.
    const offBy = broken(be, {
      unary: (op, n, x, out) => {
        be.unary(op, n, x, out);
        be.axpby(n, 1 + 4e-6, out, 0, out, out);
      },
    });
    const exp = CASES.unary.findIndex((c) => c.args.op === "exp" && c.args.n === 100_003);
    assert.throws(() => compareCase(offBy, "unary", exp), /unary case \d+ .*rtol 2\.0e-6/);
  },
});
