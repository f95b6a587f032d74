/*
 * Shared helpers of the native CPU kernels (see engine/backend.ts for what every kernel does).
 *
 * Conventions: sizes are int64, float buffers are float32, index buffers int32. Every kernel is
 * deterministic for a fixed thread count: static partitioning only, no atomics, and float sums that
 * cross threads are reduced in a fixed order (most of them independent of the thread count).
 */
#ifndef TRM_H
#define TRM_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif
/* The 8-lane AVX2 + FMA paths, where AVX-512 is not there (each kernel: #ifdef __AVX512F__ …
 * #elif TRM_AVX2 … #else portable C). */
#if !defined(__AVX512F__) && defined(__AVX2__) && defined(__FMA__)
#define TRM_AVX2 1
#else
#define TRM_AVX2 0
#endif

#define TRM_EXPORT __attribute__((visibility("default")))
#define TRM_INLINE static inline __attribute__((always_inline))

typedef int64_t i64;

/* The thread count every parallel region uses (set from the host, default: all cores). */
extern int trm_threads_;

/* Threads for a loop of `work` elements: one below the size where forking pays off. */
TRM_INLINE int trm_nth(i64 work) { return work < 32768 ? 1 : trm_threads_; }

/* A per-thread scratch buffer that only grows (64-byte aligned, contents undefined).
 * `slot` < TRM_SCRATCH_SLOTS selects one of several independent buffers of the calling thread. */
#define TRM_SCRATCH_SLOTS 8
float *trm_scratch(int slot, size_t floats);

/* Σ_c a[c]·b[c] in double (b = NULL means all ones: Σ a²). */
TRM_INLINE double dot_d(const float *a, const float *b, i64 n) {
  double s = 0;
  if (b) {
#pragma omp simd reduction(+ : s)
    for (i64 c = 0; c < n; c++) s += (double)a[c] * (double)b[c];
  } else {
#pragma omp simd reduction(+ : s)
    for (i64 c = 0; c < n; c++) s += (double)a[c] * (double)a[c];
  }
  return s;
}

/* 1/√(mean of x² + eps) over n floats, the sum in double: every RMSNorm's row scale. */
TRM_INLINE float trm_rstd(const float *x, i64 n, double eps) {
  return (float)(1.0 / sqrt(dot_d(x, NULL, n) / (double)n + eps));
}

/* Rows per chunk of the column sums that cross rows (sum_rows, the RMSNorm dweights): partial
 * sums per chunk, then trm_sum_chunks — an order that does not depend on the thread count. */
#define ROW_CHUNK 256

/* out[c] = Σ_ch part[ch·cols + c] over nchunk chunk rows, summed in chunk order in double; called
 * inside a parallel region, it shares the columns among the region's threads (orphaned omp for). */
TRM_INLINE void trm_sum_chunks(const double *part, i64 nchunk, i64 cols, float *out) {
#pragma omp for schedule(static)
  for (i64 c = 0; c < cols; c++) {
    double s = 0;
    for (i64 ch = 0; ch < nchunk; ch++) s += part[ch * cols + c];
    out[c] = (float)s;
  }
}

#ifdef __AVX512F__
/* e^x for 16 lanes: range reduction to r in [-ln2/2, ln2/2], degree-7 Taylor polynomial, and
 * scaling by 2^n with vscalefps (which gives inf/0/denormals correctly). About 1 ulp; NaN stays
 * NaN (the min/max operand order keeps it). */
TRM_INLINE __m512 trm_exp16(__m512 x) {
  x = _mm512_max_ps(_mm512_set1_ps(-104.0f), _mm512_min_ps(_mm512_set1_ps(89.0f), x));
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

/* Mask of the first `n` lanes (n in 0..16). */
TRM_INLINE __mmask16 trm_mask(i64 n) {
  return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u);
}
#endif

#if TRM_AVX2
/* e^x for 8 lanes, the same steps as trm_exp16 (meant to give its bits): clamp to [-104, 89], range
 * reduction, degree-7 Taylor polynomial, then p·2^n as two exact power-of-two factors
 * p·2^⌊n/2⌋·2^(n−⌊n/2⌋) (each a normal float for n in [-150, 128]): the first product is exact, the
 * second rounds once, so overflow gives inf and large negative x denormals or 0, as vscalefps
 * does. NaN stays NaN (min/max operand order; a NaN p makes the products NaN). */
TRM_INLINE __m256 trm_exp8(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(-104.0f), _mm256_min_ps(_mm256_set1_ps(89.0f), x));
  __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i ni = _mm256_cvtps_epi32(n), n1 = _mm256_srai_epi32(ni, 1);
  const __m256i n2 = _mm256_sub_epi32(ni, n1), bias = _mm256_set1_epi32(127);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
  return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

/* Lane mask (all ones in lanes < n, n clamped to 0..8) for _mm256_maskload_ps/maskstore_ps. */
TRM_INLINE __m256i trm_mask8(i64 n) {
  const int k = n < 0 ? 0 : n > 8 ? 8 : (int)n;
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* Horizontal max and sum of 8 lanes (fixed pairing order: deterministic). */
TRM_INLINE float trm_hmax8(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}
TRM_INLINE float trm_hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
#endif

#endif
