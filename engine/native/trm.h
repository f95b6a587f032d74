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
#ifdef __AVX512F__
#include <immintrin.h>
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

#endif
