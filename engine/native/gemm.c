/*
 * Own blocked SGEMM, used when OpenBLAS is absent (or "own" is asked for):
 * C_i = alpha·op(A_i)·op(B_i) + beta·C_i for i < batch, row-major, any transposes, C not read when
 * beta is 0. Goto/BLIS structure: B panels of KC × NC packed in NR-wide strips (shared by the
 * threads), A blocks of MC × KC packed in MR-tall strips (per thread), an MR × NR register-tile
 * micro-kernel (AVX-512, or AVX2 + FMA as 6 × 16 and 2 × 32 sub-tiles). Every C element is summed
 * by one thread in a fixed order: deterministic.
 */
#include <omp.h>

#include "trm.h"

#define MR 8
#define NR 32
#define KC 256
#define MC 128
#define NC 2048

/* C[0..mr) × [0..nr) (row stride ldc) = alpha·acc + beta·C, where acc = A-strip · b-strip over kc
 * and the strip's element (r, p) is a[r·ars + p·aps]: a packed strip (ars 1, aps MR) or, when
 * packing would not pay, A itself (rows past mr clamped to the last, never stored). The sum over p
 * runs in the same order either way: the same bits. `beta` 0 writes without reading C. */
static void ukernel(i64 kc, const float *restrict a, i64 ars, i64 aps, const float *restrict b,
                    float *c, i64 ldc, float alpha, float beta, int mr, int nr) {
#ifdef __AVX512F__
  const float *ar_[MR];
  for (int r = 0; r < MR; r++) ar_[r] = a + (r < mr ? r : mr - 1) * ars;
  __m512 acc[MR][2];
  for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (i64 p = 0; p < kc; p++) {
    const __m512 b0 = _mm512_load_ps(b + p * NR), b1 = _mm512_load_ps(b + p * NR + 16);
    for (int r = 0; r < MR; r++) {
      const __m512 ar = _mm512_set1_ps(ar_[r][p * aps]);
      acc[r][0] = _mm512_fmadd_ps(ar, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(ar, b1, acc[r][1]);
    }
  }
  const __mmask16 m0 = trm_mask(nr), m1 = trm_mask(nr - 16 > 0 ? nr - 16 : 0);
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  for (int r = 0; r < mr; r++) {
    float *cr = c + r * ldc;
    __m512 x0 = _mm512_mul_ps(va, acc[r][0]), x1 = _mm512_mul_ps(va, acc[r][1]);
    if (beta != 0.0f) {
      x0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, cr), x0);
      x1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, cr + 16), x1);
    }
    _mm512_mask_storeu_ps(cr, m0, x0);
    _mm512_mask_storeu_ps(cr + 16, m1, x1);
  }
#elif TRM_AVX2
  /* Register tiles of 12 accumulators (of 16 ymm registers): rows 0–5 in two passes of 16
   * columns, then rows 6–7 over all 32 (only where those rows / columns exist). Each element still
   * sums p in ascending order in one FMA chain, as above. */
  const float *ar_[MR];
  for (int r = 0; r < MR; r++) ar_[r] = a + (r < mr ? r : mr - 1) * ars;
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  const int r6 = mr < 6 ? mr : 6;
  for (int h = 0; h < 2 && 16 * h < nr; h++) {
    __m256 acc[6][2];
    for (int r = 0; r < 6; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    const float *bh = b + 16 * h;
    for (i64 p = 0; p < kc; p++) {
      const __m256 b0 = _mm256_load_ps(bh + p * NR), b1 = _mm256_load_ps(bh + p * NR + 8);
      for (int r = 0; r < 6; r++) {
        const __m256 av = _mm256_broadcast_ss(ar_[r] + p * aps);
        acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
        acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
      }
    }
    const __m256i m0 = trm_mask8(nr - 16 * h), m1 = trm_mask8(nr - 16 * h - 8);
#pragma GCC unroll 8
    for (int r = 0; r < 6; r++) {
      if (r >= r6) break;
      float *cr = c + r * ldc + 16 * h;
      __m256 x0 = _mm256_mul_ps(va, acc[r][0]), x1 = _mm256_mul_ps(va, acc[r][1]);
      if (nr >= 16 * h + 16) {
        if (beta != 0.0f) {
          x0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr), x0);
          x1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr + 8), x1);
        }
        _mm256_storeu_ps(cr, x0);
        _mm256_storeu_ps(cr + 8, x1);
      } else {
        if (beta != 0.0f) {
          x0 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(cr, m0), x0);
          x1 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(cr + 8, m1), x1);
        }
        _mm256_maskstore_ps(cr, m0, x0);
        _mm256_maskstore_ps(cr + 8, m1, x1);
      }
    }
  }
  for (int once = 0; once < 1 && mr > 6; once++) {
    __m256 acc[2][4];
    for (int r = 0; r < 2; r++)
      for (int q = 0; q < 4; q++) acc[r][q] = _mm256_setzero_ps();
    for (i64 p = 0; p < kc; p++) {
      __m256 bv[4];
      for (int q = 0; q < 4; q++) bv[q] = _mm256_load_ps(b + p * NR + 8 * q);
      for (int r = 0; r < 2; r++) {
        const __m256 av = _mm256_broadcast_ss(ar_[6 + r] + p * aps);
        for (int q = 0; q < 4; q++) acc[r][q] = _mm256_fmadd_ps(av, bv[q], acc[r][q]);
      }
    }
#pragma GCC unroll 2
    for (int r = 0; r < 2; r++) {
      if (6 + r >= mr) break;
      float *cr = c + (6 + r) * ldc;
#pragma GCC unroll 4
      for (int q = 0; q < 4; q++) {
        __m256 x = _mm256_mul_ps(va, acc[r][q]);
        if (nr >= 8 * q + 8) {
          if (beta != 0.0f) x = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr + 8 * q), x);
          _mm256_storeu_ps(cr + 8 * q, x);
        } else {
          const __m256i m = trm_mask8(nr - 8 * q);
          if (beta != 0.0f) x = _mm256_fmadd_ps(vb, _mm256_maskload_ps(cr + 8 * q, m), x);
          _mm256_maskstore_ps(cr + 8 * q, m, x);
        }
      }
    }
  }
