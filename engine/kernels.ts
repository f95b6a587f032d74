/**
 * The kernel table: every kernel of the backend contract (backend.ts) declared once — its
 * parameters in call order, which of them are sizes, every buffer operand with its dtype, the
 * elements it must hold, whether the kernel writes it, which outputs may alias which inputs, and
 * the tolerance class two backends are compared with. `withKernelChecks` applies the table to any
 * backend (ref, cpu, cuda alike): sizes must be non-negative integers, buffers of the right dtype
 * and at least as long as the sizes need, with one wording of every message; the backends then
 * only marshal. The cross-backend test (engine/backends/kernels_test.ts) draws its cases from the
 * same declarations. Each kernel belongs to one family (KERNEL_FAMILIES); every backend implements
 * a family in one module of its folder (engine/backends/families_test.ts checks they match).
 *
 * The table also gives each kernel's native signature (engine/backends/ffi.ts derives the FFI
 * symbols of the cpu and cuda libraries from it): sizes are int64, buffers pointers, and `ffi`
 * types every other native scalar; `native` declares where an entry point is not the parameter
 * list 1:1 (engine/backends/symbols_test.ts checks every signature against the C sources).
 *
 * @example
 * ```ts
 * import { createRefBackend } from "./backends/ref/mod.ts";
 * import { KERNELS, withKernelChecks } from "./kernels.ts";
 * const be = withKernelChecks(createRefBackend());
 * KERNELS.mul.bufs.out.out; // true: mul writes `out`
 * be.mul(4, be.alloc("f32", 4), be.alloc("f32", 4), be.alloc("f32", 3));
 * // RangeError: mul: out has 3 elements, needs 4: n=4
 * ```
 */
import type { Backend, Buf, DType } from "./backend.ts";

/** Named arguments of one call (parameter name → value; SSD dims spread in). */
// deno-lint-ignore no-explicit-any
export type Args = Record<string, any>;

/** How closely two backends must agree on a kernel's outputs (f32 against an f64 oracle). */
export type TolClass =
  /** Bit for bit: moves, index arithmetic, comparisons. */
  | "exact"
  /** One rounding per element (add, multiply, a transcendental): a few ulps. */
  | "elementwise"
  /** Sums whose order differs between backends (GEMM, norms, softmax, losses). */
  | "reduction"
  /** Long recurrences (the SSD scan and its adjoint). */
  | "scan";

/** |got − want| ≤ atol + rtol·|want| per class (f32 results against the f64 ref). */
export const TOLERANCE: Record<TolClass, { atol: number; rtol: number }> = {
  exact: { atol: 0, rtol: 0 },
  elementwise: { atol: 1e-6, rtol: 1e-5 },
  reduction: { atol: 2e-5, rtol: 1e-4 },
  scan: { atol: 1e-4, rtol: 1e-3 },
};

export interface BufDecl {
  /** Element type; "any" = f32 or i32 (moves), the same for all "any" operands of the call. */
  dtype: DType | "any";
  /** Elements the buffer must hold (at least) for these arguments. */
  len: (a: Args) => number;
  /** The kernel writes (or accumulates into) it. */
  out?: boolean;
  /** May be null (an optional operand). */
  optional?: boolean;
}

/**
 * The kernel families, in table order: each backend implements a family in one module
 * (`backends/ref/<family>.ts`, `backends/cpu/<family>.ts`, `backends/cuda/<family>.ts`) that
 * returns exactly the table's kernels of that family.
 */
export const KERNEL_FAMILIES = [
  "buffers",
  "gemm",
  "elementwise",
  "norm",
  "embedding",
  "attention",
  "loss",
  "optim",
  "ssm",
] as const;

/** A kernel family: the module of every backend that implements its kernels. */
export type KernelFamily = (typeof KERNEL_FAMILIES)[number];

/** The FFI type of a native scalar that is neither a size ("i64") nor a buffer (a pointer). */
export type FfiScalar = "i32" | "u32" | "i64" | "f32" | "f64";

