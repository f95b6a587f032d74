/*
 * Fused non-causal multi-head attention, forward and backward (semantics: engine/backend.ts).
 *
 * q, k, v rows: token t of batch b, head h starts at x + (b·L + t)·ld + h·D (D contiguous floats).
 * Per (batch, head) the keys and values are packed transposed (D × Lp, Lp = L rounded up to 32) in
 * per-thread scratch, and queries are processed in blocks of QB rows, so a thread holds at most a
 * QB × Lp block of scores (well under the contract's one head of L × L).
 *
 * Forward, per query block: S = (scale·Q)·Kᵀ, row softmax → P and lse, O = P·V.
 * Backward, per (batch, head), per query block: P = exp(S − lse), dP = dO·Vᵀ, D_i = dO_i·O_i,
 * dS = P ⊙ (dP − D), dQ = scale·dS·K, and dK += dSᵀ·(scale·Q), dV += Pᵀ·dO summed over the query
 * blocks in order in per-thread L × D accumulators. Deterministic: fixed tasks, fixed orders.
 *
 * Two micro-kernels do all the arithmetic: `scores` (X·Yᵀ against a transposed pack) and `rank`
 * (O = alpha·Σ_t P[r, t]·Y[t, :] (+ O), with P addressed through row/column strides so it also
 * serves Pᵀ·X). Both use AVX-512 when compiled for it, else AVX2 + FMA (8-lane tiles of 6 rows),
 * plain loops otherwise.
 */
#include <omp.h>

#include "trm.h"

#define QB 64 /* query rows per block */
#define RA 8  /* rows per scores tile (of 32 keys); the row padding unit of the query blocks */
#define RA2 6 /* rows per AVX2 scores tile (of 16 keys), and per AVX2 `rank` call */