#else
  float acc[MR][NR];
  memset(acc, 0, sizeof acc);
  for (i64 p = 0; p < kc; p++)
    for (int r = 0; r < MR; r++) {
      const float ar = a[(r < mr ? r : mr - 1) * ars + p * aps];
      for (int j = 0; j < NR; j++) acc[r][j] += ar * b[p * NR + j];
    }
  for (int r = 0; r < mr; r++)
    for (int j = 0; j < nr; j++) {
      float *cj = c + r * ldc + j;
      *cj = beta != 0.0f ? alpha * acc[r][j] + beta * *cj : alpha * acc[r][j];
    }
#endif
}

/* Packs op(B)[p0..p0+kc) × [j0..j0+NR) into one strip, zero-padded to NR columns. */
static void pack_b_strip(int tb, const float *B, i64 ldb, i64 p0, i64 kc, i64 j0, i64 nr,
                         float *restrict dst) {
  if (!tb) {
    for (i64 p = 0; p < kc; p++) {
      const float *src = B + (p0 + p) * ldb + j0;
      float *d = dst + p * NR;
      i64 j = 0;
      for (; j < nr; j++) d[j] = src[j];
      for (; j < NR; j++) d[j] = 0.0f;
    }
  } else {
    for (i64 j = 0; j < NR; j++) {
      if (j < nr) {
        const float *src = B + (j0 + j) * ldb + p0;
        for (i64 p = 0; p < kc; p++) dst[p * NR + j] = src[p];
      } else {
        for (i64 p = 0; p < kc; p++) dst[p * NR + j] = 0.0f;
      }
    }
  }
}

/* Packs op(A)[i0..i0+mr) × [p0..p0+kc) into one strip, zero-padded to MR rows. */
static void pack_a_strip(int ta, const float *A, i64 lda, i64 i0, i64 mr, i64 p0, i64 kc,
                         float *restrict dst) {
  if (ta) {
    for (i64 p = 0; p < kc; p++) {
      const float *src = A + (p0 + p) * lda + i0;
      float *d = dst + p * MR;
      i64 r = 0;
      for (; r < mr; r++) d[r] = src[r];
      for (; r < MR; r++) d[r] = 0.0f;
    }
  } else {
    for (i64 r = 0; r < MR; r++) {
      if (r < mr) {
        const float *src = A + (i0 + r) * lda + p0;
        for (i64 p = 0; p < kc; p++) dst[p * MR + r] = src[p];
      } else {
        for (i64 p = 0; p < kc; p++) dst[p * MR + r] = 0.0f;
      }
    }
  }
}

