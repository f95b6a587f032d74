/**
 * `cpu` backend: the C kernels of `engine/native/` over Deno FFI, GEMM through OpenBLAS
 * (`cblas_sgemm`) when it is installed, else through our own blocked C GEMM.
 *
 * Buffers are Float32Array ("f32") and Int32Array ("i32"); a view is a `subarray`, which FFI passes
 * at its byte offset, so q/k/v may be views into one fused qkv buffer. Sizes, dtypes and buffer
 * lengths are checked by the kernel table (engine/kernels.ts `withKernelChecks`) before a kernel
 * runs; this file marshals, and the kernels that take indices check them in C and report the
 * first bad one.
 *
 * Options: `threads` (default `TRM_THREADS`, else `navigator.hardwareConcurrency`) and `blas`:
 * "auto" (the faster of our GEMM and OpenBLAS as measured once on this machine and setting,
 * gemm_choice.ts; ours when OpenBLAS does not load), "openblas" (required), "own"; `TRM_BLAS`
 * sets it from the environment. `TRM_OPENBLAS` names the OpenBLAS library to load.
 *
 * @example
 * ```ts
 * import { createCpuBackend } from "./cpu.ts";
 * const be = createCpuBackend({ threads: 2 });
 * const x = be.alloc("f32", 4), out = be.alloc("f32", 1);
 * be.upload(x, [1, 2, 3, 4]);
 * be.sum(4, x, out);
 * console.log(be.download(out)[0]); // 10
 * ```
 */
import type { Backend, Buf, DType, HostArray, SsdDims, UnaryOp } from "../backend.ts";
import { NativeUnavailableError } from "../errors.ts";
import { ensureNativeLibrary, NATIVE_CFLAGS, nativeSourceHash } from "../native/build.ts";
import { BLAS_SYMBOLS, I64, SYMBOLS } from "./cpu_symbols.ts";
import { gatedGroups, ssdSizes } from "./checks.ts";
import { cachedChoice, choiceKey, measure, SHAPES } from "./gemm_choice.ts";
import { dirname } from "node:path";
import { readIntSwitch, readSwitch } from "../switches.ts";
import { withKernelChecks } from "../kernels.ts";

/** Times our GEMM and OpenBLAS on the choice's shapes through two explicit backends. */
function measureGemms(threads: number) {
  const impls = [
    createCpuBackend({ threads, blas: "own" }),
    createCpuBackend({ threads, blas: "openblas" }),
  ];
  const bufs = SHAPES.map(([m, n, k]) => ({
    a: new Float32Array(m * k).map((_, i) => ((i * 7) % 13) / 13 - 0.5),
    b: new Float32Array(k * n).map((_, i) => ((i * 5) % 11) / 11 - 0.5),
    c: new Float32Array(m * n),
  }));
  return measure((impl, s) => {
    const [m, n, k, ta, tb] = SHAPES[s], { a, b, c } = bufs[s];
    impls[impl].gemm(ta, tb, m, n, k, 1, a, ta ? m : k, b, tb ? k : n, 0, c, n, 1, 0, 0, 0);
  });
}

/** Options of `createCpuBackend`. */
export interface CpuOptions {
  /** Threads for our kernels and OpenBLAS. */
  threads?: number;
  /** GEMM: "auto" (the faster, measured once per machine), OpenBLAS or fail, or ours. */
  blas?: "auto" | "openblas" | "own";
}

type BlasLib = Deno.DynamicLibrary<typeof BLAS_SYMBOLS>;
type Symbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
/** A native function whose int64 parameters also take numbers (converted to BigInt per call). */
type Loose<F> = F extends (...args: infer A) => infer R
  ? (...args: { [K in keyof A]: A[K] extends bigint ? number : A[K] }) => R
  : never;
type NativeLib = { [K in keyof Symbols]: Loose<Symbols[K]> };

/** Wraps every symbol so that its "i64" arguments may be given as (safe-integer) numbers. */
function loosen(symbols: Symbols): NativeLib {
  const out: Record<string, unknown> = {};
  for (const [name, def] of Object.entries(SYMBOLS)) {
    const fn = symbols[name as keyof Symbols] as (...a: unknown[]) => unknown;
    const wide = (def.parameters as readonly string[]).flatMap((p, j) => p === I64 ? [j] : []);
    out[name] = (...args: unknown[]) => {
      for (const j of wide) args[j] = BigInt(args[j] as number);
      return fn(...args);
    };
  }
  return out as NativeLib;
}