/* S[r, j] = Σ_d X[r, d]·Yt[d, j] for r < nrp (a multiple of RA), j < Lp (a multiple of 32). */
static void scores(i64 nrp, i64 D, const float *X, const float *Yt, i64 Lp, float *S) {
#ifdef __AVX512F__
  for (i64 j = 0; j < Lp; j += 32)
    for (i64 i0 = 0; i0 < nrp; i0 += RA) {
      __m512 acc[RA][2];
      for (int r = 0; r < RA; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
      const float *x = X + i0 * D, *yt = Yt + j;
      for (i64 d = 0; d < D; d++) {
        const __m512 b0 = _mm512_loadu_ps(yt + d * Lp), b1 = _mm512_loadu_ps(yt + d * Lp + 16);
        for (int r = 0; r < RA; r++) {
          const __m512 a = _mm512_set1_ps(x[r * D + d]);
          acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
          acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
        }
      }
      for (int r = 0; r < RA; r++) {
        _mm512_storeu_ps(S + (i0 + r) * Lp + j, acc[r][0]);
        _mm512_storeu_ps(S + (i0 + r) * Lp + j + 16, acc[r][1]);
      }
    }
#elif TRM_AVX2
  /* tiles of RA2 rows × 16 keys (12 accumulators + 2 key vectors + 1 broadcast: 15 of the 16 ymm
   * registers); rows of the last tile past nrp reread row nrp − 1 and are not stored */
  for (i64 j = 0; j < Lp; j += 16)
    for (i64 i0 = 0; i0 < nrp; i0 += RA2) {
      const int nr = nrp - i0 < RA2 ? (int)(nrp - i0) : RA2;
      const float *x[RA2];
      for (int r = 0; r < RA2; r++) x[r] = X + (i0 + (r < nr ? r : nr - 1)) * D;
      __m256 acc[RA2][2];
      for (int r = 0; r < RA2; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
      const float *yt = Yt + j;
      for (i64 d = 0; d < D; d++) {
        const __m256 b0 = _mm256_loadu_ps(yt + d * Lp), b1 = _mm256_loadu_ps(yt + d * Lp + 8);
        for (int r = 0; r < RA2; r++) {
          const __m256 a = _mm256_broadcast_ss(x[r] + d);
          acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
          acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
        }
      }
#pragma GCC unroll 8
      for (int r = 0; r < RA2; r++) {
        if (r >= nr) break;
        _mm256_storeu_ps(S + (i0 + r) * Lp + j, acc[r][0]);
        _mm256_storeu_ps(S + (i0 + r) * Lp + j + 8, acc[r][1]);
      }
    }
#else
  for (i64 i = 0; i < nrp; i++) {
    float *s = S + i * Lp;
    for (i64 j = 0; j < Lp; j++) s[j] = 0.0f;
    for (i64 d = 0; d < D; d++) {
      const float a = X[i * D + d];
      const float *yt = Yt + d * Lp;
      for (i64 j = 0; j < Lp; j++) s[j] += a * yt[j];
    }
  }
#endif
}

/* For r < nr: O[r·ldo + c] = alpha·Σ_{t<nt} P[r·prs + t·pts]·Y[t·ldy + c] (+ O when acc), c < w,
 * as a tile of RR rows × NC vectors of 16 columns (w ≤ 16·NC; columns past w masked). Rows r in
 * [nr, RR) of P are read (must be addressable) but not stored. Each output sums over t in
 * ascending order in one FMA chain, whatever the tile shape: all shapes give the same bits. */
#ifdef __AVX512F__
#define RANK_TILE(NAME, NC, RR)                                                                  \
  static void NAME(int nr, i64 nt, const float *P, i64 prs, i64 pts, const float *Y, i64 ldy,  \
                   i64 w, float *O, i64 ldo, float alpha, int acc) {                           \
    __mmask16 mk[NC];                                                                          \
    for (int c = 0; c < NC; c++) {                                                             \
      const i64 x = w - 16 * c;                                                                \
      mk[c] = trm_mask(x > 0 ? x : 0);                                                         \
    }                                                                                          \
    __m512 a[RR][NC];                                                                          \
    for (int r = 0; r < RR; r++)                                                               \
      for (int c = 0; c < NC; c++) a[r][c] = _mm512_setzero_ps();                              \
    for (i64 t = 0; t < nt; t++) {                                                             \
      const float *y = Y + t * ldy;                                                            \
      __m512 yv[NC];                                                                           \
      for (int c = 0; c < NC; c++) yv[c] = _mm512_maskz_loadu_ps(mk[c], y + 16 * c);           \
      for (int r = 0; r < RR; r++) {                                                           \
        const __m512 p = _mm512_set1_ps(P[r * prs + t * pts]);                                 \
        for (int c = 0; c < NC; c++) a[r][c] = _mm512_fmadd_ps(p, yv[c], a[r][c]);             \
      }                                                                                        \
    }                                                                                          \
    const __m512 va = _mm512_set1_ps(alpha);                                                   \
    for (int r = 0; r < nr; r++)                                                               \
      for (int c = 0; c < NC; c++) {                                                           \
        float *o = O + r * ldo + 16 * c;                                                       \
        __m512 x = _mm512_mul_ps(va, a[r][c]);                                                 \
        if (acc) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mk[c], o));                        \
        _mm512_mask_storeu_ps(o, mk[c], x);                                                    \
      }                                                                                        \
  }
/* 16 accumulators each: head dims ≤ 16 take 16 rows of one vector, ≤ 32 8 rows of two, else 4
 * rows of four (64 columns per pass) — a narrow head no longer runs mostly masked lanes. */
RANK_TILE(rank_1x16, 1, 16)
RANK_TILE(rank_2x8, 2, 8)
RANK_TILE(rank_4x4, 4, 4)
#elif TRM_AVX2
/* The AVX2 tile: RR rows × NC vectors of 8 columns, passes over the columns c < w in chunks of
 * 8·NC, the same single FMA chain per output as RANK_TILE (so the same bits). MASKED: columns past
 * w masked (loads and stores); unmasked tiles need w a multiple of 8·NC. Rows r in [nr, RR) reread
 * row nr − 1 of P (so nothing past row nr − 1 is read) and are not stored. (The chunk loop also
 * keeps GCC 12 from giving the accumulators a stack copy stored on every step of t.) */
