/*
 * Mamba-2 kernels: the causal depthwise conv1d and the chunked SSD scan, forward and backward
 * (semantics: engine/backend.ts; the algorithm: the chunked SSD of Dao & Gu 2024,
 * arXiv:2405.21060 §6, with the backward organised like state-spaces/mamba's Triton kernels).
 *
 * Conv: tasks are blocks of CONV_CB channels; each task streams every (batch, time) row, so the
 * weight and bias gradients are plain per-task sums (float64), with no cross-thread reduction.
 *
 * Scan, with Q the chunk length, nc = ceil(T/Q), chunk c covering t0 = c·Q .. t0+L−1, and per
 * head the in-chunk cumulative log-decay lam[i] = Σ_{k≤i} Δ_k·A (float32, sequential):
 *   phase 1 (tasks (b, h, c)): chunk-local end state s_c = Σ_j exp(lam[L−1] − lam[j])·Δ_j·x_j⊗B_j
 *   phase 2 (tasks (b, h)):    state passing Hst[c+1] = exp(lam_tot_c)·Hst[c] + s_c (in place)
 *   phase 3 (tasks (b, g, c)): CB = C·Bᵀ once per group, then per head of the group
 *                              y = exp(lam_i)·C_i·Hst[c] + Σ_{j≤i} CB_ij·exp(lam_i − lam_j)·Δ_j·x_j
 *                                  + D·x_i
 * Only the chunk-boundary states are kept (B·H·nc·P·N floats, allocated per call); the backward
 * recomputes them and everything inside a chunk. States are stored transposed, [N, P], so the
 * state → output product runs along P. Exponents are clamped to ≤ 0 and every mask is a select
 * (never exp(a)·exp(−b), never a multiply by 0): exp(−b) overflows f32 once b > ~88, and an inf
 * times a masked 0 is NaN. The exponents of in-chunk decays (lam_i − lam_j, lam[L−1] − lam_j) are
 * formed as direct sums of their own a_k (the stable segment sum, `segsum` in state-spaces/mamba's
 * ssd_minimal.py), not as differences of cumsums: with large Δ the cumsum reaches 1e4–1e5 and its
 * f32 difference would lose the small exponents that matter.
 *
 * Backward (the three passes of the upstream Triton backward): phase 1 again plus pass A
 * (dHout_c = Σ_i exp(lam_i)·C_i⊗dy_i), then per (b, h) the forward state passing and the reverse
 * pass B (dS_c, d lam_tot_c, dInit), then pass C per (b, g, c): dx, dΔ, dB, dC of the chunk and
 * the in-chunk log-decay gradient da_k = Σ_{j<k} τ_j + Σ_{i≥k} ρ_i + Σ_{i≥k} Σ_{j<k} π_ij as row
 * prefix sums (no cancellation of large totals). dA and dD are written per task into a (b, c, h)
 * table and summed in a fixed order afterwards, so results are deterministic and independent of
 * the thread count.
 *
 * All products go through one register-blocked micro-kernel, `mm` (AVX-512: RB rows × 64 columns;
 * AVX2 + FMA: RB rows × 16 columns; else plain loops), whose left operand is
 * addressed by row/column strides (so transposes are free) and whose k-range can follow a
 * triangle (the causal structure inside a chunk).
 */
#include <omp.h>

#include "trm.h"

/* ------------------------------------------------------------------ causal depthwise conv1d */

#define CONV_CB 64    /* channels per task */
#define CONV_FLUSH 64 /* rows summed in float before the float64 total */

TRM_EXPORT void trm_conv1d_causal(i64 B, i64 T, i64 C, i64 K, const float *x, const float *w,
                                  const float *bias, float *out) {
  const i64 nblk = (C + CONV_CB - 1) / CONV_CB;
  const int nth = nblk > 1 ? trm_nth(B * T * C * K) : 1;
#pragma omp parallel for num_threads(nth) schedule(static)
  for (i64 blk = 0; blk < nblk; blk++) {
    const i64 c0 = blk * CONV_CB, nc = C - c0 < CONV_CB ? C - c0 : CONV_CB;
    float *wt = trm_scratch(0, (size_t)(K * CONV_CB)); /* wt[j·CB + c] = w[c0 + c, j] */
    for (i64 j = 0; j < K; j++)
      for (i64 c = 0; c < nc; c++) wt[j * CONV_CB + c] = w[(c0 + c) * K + j];
    for (i64 b = 0; b < B; b++)
      for (i64 t = 0; t < T; t++) {
        float acc[CONV_CB];
        for (i64 c = 0; c < nc; c++) acc[c] = bias[c0 + c];
        for (i64 j = K - 1 - t > 0 ? K - 1 - t : 0; j < K; j++) {
          const float *xs = x + (b * T + t - K + 1 + j) * C + c0, *wj = wt + j * CONV_CB;
#pragma omp simd
          for (i64 c = 0; c < nc; c++) acc[c] += wj[c] * xs[c];
        }
        float *o = out + (b * T + t) * C + c0;
        for (i64 c = 0; c < nc; c++) o[c] = acc[c];
      }
  }
}

