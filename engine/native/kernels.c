/*
 * Threads, scratch memory, elementwise kernels, simple reductions and optimiser updates.
 * Semantics of every kernel: engine/backend.ts. Layout conventions: engine/native/trm.h.
 */
#include <omp.h>

#include "trm.h"

int trm_threads_ = 1;

TRM_EXPORT int trm_num_threads(void) { return trm_threads_; }

TRM_EXPORT void trm_set_num_threads(int n) { trm_threads_ = n < 1 ? 1 : n; }

/* Float lanes of the widest vector path compiled in: 16 with AVX-512, 8 with AVX2 + FMA, else 1
 * (portable C). */
TRM_EXPORT int trm_simd_width(void) {
#ifdef __AVX512F__
  return 16;
#elif TRM_AVX2
  return 8;
#else
  return 1;
#endif
}

/* Thread-local, grow-only, 64-byte-aligned buffers. They live as long as the thread (OpenMP keeps
 * its pool), so steady-state calls never allocate or page-fault. */
static __thread float *scratch_ptr[TRM_SCRATCH_SLOTS];
static __thread size_t scratch_cap[TRM_SCRATCH_SLOTS];

float *trm_scratch(int slot, size_t floats) {
  if (floats > scratch_cap[slot]) {
    free(scratch_ptr[slot]);
    size_t cap = (floats + 4095) & ~(size_t)4095; /* round up so small growths do not thrash */
    scratch_ptr[slot] = aligned_alloc(64, cap * sizeof(float));
    if (!scratch_ptr[slot]) abort(); /* out of memory: nothing sensible to return to */
    scratch_cap[slot] = cap;
  }
  return scratch_ptr[slot];
}

/* ------------------------------------------------------------------ copies, elementwise */

/* dst[r·ldd + c] = src[r·lds + c]: 4-byte elements (f32 or i32, copied as bits). */
TRM_EXPORT void trm_copy2d(i64 rows, i64 cols, const float *src, i64 lds, float *dst, i64 ldd) {
#pragma omp parallel for num_threads(trm_nth(rows * cols / 4)) schedule(static)
  for (i64 r = 0; r < rows; r++) memcpy(dst + r * ldd, src + r * lds, (size_t)cols * sizeof(float));
}

TRM_EXPORT void trm_axpby(i64 n, float alpha, const float *x, float beta, const float *y,
                          float *out) {
#pragma omp parallel for simd num_threads(trm_nth(n)) schedule(simd : static)
  for (i64 i = 0; i < n; i++) out[i] = alpha * x[i] + beta * y[i];
}

TRM_EXPORT void trm_mul(i64 n, const float *x, const float *y, float *out) {
#pragma omp parallel for simd num_threads(trm_nth(n)) schedule(simd : static)
  for (i64 i = 0; i < n; i++) out[i] = x[i] * y[i];
}

TRM_EXPORT void trm_add_row_vector(i64 rows, i64 cols, const float *x, const float *bias,
                                   float *out) {
#pragma omp parallel for num_threads(trm_nth(rows * cols)) schedule(static)
  for (i64 r = 0; r < rows; r++) {
    const float *xr = x + r * cols;
    float *orow = out + r * cols;
#pragma omp simd
    for (i64 c = 0; c < cols; c++) orow[c] = xr[c] + bias[c];
  }
}

/* Column sums in double over fixed 256-row chunks, then the chunk partials in chunk order:
 * the result does not depend on the thread count. */
TRM_EXPORT void trm_sum_rows(i64 rows, i64 cols, const float *x, float *out) {
  i64 nchunk = (rows + ROW_CHUNK - 1) / ROW_CHUNK;
  if (nchunk <= 1) {
    double *acc = calloc((size_t)cols + 1, sizeof(double));
    for (i64 r = 0; r < rows; r++)
#pragma omp simd
      for (i64 c = 0; c < cols; c++) acc[c] += x[r * cols + c];
    for (i64 c = 0; c < cols; c++) out[c] = (float)acc[c];
    free(acc);
    return;
  }
  double *part = malloc((size_t)(nchunk * cols) * sizeof(double));
  int nth = trm_nth(rows * cols);
#pragma omp parallel num_threads(nth)
  {
#pragma omp for schedule(static)
    for (i64 ch = 0; ch < nchunk; ch++) {
      double *acc = part + ch * cols;
      memset(acc, 0, (size_t)cols * sizeof(double));
      i64 r1 = (ch + 1) * ROW_CHUNK < rows ? (ch + 1) * ROW_CHUNK : rows;
      for (i64 r = ch * ROW_CHUNK; r < r1; r++)
#pragma omp simd
        for (i64 c = 0; c < cols; c++) acc[c] += x[r * cols + c];
    }
    trm_sum_chunks(part, nchunk, cols, out);
  }
  free(part);
}