#define RANK_TILE8(NAME, NC, RR, MASKED)                                                         \
  static void NAME(int nr, i64 nt, const float *P, i64 prs, i64 pts, const float *Y, i64 ldy,  \
                   i64 w, float *O, i64 ldo, float alpha, int acc) {                           \
    const __m256 va = _mm256_set1_ps(alpha);                                                   \
    for (i64 dc = 0; dc < w; dc += 8 * NC) {                                                   \
      __m256i mk[NC];                                                                          \
      for (int c = 0; c < NC; c++) mk[c] = trm_mask8(w - dc - 8 * c);                          \
      const float *pr[RR];                                                                     \
      for (int r = 0; r < RR; r++) pr[r] = P + (r < nr ? r : nr - 1) * prs;                   \
      __m256 a[RR][NC];                                                                        \
      for (int r = 0; r < RR; r++)                                                             \
        for (int c = 0; c < NC; c++) a[r][c] = _mm256_setzero_ps();                            \
      for (i64 t = 0; t < nt; t++) {                                                           \
        const float *y = Y + t * ldy + dc;                                                     \
        __m256 yv[NC];                                                                         \
        for (int c = 0; c < NC; c++)                                                           \
          yv[c] = MASKED ? _mm256_maskload_ps(y + 8 * c, mk[c]) : _mm256_loadu_ps(y + 8 * c);  \
        for (int r = 0; r < RR; r++) {                                                         \
          const __m256 p = _mm256_broadcast_ss(pr[r] + t * pts);                               \
          for (int c = 0; c < NC; c++) a[r][c] = _mm256_fmadd_ps(p, yv[c], a[r][c]);           \
        }                                                                                      \
      }                                                                                        \
      _Pragma("GCC unroll 16") for (int r = 0; r < RR; r++) {                                  \
        if (r >= nr) break;                                                                    \
        _Pragma("GCC unroll 4") for (int c = 0; c < NC; c++) {                                 \
          float *o = O + r * ldo + dc + 8 * c;                                                 \
          __m256 x = _mm256_mul_ps(va, a[r][c]);                                               \
          if (MASKED) {                                                                        \
            if (acc) x = _mm256_add_ps(x, _mm256_maskload_ps(o, mk[c]));                       \
            _mm256_maskstore_ps(o, mk[c], x);                                                  \
          } else {                                                                             \
            if (acc) x = _mm256_add_ps(x, _mm256_loadu_ps(o));                                 \
            _mm256_storeu_ps(o, x);                                                            \
          }                                                                                    \
        }                                                                                      \
      }                                                                                        \
    }                                                                                          \
  }
/* 12 accumulators (of 16 ymm registers): 6 rows × 16 columns per pass for head dims above 8,
 * 12 rows × 8 columns for head dims ≤ 8. */
RANK_TILE8(rank8_6x2, 2, 6, 0)
RANK_TILE8(rank8_6x2m, 2, 6, 1)
RANK_TILE8(rank8_6x1m, 1, 6, 1)
RANK_TILE8(rank8_12x1, 1, 12, 0)
RANK_TILE8(rank8_12x1m, 1, 12, 1)
#endif

/* Rows per `rank` call for head dim D (callers step by this; see RANK_TILE, RANK_TILE8). */
static inline int rank_rows(i64 D) {
#if TRM_AVX2
  return D > 8 ? RA2 : 2 * RA2;
#else
  return D > 32 ? 4 : D > 16 ? 8 : 16;
#endif
}

/* For r < nr ≤ rank_rows(D): O[r·ldo + c] = alpha·Σ_{t<nt} P[r·prs + t·pts]·Y[t·ldy + c]
 * (+ O when acc), c < D. Rows [nr, rank_rows(D)) of P are read (must be addressable; the AVX2
 * tiles read none of them). */
