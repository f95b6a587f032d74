/*
 * bfloat16 rounding of the engine's bf16 mode (engine/bf16.ts): every element to the nearest
 * bf16 value, ties to even, kept in f32 storage (low 16 bits zero). NaN stays a (quiet) NaN, ±inf
 * stay, and a finite value at or past the midpoint above bf16's largest finite value carries into
 * the exponent and becomes ±inf — the same results as a conversion instruction (vcvtneps2bf16)
 * followed by a widening, and as PyTorch's float → bfloat16 cast.
 *
 * A branch-free integer loop over the bit patterns: -O3 vectorises it on any SIMD width.
 */
#include "trm.h"

TRM_INLINE uint32_t round_bits(uint32_t u) {
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  const uint32_t nan = (u | 0x00400000u) & 0xffff0000u; /* quiet, payload's top bits kept */
  return (u & 0x7fffffffu) > 0x7f800000u ? nan : rounded;
}

TRM_EXPORT void trm_round_bf16(i64 n, const float *x, float *out) {
  const uint32_t *src = (const uint32_t *)x;
  uint32_t *dst = (uint32_t *)out;
  const i64 nc = (n + 8191) / 8192;
#pragma omp parallel for num_threads(trm_nth(n)) schedule(static)
  for (i64 ch = 0; ch < nc; ch++) {
    const i64 end = (ch + 1) * 8192 < n ? (ch + 1) * 8192 : n;
    for (i64 i = ch * 8192; i < end; i++) dst[i] = round_bits(src[i]);
  }
}