/* C = beta·C (beta 0: C = 0 without reading it). */
static void scale_c(i64 m, i64 n, float beta, float *C, i64 ldc, int nth) {
#pragma omp parallel for num_threads(nth) schedule(static)
  for (i64 i = 0; i < m; i++)
    for (i64 j = 0; j < n; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
}

static void gemm_one(int ta, int tb, i64 m, i64 n, i64 k, float alpha, const float *A, i64 lda,
                     const float *B, i64 ldb, float beta, float *C, i64 ldc, int nth) {
  if (k == 0 || alpha == 0.0f) {
    scale_c(m, n, beta, C, ldc, nth);
    return;
  }
  const i64 nc_max = n < NC ? n : NC, kc_max = k < KC ? k : KC;
  /* Packing A costs about as much per element as the micro-kernel spends on it when each packed
   * strip meets only one or two B strips (n ≤ 2·NR, the narrow products of small models): then the
   * micro-kernel reads A where it lies (ta: 8 contiguous floats per p; else 8 row streams). */
  const int direct = n <= 2 * NR;
  const i64 ars = ta ? 1 : lda, aps = ta ? lda : 1;
  float *bpack = trm_scratch(1, (size_t)(((nc_max + NR - 1) / NR) * NR * kc_max));
  const i64 mblocks = (m + MC - 1) / MC;
#pragma omp parallel num_threads(nth)
  {
    float *apack = trm_scratch(2, (size_t)(MC * kc_max));
    const int T = omp_get_num_threads();
    for (i64 jc = 0; jc < n; jc += NC) {
      const i64 nc = n - jc < NC ? n - jc : NC, nstrips = (nc + NR - 1) / NR;
      /* when there are fewer M blocks than threads, also split the panel's strips */
      const i64 jgroups = mblocks >= T ? 1 : (T + mblocks - 1) / mblocks;
      for (i64 pc = 0; pc < k; pc += KC) {
        const i64 kc = k - pc < KC ? k - pc : KC;
        const float bet = pc == 0 ? beta : 1.0f;
#pragma omp for schedule(static)
        for (i64 s = 0; s < nstrips; s++) {
          const i64 j0 = s * NR, nr = nc - j0 < NR ? nc - j0 : NR;
          pack_b_strip(tb, B, ldb, pc, kc, jc + j0, nr, bpack + s * kc * NR);
        }
#pragma omp for schedule(static)
        for (i64 task = 0; task < mblocks * jgroups; task++) {
          const i64 ib = task / jgroups, g = task % jgroups;
          const i64 ic = ib * MC, mc = m - ic < MC ? m - ic : MC;
          const i64 s0 = nstrips * g / jgroups, s1 = nstrips * (g + 1) / jgroups;
          if (s0 >= s1) continue;
          if (!direct)
            for (i64 ir = 0; ir < mc; ir += MR)
              pack_a_strip(ta, A, lda, ic + ir, mc - ir < MR ? mc - ir : MR, pc, kc,
                           apack + ir * kc);
          for (i64 s = s0; s < s1; s++) {
            const i64 j0 = s * NR, nr = nc - j0 < NR ? nc - j0 : NR;
            for (i64 ir = 0; ir < mc; ir += MR) {
              const float *a = direct ? A + (ic + ir) * ars + pc * aps : apack + ir * kc;
              ukernel(kc, a, direct ? ars : 1, direct ? aps : MR, bpack + s * kc * NR,
                      C + (ic + ir) * ldc + jc + j0, ldc, alpha, bet,
                      (int)(mc - ir < MR ? mc - ir : MR), (int)nr);
            }
          }
        }
      }
    }
  }
}

TRM_EXPORT void trm_gemm(int ta, int tb, i64 m, i64 n, i64 k, float alpha, const float *A,
                         i64 lda, const float *B, i64 ldb, float beta, float *C, i64 ldc,
                         i64 batch, i64 sa, i64 sb, i64 sc) {
  if (m <= 0 || n <= 0 || batch <= 0) return;
  const i64 flops = m * n * (k > 0 ? k : 1);
  const int T = trm_threads_;
  if (batch >= T && T > 1 && sc != 0) {
    /* many independent products: one per thread at a time, each single-threaded */
#pragma omp parallel for num_threads(T) schedule(static)
    for (i64 i = 0; i < batch; i++)
      gemm_one(ta, tb, m, n, k, alpha, A + i * sa, lda, B + i * sb, ldb, beta, C + i * sc, ldc, 1);
  } else {
    const int nth = flops < 65536 ? 1 : T;
    for (i64 i = 0; i < batch; i++)
      gemm_one(ta, tb, m, n, k, alpha, A + i * sa, lda, B + i * sb, ldb, beta, C + i * sc, ldc,
               nth);
  }
}
