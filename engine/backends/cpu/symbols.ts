/**
 * The FFI symbol tables of the cpu backend: our native library (engine/native/*.c) and the BLAS
 * symbols loaded from OpenBLAS, with parameter and result types as `Deno.dlopen` takes them.
 */
export const I64 = "i64" as const,
  F32 = "f32" as const,
  F64 = "f64" as const,
  BUF = "buffer" as const;
const I32 = "i32" as const, VOID = "void" as const;

export const SYMBOLS = {
  trm_num_threads: { parameters: [], result: I32 },
  trm_set_num_threads: { parameters: [I32], result: VOID },
  trm_simd_width: { parameters: [], result: I32 },
  trm_gemm: {
    parameters: [
      I32,
      I32,
      I64,
      I64,
      I64,
      F32,
      BUF,
      I64,
      BUF,
      I64,
      F32,
      BUF,
      I64,
      I64,
      I64,
      I64,
      I64,
    ],
    result: VOID,
  },
  trm_copy2d: { parameters: [I64, I64, BUF, I64, BUF, I64], result: VOID },
  trm_axpby: { parameters: [I64, F32, BUF, F32, BUF, BUF], result: VOID },
  trm_mul: { parameters: [I64, BUF, BUF, BUF], result: VOID },
  trm_add_row_vector: { parameters: [I64, I64, BUF, BUF, BUF], result: VOID },
  trm_sum_rows: { parameters: [I64, I64, BUF, BUF], result: VOID },
  trm_unary: { parameters: [I32, I64, BUF, BUF], result: VOID },
  trm_unary_backward: { parameters: [I32, I64, BUF, BUF, BUF], result: VOID },
  trm_swiglu: { parameters: [I64, I64, BUF, BUF], result: VOID },
  trm_swiglu_backward: { parameters: [I64, I64, BUF, BUF, BUF, BUF], result: VOID },
  trm_transpose: { parameters: [I64, I64, I64, BUF, BUF], result: VOID },
  trm_rmsnorm: { parameters: [I64, I64, BUF, BUF, F64, BUF, BUF], result: VOID },
  trm_rmsnorm_backward: { parameters: [I64, I64, BUF, BUF, BUF, BUF, BUF, BUF], result: VOID },
  trm_add_rmsnorm: { parameters: [I64, I64, BUF, BUF, F64, BUF, BUF], result: VOID },
  trm_add_rmsnorm_backward: { parameters: [I64, I64, BUF, BUF, BUF, BUF], result: VOID },
  trm_gated_rmsnorm: {
    parameters: [I64, I64, I64, BUF, BUF, BUF, F64, BUF, BUF],
    result: VOID,
  },
  trm_gated_rmsnorm_backward: {
    parameters: [I64, I64, I64, BUF, BUF, BUF, BUF, BUF, BUF, BUF, BUF],
    result: VOID,
  },
  trm_softmax: { parameters: [I64, I64, BUF, BUF], result: VOID },
  trm_softmax_backward: { parameters: [I64, I64, BUF, BUF, BUF], result: VOID },
  trm_embedding: { parameters: [I64, I64, BUF, BUF, I64, BUF], result: I64 },
  trm_embedding_backward: { parameters: [I64, I64, BUF, BUF, BUF, I64], result: I64 },
  trm_rope: {
    parameters: [I64, I64, I64, I64, BUF, I64, BUF, BUF, I32, BUF, I64],
    result: VOID,
  },
  trm_attention: {
    parameters: [I64, I64, I64, I64, F32, BUF, BUF, BUF, I64, BUF, BUF],
    result: VOID,
  },
  trm_attention_backward: {
    parameters: [I64, I64, I64, I64, F32, BUF, BUF, BUF, I64, BUF, BUF, BUF, BUF, BUF, BUF],
    result: VOID,
  },
  trm_stablemax_xent: { parameters: [I64, I64, I64, BUF, BUF, I32, BUF], result: I64 },
  trm_stablemax_xent_backward: {
    parameters: [I64, I64, I64, BUF, BUF, I32, BUF, BUF],
    result: I64,
  },
  trm_bce_with_logits: { parameters: [I64, BUF, BUF, BUF], result: VOID },
  trm_bce_with_logits_backward: { parameters: [I64, BUF, BUF, BUF, BUF], result: VOID },
  trm_sum: { parameters: [I64, BUF, BUF], result: VOID },
  trm_argmax: { parameters: [I64, I64, BUF, BUF], result: VOID },
  trm_adam_atan2: {
    parameters: [I64, BUF, BUF, BUF, BUF, F64, F64, F64, F64, F64, F64],
    result: VOID,
  },
  trm_sign_sgd_rows: { parameters: [I64, I64, BUF, BUF, BUF, I64, F64, F64], result: I64 },
  trm_ema: { parameters: [I64, BUF, BUF, F64], result: VOID },
  trm_conv1d_causal: { parameters: [I64, I64, I64, I64, BUF, BUF, BUF, BUF], result: VOID },
  trm_conv1d_causal_backward: {
    parameters: [I64, I64, I64, I64, BUF, BUF, BUF, BUF, BUF, BUF],
    result: VOID,
  },
  trm_ssd_scan: {
    parameters: [I64, I64, I64, I64, I64, I64, I64, BUF, BUF, BUF, BUF, BUF, BUF, BUF, BUF, BUF],
    result: VOID,
  },
  trm_ssd_scan_backward: {
    parameters: [
      I64,
      I64,
      I64,
      I64,
      I64,
      I64,
      I64,
      ...[BUF, BUF, BUF, BUF, BUF, BUF, BUF, BUF, BUF],
      ...[BUF, BUF, BUF, BUF, BUF, BUF, BUF],
    ],
    result: VOID,
  },
} as const;

export const BLAS_SYMBOLS = {
  cblas_sgemm: {
    parameters: [I32, I32, I32, I32, I32, I32, F32, BUF, I32, BUF, I32, F32, BUF, I32],
    result: VOID,
  },
  openblas_set_num_threads: { parameters: [I32], result: VOID },
} as const;