/** A kernel's native entry points, where they are not the default. */
export interface NativeDecl {
  /**
   * Native parameters in order, where not `params` 1:1: names of sizes, buffers or `ffi` scalars
   * (SSD: the dims' fields in place of `dims`).
   */
  params?: readonly string[];
  /**
   * The cpu library's function `trm_<snake_case name>`: false = none (the kernel runs in
   * TypeScript on host arrays); result "i64" = it returns the position of the first bad index
   * (−1: none); else it returns void.
   */
  cpu?: false | { result: "i64" };
  /** The CUDA library's export, where not `trm_cuda_<snake_case name>` (every one returns i32). */
  cuda?: { symbol: string };
}

export interface KernelDecl {
  /** The family whose backend module implements it. */
  family: KernelFamily;
  /** Parameter names in call order (as in backend.ts). */
  params: readonly string[];
  /** Size parameters: non-negative integers (SSD: the fields of `dims`). */
  ints: readonly string[];
  bufs: Record<string, BufDecl>;
  /** [output, input] pairs that may be the same buffer ("in place allowed" in backend.ts). */
  inPlace?: readonly (readonly [string, string])[];
  tol: TolClass;
  /** Further constraints: the reason a call is refused (without the kernel's name), or null. */
  check?: (a: Args) => string | null;
  /** An empty problem: buffers are not length-checked (a kernel with nothing to do). */
  empty?: (a: Args) => boolean;
  /** The FFI type of each native scalar that is neither a size nor a buffer (by name). */
  ffi?: Record<string, FfiScalar>;
  /** The native entry points, where not the defaults (NativeDecl). */
  native?: NativeDecl;
}

const n = (a: Args) => a.n;
const rc = (a: Args) => a.rows * a.cols;
const rows = (a: Args) => a.rows;
const cols = (a: Args) => a.cols;
const f32 = (len: (a: Args) => number, o: Partial<BufDecl> = {}): BufDecl => ({
  dtype: "f32",
  len,
  ...o,
});
const i32 = (len: (a: Args) => number, o: Partial<BufDecl> = {}): BufDecl => ({
  dtype: "i32",
  len,
  ...o,
});
const out = { out: true };
/** The unary kernels' op: its code (UNARY_CODE of engine/backends/ffi.ts). */
const op = { op: "i32" } as const;
/** RMSNorm's epsilon. */
const eps = { eps: "f64" } as const;

/** Strided token operand of attention/rope: (tokens − 1)·ld + heads·headDim elements. */
const strided = (ld: string) => (a: Args) => (a.batch * a.seq - 1) * a[ld] + a.heads * a.headDim;
const noTokens = (a: Args) => a.batch * a.seq === 0 || a.heads * a.headDim === 0;
const attnCheck = (a: Args) => a.ld < a.heads * a.headDim ? "ld below heads·headDim" : null;
const ATTN_INTS = ["batch", "seq", "heads", "headDim", "ld"] as const;
const dense = (a: Args) => a.batch * a.seq * a.heads * a.headDim;
const lse = (a: Args) => a.batch * a.heads * a.seq;

/** A strided rows × cols operand with row stride `a[ld]`. */
const rowsOf = (ld: string) => (a: Args) =>
  a.rows === 0 || a.cols === 0 ? 0 : (a.rows - 1) * a[ld] + a.cols;

const groups = (a: Args) => a.cols / a.group;
const gatedCheck = (a: Args) =>
  a.group < 1 || a.cols % a.group !== 0
    ? `group must divide cols: group=${a.group}, cols=${a.cols}`
    : null;

const SSD_INTS = ["batch", "seq", "heads", "headDim", "groups", "dState", "chunk"] as const;
const ssdCheck = (a: Args) =>
  a.groups < 1 || a.heads % a.groups !== 0 || a.chunk < 1
    ? "heads must be a multiple of groups (>= 1) and chunk >= 1"
    : null;
const ssdX = (a: Args) => a.batch * a.seq * a.heads * a.headDim;
const ssdDt = (a: Args) => a.batch * a.seq * a.heads;
const ssdBc = (a: Args) => a.batch * a.seq * a.groups * a.dState;
const ssdState = (a: Args) => a.batch * a.heads * a.headDim * a.dState;
const heads = (a: Args) => a.heads;