// One load per process; the thread settings are process-global in both libraries, so each call
// re-applies its backend's count when another backend changed it.
let native: { path: string; hash: string; lib: NativeLib } | null = null;
const blasCache = new Map<string, BlasLib>();
let nativeThreads = -1;
let blasThreads = -1;

/**
 * Thread-pool spin defaults, applied before the libraries load (both read them once, at load):
 * our OpenMP kernels and OpenBLAS have separate thread pools, and by default each pool's idle
 * threads busy-wait (libgomp ~0.3 ms, OpenBLAS ~2^28 cycles) on the cores the other pool needs
 * next. Measured on 2 cores, a 512³ OpenBLAS GEMM alternating with a 1024 × 512 RMSNorm took
 * 3.4× the sum of the two alone; with these spin limits, 1.07×. Settings already in the
 * environment are left alone.
 */
const SPIN_DEFAULTS: Record<string, string> = {
  GOMP_SPINCOUNT: "1000",
  OPENBLAS_THREAD_TIMEOUT: "4",
};

function applySpinDefault(name: string): string {
  const set = Deno.env.get(name);
  if (set !== undefined) return set;
  if (name === "GOMP_SPINCOUNT" && Deno.env.get("OMP_WAIT_POLICY") !== undefined) return "(policy)";
  Deno.env.set(name, SPIN_DEFAULTS[name]);
  return SPIN_DEFAULTS[name];
}

function loadNative(): { path: string; hash: string; lib: NativeLib } {
  if (native) return native;
  const path = ensureNativeLibrary();
  applySpinDefault("GOMP_SPINCOUNT");
  let lib: NativeLib;
  try {
    lib = loosen(Deno.dlopen(path, SYMBOLS).symbols);
  } catch (e) {
    throw new NativeUnavailableError(
      `dlopen ${path} failed: ${(e as Error).message}`,
      "rebuild with `deno task build:native`, and run with --allow-ffi",
    );
  }
  native = { path, hash: nativeSourceHash().slice(0, 16), lib };
  return native;
}

/** Loads OpenBLAS: $TRM_OPENBLAS, else libopenblas.so.0, libopenblas.so; null with the errors. */
function loadBlas(): { path: string; lib: BlasLib } | { errors: string[] } {
  const env = readSwitch("TRM_OPENBLAS");
  const names = env ? [env] : ["libopenblas.so.0", "libopenblas.so"];
  const errors: string[] = [];
  for (const name of names) {
    const hit = blasCache.get(name);
    if (hit) return { path: name, lib: hit };
    applySpinDefault("OPENBLAS_THREAD_TIMEOUT");
    try {
      const lib = Deno.dlopen(name, BLAS_SYMBOLS);
      blasCache.set(name, lib);
      return { path: name, lib };
    } catch (e) {
      errors.push(`${name}: ${(e as Error).message}`);
    }
  }
  return { errors };
}

function defaultThreads(): number {
  return readIntSwitch("TRM_THREADS") ?? (navigator.hardwareConcurrency || 1);
}

const UNARY: Record<UnaryOp, number> = { silu: 0, softplus: 1, exp: 2, sigmoid: 3 };
const I32_MAX = 2147483647;