TRM_EXPORT void trm_conv1d_causal_backward(i64 B, i64 T, i64 C, i64 K, const float *x,
                                           const float *w, const float *dy, float *dx, float *dw,
                                           float *dbias) {
  const i64 nblk = (C + CONV_CB - 1) / CONV_CB;
  const int nth = nblk > 1 ? trm_nth(B * T * C * K) : 1;
#pragma omp parallel for num_threads(nth) schedule(static)
  for (i64 blk = 0; blk < nblk; blk++) {
    const i64 c0 = blk * CONV_CB, nc = C - c0 < CONV_CB ? C - c0 : CONV_CB;
    float *wt = trm_scratch(0, (size_t)(K * CONV_CB));
    /* weight and bias gradients: K rows, then the bias row; float partial sums over at most
     * CONV_FLUSH (b, t) rows, added into float64 totals */
    const i64 nw = (K + 1) * CONV_CB;
    double *gw = (double *)trm_scratch(1, (size_t)(2 * nw));
    float *gf = trm_scratch(2, (size_t)nw);
    for (i64 j = 0; j < K; j++)
      for (i64 c = 0; c < nc; c++) wt[j * CONV_CB + c] = w[(c0 + c) * K + j];
    for (i64 i = 0; i < nw; i++) {
      gw[i] = 0.0;
      gf[i] = 0.0f;
    }
    i64 pending = 0;
    for (i64 b = 0; b < B; b++)
      for (i64 t = 0; t < T; t++) {
        const float *g = dy + (b * T + t) * C + c0;
        /* dx[s] gathers dy[s + K − 1 − j]·w[j] */
        float acc[CONV_CB];
        for (i64 c = 0; c < nc; c++) acc[c] = 0.0f;
        for (i64 j = 0; j < K; j++) {
          const i64 s = t + K - 1 - j;
          if (s >= T) continue;
          const float *gs = dy + (b * T + s) * C + c0, *wj = wt + j * CONV_CB;
#pragma omp simd
          for (i64 c = 0; c < nc; c++) acc[c] += wj[c] * gs[c];
        }
        float *o = dx + (b * T + t) * C + c0;
        for (i64 c = 0; c < nc; c++) o[c] = acc[c];
        /* dw[j] += dy[t]·x[t − K + 1 + j], dbias += dy[t] */
        for (i64 j = K - 1 - t > 0 ? K - 1 - t : 0; j < K; j++) {
          const float *xs = x + (b * T + t - K + 1 + j) * C + c0;
          float *gj = gf + j * CONV_CB;
#pragma omp simd
          for (i64 c = 0; c < nc; c++) gj[c] += g[c] * xs[c];
        }
        float *gb = gf + K * CONV_CB;
#pragma omp simd
        for (i64 c = 0; c < nc; c++) gb[c] += g[c];
        if (++pending == CONV_FLUSH || (b == B - 1 && t == T - 1)) {
#pragma omp simd
          for (i64 i = 0; i < nw; i++) {
            gw[i] += (double)gf[i];
            gf[i] = 0.0f;
          }
          pending = 0;
        }
      }
    for (i64 c = 0; c < nc; c++) {
      for (i64 j = 0; j < K; j++) dw[(c0 + c) * K + j] = (float)gw[j * CONV_CB + c];
      dbias[c0 + c] = (float)gw[K * CONV_CB + c];
    }
  }
}

/* ------------------------------------------------------------------ micro-kernel */

#define RB 6 /* rows per register tile (of 64 columns) */

enum { MM_FULL = 0, MM_LOWER = 1, MM_UPPER = 2 };

#if TRM_AVX2
/* One AVX2 register tile of mm: rows r0 .. r0 + nrr − 1 (nrr ≤ RB; rows past nrr reread the
 * last) × 16 columns from c0, 12 accumulators; `masked` (a constant at each call): columns past
 * wdt masked (wdt < 16), else all 16 live. */
