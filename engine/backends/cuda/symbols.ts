/**
 * The FFI symbol table of the CUDA library (engine/backends/cuda/*.cu, declared in trm_cuda.cuh):
 * every exported function's parameter and result types, as `Deno.dlopen` takes them. Device
 * pointers travel as u64, sizes as i64; every kernel entry point returns an i32 status. The
 * kernels' symbols come from the kernel table (engine/backends/ffi.ts); the housekeeping functions
 * (device, memory, errors) are listed here. engine/backends/symbols_test.ts checks both against the
 * CUDA sources.
 *
 * The signatures of the attention and SSD scan kernels are exported on their own: a kernel lab
 * variant (dev/cuda/) that the backend runs in place of the mainline kernel has the same one.
 */
import { kernelSymbols } from "../ffi.ts";

const I64 = "i64" as const, U64 = "u64" as const, I32 = "i32" as const;
const BUF = "buffer" as const;

const KERNEL_SYMBOLS = kernelSymbols("cuda");

/** The signature of trm_cuda_ssd_scan (and of a lab variant of it). */
export const SSD_SCAN = KERNEL_SYMBOLS.trm_cuda_ssd_scan;
/** The signature of trm_cuda_ssd_scan_backward (and of a lab variant of it). */
export const SSD_SCAN_BACKWARD = KERNEL_SYMBOLS.trm_cuda_ssd_scan_backward;
/** The signature of trm_cuda_attention (and of a lab variant of it). */
export const ATTN = KERNEL_SYMBOLS.trm_cuda_attention;
/** The signature of trm_cuda_attention_backward (and of a lab variant of it). */
export const ATTN_BACKWARD = KERNEL_SYMBOLS.trm_cuda_attention_backward;

/** Every export of the mainline library (the lab library exports these too). */
export const SYMBOLS = {
  trm_cuda_last_error: { parameters: [BUF, I32], result: I32 },
  trm_cuda_device_count: { parameters: [], result: I32 },
  trm_cuda_init: { parameters: [I32, BUF, I32], result: I32 },
  trm_cuda_sync: { parameters: [], result: I32 },
  trm_cuda_alloc: { parameters: [I64, I32, BUF], result: I32 },
  trm_cuda_free: { parameters: [U64], result: I32 },
  trm_cuda_mem_info: { parameters: [BUF], result: I32 },
  trm_cuda_upload: { parameters: [U64, BUF, I64], result: I32 },
  trm_cuda_download: { parameters: [BUF, U64, I64], result: I32 },
  trm_cuda_scratch_bytes: { parameters: [], result: I64 },
  trm_cuda_take_bad: { parameters: [BUF], result: I32 },
  trm_cuda_attention_max_head_dim: { parameters: [], result: I32 },
  ...KERNEL_SYMBOLS,
} as const;