/** Creates the native CPU backend; throws `NativeUnavailableError` when the library is missing. */
export function createCpuBackend(opts: CpuOptions = {}): Backend {
  const threads = opts.threads ?? defaultThreads();
  if (!Number.isInteger(threads) || threads < 1) {
    throw new RangeError(`createCpuBackend: threads must be a positive integer: ${threads}`);
  }
  const blasMode = opts.blas ?? (readSwitch("TRM_BLAS") as CpuOptions["blas"]) ?? "auto";
  if (!["auto", "openblas", "own"].includes(blasMode)) {
    throw new RangeError(`createCpuBackend: blas must be auto, openblas or own: ${blasMode}`);
  }
  const { path, hash, lib } = loadNative();
  const L = lib;
  let blas: BlasLib | null = null;
  let blasPath = "own";
  // "auto": measured (gemm_choice.ts): our GEMM against OpenBLAS as this process would run it,
  // once per machine and setting, cached beside the library. Without OpenBLAS: ours.
  let mode: "openblas" | "own" = blasMode === "auto" ? "own" : blasMode;
  let choice: ReturnType<typeof cachedChoice> | null = null;
  if (blasMode === "auto") {
    const r = loadBlas();
    if ("lib" in r) {
      const key = choiceKey({
        library: hash,
        openblas: r.path,
        threads,
        OPENBLAS_CORETYPE: Deno.env.get("OPENBLAS_CORETYPE") ?? "",
        OPENBLAS_L2_SIZE: Deno.env.get("OPENBLAS_L2_SIZE") ?? "",
      });
      choice = cachedChoice(dirname(path), key, () => measureGemms(threads));
      mode = choice.use;
    }
  }
  if (mode === "openblas") {
    const r = loadBlas();
    if ("lib" in r) {
      blas = r.lib;
      blasPath = r.path;
    } else {
      throw new NativeUnavailableError(
        `OpenBLAS not loadable: ${r.errors.join("; ")}`,
        'apt-get install libopenblas0-pthread, set TRM_OPENBLAS to its path, or use blas: "own"',
      );
    }
  }

  /** Applies this backend's thread count to the native library (cheap when unchanged). */
  const nat = () => {
    if (nativeThreads !== threads) {
      L.trm_set_num_threads(threads);
      nativeThreads = threads;
    }
    return L;
  };

  const f = (b: Buf, kernel: string, name: string): Float32Array => {
    if (!(b instanceof Float32Array)) {
      throw new TypeError(`${kernel}: ${name} must be an f32 buffer of the cpu backend`);
    }
    return b;
  };
  const i = (b: Buf, kernel: string, name: string): Int32Array => {
    if (!(b instanceof Int32Array)) {
      throw new TypeError(`${kernel}: ${name} must be an i32 buffer of the cpu backend`);
    }
    return b;
  };
  // Sizes and lengths are checked by the kernel table (engine/kernels.ts) before a kernel runs:
  // the helpers below only type the buffers for FFI.
  /** The f32 buffers typed (`n` only documents the call). */
  const flat = (kernel: string, _n: number, bufs: Record<string, Buf>): Float32Array[] =>
    Object.entries(bufs).map(([name, b]) => f(b, kernel, name));
  /** The f32 buffers typed (the sizes only document the call). */
  const grid = (
    kernel: string,
    _rows: number,
    _cols: number,
    bufs: [string, Buf, number][],
  ): Float32Array[] => bufs.map(([name, b]) => f(b, kernel, name));
  const badIndex = (r: number | bigint) => Number(r);

  const be: Backend = {
    name: "cpu",
    info: {
      backend: "cpu",
      library: path,
      sourceHash: hash,
      blas: blasPath,
      ...(choice
        ? {
          blasChoice: `auto, measured ${choice.measuredAt}: own ${
            choice.ownGflops.toFixed(0)
          } GFLOP/s, OpenBLAS ${choice.openblasGflops.toFixed(0)} GFLOP/s (${choice.path})`,
        }
        : { blasChoice: blasMode === "auto" ? "auto: OpenBLAS not loadable" : blasMode }),
      threads,
      cflags: NATIVE_CFLAGS.join(" "),
      gompSpincount: Deno.env.get("GOMP_SPINCOUNT") ?? "default",
      ...(blas
        ? { openblasThreadTimeout: Deno.env.get("OPENBLAS_THREAD_TIMEOUT") ?? "default" }
        : {}),
    },

    alloc(dtype: DType, n: number): Buf {
      if (!Number.isInteger(n) || n < 0) throw new RangeError(`alloc: bad length: ${n}`);
      if (dtype === "f32") return new Float32Array(n);
      if (dtype === "i32") return new Int32Array(n);
      throw new TypeError(`alloc: unknown dtype: ${dtype}`);
    },
    free(_buf: Buf) {},
    view(buf: Buf, offset: number, n: number): Buf {
      if (!Number.isInteger(offset) || !Number.isInteger(n) || offset < 0 || n < 0) {
        throw new RangeError(`view: bad offset or length: offset=${offset}, n=${n}`);
      }
      if (offset + n > buf.length) {
        throw new RangeError(`view: [${offset}, ${offset + n}) outside buffer of ${buf.length}`);
      }
      return (buf as Float32Array | Int32Array).subarray(offset, offset + n);
    },
    upload(dst: Buf, src: ArrayLike<number>) {
      if (src.length !== dst.length) {
        throw new RangeError(`upload: length ${src.length} into buffer of ${dst.length}`);
      }
      (dst as Float32Array | Int32Array).set(src);
    },
    download(src: Buf): HostArray {
      return (src as Float32Array | Int32Array).slice();
    },
    copy(n: number, src: Buf, dst: Buf) {
      const s = src as Float32Array | Int32Array, d = dst as Float32Array | Int32Array;
      if (s.constructor !== d.constructor) throw new TypeError("copy: src and dst dtypes differ");
      d.set(s.subarray(0, n) as Float32Array & Int32Array);
    },
    copy2d(rows: number, cols: number, src: Buf, lds: number, dst: Buf, ldd: number) {
      const K = "copy2d";
      const s = src as Float32Array | Int32Array, d = dst as Float32Array | Int32Array;
      if (s.constructor !== d.constructor) throw new TypeError(`${K}: src and dst dtypes differ`);
      if (rows === 0 || cols === 0) return;
      // i32 and f32 are both 4-byte elements: the C copy moves bits
      const bytes = (a: Float32Array | Int32Array) =>
        a instanceof Float32Array ? a : new Float32Array(a.buffer, a.byteOffset, a.length);
      nat().trm_copy2d(rows, cols, bytes(s), lds, bytes(d), ldd);
    },
    fill(n: number, value: number, dst: Buf) {
      (dst as Float32Array | Int32Array).fill(value, 0, n);
    },
    sync() {},

    gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, batch, sa, sb, sc) {
      const K = "gemm";
      const A = f(a, K, "a"), B = f(b, K, "b"), C = f(c, K, "c");
      if (m === 0 || n === 0 || batch === 0) return;
      const fits = Math.max(m, n, k, lda, ldb, ldc) <= I32_MAX;
      if (blas && k > 0 && fits) {
        if (blasThreads !== threads) {
          blas.symbols.openblas_set_num_threads(threads);
          blasThreads = threads;
        }
        const sg = blas.symbols.cblas_sgemm, tA = ta ? 112 : 111, tB = tb ? 112 : 111;
        for (let bi = 0; bi < batch; bi++) {
          sg(
            101,
            tA,
            tB,
            m,
            n,
            k,
            alpha,
            bi === 0 || sa === 0 ? A : A.subarray(bi * sa),
            lda,
            bi === 0 || sb === 0 ? B : B.subarray(bi * sb),
            ldb,
            beta,
            bi === 0 || sc === 0 ? C : C.subarray(bi * sc),
            ldc,
          );
        }
        return;
      }
      nat().trm_gemm(
        ta ? 1 : 0,
        tb ? 1 : 0,
        m,
        n,
        k,
        alpha,
        A,
        lda,
        B,
        ldb,
        beta,
        C,
        ldc,
        batch,
        sa,
        sb,
        sc,
      );
    },

    axpby(n, alpha, x, beta, y, out) {
      const [X, Y, O] = flat("axpby", n, { x, y, out });
      nat().trm_axpby(n, alpha, X, beta, Y, O);
    },
    mul(n, x, y, out) {
      const [X, Y, O] = flat("mul", n, { x, y, out });
      nat().trm_mul(n, X, Y, O);
    },
    addRowVector(rows, cols, x, bias, out) {
      const [X, Bv, O] = grid("addRowVector", rows, cols, [
        ["x", x, rows * cols],
        ["bias", bias, cols],
        ["out", out, rows * cols],
      ]);
      nat().trm_add_row_vector(rows, cols, X, Bv, O);
    },
    sumRows(rows, cols, x, out) {
      const [X, O] = grid("sumRows", rows, cols, [["x", x, rows * cols], ["out", out, cols]]);
      nat().trm_sum_rows(rows, cols, X, O);
    },
    unary(op, n, x, out) {
      const code = UNARY[op];
      if (code === undefined) throw new TypeError(`unary: unknown op: ${op}`);
      const [X, O] = flat("unary", n, { x, out });
      nat().trm_unary(code, n, X, O);
    },
    unaryBackward(op, n, x, dy, dx) {
      const code = UNARY[op];
      if (code === undefined) throw new TypeError(`unaryBackward: unknown op: ${op}`);
      const [X, DY, DX] = flat("unaryBackward", n, { x, dy, dx });
      nat().trm_unary_backward(code, n, X, DY, DX);
    },
    swiglu(rows, inter, gu, out) {
      const [G, O] = grid("swiglu", rows, inter, [
        ["gu", gu, rows * 2 * inter],
        ["out", out, rows * inter],
      ]);
      nat().trm_swiglu(rows, inter, G, O);
    },
    swigluBackward(rows, inter, gu, dy, dgu, out) {
      const [G, DY, DG] = grid("swigluBackward", rows, inter, [
        ["gu", gu, rows * 2 * inter],
        ["dy", dy, rows * inter],
        ["dgu", dgu, rows * 2 * inter],
      ]);
      const O = out ? f(out, "swigluBackward", "out") : null;
      nat().trm_swiglu_backward(rows, inter, G, DY, DG, O);
    },
    transpose(batch, rows, cols, x, out) {
      const n = batch * rows * cols;
      const [X, O] = grid("transpose", rows, cols, [["x", x, n], ["out", out, n]]);
      nat().trm_transpose(batch, rows, cols, X, O);
    },

    rmsnorm(rows, cols, x, weight, eps, out, rstd) {
      const K = "rmsnorm";
      const [X, O, R] = grid(K, rows, cols, [
        ["x", x, rows * cols],
        ["out", out, rows * cols],
        ["rstd", rstd, rows],
      ]);
      const W = weight ? f(weight, K, "weight") : null;
      nat().trm_rmsnorm(rows, cols, X, W, eps, O, R);
    },
    rmsnormBackward(rows, cols, x, weight, rstd, dy, dx, dweight) {
      const K = "rmsnormBackward";
      const [X, R, DY, DX] = grid(K, rows, cols, [
        ["x", x, rows * cols],
        ["rstd", rstd, rows],
        ["dy", dy, rows * cols],
        ["dx", dx, rows * cols],
      ]);
      if (!weight !== !dweight) {
        throw new TypeError(`${K}: dweight must be given iff weight is`);
      }
      const W = weight ? f(weight, K, "weight") : null;
      const DW = dweight ? f(dweight, K, "dweight") : null;
      nat().trm_rmsnorm_backward(rows, cols, X, W, R, DY, DX, DW);
    },
    addRmsnorm(rows, cols, x, y, eps, out, rstd) {
      const n = rows * cols;
      const [X, Y, O, R] = grid("addRmsnorm", rows, cols, [
        ["x", x, n],
        ["y", y, n],
        ["out", out, n],
        ["rstd", rstd, rows],
      ]);
      nat().trm_add_rmsnorm(rows, cols, X, Y, eps, O, R);
    },
    addRmsnormBackward(rows, cols, out, rstd, dy, ds) {
      const n = rows * cols;
      const [O, R, DY, DS] = grid("addRmsnormBackward", rows, cols, [
        ["out", out, n],
        ["rstd", rstd, rows],
        ["dy", dy, n],
        ["ds", ds, n],
      ]);
      nat().trm_add_rmsnorm_backward(rows, cols, O, R, DY, DS);
    },
    gatedRmsnorm(rows, cols, group, y, z, weight, eps, out, rstd) {
      const K = "gatedRmsnorm", n = rows * cols, g = gatedGroups(K, cols, group);
      const [Y, Z, O, R] = grid(K, rows, cols, [
        ["y", y, n],
        ["z", z, n],
        ["out", out, n],
        ["rstd", rstd, rows * g],
      ]);
      const W = f(weight, K, "weight");
      nat().trm_gated_rmsnorm(rows, cols, group, Y, Z, W, eps, O, R);
    },
    gatedRmsnormBackward(rows, cols, group, y, z, weight, rstd, dout, dy, dz, dweight) {
      const K = "gatedRmsnormBackward", n = rows * cols, g = gatedGroups(K, cols, group);
      const [Y, Z, R, DO, DY, DZ] = grid(K, rows, cols, [
        ["y", y, n],
        ["z", z, n],
        ["rstd", rstd, rows * g],
        ["dout", dout, n],
        ["dy", dy, n],
        ["dz", dz, n],
      ]);
      const W = f(weight, K, "weight"), DW = f(dweight, K, "dweight");
      nat().trm_gated_rmsnorm_backward(rows, cols, group, Y, Z, W, R, DO, DY, DZ, DW);
    },
    softmax(rows, cols, x, out) {
      const [X, O] = grid("softmax", rows, cols, [["x", x, rows * cols], [
        "out",
        out,
        rows * cols,
      ]]);
      nat().trm_softmax(rows, cols, X, O);
    },
    softmaxBackward(rows, cols, y, dy, dx) {
      const [Y, DY, DX] = grid("softmaxBackward", rows, cols, [
        ["y", y, rows * cols],
        ["dy", dy, rows * cols],
        ["dx", dx, rows * cols],
      ]);
      nat().trm_softmax_backward(rows, cols, Y, DY, DX);
    },

    embedding(n, dim, ids, table, out) {
      const K = "embedding";
      const [T, O] = grid(K, n, dim, [["table", table, dim], ["out", out, n * dim]]);
      const ID = i(ids, K, "ids");
      const rows = dim > 0 ? Math.floor(T.length / dim) : 0;
      const bad = badIndex(nat().trm_embedding(n, dim, ID, T, rows, O));
      if (bad >= 0) {
        throw new RangeError(`${K}: id ${ID[bad]} at ${bad} outside table of ${rows} rows`);
      }
    },
    embeddingBackward(n, dim, ids, dy, dtable) {
      const K = "embeddingBackward";
      const [DY, DT] = grid(K, n, dim, [["dy", dy, n * dim], ["dtable", dtable, dim]]);
      const ID = i(ids, K, "ids");
      const rows = dim > 0 ? Math.floor(DT.length / dim) : 0;
      const bad = badIndex(nat().trm_embedding_backward(n, dim, ID, DY, DT, rows));
      if (bad >= 0) {
        throw new RangeError(`${K}: id ${ID[bad]} at ${bad} outside table of ${rows} rows`);
      }
    },
    rope(batch, seq, heads, headDim, x, ldx, cos, sin, inverse, out, ldo) {
      const K = "rope";
      const X = f(x, K, "x"), C = f(cos, K, "cos"), S = f(sin, K, "sin"), O = f(out, K, "out");
      const hd = heads * headDim, tokens = batch * seq;
      if (tokens === 0 || hd === 0) return;
      nat().trm_rope(batch, seq, heads, headDim, X, ldx, C, S, inverse ? 1 : 0, O, ldo);
    },

    attention(batch, seq, heads, headDim, scale, q, k, v, ld, out, lse) {
      const K = "attention";
      const [Q, Kb, V, O, LS] = attnArgs(K, batch, seq, heads, headDim, ld, { q, k, v }, {
        out,
      }, lse);
      if (Q) nat().trm_attention(batch, seq, heads, headDim, scale, Q, Kb, V, ld, O, LS);
    },
    attentionBackward(batch, seq, heads, headDim, scale, q, k, v, ld, out, lse, dout, dq, dk, dv) {
      const K = "attentionBackward";
      const [Q, Kb, V, DQ, DK, DV, O, DO, LS] = attnArgs(
        K,
        batch,
        seq,
        heads,
        headDim,
        ld,
        { q, k, v, dq, dk, dv },
        { out, dout },
        lse,
      );
      if (Q) {
        nat().trm_attention_backward(
          batch,
          seq,
          heads,
          headDim,
          scale,
          Q,
          Kb,
          V,
          ld,
          O,
          LS,
          DO,
          DQ,
          DK,
          DV,
        );
      }
    },

    stablemaxXent(batch, seq, vocab, logits, labels, ignore, loss) {
      const K = "stablemaxXent";
      const X = f(logits, K, "logits"), LB = i(labels, K, "labels"), O = f(loss, K, "loss");
      const bad = badIndex(nat().trm_stablemax_xent(batch, seq, vocab, X, LB, ignore, O));
      if (bad >= 0) {
        throw new RangeError(`${K}: label ${LB[bad]} at row ${bad} outside vocab ${vocab}`);
      }
    },
    stablemaxXentBackward(batch, seq, vocab, logits, labels, ignore, dloss, dlogits) {
      const K = "stablemaxXentBackward";
      const X = f(logits, K, "logits"), LB = i(labels, K, "labels");
      const DL = f(dloss, K, "dloss"), DX = f(dlogits, K, "dlogits");
      const bad = badIndex(
        nat().trm_stablemax_xent_backward(batch, seq, vocab, X, LB, ignore, DL, DX),
      );
      if (bad >= 0) {
        throw new RangeError(`${K}: label ${LB[bad]} at row ${bad} outside vocab ${vocab}`);
      }
    },
    bceWithLogits(n, x, target, out) {
      const [X, T, O] = flat("bceWithLogits", n, { x, target, out });
      nat().trm_bce_with_logits(n, X, T, O);
    },
    bceWithLogitsBackward(n, x, target, dy, dx) {
      const [X, T, DY, DX] = flat("bceWithLogitsBackward", n, { x, target, dy, dx });
      nat().trm_bce_with_logits_backward(n, X, T, DY, DX);
    },
    sum(n, x, out) {
      const [X] = flat("sum", n, { x });
      const O = f(out, "sum", "out");
      nat().trm_sum(n, X, O);
    },
    argmax(rows, cols, x, out) {
      const K = "argmax";
      const [X] = grid(K, rows, cols, [["x", x, rows * cols]]);
      const O = i(out, K, "out");
      if (cols === 0 && rows > 0) throw new RangeError(`${K}: cols must be positive: ${cols}`);
      nat().trm_argmax(rows, cols, X, O);
    },

    adamAtan2(n, p, g, m, v, lr, wd, beta1, beta2, bc1, bc2) {
      const [P, G, M, V] = flat("adamAtan2", n, { p, g, m, v });
      nat().trm_adam_atan2(n, P, G, M, V, lr, wd, beta1, beta2, bc1, bc2);
    },
    signSgdRows(n, dim, ids, grads, table, lr, wd) {
      const K = "signSgdRows";
      const [G, T] = grid(K, n, dim, [["grads", grads, n * dim], ["table", table, dim]]);
      const ID = i(ids, K, "ids");
      const rows = dim > 0 ? Math.floor(T.length / dim) : 0;
      const bad = badIndex(nat().trm_sign_sgd_rows(n, dim, ID, G, T, rows, lr, wd));
      if (bad >= 0) {
        throw new RangeError(`${K}: id ${ID[bad]} at ${bad} outside table of ${rows} rows`);
      }
    },
    ema(n, shadow, p, decay) {
      const [S, P] = flat("ema", n, { shadow, p });
      nat().trm_ema(n, S, P, decay);
    },

    conv1dCausal(batch, seq, ch, k, x, w, bias, out) {
      const K = "conv1dCausal";
      const n = batch * seq * ch, sizes = `batch=${batch}, seq=${seq}, ch=${ch}, k=${k}`;
      const [X, W, Bv, O] = sized(K, sizes, [
        ["x", x, n],
        ["w", w, ch * k],
        ["bias", bias, ch],
        ["out", out, n],
      ]);
      if (n > 0) nat().trm_conv1d_causal(batch, seq, ch, k, X, W, Bv, O);
    },
    conv1dCausalBackward(batch, seq, ch, k, x, w, dy, dx, dw, dbias) {
      const K = "conv1dCausalBackward";
      const n = batch * seq * ch, sizes = `batch=${batch}, seq=${seq}, ch=${ch}, k=${k}`;
      const [X, W, DY, DX, DW, DB] = sized(K, sizes, [
        ["x", x, n],
        ["w", w, ch * k],
        ["dy", dy, n],
        ["dx", dx, n],
        ["dw", dw, ch * k],
        ["dbias", dbias, ch],
      ]);
      if (ch === 0) return;
      if (n === 0) {
        DW.fill(0, 0, ch * k);
        DB.fill(0, 0, ch);
        return;
      }
      nat().trm_conv1d_causal_backward(batch, seq, ch, k, X, W, DY, DX, DW, DB);
    },
    ssdScan(dims, x, dt, A, Bm, Cm, D, init, y, finalState) {
      const K = "ssdScan";
      const { z, state, args } = ssdInputs(K, dims, x, dt, A, Bm, Cm, D);
      const [Y] = sized(K, z.sizes, [["y", y, z.x]]);
      nat().trm_ssd_scan(...args, state("init", init), Y, state("finalState", finalState));
    },
    ssdScanBackward(dims, x, dt, A, Bm, Cm, D, init, dy, dFinal, dx, ddt, dA, dBm, dCm, dD, dInit) {
      const K = "ssdScanBackward";
      const { z, state, args } = ssdInputs(K, dims, x, dt, A, Bm, Cm, D);
      const [DY, DX, DDT, DA, DBB, DCC, DDD] = sized(K, z.sizes, [
        ["dy", dy, z.x],
        ["dx", dx, z.x],
        ["ddt", ddt, z.dt],
        ["dA", dA, dims.heads],
        ["dBm", dBm, z.bc],
        ["dCm", dCm, z.bc],
        ["dD", dD, dims.heads],
      ]);
      const I = state("init", init), DF = state("dFinal", dFinal), DI = state("dInit", dInit);
      nat().trm_ssd_scan_backward(...args, I, DY, DF, DX, DDT, DA, DBB, DCC, DDD, DI);
    },
  };

  /** The f32 buffers typed (lengths: the kernel table). */
  function sized(kernel: string, _sizes: string, bufs: [string, Buf, number][]): Float32Array[] {
    return bufs.map(([name, b]) => f(b, kernel, name));
  }

  /**
   * Validates SSD dims and the inputs the scan and its backward share. Returns the sizes, a checker
   * of optional [batch, heads, headDim, dState] state buffers (null stays null), and the leading
   * native arguments: the seven dims, then x, dt, A, Bm, Cm, D.
   */
  function ssdInputs(K: string, dims: SsdDims, x: Buf, dt: Buf, A: Buf, Bm: Buf, Cm: Buf, D: Buf) {
    const z = ssdSizes(K, dims);
    const { batch, seq, heads, headDim, groups, dState, chunk } = dims;
    const [X, DT, AA, BB, CC, DD] = sized(K, z.sizes, [
      ["x", x, z.x],
      ["dt", dt, z.dt],
      ["A", A, heads],
      ["Bm", Bm, z.bc],
      ["Cm", Cm, z.bc],
      ["D", D, heads],
    ]);
    const state = (name: string, b: Buf | null) =>
      b ? sized(K, z.sizes, [[name, b, z.state]])[0] : null;
    const args = [
      batch,
      seq,
      heads,
      headDim,
      groups,
      dState,
      chunk,
      X,
      DT,
      AA,
      BB,
      CC,
      DD,
    ] as const;
    return { z, state, args };
  }

  /**
   * Types attention buffers: `strided` ones are [batch, seq, heads, headDim] with token stride
   * `ld`, `dense` ones [batch, seq, heads·headDim]; lse is [batch, heads, seq]. Returns them typed
   * (strided, dense, lse), or all null when there is nothing to compute.
   */
  function attnArgs(
    K: string,
    batch: number,
    seq: number,
    heads: number,
    headDim: number,
    _ld: number,
    strided: Record<string, Buf>,
    dense: Record<string, Buf>,
    lse: Buf,
  ): Float32Array[] {
    const hd = heads * headDim, tokens = batch * seq;
    const typed: Float32Array[] = [];
    for (const [name, b] of Object.entries({ ...strided, ...dense })) typed.push(f(b, K, name));
    const LS = f(lse, K, "lse");
    typed.push(LS);
    if (tokens === 0 || hd === 0) return typed.map(() => null as unknown as Float32Array);
    return typed;
  }

  // Sizes, dtypes and constraints of every kernel: the kernel table (engine/kernels.ts).
  return withKernelChecks(be);
}