TRM_INLINE void mm_tile8(int masked, i64 wdt, i64 nrr, i64 k0, i64 k1, const float *A, i64 ars,
                         i64 aks, const float *Bm, i64 ldb, float *O, i64 ldo, int acc) {
  const __m256i m0 = trm_mask8(wdt), m1 = trm_mask8(wdt - 8);
  const float *ar[RB];
  for (int r = 0; r < RB; r++) ar[r] = A + (r < nrr ? r : nrr - 1) * ars;
  __m256 a[RB][2];
  for (int r = 0; r < RB; r++) a[r][0] = a[r][1] = _mm256_setzero_ps();
  for (i64 k = k0; k < k1; k++) {
    const float *bk = Bm + k * ldb;
    const __m256 b0 = masked ? _mm256_maskload_ps(bk, m0) : _mm256_loadu_ps(bk);
    const __m256 b1 = masked ? _mm256_maskload_ps(bk + 8, m1) : _mm256_loadu_ps(bk + 8);
    for (int r = 0; r < RB; r++) {
      const __m256 av = _mm256_broadcast_ss(ar[r] + k * aks);
      a[r][0] = _mm256_fmadd_ps(av, b0, a[r][0]);
      a[r][1] = _mm256_fmadd_ps(av, b1, a[r][1]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < RB; r++) {
    if (r >= nrr) break;
    float *o = O + r * ldo;
    __m256 v0 = a[r][0], v1 = a[r][1];
    if (masked) {
      if (acc) {
        v0 = _mm256_add_ps(v0, _mm256_maskload_ps(o, m0));
        v1 = _mm256_add_ps(v1, _mm256_maskload_ps(o + 8, m1));
      }
      _mm256_maskstore_ps(o, m0, v0);
      _mm256_maskstore_ps(o + 8, m1, v1);
    } else {
      if (acc) {
        v0 = _mm256_add_ps(v0, _mm256_loadu_ps(o));
        v1 = _mm256_add_ps(v1, _mm256_loadu_ps(o + 8));
      }
      _mm256_storeu_ps(o, v0);
      _mm256_storeu_ps(o + 8, v1);
    }
  }
}
#endif

/*
 * O[r·ldo + c] = Σ_k A[r·ars + k·aks] · Bm[k·ldb + c] (+ O when acc), for r < nr, c < ncol.
 * k runs over [0, nk) (MM_FULL); over [0, min(nk, r0 + RB)) for the tile of rows starting at r0
 * (MM_LOWER: A must hold 0 at k > r); over [r0, nk) (MM_UPPER: A must hold 0 at k < r).
 */
static void mm(int tri, i64 nr, i64 ncol, i64 nk, const float *A, i64 ars, i64 aks,
               const float *Bm, i64 ldb, float *O, i64 ldo, int acc) {
#ifdef __AVX512F__
  for (i64 c0 = 0; c0 < ncol; c0 += 64) {
    __mmask16 mk[4];
    for (int q = 0; q < 4; q++) {
      const i64 wdt = ncol - c0 - 16 * q;
      mk[q] = trm_mask(wdt > 0 ? wdt : 0);
    }
    for (i64 r0 = 0; r0 < nr; r0 += RB) {
      const i64 nrr = nr - r0 < RB ? nr - r0 : RB;
      i64 k0 = 0, k1 = nk;
      if (tri == MM_LOWER && r0 + RB < nk) k1 = r0 + RB;
      if (tri == MM_UPPER) k0 = r0;
      const float *ar[RB];
      for (int r = 0; r < RB; r++) ar[r] = A + (r0 + (r < nrr ? r : nrr - 1)) * ars;
      __m512 a[RB][4];
      for (int r = 0; r < RB; r++)
        for (int q = 0; q < 4; q++) a[r][q] = _mm512_setzero_ps();
      for (i64 k = k0; k < k1; k++) {
        const float *bk = Bm + k * ldb + c0;
        __m512 bv[4];
        for (int q = 0; q < 4; q++) bv[q] = _mm512_maskz_loadu_ps(mk[q], bk + 16 * q);
        for (int r = 0; r < RB; r++) {
          const __m512 av = _mm512_set1_ps(ar[r][k * aks]);
          for (int q = 0; q < 4; q++) a[r][q] = _mm512_fmadd_ps(av, bv[q], a[r][q]);
        }
      }
      /* constant trip counts (fully unrolled), so the accumulators stay in registers */
#pragma GCC unroll 8
      for (int r = 0; r < RB; r++) {
        if (r >= nrr) break;
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++) {
          float *o = O + (r0 + r) * ldo + c0 + 16 * q;
          __m512 v = a[r][q];
          if (acc) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mk[q], o));
          _mm512_mask_storeu_ps(o, mk[q], v);
        }
      }
    }
  }
#elif TRM_AVX2
  for (i64 c0 = 0; c0 < ncol; c0 += 16) {
    const i64 wdt = ncol - c0;
    for (i64 r0 = 0; r0 < nr; r0 += RB) {
      const i64 nrr = nr - r0 < RB ? nr - r0 : RB;
      i64 k0 = 0, k1 = nk;
      if (tri == MM_LOWER && r0 + RB < nk) k1 = r0 + RB;
      if (tri == MM_UPPER) k0 = r0;
      const float *a = A + r0 * ars;
      float *o = O + r0 * ldo + c0;
      if (wdt >= 16) mm_tile8(0, 16, nrr, k0, k1, a, ars, aks, Bm + c0, ldb, o, ldo, acc);
      else mm_tile8(1, wdt, nrr, k0, k1, a, ars, aks, Bm + c0, ldb, o, ldo, acc);
    }
  }
#else
  for (i64 r = 0; r < nr; r++) {
    const i64 r0 = r - r % RB;
    i64 k0 = 0, k1 = nk;
    if (tri == MM_LOWER && r0 + RB < nk) k1 = r0 + RB;
    if (tri == MM_UPPER) k0 = r0;
    for (i64 c = 0; c < ncol; c++) {
      float s = 0.0f;
      for (i64 k = k0; k < k1; k++) s += A[r * ars + k * aks] * Bm[k * ldb + c];
      O[r * ldo + c] = acc ? O[r * ldo + c] + s : s;
    }
  }
#endif
}

