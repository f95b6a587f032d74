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
 * This module loads the libraries, wires the GEMM choice, holds the buffer methods and assembles
 * the backend; the kernels live in one module per family of the kernel table (engine/kernels.ts
 * `KERNEL_FAMILIES`): buffers.ts, gemm.ts, elementwise.ts, norm.ts, embedding.ts, attention.ts,
 * loss.ts, optim.ts, ssm.ts, each taking the context of context.ts.
 *
 * @example
 * ```ts
 * import { createCpuBackend } from "./mod.ts";
 * const be = createCpuBackend({ threads: 2 });
 * const x = be.alloc("f32", 4), out = be.alloc("f32", 1);
 * be.upload(x, [1, 2, 3, 4]);
 * be.sum(4, x, out);
 * console.log(be.download(out)[0]); // 10
 * ```
 */
import type { Backend, Buf, DType, HostArray } from "../../backend.ts";
import { NativeUnavailableError } from "../../errors.ts";
import { ensureNativeLibrary, NATIVE_CFLAGS, nativeSourceHash } from "../../native/build.ts";
import { BLAS_SYMBOLS, I64, SYMBOLS } from "./symbols.ts";
import { cachedChoice, choiceKey, measure, SHAPES } from "./gemm_choice.ts";
import { dirname } from "node:path";
import { readIntSwitch, readSwitch } from "../../switches.ts";
import { withKernelChecks } from "../../kernels.ts";
import { type BlasLib, type CpuContext, type NativeLib, type Symbols, TYPING } from "./context.ts";
import { cpuAttention } from "./attention.ts";
import { cpuBuffers } from "./buffers.ts";
import { cpuElementwise } from "./elementwise.ts";
import { cpuEmbedding } from "./embedding.ts";
import { cpuGemm } from "./gemm.ts";
import { cpuLoss } from "./loss.ts";
import { cpuNorm } from "./norm.ts";
import { cpuOptim } from "./optim.ts";
import { cpuSsm } from "./ssm.ts";

export type { CpuContext } from "./context.ts";

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
// re-applies its backend's count when another backend changed it (OpenBLAS's: gemm.ts).
let native: { path: string; hash: string; lib: NativeLib } | null = null;
const blasCache = new Map<string, BlasLib>();
let nativeThreads = -1;

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

  const ctx: CpuContext = { nat, blas, threads, ...TYPING };

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
    sync() {},

    ...cpuBuffers(ctx),
    ...cpuGemm(ctx),
    ...cpuElementwise(ctx),
    ...cpuNorm(ctx),
    ...cpuEmbedding(ctx),
    ...cpuAttention(ctx),
    ...cpuLoss(ctx),
    ...cpuOptim(ctx),
    ...cpuSsm(ctx),
  };
  // Sizes, dtypes and constraints of every kernel: the kernel table (engine/kernels.ts).
  return withKernelChecks(be);
}
