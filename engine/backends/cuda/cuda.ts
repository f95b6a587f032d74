/**
 * `cuda` backend: the CUDA kernels of this folder (built by `build.ts` into a hash-named shared
 * library, loaded with Deno FFI) plus GEMM through cuBLAS (`cublas.ts`, located at run time) or,
 * when cuBLAS cannot be loaded, our own tiled f32 GEMM kernel.
 *
 * Buffers are device allocations (`cudaMalloc`), held as small handles {ptr, length, dtype}; a view
 * is the same memory at an offset. `free` is `cudaFree` (which synchronises): `getBackend("cuda")`
 * wraps the backend in the caching allocator of `../pool.ts`, which also empties itself and
 * retries once when an allocation fails with `OutOfMemoryError`. All kernels are queued on the
 * default stream (asynchronous); `download` and `sync` wait for them. Every CUDA call is checked in
 * C; a failure throws `KernelError` naming the CUDA call, the CUDA error string and the C call
 * site. Kernels that take indices (embedding, signSgdRows, stablemaxXent) report a bad index on
 * the device; it is raised as a RangeError at the next `sync` or `download` (the contract forbids
 * reading back in a kernel).
 *
 * Options: `device` (default `TRM_CUDA_DEVICE` or 0), `gemm`: "auto" (cuBLAS when it loads, else
 * ours), "cublas" (required), "own" (`TRM_CUDA_GEMM` sets it from the environment), and `math`:
 * the GEMM precision, "f32" (default), "tf32" or "bf16" (`TRM_CUDA_MATH`; see cublas.ts — storage
 * and accumulation stay f32; only the GEMMs change, every other kernel is f32). A non-f32 mode is
 * part of the backend's name ("cuda-bf16") and of `info.gemmMath` / `info.precision`.
 * `TRM_CUBLAS` names the cuBLAS library to load. Attention and the SSD scan run one kernel each:
 * attention.cu (`info.attention`) and ssd.cu (`info.ssd`), both validated on an H200. `lab`
 * (kernels.ts, made by dev/cuda/lab.ts) loads a kernel lab library instead and runs its named
 * variant in place of one of them — for the lab's tests and benchmarks on a GPU; the variant's
 * label becomes `info.attention` / `info.ssd`, and `info.lab` names the library.
 *
 * @example
 * ```ts
 * import { createCudaBackend } from "./cuda.ts";
 * const be = createCudaBackend(); // NativeUnavailableError without a CUDA driver
 * const x = be.alloc("f32", 4), out = be.alloc("f32", 1);
 * be.upload(x, [1, 2, 3, 4]);
 * be.sum(4, x, out);
 * console.log(be.download(out)[0]); // 10
 * ```
 */
import type { Backend, Buf, DType, HostArray, SsdDims, UnaryOp } from "../../backend.ts";
import { KernelError, NativeUnavailableError, OutOfMemoryError } from "../../errors.ts";
import { buildCuda } from "./build.ts";
import {
  type Cublas,
  CUBLAS_STATUS,
  GEMM_MATH_LABEL,
  GEMM_MATHS,
  type GemmMath,
  gemmMathFromEnv,
  openCublas,
} from "./cublas.ts";
import { gatedGroups, ssdSizes as ssdCounts } from "../checks.ts";
import { ATTENTION_LABEL, checkLab, type CudaLab, SSD_LABEL } from "./kernels.ts";
import { ATTN, ATTN_BACKWARD, SSD_SCAN, SSD_SCAN_BACKWARD, SYMBOLS } from "./symbols.ts";
import { readIntSwitch, readSwitch } from "../../switches.ts";
import { withKernelChecks } from "../../kernels.ts";

export { cublasCandidates, type GemmMath } from "./cublas.ts";
export type { CudaLab, CudaLabKernel } from "./kernels.ts";

/** NativeUnavailableError for this backend (its message names the cuda backend). */
export class CudaUnavailableError extends NativeUnavailableError {
  constructor(reason: string, fix: string) {
    super(reason, fix, "cuda backend");
    this.name = "CudaUnavailableError";
  }
}

/** Options of `createCudaBackend`. */
export interface CudaOptions {
  /** CUDA device ordinal. */
  device?: number;
  /** GEMM: cuBLAS when it loads else ours, cuBLAS or fail, or ours. */
  gemm?: "auto" | "cublas" | "own";
  /**
   * GEMM math (cublas.ts): f32 (default), tf32 or bf16 tensor-core inputs with f32 accumulation
   * and f32 storage. tf32/bf16 need cuBLAS (our own GEMM is f32 only).
   */
  math?: GemmMath;
  /**
   * A kernel lab library and the variants of it to run in place of the mainline attention and / or
   * SSD scan kernels (kernels.ts; dev/cuda/lab.ts makes these). Not for training runs: a variant
   * here has not been promoted (dev/cuda/README.md).
   */
  lab?: CudaLab;
}

type Lib = Deno.DynamicLibrary<typeof SYMBOLS>;
type Fn<K extends keyof typeof SYMBOLS> = Lib["symbols"][K];
/** The attention and SSD scan entry points a backend calls: the mainline's or a lab's variants. */
interface OpKernels {
  attention: Fn<"trm_cuda_attention">;
  attentionBackward: Fn<"trm_cuda_attention_backward">;
  ssdScan: Fn<"trm_cuda_ssd_scan">;
  ssdScanBackward: Fn<"trm_cuda_ssd_scan_backward">;
}
interface Loaded {
  path: string;
  hash: string;
  lib: Lib;
  ops: OpKernels;
}

