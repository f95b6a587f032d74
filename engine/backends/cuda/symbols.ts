/**
 * The FFI symbol table of the CUDA library (engine/backends/cuda/*.cu, declared in trm_cuda.cuh):
 * every exported function's parameter and result types, as `Deno.dlopen` takes them. Device
 * pointers travel as u64, sizes as i64; every kernel entry point returns an i32 status.
 *
 * The signatures of the attention and SSD scan kernels are exported on their own: a kernel lab
 * variant (dev/cuda/) that the backend runs in place of the mainline kernel has the same one.
 */
const I64 = "i64" as const, U64 = "u64" as const, F32 = "f32" as const, F64 = "f64" as const;
const I32 = "i32" as const, U32 = "u32" as const, BUF = "buffer" as const;

/** The signature of trm_cuda_ssd_scan (and of a lab variant of it). */
export const SSD_SCAN = {
  parameters: [I64, I64, I64, I64, I64, I64, I64, U64, U64, U64, U64, U64, U64, U64, U64, U64],
  result: I32,
} as const;
/** The signature of trm_cuda_ssd_scan_backward (and of a lab variant of it). */
export const SSD_SCAN_BACKWARD = {
  parameters: [
    ...[I64, I64, I64, I64, I64, I64, I64],
    ...[U64, U64, U64, U64, U64, U64, U64, U64, U64],
    ...[U64, U64, U64, U64, U64, U64, U64],
  ],
  result: I32,
} as const;
/** The signature of trm_cuda_attention (and of a lab variant of it). */
export const ATTN = {
  parameters: [I64, I64, I64, I64, F32, U64, U64, U64, I64, U64, U64],
  result: I32,
} as const;
/** The signature of trm_cuda_attention_backward (and of a lab variant of it). */
export const ATTN_BACKWARD = {
  parameters: [I64, I64, I64, I64, F32, U64, U64, U64, I64, U64, U64, U64, U64, U64, U64],
  result: I32,
} as const;
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
  trm_cuda_copy: { parameters: [U64, U64, I64], result: I32 },
  trm_cuda_copy2d: { parameters: [I64, I64, U64, I64, U64, I64], result: I32 },
  trm_cuda_fill: { parameters: [I64, U32, U64], result: I32 },
  trm_cuda_scratch_bytes: { parameters: [], result: I64 },
  trm_cuda_take_bad: { parameters: [BUF], result: I32 },
  trm_cuda_gemm: {
    parameters: [
      I32,
      I32,
      I64,
      I64,
      I64,
      F32,
      U64,
      I64,
      U64,
      I64,
      F32,
      U64,
      I64,
      I64,
      I64,
      I64,
      I64,
    ],
    result: I32,
  },
  trm_cuda_axpby: { parameters: [I64, F32, U64, F32, U64, U64], result: I32 },
  trm_cuda_mul: { parameters: [I64, U64, U64, U64], result: I32 },
  trm_cuda_add_row_vector: { parameters: [I64, I64, U64, U64, U64], result: I32 },
  trm_cuda_sum_rows: { parameters: [I64, I64, U64, U64], result: I32 },
  trm_cuda_unary: { parameters: [I32, I64, U64, U64], result: I32 },
  trm_cuda_unary_backward: { parameters: [I32, I64, U64, U64, U64], result: I32 },
  trm_cuda_swiglu: { parameters: [I64, I64, U64, U64], result: I32 },
  trm_cuda_swiglu_backward: { parameters: [I64, I64, U64, U64, U64, U64], result: I32 },
  trm_cuda_transpose: { parameters: [I64, I64, I64, U64, U64], result: I32 },
  trm_cuda_rmsnorm: { parameters: [I64, I64, U64, U64, F64, U64, U64], result: I32 },
  trm_cuda_rmsnorm_backward: {
    parameters: [I64, I64, U64, U64, U64, U64, U64, U64],
    result: I32,
  },
  // The fused row norms of norm_fused.cu (block programs).
  trm_cuda_add_rmsnorm: { parameters: [I64, I64, U64, U64, F64, U64, U64], result: I32 },
  trm_cuda_add_rmsnorm_backward: { parameters: [I64, I64, U64, U64, U64, U64], result: I32 },
  trm_cuda_gated_rmsnorm: {
    parameters: [I64, I64, I64, U64, U64, U64, F64, U64, U64],
    result: I32,
  },
  trm_cuda_gated_rmsnorm_backward: {
    parameters: [I64, I64, I64, U64, U64, U64, U64, U64, U64, U64, U64],
    result: I32,
  },
  trm_cuda_softmax: { parameters: [I64, I64, U64, U64], result: I32 },
  trm_cuda_softmax_backward: { parameters: [I64, I64, U64, U64, U64], result: I32 },
  trm_cuda_embedding: { parameters: [I64, I64, U64, U64, I64, U64], result: I32 },
  trm_cuda_embedding_backward: { parameters: [I64, I64, U64, U64, U64, I64], result: I32 },
  trm_cuda_rope: {
    parameters: [I64, I64, I64, I64, U64, I64, U64, U64, I32, U64, I64],
    result: I32,
  },
  trm_cuda_attention_max_head_dim: { parameters: [], result: I32 },
  trm_cuda_attention: ATTN,
  trm_cuda_attention_backward: ATTN_BACKWARD,
  trm_cuda_stablemax_xent: { parameters: [I64, I64, I64, U64, U64, I32, U64], result: I32 },
  trm_cuda_stablemax_xent_backward: {
    parameters: [I64, I64, I64, U64, U64, I32, U64, U64],
    result: I32,
  },
  trm_cuda_bce: { parameters: [I64, U64, U64, U64], result: I32 },
  trm_cuda_bce_backward: { parameters: [I64, U64, U64, U64, U64], result: I32 },
  trm_cuda_sum: { parameters: [I64, U64, U64], result: I32 },
  trm_cuda_argmax: { parameters: [I64, I64, U64, U64], result: I32 },
  trm_cuda_adam_atan2: {
    parameters: [I64, U64, U64, U64, U64, F64, F64, F64, F64, F64, F64],
    result: I32,
  },
  trm_cuda_sign_sgd_rows: { parameters: [I64, I64, U64, U64, U64, I64, F64, F64], result: I32 },
  trm_cuda_ema: { parameters: [I64, U64, U64, F64], result: I32 },
  trm_cuda_conv1d_causal: { parameters: [I64, I64, I64, I64, U64, U64, U64, U64], result: I32 },
  trm_cuda_conv1d_causal_backward: {
    parameters: [I64, I64, I64, I64, U64, U64, U64, U64, U64, U64],
    result: I32,
  },
  trm_cuda_ssd_scan: SSD_SCAN,
  trm_cuda_ssd_scan_backward: SSD_SCAN_BACKWARD,
} as const;