/*
 * Row i of the in-chunk decay matrix, from the stable segment sum (as `segsum` in
 * state-spaces/mamba's ssd_minimal.py): `seg` holds row i−1, seg[j] = Σ_{k=j+1}^{i−1} a_k, and
 * becomes row i by adding a_i to every j < i (seg[i] = 0), so each entry is a direct sum of its own
 * a's rather than a difference of two long cumsums. out[j] = exp(min(seg[j], 0)) for j ≤ i,
 * 0 for i < j < n (the causal mask, as a select).
 */
static void decay_row(i64 i, i64 n, float ai, float *seg, float *out) {
  for (i64 j = 0; j < i; j++) seg[j] += ai;
  seg[i] = 0.0f;
#ifdef __AVX512F__
  const __m512 zero = _mm512_setzero_ps();
  for (i64 j = 0; j < n; j += 16) {
    const __mmask16 live = trm_mask(n - j), keep = trm_mask(i + 1 - j > 0 ? i + 1 - j : 0);
    const __m512 d = _mm512_min_ps(_mm512_maskz_loadu_ps(keep, seg + j), zero);
    _mm512_mask_storeu_ps(out + j, live, _mm512_maskz_mov_ps(keep, trm_exp16(d)));
  }
#elif TRM_AVX2
  const __m256 zero = _mm256_setzero_ps();
  for (i64 j = 0; j < n; j += 8) {
    const __m256i keep = trm_mask8(i + 1 - j);
    const __m256 d = _mm256_min_ps(_mm256_maskload_ps(seg + j, keep), zero);
    const __m256 e = _mm256_and_ps(trm_exp8(d), _mm256_castsi256_ps(keep));
    if (n - j >= 8) _mm256_storeu_ps(out + j, e);
    else _mm256_maskstore_ps(out + j, trm_mask8(n - j), e);
  }
#else
  for (i64 j = 0; j < n; j++) out[j] = j <= i ? expf(seg[j] < 0.0f ? seg[j] : 0.0f) : 0.0f;
#endif
}

/* e[j] = exp(Σ_{k=j+1}^{L−1} Δ_k·A) for j < L (decay from step j to the chunk's end), summed from
 * the end so each exponent is a direct sum; `dtc` holds Δ of the chunk. */
static void decay_to_end(i64 L, const float *dtc, float a, float *e) {
  float s = 0.0f;
  for (i64 j = L - 1; j >= 0; j--) {
    e[j] = expf(fminf(s, 0.0f));
    s += dtc[j] * a;
  }
}

/* dst[c·ldd + r] = src[r·lds + c] for r < rows, c < cols; in 16 × 16 tiles so that the strided
 * side touches whole cache lines. */
static void transpose_to(i64 rows, i64 cols, const float *src, i64 lds, float *dst, i64 ldd) {
  for (i64 r0 = 0; r0 < rows; r0 += 16)
    for (i64 c0 = 0; c0 < cols; c0 += 16) {
      const i64 r1 = r0 + 16 < rows ? r0 + 16 : rows, c1 = c0 + 16 < cols ? c0 + 16 : cols;
      for (i64 c = c0; c < c1; c++)
        for (i64 r = r0; r < r1; r++) dst[c * ldd + r] = src[r * lds + c];
    }
}

/* dst[r·cols + c] = src[r·lds + c]: a head's rows of a chunk packed contiguously. The token stride
 * of x, y, dy, dx (H·P floats, 4 KiB for the defaults) maps every row of a chunk onto the same few
 * L1 sets; the micro-kernel reads packed copies instead. */
static void pack_rows(i64 rows, i64 cols, const float *src, i64 lds, float *dst) {
  for (i64 r = 0; r < rows; r++) memcpy(dst + r * cols, src + r * lds, (size_t)cols * sizeof(float));
}

/* ------------------------------------------------------------------ SSD scan */

typedef struct {
  i64 B, T, H, P, G, N, Q, nc, hpg;
  i64 Qe, Qp; /* effective chunk length min(Q, T), and Qe rounded up to 16 (matrix row stride) */
} Dims;

static Dims dims_of(i64 B, i64 T, i64 H, i64 P, i64 G, i64 N, i64 Q) {
  Dims d = {B, T, H, P, G, N, Q, (T + Q - 1) / Q, H / G, 0, 0};
  d.Qe = Q < T ? Q : T;
  d.Qp = (d.Qe + 15) & ~(i64)15;
  return d;
}

/* Chunk length and first step of chunk c. */
TRM_INLINE i64 chunk_len(const Dims *d, i64 c) {
  const i64 t0 = c * d->Q;
  return d->T - t0 < d->Q ? d->T - t0 : d->Q;
}

/* lam[i] = Σ_{k≤i} Δ[t0+k]·A for i < L (float32, sequential); dtc[i] = Δ[t0+k]. */
static void cum_decay(const Dims *d, const float *dt, float a, i64 b, i64 h, i64 t0, i64 L,
                      float *lam, float *dtc) {
  float s = 0.0f;
  for (i64 i = 0; i < L; i++) {
    const float v = dt[(b * d->T + t0 + i) * d->H + h];
    dtc[i] = v;
    s += v * a;
    lam[i] = s;
  }
}