static void rank(int nr, i64 nt, const float *P, i64 prs, i64 pts, const float *Y, i64 ldy, i64 D,
                 float *O, i64 ldo, float alpha, int acc) {
#ifdef __AVX512F__
  if (D <= 16) {
    rank_1x16(nr, nt, P, prs, pts, Y, ldy, D, O, ldo, alpha, acc);
  } else if (D <= 32) {
    rank_2x8(nr, nt, P, prs, pts, Y, ldy, D, O, ldo, alpha, acc);
  } else {
    for (i64 dc = 0; dc < D; dc += 64)
      rank_4x4(nr, nt, P, prs, pts, Y + dc, ldy, D - dc < 64 ? D - dc : 64, O + dc, ldo, alpha,
               acc);
  }
#elif TRM_AVX2
  if (D <= 8) {
    if (D == 8) rank8_12x1(nr, nt, P, prs, pts, Y, ldy, D, O, ldo, alpha, acc);
    else rank8_12x1m(nr, nt, P, prs, pts, Y, ldy, D, O, ldo, alpha, acc);
  } else {
    const i64 full = D & ~(i64)15, rest = D - full; /* whole 16-column chunks, then the rest */
    if (full) rank8_6x2(nr, nt, P, prs, pts, Y, ldy, full, O, ldo, alpha, acc);
    if (rest > 8) rank8_6x2m(nr, nt, P, prs, pts, Y + full, ldy, rest, O + full, ldo, alpha, acc);
    else if (rest) rank8_6x1m(nr, nt, P, prs, pts, Y + full, ldy, rest, O + full, ldo, alpha, acc);
  }
#else
  for (int r = 0; r < nr; r++) {
    float *o = O + r * ldo;
    for (i64 c = 0; c < D; c++) {
      float s = 0.0f;
      for (i64 t = 0; t < nt; t++) s += P[r * prs + t * pts] * Y[t * ldy + c];
      o[c] = acc ? o[c] + alpha * s : alpha * s;
    }
  }
#endif
}

/* dst[d·Lp + j] = x[j·ld + d] for j < L, zero for L ≤ j < Lp. */
static void pack_t(const float *x, i64 ld, i64 L, i64 D, i64 Lp, float *dst) {
  for (i64 j = 0; j < L; j++)
    for (i64 d = 0; d < D; d++) dst[d * Lp + j] = x[j * ld + d];
  for (i64 d = 0; d < D; d++)
    for (i64 j = L; j < Lp; j++) dst[d * Lp + j] = 0.0f;
}

/* dst[r·D + d] = s·x[r·ld + d] for r < nr, zero rows up to nrp. */
static void pack_rows(const float *x, i64 ld, i64 nr, i64 nrp, i64 D, float s, float *dst) {
  for (i64 r = 0; r < nr; r++)
    for (i64 d = 0; d < D; d++) dst[r * D + d] = s * x[r * ld + d];
  memset(dst + nr * D, 0, (size_t)((nrp - nr) * D) * sizeof(float));
}

