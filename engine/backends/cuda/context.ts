/**
 * The context the `cuda` backend's family modules take (cuda.ts makes it once per backend): the
 * library's symbols, the attention and SSD scan entry points in use (mainline or a kernel lab's),
 * cuBLAS and the GEMM math, the attention kernel's headDim limit, and the helpers that check a
 * buffer is this backend's and live and pass its device address. Sizes, dtypes and lengths are
 * checked by the kernel table (engine/kernels.ts) before a kernel runs; what the table cannot check
 * (that a buffer belongs to this backend and was not freed) these helpers do.
 */
import type { Buf, DType } from "../../backend.ts";
import type { Cublas, GemmMath } from "./cublas.ts";
import type { SYMBOLS } from "./symbols.ts";

/** The compiled library as `Deno.dlopen` returns it. */
export type Lib = Deno.DynamicLibrary<typeof SYMBOLS>;
type Fn<K extends keyof typeof SYMBOLS> = Lib["symbols"][K];
/** The attention and SSD scan entry points a backend calls: the mainline's or a lab's variants. */
export interface OpKernels {
  attention: Fn<"trm_cuda_attention">;
  attentionBackward: Fn<"trm_cuda_attention_backward">;
  ssdScan: Fn<"trm_cuda_ssd_scan">;
  ssdScanBackward: Fn<"trm_cuda_ssd_scan_backward">;
}

/** A device buffer handle: base address, element count, dtype; `view` marks a non-owning view. */
export class CudaBuf implements Buf {
  constructor(
    readonly ptr: bigint,
    readonly length: number,
    readonly dtype: DType,
    readonly owner: object,
    readonly isView: boolean,
  ) {}
  freed = false;
}

/** What every cuda family module takes. */
export interface CudaContext {
  /** The library's symbols. */
  L: Lib["symbols"];
  /** The attention and SSD scan entry points in use. */
  ops: OpKernels;
  /** BigInt (the library's int64 arguments). */
  B: typeof BigInt;
  /** Throws KernelError with the library's last error when a call returned non-zero. */
  check: (rc: number, kernel: string) => void;
  /** The buffer as this backend's live buffer of `dtype` (default f32), else a TypeError. */
  cb: (b: Buf | null, kernel: string, name: string, dtype?: DType) => CudaBuf;
  /** Device addresses of named f32 buffers of this backend, in order. */
  ptrs: (kernel: string, bufs: Record<string, Buf>) => bigint[];
  /** The device address of an optional f32 buffer, 0 for null (the kernel's NULL). */
  ptrOpt: (b: Buf | null | undefined, kernel: string, name: string) => bigint;
  /** cuBLAS when GEMM goes through it, else null (our own f32 GEMM kernel). */
  cublas: Cublas | null;
  /** The GEMM math. */
  math: GemmMath;
  /** The largest headDim the attention kernels take. */
  maxHeadDim: number;
}