/* ------------------------------------------------------------------ pointwise functions */

enum { OP_SILU = 0, OP_SOFTPLUS = 1, OP_EXP = 2, OP_SIGMOID = 3 };

/* σ(x) and 1 − σ(x) = e/(1 + e) with e = e^−x, computed without the cancellation of 1 − σ for
 * large x; e^−x is capped at e^88 (finite), where σ(x) < 1e-38 anyway. */
static inline float sigmoidf_(float x) { return 1.0f / (1.0f + expf(-x > 88.0f ? 88.0f : -x)); }
static inline float one_minus_sigmoidf_(float x) {
  const float e = expf(-x > 88.0f ? 88.0f : -x);
  return e / (1.0f + e);
}
static inline float softplusf_(float x) { return x > 20.0f ? x : log1pf(expf(x)); }

#ifdef __AVX512F__
TRM_INLINE __m512 sigmoid16(__m512 x, __m512 *one_minus) {
  const __m512 one = _mm512_set1_ps(1.0f);
  /* min(88, -x): a NaN x stays NaN (second operand of vminps) */
  const __m512 nx = _mm512_sub_ps(_mm512_setzero_ps(), x);
  const __m512 e = trm_exp16(_mm512_min_ps(_mm512_set1_ps(88.0f), nx));
  const __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, e));
  if (one_minus) *one_minus = _mm512_mul_ps(e, s);
  return s;
}
#elif TRM_AVX2
TRM_INLINE __m256 sigmoid8(__m256 x, __m256 *one_minus) {
  const __m256 one = _mm256_set1_ps(1.0f);
  /* min(88, -x): a NaN x stays NaN (second operand of vminps) */
  const __m256 nx = _mm256_sub_ps(_mm256_setzero_ps(), x);
  const __m256 e = trm_exp8(_mm256_min_ps(_mm256_set1_ps(88.0f), nx));
  const __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, e));
  if (one_minus) *one_minus = _mm256_mul_ps(e, s);
  return s;
}

/* The loads and stores of the 8-lane loops below: whole vectors while 8 lanes remain, then one
 * masked vector for the tail (so every element takes the same arithmetic). */
TRM_INLINE __m256 ld8(const float *p, i64 left) {
  return left >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, trm_mask8(left));
}
TRM_INLINE void st8(float *p, i64 left, __m256 v) {
  if (left >= 8) _mm256_storeu_ps(p, v);
  else _mm256_maskstore_ps(p, trm_mask8(left), v);
}
#endif

/* Elementwise loops with exp run in chunks of 8192 elements spread over the threads; each chunk
 * runs a 16-lane (AVX-512) or 8-lane (AVX2) vector loop with a masked tail. */
#define EW_CHUNK 8192
TRM_INLINE i64 ew_end(i64 ch, i64 n) { return (ch + 1) * EW_CHUNK < n ? (ch + 1) * EW_CHUNK : n; }

static void unary_range(int op, i64 i, i64 end, const float *x, float *out) {
#ifdef __AVX512F__
  if (op != OP_SOFTPLUS) {
    for (; i < end; i += 16) {
      __mmask16 m = trm_mask(end - i);
      __m512 v = _mm512_maskz_loadu_ps(m, x + i), r;
      if (op == OP_EXP) r = trm_exp16(v);
      else if (op == OP_SIGMOID) r = sigmoid16(v, NULL);
      else r = _mm512_mul_ps(v, sigmoid16(v, NULL));
      _mm512_mask_storeu_ps(out + i, m, r);
    }
    return;
  }
#elif TRM_AVX2
  if (op != OP_SOFTPLUS) {
    for (; i < end; i += 8) {
      const __m256 v = ld8(x + i, end - i);
      __m256 r;
      if (op == OP_EXP) r = trm_exp8(v);
      else if (op == OP_SIGMOID) r = sigmoid8(v, NULL);
      else r = _mm256_mul_ps(v, sigmoid8(v, NULL));
      st8(out + i, end - i, r);
    }
    return;
  }
#endif
  for (; i < end; i++) {
    float v = x[i];
    out[i] = op == OP_SILU ? v * sigmoidf_(v)
             : op == OP_SOFTPLUS ? softplusf_(v)
             : op == OP_EXP ? expf(v)
                            : sigmoidf_(v);
  }
}