/* Row r < nr of S (stride Lp, L valid columns) becomes softmax; returns lse per row. */
static void softmax_rows(i64 nr, i64 L, i64 Lp, float *S, float *lse) {
  for (i64 r = 0; r < nr; r++) {
    float *s = S + r * Lp;
    float mx = -INFINITY, sum = 0.0f;
    i64 j = 0;
#ifdef __AVX512F__
    __m512 vm = _mm512_set1_ps(-INFINITY), vs = _mm512_setzero_ps();
    for (j = 0; j < L; j += 16)
      vm = _mm512_mask_max_ps(vm, trm_mask(L - j), vm, _mm512_loadu_ps(s + j));
    mx = _mm512_reduce_max_ps(vm);
    const __m512 m16 = _mm512_set1_ps(mx);
    for (j = 0; j < L; j += 16) {
      const __mmask16 m = trm_mask(L - j);
      const __m512 e = trm_exp16(_mm512_sub_ps(_mm512_loadu_ps(s + j), m16));
      vs = _mm512_mask_add_ps(vs, m, vs, e);
      _mm512_storeu_ps(s + j, e);
    }
    sum = _mm512_reduce_add_ps(vs);
    const __m512 inv = _mm512_set1_ps(1.0f / sum);
    for (j = 0; j < L; j += 16) _mm512_storeu_ps(s + j, _mm512_mul_ps(_mm512_loadu_ps(s + j), inv));
#elif TRM_AVX2
    /* S has Lp ≥ L rounded up to 8 columns: whole vectors are read and written up to there */
    __m256 vm = _mm256_set1_ps(-INFINITY), vs = _mm256_setzero_ps();
    for (j = 0; j + 8 <= L; j += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(s + j));
    if (j < L)
      vm = _mm256_max_ps(vm, _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), _mm256_loadu_ps(s + j),
                                              _mm256_castsi256_ps(trm_mask8(L - j))));
    mx = trm_hmax8(vm);
    const __m256 m8 = _mm256_set1_ps(mx);
    for (j = 0; j < L; j += 8) {
      __m256 e = trm_exp8(_mm256_sub_ps(_mm256_loadu_ps(s + j), m8));
      _mm256_storeu_ps(s + j, e);
      if (j + 8 > L) e = _mm256_and_ps(e, _mm256_castsi256_ps(trm_mask8(L - j)));
      vs = _mm256_add_ps(vs, e);
    }
    sum = trm_hsum8(vs);
    const __m256 inv = _mm256_set1_ps(1.0f / sum);
    for (j = 0; j < L; j += 8) _mm256_storeu_ps(s + j, _mm256_mul_ps(_mm256_loadu_ps(s + j), inv));
#else
    for (j = 0; j < L; j++) mx = s[j] > mx ? s[j] : mx;
    for (j = 0; j < L; j++) sum += (s[j] = expf(s[j] - mx));
    const float inv = 1.0f / sum;
    for (j = 0; j < L; j++) s[j] *= inv;
#endif
    lse[r] = mx + logf(sum);
  }
}

/* S[r, j] ← exp(S[r, j] − lse[r]) for r < nr, j < L (the softmax recomputed from saved lse). */
static void exp_rows(i64 nr, i64 L, i64 Lp, float *S, const float *lse) {
  for (i64 r = 0; r < nr; r++) {
    float *s = S + r * Lp;
#ifdef __AVX512F__
    const __m512 l = _mm512_set1_ps(lse[r]);
    for (i64 j = 0; j < L; j += 16)
      _mm512_storeu_ps(s + j, trm_exp16(_mm512_sub_ps(_mm512_loadu_ps(s + j), l)));
#elif TRM_AVX2
    const __m256 l = _mm256_set1_ps(lse[r]);
    for (i64 j = 0; j < L; j += 8)
      _mm256_storeu_ps(s + j, trm_exp8(_mm256_sub_ps(_mm256_loadu_ps(s + j), l)));
#else
    for (i64 j = 0; j < L; j++) s[j] = expf(s[j] - lse[r]);
#endif
  }
}

TRM_EXPORT void trm_attention(i64 B, i64 L, i64 H, i64 D, float scale, const float *q,
                              const float *k, const float *v, i64 ld, float *out, float *lse) {
  const i64 Lp = (L + 31) & ~(i64)31, nqb = (L + QB - 1) / QB, HD = H * D, RB = rank_rows(D);
  const i64 ntask = B * H * nqb;
  const int nth = trm_nth(B * H * L * L * D / 8);
#pragma omp parallel num_threads(nth)
  {
    float *Kt = trm_scratch(3, (size_t)(D * Lp));
    float *Qp = trm_scratch(4, (size_t)(QB * D));
    float *S = trm_scratch(5, (size_t)(QB * Lp));
    i64 packed = -1;
#pragma omp for schedule(static)
    for (i64 task = 0; task < ntask; task++) {
      const i64 bh = task / nqb, b = bh / H, h = bh % H;
      const i64 i0 = (task % nqb) * QB, nr = L - i0 < QB ? L - i0 : QB;
      const i64 nrp = (nr + RA - 1) / RA * RA;
      const i64 base = b * L * ld + h * D;
      if (packed != bh) {
        pack_t(k + base, ld, L, D, Lp, Kt);
        packed = bh;
      }
      pack_rows(q + base + i0 * ld, ld, nr, nrp, D, scale, Qp);
      scores(nrp, D, Qp, Kt, Lp, S);
      softmax_rows(nr, L, Lp, S, lse + bh * L + i0);
      for (i64 r0 = 0; r0 < nr; r0 += RB)
        rank((int)(nr - r0 < RB ? nr - r0 : RB), L, S + r0 * Lp, Lp, 1, v + base, ld, D,
             out + (b * L + i0 + r0) * HD + h * D, HD, 1.0f, 0);
    }
  }
}