/* Phase 1 for (b, h, c): st[n·P + p] = s_c[p, n]; returns lam_tot. Scratch: lam, dtc [Q], xw [Q·P]. */
static float chunk_state(const Dims *d, const float *x, const float *dt, float a, const float *Bm,
                         i64 b, i64 h, i64 c, float *lam, float *dtc, float *xw, float *st) {
  const i64 t0 = c * d->Q, L = chunk_len(d, c), P = d->P, g = h / d->hpg;
  cum_decay(d, dt, a, b, h, t0, L, lam, dtc);
  const float last = lam[L - 1];
  decay_to_end(L, dtc, a, lam); /* lam is not needed beyond `last` */
  for (i64 j = 0; j < L; j++) {
    const float e = lam[j] * dtc[j];
    const float *xj = x + ((b * d->T + t0 + j) * d->H + h) * P;
    for (i64 p = 0; p < P; p++) xw[j * P + p] = e * xj[p];
  }
  /* sT[n, p] = Σ_j B[j, n]·xw[j, p] */
  const float *bc = Bm + ((b * d->T + t0) * d->G + g) * d->N;
  mm(MM_FULL, d->N, P, L, bc, 1, d->G * d->N, xw, P, st, P, 0);
  return last;
}

/* The states buffer: st + ((b·H + h)·nc + c)·N·P. */
TRM_INLINE float *state_at(const Dims *d, float *st, i64 b, i64 h, i64 c) {
  return st + ((b * d->H + h) * d->nc + c) * d->N * d->P;
}

/* Phase 1 over all (b, h, c), then phase 2 per (b, h): afterwards st[c] = Hst[c] (entering
 * chunk c) and, when fin is given, fin[b, h] = the final state [P, N]. ltot [B·H·nc]. */
static void states_forward(const Dims *d, const float *x, const float *dt, const float *A,
                           const float *Bm, const float *init, float *st, float *ltot,
                           float *fin, int nth) {
  const i64 ntask = d->B * d->H * d->nc, NP = d->N * d->P;
#pragma omp parallel num_threads(nth)
  {
    float *ws = trm_scratch(3, (size_t)(2 * d->Qp + d->Qp * d->P));
#pragma omp for schedule(static)
    for (i64 task = 0; task < ntask; task++) {
      const i64 c = task % d->nc, bh = task / d->nc, h = bh % d->H, b = bh / d->H;
      ltot[task] = chunk_state(d, x, dt, A[h], Bm, b, h, c, ws, ws + d->Qp, ws + 2 * d->Qp,
                               state_at(d, st, b, h, c));
    }
#pragma omp for schedule(static)
    for (i64 bh = 0; bh < d->B * d->H; bh++) {
      float *hcur = trm_scratch(4, (size_t)NP);
      if (init) transpose_to(d->P, d->N, init + bh * NP, d->N, hcur, d->P);
      else memset(hcur, 0, (size_t)NP * sizeof(float));
      for (i64 c = 0; c < d->nc; c++) {
        float *s = st + (bh * d->nc + c) * NP;
        const float el = expf(fminf(ltot[bh * d->nc + c], 0.0f));
        for (i64 e = 0; e < NP; e++) {
          const float sc = s[e];
          s[e] = hcur[e];
          hcur[e] = el * hcur[e] + sc;
        }
      }
      if (fin) transpose_to(d->N, d->P, hcur, d->P, fin + bh * NP, d->N);
    }
  }
}