/** A device buffer handle: base address, element count, dtype; `view` marks a non-owning view. */
class CudaBuf implements Buf {
  constructor(
    readonly ptr: bigint,
    readonly length: number,
    readonly dtype: DType,
    readonly owner: object,
    readonly isView: boolean,
  ) {}
  freed = false;
}

let loaded: Loaded | null = null;

const mainlineOps = (L: Lib["symbols"]): OpKernels => ({
  attention: L.trm_cuda_attention,
  attentionBackward: L.trm_cuda_attention_backward,
  ssdScan: L.trm_cuda_ssd_scan,
  ssdScanBackward: L.trm_cuda_ssd_scan_backward,
});

function loadLibrary(): Loaded {
  if (loaded) return loaded;
  let r;
  try {
    r = buildCuda();
  } catch (e) {
    if (e instanceof NativeUnavailableError) throw new CudaUnavailableError(e.reason, e.fix);
    throw e;
  }
  let lib: Lib;
  try {
    lib = Deno.dlopen(r.path, SYMBOLS);
  } catch (e) {
    throw new CudaUnavailableError(
      `dlopen ${r.path} failed: ${(e as Error).message}`,
      "rebuild with `deno task build:cuda`, and run with --allow-ffi",
    );
  }
  loaded = { path: r.path, hash: r.hash.slice(0, 16), lib, ops: mainlineOps(lib.symbols) };
  return loaded;
}

/** Lab libraries opened so far, by library path and variant names. */
const labLoaded = new Map<string, Loaded>();

/**
 * Opens a kernel lab library with the mainline symbols plus the named variants (bound to the
 * mainline kernels' signatures), which replace the mainline attention / SSD scan entry points.
 * A missing library is a CudaUnavailableError; a library without a named symbol a plain Error.
 */
function loadLab(lab: CudaLab): Loaded {
  const key = JSON.stringify([lab.library, lab.attention ?? null, lab.ssd ?? null]);
  const hit = labLoaded.get(key);
  if (hit) return hit;
  try {
    Deno.statSync(lab.library);
  } catch (e) {
    throw new CudaUnavailableError(
      `kernel lab library ${lab.library}: ${(e as Error).message}`,
      "build it with `deno run -A dev/cuda/lab.ts` (dev/cuda/lab.ts's labBackend does)",
    );
  }
  const a = lab.attention, d = lab.ssd;
  const symbols = {
    ...SYMBOLS,
    lab_attention: { ...ATTN, name: a?.forward ?? "trm_cuda_attention" },
    lab_attention_backward: {
      ...ATTN_BACKWARD,
      name: a?.backward ?? "trm_cuda_attention_backward",
    },
    lab_ssd_scan: { ...SSD_SCAN, name: d?.forward ?? "trm_cuda_ssd_scan" },
    lab_ssd_scan_backward: {
      ...SSD_SCAN_BACKWARD,
      name: d?.backward ?? "trm_cuda_ssd_scan_backward",
    },
  };
  let lib;
  try {
    lib = Deno.dlopen(lab.library, symbols);
  } catch (e) {
    throw new Error(
      `createCudaBackend: dlopen of the kernel lab library ${lab.library} with its variants ` +
        `(${[a?.forward, a?.backward, d?.forward, d?.backward].filter(Boolean).join(", ")}) ` +
        `failed: ${(e as Error).message}`,
    );
  }
  const L = lib.symbols;
  const ops: OpKernels = {
    attention: L.lab_attention,
    attentionBackward: L.lab_attention_backward,
    ssdScan: L.lab_ssd_scan,
    ssdScanBackward: L.lab_ssd_scan_backward,
  };
  const hash = /-([0-9a-f]{16})\.so$/.exec(lab.library)?.[1] ?? "unknown";
  const r: Loaded = { path: lab.library, hash, lib, ops };
  labLoaded.set(key, r);
  return r;
}

/** The last error text recorded by the library. */
function lastError(lib: Lib): string {
  const buf = new Uint8Array(1024);
  const n = lib.symbols.trm_cuda_last_error(buf, buf.length);
  return new TextDecoder().decode(buf.subarray(0, Math.max(0, Math.min(n, buf.length - 1))));
}

function noDriver(lib: Lib): string {
  return `no CUDA driver: cudaGetDeviceCount → ${
    lastError(lib).replace(/^cudaGetDeviceCount: /, "")
  }`;
}

/**
 * Whether the compiled library loads and a CUDA device is usable here: `{ ok: true }` or the
 * reason. Never throws for a missing driver or nvcc (the reason says which).
 */
export function cudaStatus(): { ok: true; devices: number } | { ok: false; reason: string } {
  try {
    const { lib } = loadLibrary();
    const n = lib.symbols.trm_cuda_device_count();
    if (n < 0) return { ok: false, reason: noDriver(lib) };
    if (n === 0) return { ok: false, reason: "no CUDA device" };
    return { ok: true, devices: n };
  } catch (e) {
    if (e instanceof NativeUnavailableError) return { ok: false, reason: e.message };
    throw e;
  }
}