TRM_EXPORT void trm_unary(int op, i64 n, const float *x, float *out) {
  const i64 nc = (n + EW_CHUNK - 1) / EW_CHUNK;
#pragma omp parallel for num_threads(trm_nth(n * 4)) schedule(static)
  for (i64 ch = 0; ch < nc; ch++) unary_range(op, ch * EW_CHUNK, ew_end(ch, n), x, out);
}

static void unary_bwd_range(int op, i64 i, i64 end, const float *x, const float *dy, float *dx) {
#ifdef __AVX512F__
  if (op != OP_SOFTPLUS) {
    __m512 one = _mm512_set1_ps(1.0f);
    for (; i < end; i += 16) {
      __mmask16 m = trm_mask(end - i);
      __m512 v = _mm512_maskz_loadu_ps(m, x + i), g = _mm512_maskz_loadu_ps(m, dy + i), d;
      if (op == OP_EXP) {
        d = trm_exp16(v);
      } else {
        __m512 oms, s = sigmoid16(v, &oms);
        d = op == OP_SIGMOID ? _mm512_mul_ps(s, oms)
                             : _mm512_mul_ps(s, _mm512_fmadd_ps(v, oms, one));
      }
      _mm512_mask_storeu_ps(dx + i, m, _mm512_mul_ps(d, g));
    }
    return;
  }
#elif TRM_AVX2
  if (op != OP_SOFTPLUS) {
    const __m256 one = _mm256_set1_ps(1.0f);
    for (; i < end; i += 8) {
      const __m256 v = ld8(x + i, end - i), g = ld8(dy + i, end - i);
      __m256 d;
      if (op == OP_EXP) {
        d = trm_exp8(v);
      } else {
        __m256 oms, s = sigmoid8(v, &oms);
        d = op == OP_SIGMOID ? _mm256_mul_ps(s, oms)
                             : _mm256_mul_ps(s, _mm256_fmadd_ps(v, oms, one));
      }
      st8(dx + i, end - i, _mm256_mul_ps(d, g));
    }
    return;
  }
#endif
  for (; i < end; i++) {
    float v = x[i], d;
    if (op == OP_SILU) {
      float s = sigmoidf_(v);
      d = s * (1.0f + v * one_minus_sigmoidf_(v));
    } else if (op == OP_SOFTPLUS) {
      d = v > 20.0f ? 1.0f : sigmoidf_(v);
    } else if (op == OP_EXP) {
      d = expf(v);
    } else {
      d = sigmoidf_(v) * one_minus_sigmoidf_(v);
    }
    dx[i] = d * dy[i];
  }
}

TRM_EXPORT void trm_unary_backward(int op, i64 n, const float *x, const float *dy, float *dx) {
  const i64 nc = (n + EW_CHUNK - 1) / EW_CHUNK;
#pragma omp parallel for num_threads(trm_nth(n * 4)) schedule(static)
  for (i64 ch = 0; ch < nc; ch++) unary_bwd_range(op, ch * EW_CHUNK, ew_end(ch, n), x, dy, dx);
}