const ssdIn = {
  x: f32(ssdX),
  dt: f32(ssdDt),
  A: f32(heads),
  Bm: f32(ssdBc),
  Cm: f32(ssdBc),
  D: f32(heads),
  init: f32(ssdState, { optional: true }),
} satisfies Record<string, BufDecl>;

/** Every kernel of the backend contract (backend.ts), by method name. */
export const KERNELS = {
  copy: {
    family: "buffers",
    params: ["n", "src", "dst"],
    ints: ["n"],
    bufs: { src: { dtype: "any", len: n }, dst: { dtype: "any", len: n, out: true } },
    // cuda: trm_cuda_copy(src, dst, bytes) moves 4-byte elements as bits
    ffi: { bytes: "i64" },
    native: { params: ["src", "dst", "bytes"], cpu: false },
    tol: "exact",
  },
  copy2d: {
    family: "buffers",
    params: ["rows", "cols", "src", "lds", "dst", "ldd"],
    ints: ["rows", "cols", "lds", "ldd"],
    bufs: {
      src: { dtype: "any", len: rowsOf("lds") },
      dst: { dtype: "any", len: rowsOf("ldd"), out: true },
    },
    // lds = 0 broadcasts one source row; otherwise rows must not overlap.
    check: (a) =>
      a.rows > 0 && a.cols > 0 && ((a.lds !== 0 && a.lds < a.cols) || a.ldd < a.cols)
        ? "row stride below cols"
        : null,
    tol: "exact",
  },
  fill: {
    family: "buffers",
    params: ["n", "value", "dst"],
    ints: ["n"],
    bufs: { dst: { dtype: "any", len: n, out: true } },
    // cuda: the 4-byte pattern (f32 bits or the i32)
    ffi: { value: "u32" },
    native: { cpu: false },
    tol: "exact",
  },
  gemm: {
    family: "gemm",
    params: [
      "transA",
      "transB",
      "m",
      "n",
      "k",
      "alpha",
      "a",
      "lda",
      "b",
      "ldb",
      "beta",
      "c",
      "ldc",
      "batch",
      "strideA",
      "strideB",
      "strideC",
    ],
    ints: ["m", "n", "k", "lda", "ldb", "ldc", "batch", "strideA", "strideB", "strideC"],
    bufs: {
      a: f32((a) => {
        if (a.k === 0) return 0;
        const [r, c] = a.transA ? [a.k, a.m] : [a.m, a.k];
        return (a.batch - 1) * a.strideA + (r - 1) * a.lda + c;
      }),
      b: f32((a) => {
        if (a.k === 0) return 0;
        const [r, c] = a.transB ? [a.n, a.k] : [a.k, a.n];
        return (a.batch - 1) * a.strideB + (r - 1) * a.ldb + c;
      }),
      c: f32((a) => (a.batch - 1) * a.strideC + (a.m - 1) * a.ldc + a.n, out),
    },
    check: (a) => {
      const ac = a.transA ? a.m : a.k, bc = a.transB ? a.k : a.n;
      return a.m > 0 && a.n > 0 && a.batch > 0 &&
          (a.lda < Math.max(1, ac) || a.ldb < Math.max(1, bc) || a.ldc < a.n)
        ? "leading dimension below the row length"
        : null;
    },
    empty: (a) => a.m === 0 || a.n === 0 || a.batch === 0,
    ffi: { transA: "i32", transB: "i32", alpha: "f32", beta: "f32" },
    tol: "reduction",
  },
  axpby: {
    family: "elementwise",
    params: ["n", "alpha", "x", "beta", "y", "out"],
    ints: ["n"],
    bufs: { x: f32(n), y: f32(n), out: f32(n, out) },
    inPlace: [["out", "x"], ["out", "y"]],
    ffi: { alpha: "f32", beta: "f32" },
    tol: "elementwise",
  },
  mul: {
    family: "elementwise",
    params: ["n", "x", "y", "out"],
    ints: ["n"],
    bufs: { x: f32(n), y: f32(n), out: f32(n, out) },
    inPlace: [["out", "x"], ["out", "y"]],
    tol: "elementwise",
  },
  addRowVector: {
    family: "elementwise",
    params: ["rows", "cols", "x", "bias", "out"],
    ints: ["rows", "cols"],
    bufs: { x: f32(rc), bias: f32(cols), out: f32(rc, out) },
    inPlace: [["out", "x"]],
    tol: "elementwise",
  },
  sumRows: {
    family: "elementwise",
    params: ["rows", "cols", "x", "out"],
    ints: ["rows", "cols"],
    bufs: { x: f32(rc), out: f32(cols, out) },
    tol: "reduction",
  },
  unary: {
    family: "elementwise",
    params: ["op", "n", "x", "out"],
    ints: ["n"],
    bufs: { x: f32(n), out: f32(n, out) },
    inPlace: [["out", "x"]],
    check: (a) => (UNARY_OPS.includes(a.op) ? null : `unknown op: ${a.op}`),
    ffi: op,
    tol: "elementwise",
  },
  unaryBackward: {
    family: "elementwise",
    params: ["op", "n", "x", "dy", "dx"],
    ints: ["n"],
    bufs: { x: f32(n), dy: f32(n), dx: f32(n, out) },
    inPlace: [["dx", "dy"]],
    check: (a) => (UNARY_OPS.includes(a.op) ? null : `unknown op: ${a.op}`),
    ffi: op,
    tol: "elementwise",
  },
  swiglu: {
    family: "elementwise",
    params: ["rows", "inter", "gu", "out"],
    ints: ["rows", "inter"],
    bufs: { gu: f32((a) => 2 * a.rows * a.inter), out: f32((a) => a.rows * a.inter, out) },
    tol: "elementwise",
  },
  swigluBackward: {
    family: "elementwise",
    params: ["rows", "inter", "gu", "dy", "dgu", "out"],
    ints: ["rows", "inter"],
    bufs: {
      gu: f32((a) => 2 * a.rows * a.inter),
      dy: f32((a) => a.rows * a.inter),
      dgu: f32((a) => 2 * a.rows * a.inter, out),
      out: f32((a) => a.rows * a.inter, { out: true, optional: true }),
    },
    tol: "elementwise",
  },
  transpose: {
    family: "elementwise",
    params: ["batch", "rows", "cols", "x", "out"],
    ints: ["batch", "rows", "cols"],
    bufs: { x: f32((a) => a.batch * rc(a)), out: f32((a) => a.batch * rc(a), out) },
    tol: "exact",
  },
  roundBf16: {
    family: "elementwise",
    params: ["n", "x", "out"],
    ints: ["n"],
    bufs: { x: f32(n), out: f32(n, out) },
    inPlace: [["out", "x"]],
    tol: "exact",
  },

  rmsnorm: {
    family: "norm",
    params: ["rows", "cols", "x", "weight", "eps", "out", "rstd"],
    ints: ["rows", "cols"],
    bufs: {
      x: f32(rc),
      weight: f32(cols, { optional: true }),
      out: f32(rc, out),
      rstd: f32(rows, out),
    },
    ffi: eps,
    tol: "reduction",
  },
  rmsnormBackward: {
    family: "norm",
    params: ["rows", "cols", "x", "weight", "rstd", "dy", "dx", "dweight"],
    ints: ["rows", "cols"],
    bufs: {
      x: f32(rc),
      weight: f32(cols, { optional: true }),
      rstd: f32(rows),
      dy: f32(rc),
      dx: f32(rc, out),
      dweight: f32(cols, { out: true, optional: true }),
    },
    check: (a) => (!a.weight !== !a.dweight ? "dweight must be given iff weight is" : null),
    tol: "reduction",
  },
  addRmsnorm: {
    family: "norm",
    params: ["rows", "cols", "x", "y", "eps", "out", "rstd"],
    ints: ["rows", "cols"],
    bufs: { x: f32(rc), y: f32(rc), out: f32(rc, out), rstd: f32(rows, out) },
    ffi: eps,
    tol: "reduction",
  },
  addRmsnormBackward: {
    family: "norm",
    params: ["rows", "cols", "out", "rstd", "dy", "ds"],
    ints: ["rows", "cols"],
    bufs: { out: f32(rc), rstd: f32(rows), dy: f32(rc), ds: f32(rc, out) },
    inPlace: [["ds", "dy"]],
    tol: "reduction",
  },
  gatedRmsnorm: {
    family: "norm",
    params: ["rows", "cols", "group", "y", "z", "weight", "eps", "out", "rstd"],
    ints: ["rows", "cols", "group"],
    bufs: {
      y: f32(rc),
      z: f32(rc),
      weight: f32(cols),
      out: f32(rc, out),
      rstd: f32((a) => a.rows * groups(a), out),
    },
    check: gatedCheck,
    ffi: eps,
    tol: "reduction",
  },
  gatedRmsnormBackward: {
    family: "norm",
    params: [
      "rows",
      "cols",
      "group",
      "y",
      "z",
      "weight",
      "rstd",
      "dout",
      "dy",
      "dz",
      "dweight",
    ],
    ints: ["rows", "cols", "group"],
    bufs: {
      y: f32(rc),
      z: f32(rc),
      weight: f32(cols),
      rstd: f32((a) => a.rows * groups(a)),
      dout: f32(rc),
      dy: f32(rc, out),
      dz: f32(rc, out),
      dweight: f32(cols, out),
    },
    check: gatedCheck,
    tol: "reduction",
  },
  softmax: {
    family: "norm",
    params: ["rows", "cols", "x", "out"],
    ints: ["rows", "cols"],
    bufs: { x: f32(rc), out: f32(rc, out) },
    tol: "reduction",
  },
  softmaxBackward: {
    family: "norm",
    params: ["rows", "cols", "y", "dy", "dx"],
    ints: ["rows", "cols"],
    bufs: { y: f32(rc), dy: f32(rc), dx: f32(rc, out) },
    tol: "reduction",
  },
  embedding: {
    family: "embedding",
    params: ["n", "dim", "ids", "table", "out"],
    ints: ["n", "dim"],
    bufs: { ids: i32(n), table: f32((a) => a.dim), out: f32((a) => a.n * a.dim, out) },
    ffi: { tableRows: "i64" }, // the table's row count (ids are checked against it)
    native: { params: ["n", "dim", "ids", "table", "tableRows", "out"], cpu: { result: "i64" } },
    tol: "exact",
  },
  embeddingBackward: {
    family: "embedding",
    params: ["n", "dim", "ids", "dy", "dtable"],
    ints: ["n", "dim"],
    bufs: { ids: i32(n), dy: f32((a) => a.n * a.dim), dtable: f32((a) => a.dim, out) },
    ffi: { tableRows: "i64" },
    native: { params: ["n", "dim", "ids", "dy", "dtable", "tableRows"], cpu: { result: "i64" } },
    tol: "reduction",
  },
  rope: {
    family: "embedding",
    params: [
      "batch",
      "seq",
      "heads",
      "headDim",
      "x",
      "ldx",
      "cos",
      "sin",
      "inverse",
      "out",
      "ldo",
    ],
    ints: ["batch", "seq", "heads", "headDim", "ldx", "ldo"],
    bufs: {
      x: f32(strided("ldx")),
      cos: f32((a) => a.seq * a.headDim),
      sin: f32((a) => a.seq * a.headDim),
      out: f32(strided("ldo"), out),
    },
    inPlace: [["out", "x"]],
    check: (a) =>
      a.headDim % 2 !== 0
        ? `headDim must be even: ${a.headDim}`
        : !noTokens(a) && (a.ldx < a.heads * a.headDim || a.ldo < a.heads * a.headDim)
        ? "token stride below heads·headDim"
        : null,
    empty: noTokens,
    ffi: { inverse: "i32" },
    tol: "elementwise",
  },
  attention: {
    family: "attention",
    params: ["batch", "seq", "heads", "headDim", "scale", "q", "k", "v", "ld", "out", "lse"],
    ints: ATTN_INTS,
    bufs: {
      q: f32(strided("ld")),
      k: f32(strided("ld")),
      v: f32(strided("ld")),
      out: f32(dense, out),
      lse: f32(lse, out),
    },
    check: attnCheck,
    empty: noTokens,
    ffi: { scale: "f32" },
    tol: "reduction",
  },
  attentionBackward: {
    family: "attention",
    params: [
      "batch",
      "seq",
      "heads",
      "headDim",
      "scale",
      "q",
      "k",
      "v",
      "ld",
      "out",
      "lse",
      "dout",
      "dq",
      "dk",
      "dv",
    ],
    ints: ATTN_INTS,
    bufs: {
      q: f32(strided("ld")),
      k: f32(strided("ld")),
      v: f32(strided("ld")),
      out: f32(dense),
      lse: f32(lse),
      dout: f32(dense),
      dq: f32(strided("ld"), out),
      dk: f32(strided("ld"), out),
      dv: f32(strided("ld"), out),
    },
    check: attnCheck,
    empty: noTokens,
    ffi: { scale: "f32" },
    tol: "reduction",
  },
  stablemaxXent: {
    family: "loss",
    params: ["batch", "seq", "vocab", "logits", "labels", "ignoreLabel", "loss"],
    ints: ["batch", "seq", "vocab"],
    bufs: {
      logits: f32((a) => a.batch * a.seq * a.vocab),
      labels: i32((a) => a.batch * a.seq),
      loss: f32((a) => a.batch, out),
    },
    ffi: { ignoreLabel: "i32" },
    native: { cpu: { result: "i64" } },
    tol: "reduction",
  },
  stablemaxXentBackward: {
    family: "loss",
    params: ["batch", "seq", "vocab", "logits", "labels", "ignoreLabel", "dloss", "dlogits"],
    ints: ["batch", "seq", "vocab"],
    bufs: {
      logits: f32((a) => a.batch * a.seq * a.vocab),
      labels: i32((a) => a.batch * a.seq),
      dloss: f32((a) => a.batch),
      dlogits: f32((a) => a.batch * a.seq * a.vocab, out),
    },
    ffi: { ignoreLabel: "i32" },
    native: { cpu: { result: "i64" } },
    tol: "reduction",
  },
  bceWithLogits: {
    family: "loss",
    params: ["n", "x", "target", "out"],
    ints: ["n"],
    bufs: { x: f32(n), target: f32(n), out: f32(n, out) },
    native: { cuda: { symbol: "trm_cuda_bce" } },
    tol: "elementwise",
  },
  bceWithLogitsBackward: {
    family: "loss",
    params: ["n", "x", "target", "dy", "dx"],
    ints: ["n"],
    bufs: { x: f32(n), target: f32(n), dy: f32(n), dx: f32(n, out) },
    native: { cuda: { symbol: "trm_cuda_bce_backward" } },
    tol: "elementwise",
  },
  sum: {
    family: "loss",
    params: ["n", "x", "out"],
    ints: ["n"],
    bufs: { x: f32(n), out: f32(() => 1, out) },
    tol: "reduction",
  },
  argmax: {
    family: "loss",
    params: ["rows", "cols", "x", "out"],
    ints: ["rows", "cols"],
    bufs: { x: f32(rc), out: i32(rows, out) },
    check: (a) => (a.cols === 0 && a.rows > 0 ? `cols must be positive: ${a.cols}` : null),
    tol: "exact",
  },
  adamAtan2: {
    family: "optim",
    params: ["n", "p", "g", "m", "v", "lr", "wd", "beta1", "beta2", "bc1", "bc2"],
    ints: ["n"],
    bufs: { p: f32(n, out), g: f32(n), m: f32(n, out), v: f32(n, out) },
    ffi: { lr: "f64", wd: "f64", beta1: "f64", beta2: "f64", bc1: "f64", bc2: "f64" },
    tol: "elementwise",
  },
  signSgdRows: {
    family: "optim",
    params: ["n", "dim", "ids", "grads", "table", "lr", "wd"],
    ints: ["n", "dim"],
    bufs: { ids: i32(n), grads: f32((a) => a.n * a.dim), table: f32((a) => a.dim, out) },
    ffi: { tableRows: "i64", lr: "f64", wd: "f64" },
    native: {
      params: ["n", "dim", "ids", "grads", "table", "tableRows", "lr", "wd"],
      cpu: { result: "i64" },
    },
    tol: "elementwise",
  },
  ema: {
    family: "optim",
    params: ["n", "shadow", "p", "decay"],
    ints: ["n"],
    bufs: { shadow: f32(n, out), p: f32(n) },
    ffi: { decay: "f64" },
    tol: "elementwise",
  },
  conv1dCausal: {
    family: "ssm",
    params: ["batch", "seq", "ch", "k", "x", "w", "bias", "out"],
    ints: ["batch", "seq", "ch", "k"],
    bufs: {
      x: f32((a) => a.batch * a.seq * a.ch),
      w: f32((a) => a.ch * a.k),
      bias: f32((a) => a.ch),
      out: f32((a) => a.batch * a.seq * a.ch, out),
    },
    tol: "reduction",
  },
  conv1dCausalBackward: {
    family: "ssm",
    params: ["batch", "seq", "ch", "k", "x", "w", "dy", "dx", "dw", "dbias"],
    ints: ["batch", "seq", "ch", "k"],
    bufs: {
      x: f32((a) => a.batch * a.seq * a.ch),
      w: f32((a) => a.ch * a.k),
      dy: f32((a) => a.batch * a.seq * a.ch),
      dx: f32((a) => a.batch * a.seq * a.ch, out),
      dw: f32((a) => a.ch * a.k, out),
      dbias: f32((a) => a.ch, out),
    },
    tol: "reduction",
  },
  ssdScan: {
    family: "ssm",
    params: ["dims", "x", "dt", "A", "Bm", "Cm", "D", "init", "y", "finalState"],
    ints: SSD_INTS,
    bufs: {
      ...ssdIn,
      y: f32(ssdX, out),
      finalState: f32(ssdState, { out: true, optional: true }),
    },
    check: ssdCheck,
    native: { params: [...SSD_INTS, "x", "dt", "A", "Bm", "Cm", "D", "init", "y", "finalState"] },
    tol: "scan",
  },
  ssdScanBackward: {
    family: "ssm",
    params: [
      "dims",
      "x",
      "dt",
      "A",
      "Bm",
      "Cm",
      "D",
      "init",
      "dy",
      "dFinal",
      "dx",
      "ddt",
      "dA",
      "dBm",
      "dCm",
      "dD",
      "dInit",
    ],
    ints: SSD_INTS,
    bufs: {
      ...ssdIn,
      dy: f32(ssdX),
      dFinal: f32(ssdState, { optional: true }),
      dx: f32(ssdX, out),
      ddt: f32(ssdDt, out),
      dA: f32(heads, out),
      dBm: f32(ssdBc, out),
      dCm: f32(ssdBc, out),
      dD: f32(heads, out),
      dInit: f32(ssdState, { out: true, optional: true }),
    },
    check: ssdCheck,
    native: {
      params: [
        ...SSD_INTS,
        ...["x", "dt", "A", "Bm", "Cm", "D", "init", "dy", "dFinal"],
        ...["dx", "ddt", "dA", "dBm", "dCm", "dD", "dInit"],
      ],
    },
    tol: "scan",
  },
} as const satisfies Record<string, KernelDecl>;

