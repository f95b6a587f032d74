/**
 * The FFI symbol tables of the cpu backend: our native library (engine/native/*.c) and the BLAS
 * symbols loaded from OpenBLAS, with parameter and result types as `Deno.dlopen` takes them. The
 * kernels' symbols come from the kernel table (engine/backends/ffi.ts); the housekeeping functions
 * are listed here. engine/backends/symbols_test.ts checks both against the C sources.
 */
import { kernelSymbols } from "../ffi.ts";

export const I64 = "i64" as const,
  F32 = "f32" as const,
  F64 = "f64" as const,
  BUF = "buffer" as const;
const I32 = "i32" as const, VOID = "void" as const;

export const SYMBOLS = {
  trm_num_threads: { parameters: [], result: I32 },
  trm_set_num_threads: { parameters: [I32], result: VOID },
  trm_simd_width: { parameters: [], result: I32 },
  ...kernelSymbols("cpu"),
} as const;

export const BLAS_SYMBOLS = {
  cblas_sgemm: {
    parameters: [I32, I32, I32, I32, I32, I32, F32, BUF, I32, BUF, I32, F32, BUF, I32],
    result: VOID,
  },
  openblas_set_num_threads: { parameters: [I32], result: VOID },
} as const;