TRM_EXPORT void trm_swiglu(i64 rows, i64 inter, const float *gu, float *out) {
#pragma omp parallel for num_threads(trm_nth(rows * inter)) schedule(static)
  for (i64 r = 0; r < rows; r++) {
    const float *g = gu + r * 2 * inter, *u = g + inter;
    float *o = out + r * inter;
    i64 j = 0;
#ifdef __AVX512F__
    for (; j < inter; j += 16) {
      __mmask16 m = trm_mask(inter - j);
      __m512 gv = _mm512_maskz_loadu_ps(m, g + j), uv = _mm512_maskz_loadu_ps(m, u + j);
      _mm512_mask_storeu_ps(o + j, m, _mm512_mul_ps(_mm512_mul_ps(gv, sigmoid16(gv, NULL)), uv));
    }
#elif TRM_AVX2
    for (; j < inter; j += 8) {
      const __m256 gv = ld8(g + j, inter - j), uv = ld8(u + j, inter - j);
      st8(o + j, inter - j, _mm256_mul_ps(_mm256_mul_ps(gv, sigmoid8(gv, NULL)), uv));
    }
#endif
    for (; j < inter; j++) o[j] = g[j] * sigmoidf_(g[j]) * u[j];
  }
}

/* With `out` (may be NULL), also writes swiglu(gu): the same (g·σ(g))·u as trm_swiglu, bitwise. */
TRM_EXPORT void trm_swiglu_backward(i64 rows, i64 inter, const float *gu, const float *dy,
                                    float *dgu, float *out) {
#pragma omp parallel for num_threads(trm_nth(rows * inter)) schedule(static)
  for (i64 r = 0; r < rows; r++) {
    const float *g = gu + r * 2 * inter, *u = g + inter, *d = dy + r * inter;
    float *dg = dgu + r * 2 * inter, *du = dg + inter, *o = out ? out + r * inter : NULL;
    i64 j = 0;
#ifdef __AVX512F__
    __m512 one = _mm512_set1_ps(1.0f);
    for (; j < inter; j += 16) {
      __mmask16 m = trm_mask(inter - j);
      __m512 gv = _mm512_maskz_loadu_ps(m, g + j), uv = _mm512_maskz_loadu_ps(m, u + j);
      __m512 dv = _mm512_maskz_loadu_ps(m, d + j), oms, s = sigmoid16(gv, &oms);
      __m512 ds = _mm512_mul_ps(s, _mm512_fmadd_ps(gv, oms, one)), gs = _mm512_mul_ps(gv, s);
      _mm512_mask_storeu_ps(du + j, m, _mm512_mul_ps(gs, dv));
      _mm512_mask_storeu_ps(dg + j, m, _mm512_mul_ps(_mm512_mul_ps(ds, uv), dv));
      if (o) _mm512_mask_storeu_ps(o + j, m, _mm512_mul_ps(gs, uv));
    }
#elif TRM_AVX2
    const __m256 one = _mm256_set1_ps(1.0f);
    for (; j < inter; j += 8) {
      const i64 left = inter - j;
      const __m256 gv = ld8(g + j, left), uv = ld8(u + j, left), dv = ld8(d + j, left);
      __m256 oms, s = sigmoid8(gv, &oms);
      const __m256 ds = _mm256_mul_ps(s, _mm256_fmadd_ps(gv, oms, one)), gs = _mm256_mul_ps(gv, s);
      st8(du + j, left, _mm256_mul_ps(gs, dv));
      st8(dg + j, left, _mm256_mul_ps(_mm256_mul_ps(ds, uv), dv));
      if (o) st8(o + j, left, _mm256_mul_ps(gs, uv));
    }
#endif
    for (; j < inter; j++) {
      float s = sigmoidf_(g[j]);
      du[j] = g[j] * s * d[j];
      dg[j] = s * (1.0f + g[j] * one_minus_sigmoidf_(g[j])) * u[j] * d[j];
      if (o) o[j] = g[j] * s * u[j];
    }
  }
}

/* Gated RMSNorm (Mamba-2, norm_before_gate = false) over rows of `cols` in groups of `group`:
 * gate = silu(z) and v = y·gate rounded as trm_unary and trm_mul round them, then each group as
 * trm_rmsnorm with the weight — so with one group, forward and backward are bitwise the composition
 * rmsnorm(y ⊙ silu(z), weight) they replace, without storing gate or v. dweight is summed as
 * trm_rmsnorm_backward sums it (double, fixed 256-row chunks, then the chunks in order). */