TRM_EXPORT void trm_attention_backward(i64 B, i64 L, i64 H, i64 D, float scale, const float *q,
                                       const float *k, const float *v, i64 ld, const float *out,
                                       const float *lse, const float *dout, float *dq, float *dk,
                                       float *dv) {
  const i64 Lp = (L + 31) & ~(i64)31, HD = H * D, RB = rank_rows(D);
  const int nth = trm_nth(B * H * L * L * D / 8);
#pragma omp parallel num_threads(nth)
  {
    float *Kt = trm_scratch(0, (size_t)(D * Lp)), *Vt = trm_scratch(1, (size_t)(D * Lp));
    float *Qp = trm_scratch(2, (size_t)(QB * D)), *dOp = trm_scratch(3, (size_t)(QB * D));
    float *S = trm_scratch(4, (size_t)(QB * Lp)), *dP = trm_scratch(5, (size_t)(QB * Lp));
    float *dKa = trm_scratch(6, (size_t)(L * D)), *dVa = trm_scratch(7, (size_t)(L * D));
#pragma omp for schedule(static)
    for (i64 bh = 0; bh < B * H; bh++) {
      const i64 b = bh / H, h = bh % H, base = b * L * ld + h * D;
      pack_t(k + base, ld, L, D, Lp, Kt);
      pack_t(v + base, ld, L, D, Lp, Vt);
      for (i64 i0 = 0; i0 < L; i0 += QB) {
        const i64 nr = L - i0 < QB ? L - i0 : QB, nrp = (nr + RA - 1) / RA * RA;
        const float *l = lse + bh * L + i0;
        pack_rows(q + base + i0 * ld, ld, nr, nrp, D, scale, Qp);
        pack_rows(dout + (b * L + i0) * HD + h * D, HD, nr, nrp, D, 1.0f, dOp);
        scores(nrp, D, Qp, Kt, Lp, S);
        exp_rows(nr, L, Lp, S, l);
        scores(nrp, D, dOp, Vt, Lp, dP);
        for (i64 r = 0; r < nr; r++) {
          const float *o = out + (b * L + i0 + r) * HD + h * D, *g = dOp + r * D;
          float di = 0.0f;
#pragma omp simd reduction(+ : di)
          for (i64 d = 0; d < D; d++) di += g[d] * o[d];
          float *dp = dP + r * Lp;
          const float *p = S + r * Lp;
#pragma omp simd
          for (i64 j = 0; j < L; j++) dp[j] = p[j] * (dp[j] - di);
        }
        const int acc = i0 > 0;
        for (i64 j0 = 0; j0 < L; j0 += RB) {
          const int nj = (int)(L - j0 < RB ? L - j0 : RB);
          rank(nj, nr, S + j0, 1, Lp, dOp, D, D, dVa + j0 * D, D, 1.0f, acc);
          rank(nj, nr, dP + j0, 1, Lp, Qp, D, D, dKa + j0 * D, D, 1.0f, acc);
        }
        for (i64 r0 = 0; r0 < nr; r0 += RB)
          rank((int)(nr - r0 < RB ? nr - r0 : RB), L, dP + r0 * Lp, Lp, 1, k + base, ld, D,
               dq + base + (i0 + r0) * ld, ld, scale, 0);
      }
      for (i64 j = 0; j < L; j++) {
        memcpy(dk + base + j * ld, dKa + j * D, (size_t)D * sizeof(float));
        memcpy(dv + base + j * ld, dVa + j * D, (size_t)D * sizeof(float));
      }
    }
  }
}