/**
 * Free and total bytes of device memory (cudaMemGetInfo) on the device of the last created
 * backend; the library must be loaded (call after `createCudaBackend`).
 */
export function cudaMemInfo(): { free: number; total: number } {
  const { lib } = loadLibrary();
  const out = new BigUint64Array(2);
  if (lib.symbols.trm_cuda_mem_info(out) !== 0) {
    throw new KernelError("cuda memInfo (cudaMemGetInfo)", lastError(lib));
  }
  return { free: Number(out[0]), total: Number(out[1]) };
}

const UNARY: Record<UnaryOp, number> = { silu: 0, softplus: 1, exp: 2, sigmoid: 3 };
const BAD_KINDS = [
  "embedding",
  "embeddingBackward",
  "signSgdRows",
  "stablemaxXent",
  "stablemaxXentBackward",
];
const I32_MAX = 2147483647;

/**
 * Creates the CUDA backend. Throws `NativeUnavailableError` (a `CudaUnavailableError`) when nvcc,
 * the library, the driver or a device is missing — with the CUDA error string and a fix.
 */
export function createCudaBackend(opts: CudaOptions = {}): Backend {
  const device = opts.device ?? readIntSwitch("TRM_CUDA_DEVICE") ?? 0;
  if (!Number.isInteger(device) || device < 0) {
    throw new RangeError(`createCudaBackend: device must be a non-negative integer: ${device}`);
  }
  const gemmMode = opts.gemm ?? (readSwitch("TRM_CUDA_GEMM") as CudaOptions["gemm"]) ?? "auto";
  if (!["auto", "cublas", "own"].includes(gemmMode)) {
    throw new RangeError(`createCudaBackend: gemm must be auto, cublas or own: ${gemmMode}`);
  }
  const math = opts.math ?? gemmMathFromEnv();
  if (!GEMM_MATHS.includes(math)) {
    throw new RangeError(`createCudaBackend: math must be f32, tf32 or bf16: ${math}`);
  }
  const lab = opts.lab === undefined ? undefined : checkLab(opts.lab);
  const { path, hash, lib, ops } = lab ? loadLab(lab) : loadLibrary();
  const L = lib.symbols;
  const count = L.trm_cuda_device_count();
  if (count < 0) {
    throw new CudaUnavailableError(
      noDriver(lib),
      "run on a machine with an NVIDIA GPU and driver (nvidia-smi must work), or use the cpu backend",
    );
  }
  if (count === 0) {
    throw new CudaUnavailableError("no CUDA device", "run on a machine with an NVIDIA GPU");
  }
  if (device >= count) {
    throw new RangeError(`createCudaBackend: device ${device} of ${count}`);
  }
  const infoBuf = new Uint8Array(512);
  if (L.trm_cuda_init(device, infoBuf, infoBuf.length) !== 0) {
    throw new CudaUnavailableError(`device init failed: ${lastError(lib)}`, "check nvidia-smi");
  }
  const [devName, cc, totalMem, rtVer, drvVer] = new TextDecoder().decode(
    infoBuf.subarray(0, infoBuf.indexOf(0)),
  ).split("|");
  const owner = {};

  // ---------------------------------------------------------------- GEMM provider
  let cublas: Cublas | null = null;
  if (gemmMode !== "own") {
    const r = openCublas(math);
    if (r.ok) cublas = r.cublas;
    else if (gemmMode === "cublas" || math !== "f32") {
      throw new CudaUnavailableError(
        math === "f32" ? r.reason : `TRM_CUDA_MATH=${math} needs cuBLAS: ${r.reason}`,
        r.fix,
      );
    }
  } else if (math !== "f32") {
    throw new RangeError(`createCudaBackend: math ${math} needs cuBLAS (our own GEMM is f32 only)`);
  }

  // ---------------------------------------------------------------- checks
  const check = (rc: number, kernel: string) => {
    if (rc !== 0) throw new KernelError(`cuda ${kernel}`, lastError(lib));
  };
  /** Raises index errors the kernels reported since the last check (synchronises). */
  const checkBad = () => {
    const out = new BigInt64Array(BAD_KINDS.length);
    check(L.trm_cuda_take_bad(out), "take_bad");
    for (let k = 0; k < BAD_KINDS.length; k++) {
      if (out[k] >= 0n) {
        throw new RangeError(
          `${BAD_KINDS[k]}: index out of range at position ${out[k]} (reported by the device at ` +
            "sync/download; the kernel skipped it)",
        );
      }
    }
  };
  const cb = (b: Buf | null, kernel: string, name: string, dtype: DType = "f32"): CudaBuf => {
    if (!(b instanceof CudaBuf) || b.owner !== owner) {
      throw new TypeError(`${kernel}: ${name} must be a buffer of this cuda backend`);
    }
    if (b.dtype !== dtype) throw new TypeError(`${kernel}: ${name} must be ${dtype}: ${b.dtype}`);
    if (b.freed) throw new TypeError(`${kernel}: ${name} was freed`);
    return b;
  };
  const B = BigInt;
  // Sizes and lengths are checked by the kernel table (engine/kernels.ts) before a kernel runs;
  // these helpers check that a buffer is this backend's and live, and pass its device address.
  /** Device addresses of named f32 buffers (the lengths document the call). */
  const ptrs = (kernel: string, _sizes: string, bufs: [string, Buf, number][]): bigint[] =>
    bufs.map(([name, b]) => cb(b, kernel, name).ptr);
  const flat = (kernel: string, _n: number, bufs: Record<string, Buf>): bigint[] =>
    Object.entries(bufs).map(([name, b]) => cb(b, kernel, name).ptr);
  const opt = (b: Buf | null, kernel: string, name: string, _n: number, _sizes: string): bigint =>
    b ? cb(b, kernel, name).ptr : 0n;

  /** The shared SSD checks, plus the kernel's headDim limit; adds the dims as BigInt args. */
  function ssdSizes(kernel: string, dims: SsdDims) {
    const z = ssdCounts(kernel, dims);
    const { batch, seq, heads, headDim, groups, dState, chunk } = dims;
    if (headDim > 1024) throw new RangeError(`${kernel}: headDim above 1024: ${z.sizes}`);
    const dimArgs = [batch, seq, heads, headDim, groups, dState, chunk].map(B);
    return { ...z, dimArgs };
  }

  function attnPtrs(
    K: string,
    batch: number,
    seq: number,
    heads: number,
    headDim: number,
    ld: number,
    strided: Record<string, Buf>,
    dense: Record<string, Buf>,
    lse: Buf,
  ): bigint[] | null {
    const hd = heads * headDim, tokens = batch * seq;
    const sizes = `batch=${batch}, seq=${seq}, heads=${heads}, headDim=${headDim}, ld=${ld}`;
    if (headDim > maxHeadDim) {
      throw new RangeError(`${K}: headDim above ${maxHeadDim} (the kernel's limit): ${sizes}`);
    }
    if (batch * heads > 65535) throw new RangeError(`${K}: batch·heads above 65535: ${sizes}`);
    const out: bigint[] = [];
    for (const [name, b] of Object.entries({ ...strided, ...dense })) out.push(cb(b, K, name).ptr);
    out.push(cb(lse, K, "lse").ptr);
    return tokens === 0 || hd === 0 ? null : out;
  }

  const maxHeadDim = L.trm_cuda_attention_max_head_dim();

  const be: Backend = {
    // the GEMM math is part of the name (provenance: run records carry be.name)
    name: math === "f32" ? "cuda" : `cuda-${math}`,
    info: {
      backend: "cuda",
      device: `${device}: ${devName}`,
      computeCapability: cc,
      memoryBytes: Number(totalMem),
      cudaRuntime: Number(rtVer),
      cudaDriver: Number(drvVer),
      library: path,
      sourceHash: hash,
      gemm: cublas ? `cublas (${cublas.path})` : "own",
      gemmMath: math,
      precision: cublas ? GEMM_MATH_LABEL[math] : "f32 (own GEMM), f32 storage",
      ssd: lab?.ssd?.label ?? SSD_LABEL,
      attention: lab?.attention?.label ?? ATTENTION_LABEL,
      ...(lab ? { lab: lab.library } : {}),
    },

    alloc(dtype: DType, n: number, zero = true): Buf {
      if (!Number.isInteger(n) || n < 0) throw new RangeError(`alloc: bad length: ${n}`);
      if (dtype !== "f32" && dtype !== "i32") throw new TypeError(`alloc: unknown dtype: ${dtype}`);
      const out = new BigUint64Array(1);
      const rc = L.trm_cuda_alloc(B(n * 4), zero ? 1 : 0, out);
      if (rc === 2) throw new OutOfMemoryError("cuda alloc", lastError(lib), n * 4);
      check(rc, "alloc");
      return new CudaBuf(out[0], n, dtype, owner, false);
    },
    free(buf: Buf) {
      if (!(buf instanceof CudaBuf) || buf.owner !== owner || buf.isView) return;
      if (buf.freed) throw new Error("free: buffer released twice");
      buf.freed = true;
      check(L.trm_cuda_free(buf.ptr), "free");
    },
    view(buf: Buf, offset: number, n: number): Buf {
      const c = cb(buf, "view", "buf", (buf as CudaBuf).dtype);
      if (!Number.isInteger(offset) || !Number.isInteger(n) || offset < 0 || n < 0) {
        throw new RangeError(`view: bad offset or length: offset=${offset}, n=${n}`);
      }
      if (offset + n > c.length) {
        throw new RangeError(`view: [${offset}, ${offset + n}) outside buffer of ${c.length}`);
      }
      return new CudaBuf(c.ptr + B(offset * 4), n, c.dtype, owner, true);
    },
    upload(dst: Buf, src: ArrayLike<number>) {
      const c = cb(dst, "upload", "dst", (dst as CudaBuf).dtype);
      if (src.length !== c.length) {
        throw new RangeError(`upload: length ${src.length} into buffer of ${c.length}`);
      }
      const host = c.dtype === "f32"
        ? (src instanceof Float32Array ? src : Float32Array.from(src))
        : (src instanceof Int32Array ? src : Int32Array.from(src));
      if (host.length > 0) check(L.trm_cuda_upload(c.ptr, host, B(host.byteLength)), "upload");
    },
    download(src: Buf): HostArray {
      const c = cb(src, "download", "src", (src as CudaBuf).dtype);
      const out = c.dtype === "f32" ? new Float32Array(c.length) : new Int32Array(c.length);
      if (out.length > 0) check(L.trm_cuda_download(out, c.ptr, B(out.byteLength)), "download");
      checkBad();
      return out;
    },
    copy(n, src, dst) {
      const s = cb(src, "copy", "src", (src as CudaBuf).dtype);
      const d = cb(dst, "copy", "dst", s.dtype);
      check(L.trm_cuda_copy(s.ptr, d.ptr, B(n * 4)), "copy");
    },
    copy2d(rows, cols, src, lds, dst, ldd) {
      const K = "copy2d";
      const s = cb(src, K, "src", (src as CudaBuf).dtype), d = cb(dst, K, "dst", s.dtype);
      if (rows === 0 || cols === 0) return;
      check(L.trm_cuda_copy2d(B(rows), B(cols), s.ptr, B(lds), d.ptr, B(ldd)), K);
    },
    fill(n, value, dst) {
      const d = cb(dst, "fill", "dst", (dst as CudaBuf).dtype);
      const bits = d.dtype === "f32"
        ? new Uint32Array(Float32Array.of(value).buffer)[0]
        : (value | 0) >>> 0;
      check(L.trm_cuda_fill(B(n), bits, d.ptr), "fill");
    },
    sync() {
      check(L.trm_cuda_sync(), "sync");
      checkBad();
    },

    gemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, batch, sA, sB, sC) {
      const K = "gemm";
      const sizes = `m=${m}, n=${n}, k=${k}, lda=${lda}, ldb=${ldb}, ldc=${ldc}, batch=${batch}`;
      const A = cb(a, K, "a"), Bb = cb(b, K, "b"), C = cb(c, K, "c");
      if (m === 0 || n === 0 || batch === 0) return;
      const fits = [m, n, k, lda, ldb, ldc, batch].every((v) => v <= I32_MAX);
      if (cublas && k > 0 && fits) {
        const st = cublas.gemm(
          ...[tA, tB, m, n, k, alpha, A.ptr, lda, Bb.ptr, ldb, beta, C.ptr, ldc] as const,
          ...[batch, sA, sB, sC] as const,
        );
        if (st !== 0) {
          throw new KernelError(
            `cuda gemm (${
              math === "f32" ? "cublasSgemmStridedBatched" : "cublasGemmStridedBatchedEx"
            }, ${math})`,
            `${CUBLAS_STATUS[st] ?? `status ${st}`}: ${sizes}`,
          );
        }
        return;
      }
      check(
        L.trm_cuda_gemm(
          tA ? 1 : 0,
          tB ? 1 : 0,
          B(m),
          B(n),
          B(k),
          alpha,
          A.ptr,
          B(lda),
          Bb.ptr,
          B(ldb),
          beta,
          C.ptr,
          B(ldc),
          B(batch),
          B(sA),
          B(sB),
          B(sC),
        ),
        K,
      );
    },

    axpby(n, alpha, x, beta, y, out) {
      const [X, Y, O] = flat("axpby", n, { x, y, out });
      check(L.trm_cuda_axpby(B(n), alpha, X, beta, Y, O), "axpby");
    },
    mul(n, x, y, out) {
      const [X, Y, O] = flat("mul", n, { x, y, out });
      check(L.trm_cuda_mul(B(n), X, Y, O), "mul");
    },
    addRowVector(rows, cols, x, bias, out) {
      const K = "addRowVector";
      const [X, Bv, O] = ptrs(K, `rows=${rows}, cols=${cols}`, [
        ["x", x, rows * cols],
        ["bias", bias, cols],
        ["out", out, rows * cols],
      ]);
      check(L.trm_cuda_add_row_vector(B(rows), B(cols), X, Bv, O), K);
    },
    sumRows(rows, cols, x, out) {
      const K = "sumRows";
      const [X, O] = ptrs(K, `rows=${rows}, cols=${cols}`, [["x", x, rows * cols], [
        "out",
        out,
        cols,
      ]]);
      check(L.trm_cuda_sum_rows(B(rows), B(cols), X, O), K);
    },
    unary(op, n, x, out) {
      const code = UNARY[op];
      if (code === undefined) throw new TypeError(`unary: unknown op: ${op}`);
      const [X, O] = flat("unary", n, { x, out });
      check(L.trm_cuda_unary(code, B(n), X, O), "unary");
    },
    unaryBackward(op, n, x, dy, dx) {
      const code = UNARY[op];
      if (code === undefined) throw new TypeError(`unaryBackward: unknown op: ${op}`);
      const [X, DY, DX] = flat("unaryBackward", n, { x, dy, dx });
      check(L.trm_cuda_unary_backward(code, B(n), X, DY, DX), "unaryBackward");
    },
    swiglu(rows, inter, gu, out) {
      const K = "swiglu";
      const [G, O] = ptrs(K, `rows=${rows}, inter=${inter}`, [
        ["gu", gu, rows * 2 * inter],
        ["out", out, rows * inter],
      ]);
      check(L.trm_cuda_swiglu(B(rows), B(inter), G, O), K);
    },
    swigluBackward(rows, inter, gu, dy, dgu, out) {
      const K = "swigluBackward", sizes = `rows=${rows}, inter=${inter}`;
      const [G, DY, DG] = ptrs(K, sizes, [
        ["gu", gu, rows * 2 * inter],
        ["dy", dy, rows * inter],
        ["dgu", dgu, rows * 2 * inter],
      ]);
      const O = opt(out ?? null, K, "out", rows * inter, sizes);
      check(L.trm_cuda_swiglu_backward(B(rows), B(inter), G, DY, DG, O), K);
    },
    transpose(batch, rows, cols, x, out) {
      const K = "transpose";
      const n = batch * rows * cols;
      const [X, O] = ptrs(K, `batch=${batch}, rows=${rows}, cols=${cols}`, [["x", x, n], [
        "out",
        out,
        n,
      ]]);
      check(L.trm_cuda_transpose(B(batch), B(rows), B(cols), X, O), K);
    },

    rmsnorm(rows, cols, x, weight, eps, out, rstd) {
      const K = "rmsnorm", sizes = `rows=${rows}, cols=${cols}`;
      const [X, O, R] = ptrs(K, sizes, [
        ["x", x, rows * cols],
        ["out", out, rows * cols],
        ["rstd", rstd, rows],
      ]);
      const W = opt(weight, K, "weight", cols, sizes);
      check(L.trm_cuda_rmsnorm(B(rows), B(cols), X, W, eps, O, R), K);
    },
    rmsnormBackward(rows, cols, x, weight, rstd, dy, dx, dweight) {
      const K = "rmsnormBackward", sizes = `rows=${rows}, cols=${cols}`;
      if (!weight !== !dweight) throw new TypeError(`${K}: dweight must be given iff weight is`);
      const [X, R, DY, DX] = ptrs(K, sizes, [
        ["x", x, rows * cols],
        ["rstd", rstd, rows],
        ["dy", dy, rows * cols],
        ["dx", dx, rows * cols],
      ]);
      const W = opt(weight, K, "weight", cols, sizes);
      const DW = opt(dweight, K, "dweight", cols, sizes);
      check(L.trm_cuda_rmsnorm_backward(B(rows), B(cols), X, W, R, DY, DX, DW), K);
    },
    addRmsnorm(rows, cols, x, y, eps, out, rstd) {
      const K = "addRmsnorm", sizes = `rows=${rows}, cols=${cols}`, n = rows * cols;
      const [X, Y, O, R] = ptrs(K, sizes, [
        ["x", x, n],
        ["y", y, n],
        ["out", out, n],
        ["rstd", rstd, rows],
      ]);
      check(L.trm_cuda_add_rmsnorm(B(rows), B(cols), X, Y, eps, O, R), K);
    },
    addRmsnormBackward(rows, cols, out, rstd, dy, ds) {
      const K = "addRmsnormBackward", sizes = `rows=${rows}, cols=${cols}`, n = rows * cols;
      const [O, R, DY, DS] = ptrs(K, sizes, [
        ["out", out, n],
        ["rstd", rstd, rows],
        ["dy", dy, n],
        ["ds", ds, n],
      ]);
      check(L.trm_cuda_add_rmsnorm_backward(B(rows), B(cols), O, R, DY, DS), K);
    },
    gatedRmsnorm(rows, cols, group, y, z, weight, eps, out, rstd) {
      const K = "gatedRmsnorm", sizes = `rows=${rows}, cols=${cols}, group=${group}`;
      const n = rows * cols, g = gatedGroups(K, cols, group);
      const [Y, Z, W, O, R] = ptrs(K, sizes, [
        ["y", y, n],
        ["z", z, n],
        ["weight", weight, cols],
        ["out", out, n],
        ["rstd", rstd, rows * g],
      ]);
      check(L.trm_cuda_gated_rmsnorm(B(rows), B(cols), B(group), Y, Z, W, eps, O, R), K);
    },
    gatedRmsnormBackward(rows, cols, group, y, z, weight, rstd, dout, dy, dz, dweight) {
      const K = "gatedRmsnormBackward", sizes = `rows=${rows}, cols=${cols}, group=${group}`;
      const n = rows * cols, g = gatedGroups(K, cols, group);
      const [Y, Z, W, R, DO, DY, DZ, DW] = ptrs(K, sizes, [
        ["y", y, n],
        ["z", z, n],
        ["weight", weight, cols],
        ["rstd", rstd, rows * g],
        ["dout", dout, n],
        ["dy", dy, n],
        ["dz", dz, n],
        ["dweight", dweight, cols],
      ]);
      const args = [Y, Z, W, R, DO, DY, DZ, DW] as const;
      check(L.trm_cuda_gated_rmsnorm_backward(B(rows), B(cols), B(group), ...args), K);
    },
    softmax(rows, cols, x, out) {
      const K = "softmax";
      const [X, O] = ptrs(K, `rows=${rows}, cols=${cols}`, [["x", x, rows * cols], [
        "out",
        out,
        rows * cols,
      ]]);
      check(L.trm_cuda_softmax(B(rows), B(cols), X, O), K);
    },
    softmaxBackward(rows, cols, y, dy, dx) {
      const K = "softmaxBackward";
      const [Y, DY, DX] = ptrs(K, `rows=${rows}, cols=${cols}`, [
        ["y", y, rows * cols],
        ["dy", dy, rows * cols],
        ["dx", dx, rows * cols],
      ]);
      check(L.trm_cuda_softmax_backward(B(rows), B(cols), Y, DY, DX), K);
    },

    embedding(n, dim, ids, table, out) {
      const K = "embedding", sizes = `n=${n}, dim=${dim}`;
      const [T, O] = ptrs(K, sizes, [["table", table, dim], ["out", out, n * dim]]);
      const ID = cb(ids, K, "ids", "i32");
      const rows = dim > 0 ? Math.floor(table.length / dim) : 0;
      check(L.trm_cuda_embedding(B(n), B(dim), ID.ptr, T, B(rows), O), K);
    },
    embeddingBackward(n, dim, ids, dy, dtable) {
      const K = "embeddingBackward", sizes = `n=${n}, dim=${dim}`;
      const [DY, DT] = ptrs(K, sizes, [["dy", dy, n * dim], ["dtable", dtable, dim]]);
      const ID = cb(ids, K, "ids", "i32");
      const rows = dim > 0 ? Math.floor(dtable.length / dim) : 0;
      check(L.trm_cuda_embedding_backward(B(n), B(dim), ID.ptr, DY, DT, B(rows)), K);
    },
    rope(batch, seq, heads, headDim, x, ldx, cos, sin, inverse, out, ldo) {
      const K = "rope";
      if (headDim % 2 !== 0) throw new TypeError(`${K}: headDim must be even: ${headDim}`);
      const hd = heads * headDim, tokens = batch * seq;
      const sizes =
        `batch=${batch}, seq=${seq}, heads=${heads}, headDim=${headDim}, ldx=${ldx}, ldo=${ldo}`;
      const X = cb(x, K, "x"), C = cb(cos, K, "cos"), S = cb(sin, K, "sin"), O = cb(out, K, "out");
      if (tokens === 0 || hd === 0) return;
      if (ldx < hd || ldo < hd) {
        throw new RangeError(`${K}: token stride below heads·headDim: ${sizes}`);
      }
      check(
        L.trm_cuda_rope(
          B(batch),
          B(seq),
          B(heads),
          B(headDim),
          X.ptr,
          B(ldx),
          C.ptr,
          S.ptr,
          inverse ? 1 : 0,
          O.ptr,
          B(ldo),
        ),
        K,
      );
    },

    attention(batch, seq, heads, headDim, scale, q, k, v, ld, out, lse) {
      const K = "attention";
      const p = attnPtrs(K, batch, seq, heads, headDim, ld, { q, k, v }, { out }, lse);
      if (!p) return;
      const [Q, Kb, V, O, LS] = p;
      check(
        ops.attention(B(batch), B(seq), B(heads), B(headDim), scale, Q, Kb, V, B(ld), O, LS),
        K,
      );
    },
    attentionBackward(batch, seq, heads, headDim, scale, q, k, v, ld, out, lse, dout, dq, dk, dv) {
      const K = "attentionBackward";
      const p = attnPtrs(K, batch, seq, heads, headDim, ld, { q, k, v, dq, dk, dv }, {
        out,
        dout,
      }, lse);
      if (!p) return;
      const [Q, Kb, V, DQ, DK, DV, O, DO, LS] = p;
      check(
        ops.attentionBackward(
          B(batch),
          B(seq),
          B(heads),
          B(headDim),
          scale,
          Q,
          Kb,
          V,
          B(ld),
          O,
          LS,
          DO,
          DQ,
          DK,
          DV,
        ),
        K,
      );
    },

    stablemaxXent(batch, seq, vocab, logits, labels, ignore, loss) {
      const K = "stablemaxXent", sizes = `batch=${batch}, seq=${seq}, vocab=${vocab}`;
      const [X, O] = ptrs(K, sizes, [["logits", logits, batch * seq * vocab], [
        "loss",
        loss,
        batch,
      ]]);
      const LB = cb(labels, K, "labels", "i32");
      check(L.trm_cuda_stablemax_xent(B(batch), B(seq), B(vocab), X, LB.ptr, ignore, O), K);
    },
    stablemaxXentBackward(batch, seq, vocab, logits, labels, ignore, dloss, dlogits) {
      const K = "stablemaxXentBackward", sizes = `batch=${batch}, seq=${seq}, vocab=${vocab}`;
      const [X, DL, DX] = ptrs(K, sizes, [
        ["logits", logits, batch * seq * vocab],
        ["dloss", dloss, batch],
        ["dlogits", dlogits, batch * seq * vocab],
      ]);
      const LB = cb(labels, K, "labels", "i32");
      check(
        L.trm_cuda_stablemax_xent_backward(B(batch), B(seq), B(vocab), X, LB.ptr, ignore, DL, DX),
        K,
      );
    },
    bceWithLogits(n, x, target, out) {
      const [X, T, O] = flat("bceWithLogits", n, { x, target, out });
      check(L.trm_cuda_bce(B(n), X, T, O), "bceWithLogits");
    },
    bceWithLogitsBackward(n, x, target, dy, dx) {
      const [X, T, DY, DX] = flat("bceWithLogitsBackward", n, { x, target, dy, dx });
      check(L.trm_cuda_bce_backward(B(n), X, T, DY, DX), "bceWithLogitsBackward");
    },
    sum(n, x, out) {
      const [X] = flat("sum", n, { x });
      const [O] = ptrs("sum", `n=${n}`, [["out", out, 1]]);
      check(L.trm_cuda_sum(B(n), X, O), "sum");
    },
    argmax(rows, cols, x, out) {
      const K = "argmax", sizes = `rows=${rows}, cols=${cols}`;
      const [X] = ptrs(K, sizes, [["x", x, rows * cols]]);
      const O = cb(out, K, "out", "i32");
      if (cols === 0 && rows > 0) throw new RangeError(`${K}: cols must be positive: ${cols}`);
      check(L.trm_cuda_argmax(B(rows), B(cols), X, O.ptr), K);
    },

    adamAtan2(n, p, g, m, v, lr, wd, beta1, beta2, bc1, bc2) {
      const [P, G, M, V] = flat("adamAtan2", n, { p, g, m, v });
      check(L.trm_cuda_adam_atan2(B(n), P, G, M, V, lr, wd, beta1, beta2, bc1, bc2), "adamAtan2");
    },
    signSgdRows(n, dim, ids, grads, table, lr, wd) {
      const K = "signSgdRows", sizes = `n=${n}, dim=${dim}`;
      const [G, T] = ptrs(K, sizes, [["grads", grads, n * dim], ["table", table, dim]]);
      const ID = cb(ids, K, "ids", "i32");
      const rows = dim > 0 ? Math.floor(table.length / dim) : 0;
      check(L.trm_cuda_sign_sgd_rows(B(n), B(dim), ID.ptr, G, T, B(rows), lr, wd), K);
    },
    ema(n, shadow, p, decay) {
      const [S, P] = flat("ema", n, { shadow, p });
      check(L.trm_cuda_ema(B(n), S, P, decay), "ema");
    },

    conv1dCausal(batch, seq, ch, k, x, w, bias, out) {
      const K = "conv1dCausal";
      const n = batch * seq * ch, sizes = `batch=${batch}, seq=${seq}, ch=${ch}, k=${k}`;
      const [X, W, Bv, O] = ptrs(K, sizes, [
        ["x", x, n],
        ["w", w, ch * k],
        ["bias", bias, ch],
        ["out", out, n],
      ]);
      check(L.trm_cuda_conv1d_causal(B(batch), B(seq), B(ch), B(k), X, W, Bv, O), K);
    },
    conv1dCausalBackward(batch, seq, ch, k, x, w, dy, dx, dw, dbias) {
      const K = "conv1dCausalBackward";
      const n = batch * seq * ch, sizes = `batch=${batch}, seq=${seq}, ch=${ch}, k=${k}`;
      const [X, W, DY, DX, DW, DB] = ptrs(K, sizes, [
        ["x", x, n],
        ["w", w, ch * k],
        ["dy", dy, n],
        ["dx", dx, n],
        ["dw", dw, ch * k],
        ["dbias", dbias, ch],
      ]);
      check(
        L.trm_cuda_conv1d_causal_backward(B(batch), B(seq), B(ch), B(k), X, W, DY, DX, DW, DB),
        K,
      );
    },
    ssdScan(dims, x, dt, A, Bm, Cm, D, init, y, finalState) {
      const K = "ssdScan";
      const z = ssdSizes(K, dims);
      const [X, DT, AA, BB, CC, DD, Y] = ptrs(K, z.sizes, [
        ["x", x, z.x],
        ["dt", dt, z.dt],
        ["A", A, dims.heads],
        ["Bm", Bm, z.bc],
        ["Cm", Cm, z.bc],
        ["D", D, dims.heads],
        ["y", y, z.x],
      ]);
      const I = opt(init, K, "init", z.state, z.sizes);
      const FS = opt(finalState, K, "finalState", z.state, z.sizes);
      const [b, s, h, p, g, n, c] = z.dimArgs;
      check(ops.ssdScan(b, s, h, p, g, n, c, X, DT, AA, BB, CC, DD, I, Y, FS), K);
    },
    ssdScanBackward(dims, x, dt, A, Bm, Cm, D, init, dy, dFinal, dx, ddt, dA, dBm, dCm, dD, dInit) {
      const K = "ssdScanBackward";
      const z = ssdSizes(K, dims);
      const [X, DT, AA, BB, CC, DD, DY, DX, DDT, DA, DBB, DCC, DDD] = ptrs(K, z.sizes, [
        ["x", x, z.x],
        ["dt", dt, z.dt],
        ["A", A, dims.heads],
        ["Bm", Bm, z.bc],
        ["Cm", Cm, z.bc],
        ["D", D, dims.heads],
        ["dy", dy, z.x],
        ["dx", dx, z.x],
        ["ddt", ddt, z.dt],
        ["dA", dA, dims.heads],
        ["dBm", dBm, z.bc],
        ["dCm", dCm, z.bc],
        ["dD", dD, dims.heads],
      ]);
      const I = opt(init, K, "init", z.state, z.sizes);
      const DF = opt(dFinal, K, "dFinal", z.state, z.sizes);
      const DI = opt(dInit, K, "dInit", z.state, z.sizes);
      const [b, s, h, p, g, n, c] = z.dimArgs;
      check(
        ops.ssdScanBackward(
          ...[b, s, h, p, g, n, c],
          ...[X, DT, AA, BB, CC, DD, I, DY, DF],
          ...[DX, DDT, DA, DBB, DCC, DDD, DI],
        ),
        K,
      );
    },
  };
  // Sizes, dtypes and constraints of every kernel: the kernel table (engine/kernels.ts).
  return withKernelChecks(be);
}