TRM_EXPORT void trm_gated_rmsnorm(i64 rows, i64 cols, i64 group, const float *y, const float *z,
                                  const float *w, double eps, float *out, float *rstd) {
  const i64 G = cols / group;
#pragma omp parallel num_threads(trm_nth(rows * cols))
  {
    float *v = trm_scratch(0, (size_t)cols + 16);
#pragma omp for schedule(static)
    for (i64 r = 0; r < rows; r++) {
      const float *yr = y + r * cols;
      float *o = out + r * cols;
      unary_range(OP_SILU, 0, cols, z + r * cols, v);
#pragma omp simd
      for (i64 c = 0; c < cols; c++) v[c] = yr[c] * v[c];
      for (i64 g = 0; g < G; g++) {
        const float *vg = v + g * group, *wg = w + g * group;
        float *og = o + g * group;
        const float rs = trm_rstd(vg, group, eps);
        rstd[r * G + g] = rs;
#pragma omp simd
        for (i64 c = 0; c < group; c++) og[c] = vg[c] * rs * wg[c];
      }
    }
  }
}

TRM_EXPORT void trm_gated_rmsnorm_backward(i64 rows, i64 cols, i64 group, const float *y,
                                           const float *z, const float *w, const float *rstd,
                                           const float *dout, float *dy, float *dz, float *dw) {
  const i64 G = cols / group, nchunk = (rows + ROW_CHUNK - 1) / ROW_CHUNK;
  double *part = calloc((size_t)(nchunk * cols) + 1, sizeof(double));
#pragma omp parallel num_threads(trm_nth(rows * cols))
  {
    float *gate = trm_scratch(0, (size_t)cols + 16), *v = trm_scratch(1, (size_t)cols + 16);
    float *t = trm_scratch(2, (size_t)cols + 16);
#pragma omp for schedule(static)
    for (i64 ch = 0; ch < nchunk; ch++) {
      i64 r1 = (ch + 1) * ROW_CHUNK < rows ? (ch + 1) * ROW_CHUNK : rows;
      double *acc = part + ch * cols;
      for (i64 r = ch * ROW_CHUNK; r < r1; r++) {
        const float *yr = y + r * cols, *zr = z + r * cols, *dor = dout + r * cols;
        float *dyr = dy + r * cols;
        unary_range(OP_SILU, 0, cols, zr, gate);
#pragma omp simd
        for (i64 c = 0; c < cols; c++) {
          v[c] = yr[c] * gate[c];
          t[c] = w[c] * dor[c];
        }
        for (i64 g = 0; g < G; g++) {
          const i64 c0 = g * group;
          const float rs = rstd[r * G + g];
          const float k = (float)(dot_d(t + c0, v + c0, group) / (double)group) * rs * rs;
#pragma omp simd
          for (i64 c = c0; c < c0 + group; c++) {
            const float dv = rs * (t[c] - v[c] * k);
            acc[c] += (double)(dor[c] * v[c] * rs);
            dyr[c] = dv * gate[c];
            t[c] = dv * yr[c]; /* the gradient of silu(z), for dz below */
          }
        }
        unary_bwd_range(OP_SILU, 0, cols, zr, t, dz + r * cols);
      }
    }
    trm_sum_chunks(part, nchunk, cols, dw);
  }
  free(part);
}

/* Tiled transpose: 32 × 32 tiles, parallel over (batch, tile row). */
TRM_EXPORT void trm_transpose(i64 batch, i64 rows, i64 cols, const float *x, float *out) {
  const i64 T = 32, tr = (rows + T - 1) / T;
#pragma omp parallel for num_threads(trm_nth(batch * rows * cols)) schedule(static)
  for (i64 bt = 0; bt < batch * tr; bt++) {
    i64 b = bt / tr, r0 = (bt % tr) * T, r1 = r0 + T < rows ? r0 + T : rows;
    const float *xb = x + b * rows * cols;
    float *ob = out + b * rows * cols;
    for (i64 c0 = 0; c0 < cols; c0 += T) {
      i64 c1 = c0 + T < cols ? c0 + T : cols;
      for (i64 c = c0; c < c1; c++)
        for (i64 r = r0; r < r1; r++) ob[c * rows + r] = xb[r * cols + c];
    }
  }
}

/* ------------------------------------------------------------------ reductions, losses */