TRM_EXPORT void trm_ssd_scan(i64 B, i64 T, i64 H, i64 P, i64 G, i64 N, i64 Q, const float *x,
                             const float *dt, const float *A, const float *Bm, const float *Cm,
                             const float *D, const float *init, float *y, float *fin) {
  if (B <= 0 || H <= 0) return;
  const Dims dd = dims_of(B, T, H, P, G, N, Q), *d = &dd;
  const i64 NP = N * P;
  if (T <= 0) {
    if (fin) {
      if (init) memcpy(fin, init, (size_t)(B * H * NP) * sizeof(float));
      else memset(fin, 0, (size_t)(B * H * NP) * sizeof(float));
    }
    return;
  }
  float *st = malloc((size_t)(B * H * d->nc * NP) * sizeof(float));
  float *ltot = malloc((size_t)(B * H * d->nc) * sizeof(float));
  if (!st || !ltot) abort(); /* out of memory: nothing sensible to return to */
  const int nth = trm_nth(B * T * H * NP);
  states_forward(d, x, dt, A, Bm, init, st, ltot, fin, nth);

  const i64 ntask = B * G * d->nc, Qp = d->Qp, ldx = H * P, ldb = G * N;
#pragma omp parallel num_threads(nth)
  {
    float *ws = trm_scratch(3, (size_t)(N * Qp + 2 * d->Qe * Qp + 4 * Qp + 2 * d->Qe * P));
    float *bt = ws, *cb = bt + N * Qp, *w = cb + d->Qe * Qp, *lam = w + d->Qe * Qp;
    float *dtc = lam + Qp, *el = dtc + Qp, *seg = el + Qp, *xp = seg + Qp, *yp = xp + d->Qe * P;
#pragma omp for schedule(static)
    for (i64 task = 0; task < ntask; task++) {
      const i64 c = task % d->nc, bg = task / d->nc, g = bg % G, b = bg / G;
      const i64 t0 = c * Q, L = chunk_len(d, c);
      const float *bc = Bm + ((b * T + t0) * G + g) * N, *cc = Cm + ((b * T + t0) * G + g) * N;
      transpose_to(L, N, bc, ldb, bt, Qp);
      mm(MM_FULL, L, L, N, cc, ldb, 1, bt, Qp, cb, Qp, 0); /* CB[i, j] = C_i·B_j */
      for (i64 h = g * d->hpg; h < (g + 1) * d->hpg; h++) {
        cum_decay(d, dt, A[h], b, h, t0, L, lam, dtc);
        for (i64 i = 0; i < L; i++) {
          decay_row(i, L, dtc[i] * A[h], seg, w + i * Qp);
          for (i64 j = 0; j <= i; j++) w[i * Qp + j] *= cb[i * Qp + j] * dtc[j];
          el[i] = expf(fminf(lam[i], 0.0f));
        }
        pack_rows(L, P, x + ((b * T + t0) * H + h) * P, ldx, xp);
        /* state → output, scaled by exp(lam_i), plus D·x, plus the causal in-chunk part */
        mm(MM_FULL, L, P, N, cc, ldb, 1, state_at(d, st, b, h, c), P, yp, P, 0);
        const float dh = D[h];
        for (i64 i = 0; i < L; i++)
          for (i64 p = 0; p < P; p++) yp[i * P + p] = el[i] * yp[i * P + p] + dh * xp[i * P + p];
        mm(MM_LOWER, L, P, L, w, Qp, 1, xp, P, yp, P, 1);
        float *yc = y + ((b * T + t0) * H + h) * P;
        for (i64 i = 0; i < L; i++) memcpy(yc + i * ldx, yp + i * P, (size_t)P * sizeof(float));
      }
    }
  }
  free(st);
  free(ltot);
}