export type KernelName = keyof typeof KERNELS;
export const KERNEL_NAMES = Object.keys(KERNELS) as KernelName[];

/** The names of the kernels of family `F` (a type). */
export type FamilyKernelName<F extends KernelFamily> = {
  [K in KernelName]: (typeof KERNELS)[K]["family"] extends F ? K : never;
}[KernelName];

/** What a backend's module of family `F` returns: exactly that family's kernel methods. */
export type FamilyMethods<F extends KernelFamily> = Pick<Backend, FamilyKernelName<F>>;

/** The kernels of one family, in table order. */
export function familyKernels(family: KernelFamily): KernelName[] {
  return KERNEL_NAMES.filter((k) => KERNELS[k].family === family);
}

const UNARY_OPS: readonly string[] = ["silu", "softplus", "exp", "sigmoid"];

/** The dtype of a buffer when it can be told without the backend (host arrays, device handles). */
function dtypeOf(b: Buf): DType | null {
  if (b instanceof Float32Array || b instanceof Float64Array) return "f32";
  if (b instanceof Int32Array) return "i32";
  const d = (b as { dtype?: unknown }).dtype;
  return d === "f32" || d === "i32" ? d : null;
}

/** Each kernel's operands as [name, declaration] pairs (computed once: checks run per call). */
const BUF_ENTRIES = Object.fromEntries(
  KERNEL_NAMES.map((k) => [k, Object.entries((KERNELS[k] as KernelDecl).bufs)]),
) as Record<KernelName, [string, BufDecl][]>;

