/**
 * The kernel variants of the cuda backend that can be chosen: attention (`createCudaBackend({
 * attention })` or `TRM_CUDA_ATTN`) and the SSD scan (`{ ssd }` or `TRM_CUDA_SSD`), their
 * provenance labels (`info.attention`, `info.ssd`), and the tolerances of the tensor-core variants.
 *
 * @example
 * ```ts
 * import { attentionKernelsFrom, ssdKernelsFrom } from "./kernels.ts";
 * attentionKernelsFrom(undefined); // "simt" unless TRM_CUDA_ATTN says otherwise
 * ssdKernelsFrom(undefined); // "seq" unless TRM_CUDA_SSD says otherwise
 * ```
 */

/** simt: attention.cu, one thread per row (validated on an H200); tc: attention_tc.cu, tf32 wmma. */
export type AttentionKernels = "simt" | "tc";
export const ATTENTION_KERNELS: AttentionKernels[] = ["simt", "tc"];

/** `info.attention` per choice (provenance). */
export const ATTENTION_LABEL: Record<AttentionKernels, string> = {
  simt: "simt (one thread per row, f32; attention.cu)",
  tc: "tc (flash attention, tf32 tensor-core tile products, f32 accumulation and softmax; " +
    "attention_tc.cu; simt for headDim not a multiple of 16 or > 128, below sm_80, and for a " +
    "backward whose blocks exceed the device's shared memory: headDim 128)",
};

/** The option, else `TRM_CUDA_ATTN`, else simt; a RangeError for anything else. */
export function attentionKernelsFrom(opt: AttentionKernels | undefined): AttentionKernels {
  const v = opt ?? Deno.env.get("TRM_CUDA_ATTN") ?? "simt";
  if (!ATTENTION_KERNELS.includes(v as AttentionKernels)) {
    throw new RangeError(`createCudaBackend: attention (TRM_CUDA_ATTN) must be simt or tc: ${v}`);
  }
  return v as AttentionKernels;
}

/** Unit roundoff of tf32 inputs (10 stored mantissa bits, round to nearest). */
export const TF32_U = 2 ** -11;

/**
 * Tolerances of the tc kernels against an f32 oracle on N(0, 1) inputs with scale 1/√D:
 * |tc − oracle| ≤ atol + rtol·|oracle|, out and lse absolute, the gradients (dq, dk, dv) with atol
 * times max |oracle gradient|. Derivation: each tf32-rounded operand is off by ≤ u relative
 * (uniform, σ u/√3), so a product by σ ≈ 0.82u relative and a D-term score sum of N(0, 1)
 * products, times 1/√D, by σ ≈ 0.82u absolute; that moves lse = m + log z by Σ P·δs (σ ≤ 0.82u)
 * and out by Σ P·δs·(v − out) plus the rounding of P·V (σ ≲ 1.2u together); the gradients are
 * the same kind of sums of rounded products, ≈ u relative to their scale. atol = 8u (≥ 6σ over
 * ~10⁶ elements); rtol = 4u as cuda_test.ts's tf32 GEMM tests (a truncating conversion would
 * bias results proportionally). The host simulation's tf32 mode (attention_tc_test.ts) measures
 * ≤ 1.4u (out), 0.8u (lse), 1.9u·max (grads, at L = 916): margins of 4–10×.
 */
export const TF32_TOL = {
  out: { atol: 8 * TF32_U, rtol: 4 * TF32_U },
  lse: { atol: 8 * TF32_U, rtol: 0 },
  grad: { atol: 8 * TF32_U, rtol: 4 * TF32_U },
};

/** The SSD scan implementations of the cuda backend. */
export type SsdKernels = "seq" | "chunked" | "chunked-tc";
export const SSD_KERNELS: SsdKernels[] = ["seq", "chunked", "chunked-tc"];

/** `info.ssd` per choice (provenance). */
export const SSD_LABEL: Record<SsdKernels, string> = {
  seq: "seq (sequential recurrence, √seq checkpoints; ssd.cu)",
  chunked: "chunked (arXiv:2405.21060 §6, chunk min(dims.chunk, 512), f32; ssd_chunked.cu; " +
    "seq for a shape whose blocks exceed the device's shared memory)",
  "chunked-tc": "chunked-tc (the chunked kernels with tf32 tensor-core tile products, f32 " +
    "accumulation and f32 everywhere else; ssd_chunked.cu; chunked for headDim or dState not a " +
    "multiple of 16, min(chunk, seq) < 16, below sm_80 or when the padded blocks exceed the " +
    "device's shared memory; then seq as chunked)",
};

/** The option, else `TRM_CUDA_SSD`, else seq; a RangeError for anything else. */
export function ssdKernelsFrom(opt: SsdKernels | undefined): SsdKernels {
  const v = opt ?? Deno.env.get("TRM_CUDA_SSD") ?? "seq";
  if (!SSD_KERNELS.includes(v as SsdKernels)) {
    throw new RangeError(
      `createCudaBackend: ssd (TRM_CUDA_SSD) must be seq, chunked or chunked-tc: ${v}`,
    );
  }
  return v as SsdKernels;
}

/**
 * Tolerance of the chunked-tc SSD against an f32 oracle: |tc − oracle| ≤ atol·max|oracle| +
 * rtol·|oracle| per output. Derivation: a tf32-rounded operand is off by ≤ u = 2⁻¹¹ relative
 * (σ u/√3), so each product by σ ≈ 0.82u relative; every output is a sum of such products, at
 * most three products deep (e.g. dB ← dCB ← dy·xᵀ; dΔ ← x·gx̄ ← CB, dS), so its error is about
 * √3·0.82u ≈ 1.4u of its largest magnitude, more where the segment sums of dΔ cancel. The host
 * simulation with tf32-rounded operands (ssd_chunked_test.ts) measures ≤ 3.2u·max (dΔ, dA under
 * the Δ·A stress; ≤ 1.9u elsewhere); atol = 16u leaves a margin of 5×, rtol = 4u as the tf32 GEMM
 * and attention tests (covers a conversion that truncates instead of rounding).
 */
export const SSD_TF32_TOL = { atol: 16 * TF32_U, rtol: 4 * TF32_U };