TRM_EXPORT void trm_ssd_scan_backward(i64 B, i64 T, i64 H, i64 P, i64 G, i64 N, i64 Q,
                                      const float *x, const float *dt, const float *A,
                                      const float *Bm, const float *Cm, const float *D,
                                      const float *init, const float *dy, const float *dfin,
                                      float *dx, float *ddt, float *dA, float *dBm, float *dCm,
                                      float *dD, float *dinit) {
  if (H <= 0) return;
  const Dims dd = dims_of(B, T, H, P, G, N, Q), *d = &dd;
  const i64 NP = N * P;
  if (B <= 0 || T <= 0) {
    for (i64 h = 0; h < H; h++) dA[h] = dD[h] = 0.0f;
    if (dinit) {
      if (dfin && B > 0) memcpy(dinit, dfin, (size_t)(B * H * NP) * sizeof(float));
      else if (B > 0) memset(dinit, 0, (size_t)(B * H * NP) * sizeof(float));
    }
    return;
  }
  const i64 nc = d->nc, nst = B * H * nc;
  float *st = malloc((size_t)(nst * NP) * sizeof(float));
  float *ds = malloc((size_t)(nst * NP) * sizeof(float));
  float *ltot = malloc((size_t)nst * sizeof(float));
  float *glt = malloc((size_t)nst * sizeof(float));
  double *part = malloc((size_t)(2 * nst) * sizeof(double)); /* dA, dD per (b, c, h) */
  if (!st || !ds || !ltot || !glt || !part) abort();
  const int nth = trm_nth(B * T * H * NP);
  const i64 Qp = d->Qp, Qe = d->Qe, ldx = H * P, ldb = G * N;

  /* Pass A: dHout_c[n, p] = Σ_i C_i[n]·exp(lam_i)·dy_i[p], into ds. */
#pragma omp parallel num_threads(nth)
  {
    float *ws = trm_scratch(3, (size_t)(2 * Qp + Qp * P));
    float *lam = ws, *dtc = ws + Qp, *dyw = ws + 2 * Qp;
#pragma omp for schedule(static)
    for (i64 task = 0; task < nst; task++) {
      const i64 c = task % nc, bh = task / nc, h = bh % H, b = bh / H, g = h / d->hpg;
      const i64 t0 = c * Q, L = chunk_len(d, c);
      cum_decay(d, dt, A[h], b, h, t0, L, lam, dtc);
      const float *dyc = dy + ((b * T + t0) * H + h) * P;
      for (i64 i = 0; i < L; i++) {
        const float e = expf(fminf(lam[i], 0.0f));
        for (i64 p = 0; p < P; p++) dyw[i * P + p] = e * dyc[i * ldx + p];
      }
      mm(MM_FULL, N, P, L, Cm + ((b * T + t0) * G + g) * N, 1, ldb, dyw, P, ds + task * NP, P, 0);
    }
  }
  /* Phase 1 + 2: Hst; then pass B per (b, h): ds[c] ← dS_c (the gradient of the state leaving
   * chunk c), glt[c] = ∂L/∂lam_tot_c, dinit. */
  states_forward(d, x, dt, A, Bm, init, st, ltot, NULL, nth);
#pragma omp parallel for num_threads(nth) schedule(static)
  for (i64 bh = 0; bh < B * H; bh++) {
    float *r = trm_scratch(4, (size_t)NP);
    if (dfin) transpose_to(P, N, dfin + bh * NP, N, r, P);
    else memset(r, 0, (size_t)NP * sizeof(float));
    for (i64 c = nc - 1; c >= 0; c--) {
      float *s = ds + (bh * nc + c) * NP;
      const float *hs = st + (bh * nc + c) * NP;
      const float el = expf(fminf(ltot[bh * nc + c], 0.0f));
      double dot = 0.0;
      for (i64 e = 0; e < NP; e++) {
        dot += (double)r[e] * (double)hs[e];
        const float dh = s[e];
        s[e] = r[e];
        r[e] = dh + el * r[e];
      }
      glt[bh * nc + c] = (float)(el * dot);
    }
    if (dinit) transpose_to(N, P, r, P, dinit + bh * NP, N);
  }

  /* Pass C per (b, g, c). */
  const i64 ntask = B * G * nc;
#pragma omp parallel num_threads(nth)
  {
    const size_t need = (size_t)(N * Qp + P * Qp + 5 * Qe * Qp + 3 * Qe * P + 3 * Qe * N +
                                 2 * NP + 8 * Qp + 2 * Qe * P);
    float *ws = trm_scratch(3, need);
    float *bt = ws, *xt = bt + N * Qp, *cb = xt + P * Qp, *ldec = cb + Qe * Qp;
    float *mdec = ldec + Qe * Qp, *dcb = mdec + Qe * Qp, *dm = dcb + Qe * Qp;
    float *gx = dm + Qe * Qp, *xw = gx + Qe * P, *dyw = xw + Qe * P;
    float *dbacc = dyw + Qe * P, *dcacc = dbacc + Qe * N, *dcoff = dcacc + Qe * N;
    float *spn = dcoff + Qe * N, *hpn = spn + NP;
    float *lam = hpn + NP, *dtc = lam + Qp, *ej = dtc + Qp, *tau = ej + Qp, *rho = tau + Qp;
    float *da = rho + Qp, *seg = da + Qp, *tj = seg + Qp, *xp = tj + Qp, *dyp = xp + Qe * P;
#pragma omp for schedule(static)
    for (i64 task = 0; task < ntask; task++) {
      const i64 c = task % nc, bg = task / nc, g = bg % G, b = bg / G;
      const i64 t0 = c * Q, L = chunk_len(d, c);
      const float *bc = Bm + ((b * T + t0) * G + g) * N, *cc = Cm + ((b * T + t0) * G + g) * N;
      transpose_to(L, N, bc, ldb, bt, Qp);
      mm(MM_FULL, L, L, N, cc, ldb, 1, bt, Qp, cb, Qp, 0);
      memset(dbacc, 0, (size_t)(L * N) * sizeof(float));
      memset(dcacc, 0, (size_t)(L * N) * sizeof(float));
      for (i64 i = 0; i < L; i++) memset(dcb + i * Qp, 0, (size_t)L * sizeof(float));
      for (i64 h = g * d->hpg; h < (g + 1) * d->hpg; h++) {
        const float ah = A[h], dh = D[h];
        const i64 bh = b * H + h;
        pack_rows(L, P, x + ((b * T + t0) * H + h) * P, ldx, xp);
        pack_rows(L, P, dy + ((b * T + t0) * H + h) * P, ldx, dyp);
        const float *dsc = ds + (bh * nc + c) * NP, *hsc = st + (bh * nc + c) * NP;
        cum_decay(d, dt, ah, b, h, t0, L, lam, dtc);
        for (i64 i = 0; i < L; i++) {
          decay_row(i, L, dtc[i] * ah, seg, ldec + i * Qp);
          for (i64 j = 0; j < L; j++) mdec[i * Qp + j] = ldec[i * Qp + j] * cb[i * Qp + j];
        }
        decay_to_end(L, dtc, ah, ej);
        /* u_j = dS_c·B_j (into gx), τ_j, then gx̄_j = e_j·u_j + Σ_{i≥j} Mdec_ij·dy_i */
        mm(MM_FULL, L, P, N, bc, ldb, 1, dsc, P, gx, P, 0);
        for (i64 j = 0; j < L; j++) {
          float s = 0.0f;
#pragma omp simd reduction(+ : s)
          for (i64 p = 0; p < P; p++) s += xp[j * P + p] * gx[j * P + p];
          tau[j] = ej[j] * dtc[j] * s;
          for (i64 p = 0; p < P; p++) gx[j * P + p] *= ej[j];
        }
        mm(MM_UPPER, L, P, L, mdec, 1, Qp, dyp, P, gx, P, 1);
        /* dx, the x-path of dΔ, dD */
        double dsum = 0.0;
        float *dxc = dx + ((b * T + t0) * H + h) * P;
        for (i64 j = 0; j < L; j++) {
          float s = 0.0f, sd = 0.0f;
#pragma omp simd reduction(+ : s, sd)
          for (i64 p = 0; p < P; p++) {
            const float xv = xp[j * P + p], gv = gx[j * P + p], yv = dyp[j * P + p];
            dxc[j * ldx + p] = dtc[j] * gv + dh * yv;
            s += xv * gv;
            sd += yv * xv;
          }
          da[j] = s; /* stash x·gx̄ until da is known */
          dsum += sd;
        }
        /* dM = dy·xᵀ; dCB += dM ⊙ L ⊙ Δ_j; π row prefix sums into the decay gradient */
        transpose_to(L, P, xp, P, xt, Qp);
        mm(MM_FULL, L, L, P, dyp, P, 1, xt, Qp, dm, Qp, 0);
        /* per row i (j ≤ i): q = dM·L·Δ_j into dCB, and π_ij = q·CB_ij in place of dM */
        for (i64 i = 0; i < L; i++) {
          float *dmi = dm + i * Qp, *dcbi = dcb + i * Qp;
          const float *li = ldec + i * Qp, *cbi = cb + i * Qp;
#pragma omp simd
          for (i64 j = 0; j <= i; j++) {
            const float q = dmi[j] * li[j] * dtc[j];
            dcbi[j] += q;
            dmi[j] = q * cbi[j];
          }
        }
        /* π part of da_k = Σ_{j<k} Σ_{i≥k} π_ij: column sums over i ≥ k grow from the bottom row up
         * (seg[j] = Σ_{i≥k} π_ij, direct sums), then a sum over j < k. rho holds it for now. */
        for (i64 j = 0; j < L; j++) seg[j] = 0.0f;
        for (i64 k = L - 1; k >= 0; k--) {
          const float *pk = dm + k * Qp;
          float s = 0.0f;
#pragma omp simd reduction(+ : s)
          for (i64 j = 0; j < k; j++) {
            seg[j] += pk[j];
            s += seg[j];
          }
          rho[k] = s;
        }
        /* off-diagonal: dC_i += exp(lam_i)·Hst[c]ᵀ dy_i (per head in dcoff), ρ_i = dcoff_i·C_i */
        for (i64 i = 0; i < L; i++) {
          const float e = expf(fminf(lam[i], 0.0f));
          for (i64 p = 0; p < P; p++) dyw[i * P + p] = e * dyp[i * P + p];
        }
        transpose_to(N, P, hsc, P, hpn, N);
        mm(MM_FULL, L, N, P, dyw, P, 1, hpn, N, dcoff, N, 0);
        /* da_k = Σ_{j<k} τ_j + Σ_{i≥k} ρ_i + π part; then dΔ, dA */
        float pre = 0.0f, suf = glt[bh * nc + c];
        float *rr = tau; /* reuse: suffix sums of ρ, computed backwards */
        for (i64 i = L - 1; i >= 0; i--) {
          float s = 0.0f;
#pragma omp simd reduction(+ : s)
          for (i64 n = 0; n < N; n++) s += dcoff[i * N + n] * cc[i * ldb + n];
          for (i64 n = 0; n < N; n++) dcacc[i * N + n] += dcoff[i * N + n];
          suf += s;
          tj[i] = tau[i];
          rr[i] = suf;
        }
        double asum = 0.0;
        float *ddtc = ddt + (b * T + t0) * H + h;
        for (i64 k = 0; k < L; k++) {
          const float dak = pre + rr[k] + rho[k];
          pre += tj[k];
          ddtc[k * H] = da[k] + ah * dak;
          asum += (double)dtc[k] * (double)dak;
        }
        part[(b * nc + c) * H + h] = asum;
        part[nst + (b * nc + c) * H + h] = dsum;
        /* dB (state part): dB_j += e_j·Δ_j·dS_cᵀ x_j */
        for (i64 j = 0; j < L; j++) {
          const float e = ej[j] * dtc[j];
          for (i64 p = 0; p < P; p++) xw[j * P + p] = e * xp[j * P + p];
        }
        transpose_to(N, P, dsc, P, spn, N);
        mm(MM_FULL, L, N, P, xw, P, 1, spn, N, dbacc, N, 1);
      }
      /* dC_i += Σ_{j≤i} dCB_ij·B_j; dB_j += Σ_{i≥j} dCB_ij·C_i */
      mm(MM_LOWER, L, N, L, dcb, Qp, 1, bc, ldb, dcacc, N, 1);
      mm(MM_UPPER, L, N, L, dcb, 1, Qp, cc, ldb, dbacc, N, 1);
      for (i64 i = 0; i < L; i++) {
        memcpy(dBm + ((b * T + t0 + i) * G + g) * N, dbacc + i * N, (size_t)N * sizeof(float));
        memcpy(dCm + ((b * T + t0 + i) * G + g) * N, dcacc + i * N, (size_t)N * sizeof(float));
      }
    }
  }
  for (i64 h = 0; h < H; h++) {
    double sa = 0.0, sd = 0.0;
    for (i64 i = 0; i < B * nc; i++) {
      sa += part[i * H + h];
      sd += part[nst + i * H + h];
    }
    dA[h] = (float)sa;
    dD[h] = (float)sd;
  }
  free(st);
  free(ds);
  free(ltot);
  free(glt);
  free(part);
}