/** The named arguments of a call (SSD dims spread in). */
export function namedArgs(kernel: KernelName, args: readonly unknown[]): Args {
  const d: KernelDecl = KERNELS[kernel];
  const a: Args = {};
  for (let i = 0; i < d.params.length; i++) a[d.params[i]] = args[i];
  if (a.dims && typeof a.dims === "object") Object.assign(a, a.dims);
  return a;
}

/** The sizes of a call as its messages print them ("rows=3, cols=4"). */
function sizesText(d: KernelDecl, a: Args): string {
  return d.ints.map((k) => `${k}=${a[k]}`).join(", ");
}

/**
 * Checks a call against the table: a RangeError for a size that is not a non-negative integer, a
 * refused constraint or a buffer shorter than the sizes need; a TypeError for a missing required
 * buffer or a wrong dtype. Every message starts with the kernel's name.
 */
export function checkKernelCall(kernel: KernelName, args: readonly unknown[]): void {
  const d: KernelDecl = KERNELS[kernel];
  const a = namedArgs(kernel, args);
  const bufs = BUF_ENTRIES[kernel];
  for (const k of d.ints) {
    const v = a[k];
    if (!Number.isInteger(v) || v < 0) {
      throw new RangeError(`${kernel}: ${k} must be a non-negative integer: ${v}`);
    }
  }
  const why = d.check?.(a);
  if (why) throw new RangeError(`${kernel}: ${why}: ${sizesText(d, a)}`);
  let anyType: DType | null = null;
  const empty = d.empty?.(a) ?? false;
  for (const [name, b] of bufs) {
    const buf = a[name] as Buf | null | undefined;
    if (buf === null || buf === undefined) {
      if (b.optional) continue;
      throw new TypeError(`${kernel}: ${name} is required`);
    }
    const t = dtypeOf(buf);
    if (t !== null) {
      if (b.dtype === "any") {
        if (anyType !== null && t !== anyType) {
          throw new TypeError(`${kernel}: operands of different dtypes (${anyType}, ${t})`);
        }
        anyType = t;
      } else if (t !== b.dtype) {
        throw new TypeError(`${kernel}: ${name} must be an ${b.dtype} buffer: got ${t}`);
      }
    }
    if (empty) continue;
    const need = b.len(a);
    if (buf.length < need) {
      throw new RangeError(
        `${kernel}: ${name} has ${buf.length} elements, needs ${need}: ${sizesText(d, a)}`,
      );
    }
  }
}

/**
 * `be` with every kernel of the table checked before it runs (checkKernelCall); buffer management,
 * `name`, `info` and any extra members pass through unchanged.
 */
export function withKernelChecks<B extends Backend>(be: B): B {
  const wrapped: Record<string, unknown> = {};
  for (const k of KERNEL_NAMES) {
    const inner = (be[k] as (...args: unknown[]) => unknown).bind(be);
    wrapped[k] = (...args: unknown[]) => {
      checkKernelCall(k, args);
      return inner(...args);
    };
  }
  return Object.assign(Object.create(Object.getPrototypeOf(be)), be, wrapped) as B;
}