/* Σ x in double over fixed 4096-element chunks, chunk sums added in order (thread-count free). */
TRM_EXPORT void trm_sum(i64 n, const float *x, float *out) {
  const i64 C = 4096, nchunk = (n + C - 1) / C;
  double *part = malloc((size_t)(nchunk + 1) * sizeof(double));
#pragma omp parallel for num_threads(trm_nth(n)) schedule(static)
  for (i64 ch = 0; ch < nchunk; ch++) {
    i64 e = (ch + 1) * C < n ? (ch + 1) * C : n;
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (i64 i = ch * C; i < e; i++) s += x[i];
    part[ch] = s;
  }
  double s = 0;
  for (i64 ch = 0; ch < nchunk; ch++) s += part[ch];
  out[0] = (float)s;
  free(part);
}

TRM_EXPORT void trm_argmax(i64 rows, i64 cols, const float *x, int32_t *out) {
#pragma omp parallel for num_threads(trm_nth(rows * cols)) schedule(static)
  for (i64 r = 0; r < rows; r++) {
    const float *xr = x + r * cols;
    i64 best = 0;
    for (i64 c = 1; c < cols; c++)
      if (xr[c] > xr[best]) best = c;
    out[r] = (int32_t)best;
  }
}

TRM_EXPORT void trm_bce_with_logits(i64 n, const float *x, const float *t, float *out) {
#pragma omp parallel for num_threads(trm_nth(n * 8)) schedule(static)
  for (i64 i = 0; i < n; i++) {
    float v = x[i];
    out[i] = fmaxf(v, 0.0f) - v * t[i] + log1pf(expf(-fabsf(v)));
  }
}

TRM_EXPORT void trm_bce_with_logits_backward(i64 n, const float *x, const float *t,
                                             const float *dy, float *dx) {
#pragma omp parallel for num_threads(trm_nth(n * 8)) schedule(static)
  for (i64 i = 0; i < n; i++) dx[i] = (sigmoidf_(x[i]) - t[i]) * dy[i];
}

/* ------------------------------------------------------------------ optimisers */

TRM_EXPORT void trm_adam_atan2(i64 n, float *p, const float *g, float *m, float *v, double lr,
                               double wd, double beta1, double beta2, double bc1, double bc2) {
  const float decay = (float)(1.0 - lr * wd), a1 = (float)(1.0 - beta1), a2 = (float)(1.0 - beta2);
  const float step = (float)(lr / bc1), isb = (float)(1.0 / sqrt(bc2));
#pragma omp parallel for num_threads(trm_nth(n * 4)) schedule(static)
  for (i64 i = 0; i < n; i++) {
    float gi = g[i];
    float mi = m[i] + a1 * (gi - m[i]);
    float vi = v[i] + a2 * (gi * gi - v[i]);
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - step * atan2f(mi, sqrtf(vi) * isb);
  }
}

/* Returns -1, or the first i whose id is outside [0, tableRows) (nothing is written then).
 * Parallel over column slices, rows in ascending i: repeated ids are applied in order. */
TRM_EXPORT i64 trm_sign_sgd_rows(i64 n, i64 dim, const int32_t *ids, const float *grads,
                                 float *table, i64 table_rows, double lr, double wd) {
  for (i64 i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= table_rows) return i;
  const float decay = (float)(1.0 - lr * wd), step = (float)lr;
  int nth = trm_nth(n * dim);
#pragma omp parallel num_threads(nth)
  {
    int t = omp_get_thread_num(), T = omp_get_num_threads();
    i64 c0 = dim * t / T, c1 = dim * (t + 1) / T;
    for (i64 i = 0; i < n; i++) {
      float *row = table + (i64)ids[i] * dim;
      const float *gr = grads + i * dim;
#pragma omp simd
      for (i64 c = c0; c < c1; c++) {
        /* sign with sign(0) = 0; a NaN gradient stays NaN, like Math.sign */
        float s = gr[c] > 0.0f ? 1.0f : (gr[c] < 0.0f ? -1.0f : gr[c]);
        row[c] = row[c] * decay - step * s;
      }
    }
  }
  return -1;
}

TRM_EXPORT void trm_ema(i64 n, float *shadow, const float *p, double decay) {
  const float d = (float)decay, od = (float)(1.0 - decay);
#pragma omp parallel for simd num_threads(trm_nth(n)) schedule(simd : static)
  for (i64 i = 0; i < n; i++) shadow[i] = d * shadow[i] + od * p[i];
}
