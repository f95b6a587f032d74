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
 * This module sets up the device, the context and cuBLAS, holds the buffer methods and assembles the
 * backend; the kernels live in one module per family of the kernel table (engine/kernels.ts
 * `KERNEL_FAMILIES`): buffers.ts, gemm.ts, elementwise.ts, norm.ts, embedding.ts, attention.ts,
 * loss.ts, optim.ts, ssm.ts, each taking the context of context.ts.
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
import type { Backend, Buf, DType, HostArray } from "../../backend.ts";
import { KernelError, NativeUnavailableError, OutOfMemoryError } from "../../errors.ts";
import { buildCuda } from "./build.ts";
import {
  type Cublas,
  GEMM_MATH_LABEL,
  GEMM_MATHS,
  type GemmMath,
  gemmMathFromEnv,
  openCublas,
} from "./cublas.ts";
import { ATTENTION_LABEL, checkLab, type CudaLab, SSD_LABEL } from "./kernels.ts";
import { ATTN, ATTN_BACKWARD, SSD_SCAN, SSD_SCAN_BACKWARD, SYMBOLS } from "./symbols.ts";
import { readIntSwitch, readSwitch } from "../../switches.ts";
import { withKernelChecks } from "../../kernels.ts";
import { CudaBuf, type CudaContext, type Lib, type OpKernels } from "./context.ts";
import { cudaAttention } from "./attention.ts";
import { cudaBuffers } from "./buffers.ts";
import { cudaElementwise } from "./elementwise.ts";
import { cudaEmbedding } from "./embedding.ts";
import { cudaGemm } from "./gemm.ts";
import { cudaLoss } from "./loss.ts";
import { cudaNorm } from "./norm.ts";
import { cudaOptim } from "./optim.ts";
import { cudaSsm } from "./ssm.ts";

export { cublasCandidates, type GemmMath } from "./cublas.ts";
export type { CudaLab, CudaLabKernel } from "./kernels.ts";
export type { CudaContext } from "./context.ts";

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

interface Loaded {
  path: string;
  hash: string;
  lib: Lib;
  ops: OpKernels;
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

const BAD_KINDS = [
  "embedding",
  "embeddingBackward",
  "signSgdRows",
  "stablemaxXent",
  "stablemaxXentBackward",
];

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
  const ptrs = (kernel: string, bufs: Record<string, Buf>): bigint[] =>
    Object.entries(bufs).map(([name, b]) => cb(b, kernel, name).ptr);
  const ptrOpt = (b: Buf | null | undefined, kernel: string, name: string): bigint =>
    b ? cb(b, kernel, name).ptr : 0n;

  const maxHeadDim = L.trm_cuda_attention_max_head_dim();
  const ctx: CudaContext = {
    L,
    ops,
    B,
    check,
    cb,
    ptrs,
    ptrOpt,
    cublas,
    math,
    maxHeadDim,
  };

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
    sync() {
      check(L.trm_cuda_sync(), "sync");
      checkBad();
    },

    ...cudaBuffers(ctx),
    ...cudaGemm(ctx),
    ...cudaElementwise(ctx),
    ...cudaNorm(ctx),
    ...cudaEmbedding(ctx),
    ...cudaAttention(ctx),
    ...cudaLoss(ctx),
    ...cudaOptim(ctx),
    ...cudaSsm(ctx),
  };
  // Sizes, dtypes and constraints of every kernel: the kernel table (engine/kernels.ts).
  return withKernelChecks(be);
}
