/*
 * Row-wise kernels: RMSNorm, softmax, embedding, rotary embedding, stable-max cross-entropy.
 * Semantics of every kernel: engine/backend.ts. Layout conventions: engine/native/trm.h.
 * Kernels that take indices return -1, or the position of the first index out of range (and then
 * write nothing), so the host can throw a RangeError instead of touching memory out of bounds.
 */
#include <omp.h>

#include "trm.h"

TRM_EXPORT void trm_rmsnorm(i64 rows, i64 cols, const float *x, const float *weight, double eps,
                            float *out, float *rstd) {
#pragma omp parallel for num_threads(trm_nth(rows * cols)) schedule(static)
  for (i64 r = 0; r < rows; r++) {
    const float *xr = x + r * cols;
    float *o = out + r * cols;
    const float rs = trm_rstd(xr, cols, eps);
    rstd[r] = rs;
    if (weight) {
#pragma omp simd
      for (i64 c = 0; c < cols; c++) o[c] = xr[c] * rs * weight[c];
    } else {
#pragma omp simd
      for (i64 c = 0; c < cols; c++) o[c] = xr[c] * rs;
    }
  }
}

/* dx_c = r·(w_c·dy_c − x_c·r²·(Σ_j dy_j·w_j·x_j)/cols). dweight is summed in double over fixed
 * 256-row chunks, then over chunks in order, in the same pass over the rows. */
TRM_EXPORT void trm_rmsnorm_backward(i64 rows, i64 cols, const float *x, const float *weight,
                                     const float *rstd, const float *dy, float *dx,
                                     float *dweight) {
  const i64 nchunk = (rows + ROW_CHUNK - 1) / ROW_CHUNK;
  double *part = weight ? calloc((size_t)(nchunk * cols) + 1, sizeof(double)) : NULL;
#pragma omp parallel num_threads(trm_nth(rows * cols))
  {
    float *wdy = trm_scratch(0, (size_t)cols + 16);
#pragma omp for schedule(static)
    for (i64 ch = 0; ch < nchunk; ch++) {
      i64 r1 = (ch + 1) * ROW_CHUNK < rows ? (ch + 1) * ROW_CHUNK : rows;
      double *acc = part ? part + ch * cols : NULL;
      for (i64 r = ch * ROW_CHUNK; r < r1; r++) {
        const float *xr = x + r * cols, *dyr = dy + r * cols;
        float *dxr = dx + r * cols;
        const float rs = rstd[r];
        if (weight) {
#pragma omp simd
          for (i64 c = 0; c < cols; c++) wdy[c] = weight[c] * dyr[c];
        } else {
          memcpy(wdy, dyr, (size_t)cols * sizeof(float));
        }
        const float k = (float)(dot_d(wdy, xr, cols) / (double)cols) * rs * rs;
#pragma omp simd
        for (i64 c = 0; c < cols; c++) dxr[c] = rs * (wdy[c] - xr[c] * k);
        if (acc) {
#pragma omp simd
          for (i64 c = 0; c < cols; c++) acc[c] += (double)(dyr[c] * xr[c] * rs);
        }
      }
    }
    if (part) {
      trm_sum_chunks(part, nchunk, cols, dweight);
    }
  }
  free(part);
}

/* Fused residual + RMSNorm: out = (x + y)·rstd, the sum formed in out itself (so the forward is
 * bitwise the add followed by trm_rmsnorm). */
TRM_EXPORT void trm_add_rmsnorm(i64 rows, i64 cols, const float *x, const float *y, double eps,
                                float *out, float *rstd) {
#pragma omp parallel for num_threads(trm_nth(rows * cols)) schedule(static)
  for (i64 r = 0; r < rows; r++) {
    const float *xr = x + r * cols, *yr = y + r * cols;
    float *o = out + r * cols;
#pragma omp simd
    for (i64 c = 0; c < cols; c++) o[c] = xr[c] + yr[c];
    const float rs = trm_rstd(o, cols, eps);
    rstd[r] = rs;
#pragma omp simd
    for (i64 c = 0; c < cols; c++) o[c] *= rs;
  }
}

/* ds_c = r·(dy_c − out_c·(Σ_j dy_j·out_j)/cols), from the output (out = s·r). In place allowed. */
TRM_EXPORT void trm_add_rmsnorm_backward(i64 rows, i64 cols, const float *out, const float *rstd,
                                         const float *dy, float *ds) {
#pragma omp parallel for num_threads(trm_nth(rows * cols)) schedule(static)
  for (i64 r = 0; r < rows; r++) {
    const float *o = out + r * cols, *dyr = dy + r * cols;
    float *dsr = ds + r * cols;
    const float k = (float)(dot_d(dyr, o, cols) / (double)cols), rs = rstd[r];
#pragma omp simd
    for (i64 c = 0; c < cols; c++) dsr[c] = rs * (dyr[c] - o[c] * k);
  }
}

/* o = e^(x - max(x)) / Σ over one row (a NaN anywhere makes the row NaN). */
static void softmax_row(const float *x, float *o, i64 n) {
  i64 c = 0;
#ifdef __AVX512F__
  __m512 vm = _mm512_set1_ps(-INFINITY), vs = _mm512_setzero_ps();
  for (c = 0; c < n; c += 16) {
    __mmask16 m = trm_mask(n - c);
    vm = _mm512_mask_max_ps(vm, m, vm, _mm512_maskz_loadu_ps(m, x + c));
  }
  const __m512 m16 = _mm512_set1_ps(_mm512_reduce_max_ps(vm));
  for (c = 0; c < n; c += 16) {
    __mmask16 m = trm_mask(n - c);
    __m512 e = trm_exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + c), m16));
    vs = _mm512_mask_add_ps(vs, m, vs, e);
    _mm512_mask_storeu_ps(o + c, m, e);
  }
  const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(vs));
  for (c = 0; c < n; c += 16) {
    __mmask16 m = trm_mask(n - c);
    _mm512_mask_storeu_ps(o + c, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, o + c), inv));
  }
#elif TRM_AVX2
  /* whole vectors, then one masked tail vector (max over it with −inf in the lanes past n) */
  const __m256 ninf = _mm256_set1_ps(-INFINITY);
  __m256 vm = ninf, vs = _mm256_setzero_ps();
  for (c = 0; c + 8 <= n; c += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + c));
  const i64 full = c;
  const __m256i mt = trm_mask8(n - full);
  if (full < n)
    vm = _mm256_max_ps(vm, _mm256_blendv_ps(ninf, _mm256_maskload_ps(x + full, mt),
                                            _mm256_castsi256_ps(mt)));
  const __m256 m8 = _mm256_set1_ps(trm_hmax8(vm));
  for (c = 0; c < full; c += 8) {
    const __m256 e = trm_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + c), m8));
    vs = _mm256_add_ps(vs, e);
    _mm256_storeu_ps(o + c, e);
  }
  __m256 et = _mm256_setzero_ps();
  if (full < n) {
    et = _mm256_and_ps(trm_exp8(_mm256_sub_ps(_mm256_maskload_ps(x + full, mt), m8)),
                       _mm256_castsi256_ps(mt));
    vs = _mm256_add_ps(vs, et);
  }
  const __m256 inv = _mm256_set1_ps(1.0f / trm_hsum8(vs));
  for (c = 0; c < full; c += 8) _mm256_storeu_ps(o + c, _mm256_mul_ps(_mm256_loadu_ps(o + c), inv));
  if (full < n) _mm256_maskstore_ps(o + full, mt, _mm256_mul_ps(et, inv));
#else
  float mx = -INFINITY, s = 0;
  for (c = 0; c < n; c++) mx = x[c] > mx ? x[c] : mx;
  for (c = 0; c < n; c++) s += (o[c] = expf(x[c] - mx));
  const float inv = 1.0f / s;
  for (c = 0; c < n; c++) o[c] *= inv;
#endif
}

TRM_EXPORT void trm_softmax(i64 rows, i64 cols, const float *x, float *out) {
#pragma omp parallel for num_threads(trm_nth(rows * cols * 4)) schedule(static)
  for (i64 r = 0; r < rows; r++) softmax_row(x + r * cols, out + r * cols, cols);
}

TRM_EXPORT void trm_softmax_backward(i64 rows, i64 cols, const float *y, const float *dy,
                                     float *dx) {
#pragma omp parallel for num_threads(trm_nth(rows * cols)) schedule(static)
  for (i64 r = 0; r < rows; r++) {
    const float *yr = y + r * cols, *dyr = dy + r * cols;
    float *dxr = dx + r * cols;
    const float d = (float)dot_d(yr, dyr, cols);
#pragma omp simd
    for (i64 c = 0; c < cols; c++) dxr[c] = yr[c] * (dyr[c] - d);
  }
}

static i64 check_ids(i64 n, const int32_t *ids, i64 table_rows) {
  for (i64 i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= table_rows) return i;
  return -1;
}

TRM_EXPORT i64 trm_embedding(i64 n, i64 dim, const int32_t *ids, const float *table,
                             i64 table_rows, float *out) {
  i64 bad = check_ids(n, ids, table_rows);
  if (bad >= 0) return bad;
#pragma omp parallel for num_threads(trm_nth(n * dim)) schedule(static)
  for (i64 i = 0; i < n; i++)
    memcpy(out + i * dim, table + (i64)ids[i] * dim, (size_t)dim * sizeof(float));
  return -1;
}

/* Parallel over column slices; every thread walks i in ascending order, so each table row
 * receives its contributions in ascending i, whatever the thread count. */
TRM_EXPORT i64 trm_embedding_backward(i64 n, i64 dim, const int32_t *ids, const float *dy,
                                      float *dtable, i64 table_rows) {
  i64 bad = check_ids(n, ids, table_rows);
  if (bad >= 0) return bad;
#pragma omp parallel num_threads(trm_nth(n * dim))
  {
    int t = omp_get_thread_num(), T = omp_get_num_threads();
    /* slices of whole 16-float groups, so threads never share a cache line of a row */
    i64 groups = (dim + 15) / 16;
    i64 c0 = groups * t / T * 16, c1 = groups * (t + 1) / T * 16;
    if (c1 > dim) c1 = dim;
    for (i64 i = 0; i < n; i++) {
      float *row = dtable + (i64)ids[i] * dim;
      const float *g = dy + i * dim;
#pragma omp simd
      for (i64 c = c0; c < c1; c++) row[c] += g[c];
    }
  }
  return -1;
}

TRM_EXPORT void trm_rope(i64 batch, i64 seq, i64 heads, i64 head_dim, const float *x, i64 ldx,
                         const float *cos_t, const float *sin_t, int inverse, float *out,
                         i64 ldo) {
  const i64 half = head_dim / 2;
  const float sg = inverse ? -1.0f : 1.0f;
#pragma omp parallel for num_threads(trm_nth(batch * seq * heads * head_dim)) schedule(static)
  for (i64 bt = 0; bt < batch * seq; bt++) {
    const i64 t = bt % seq;
    const float *cs = cos_t + t * head_dim, *sn = sin_t + t * head_dim;
    for (i64 h = 0; h < heads; h++) {
      const float *xa = x + bt * ldx + h * head_dim, *xb = xa + half;
      float *oa = out + bt * ldo + h * head_dim, *ob = oa + half;
#pragma omp simd
      for (i64 d = 0; d < half; d++) {
        const float a = xa[d], b = xb[d];
        oa[d] = a * cs[d] - b * (sg * sn[d]);
        ob[d] = b * cs[d + half] + a * (sg * sn[d + half]);
      }
    }
  }
}

/* TRM's stable-max transform s(x) and s'(x)/s(x), in double. */
static inline double smax(double x) { return x < 0 ? 1.0 / (1.0 - x) : x + 1.0; }
static inline double smax_dlog(double x) { return x < 0 ? 1.0 / (1.0 - x) : 1.0 / (x + 1.0); }
static inline double smax_grad(double x) { return x < 0 ? 1.0 / ((1.0 - x) * (1.0 - x)) : 1.0; }

static i64 check_labels(i64 n, const int32_t *labels, i64 vocab, int32_t ignore) {
  for (i64 i = 0; i < n; i++)
    if (labels[i] != ignore && (labels[i] < 0 || labels[i] >= vocab)) return i;
  return -1;
}

TRM_EXPORT i64 trm_stablemax_xent(i64 batch, i64 seq, i64 vocab, const float *logits,
                                  const int32_t *labels, int32_t ignore, float *loss) {
  i64 bad = check_labels(batch * seq, labels, vocab, ignore);
  if (bad >= 0) return bad;
#pragma omp parallel for num_threads(trm_nth(batch * seq * vocab * 4)) schedule(static)
  for (i64 b = 0; b < batch; b++) {
    double acc = 0;
    i64 cnt = 0;
    for (i64 t = 0; t < seq; t++) {
      const i64 row = b * seq + t;
      if (labels[row] == ignore) continue;
      const float *xr = logits + row * vocab;
      double z = 0;
      for (i64 c = 0; c < vocab; c++) z += smax(xr[c]);
      acc += log(z) - log(smax(xr[labels[row]]));
      cnt++;
    }
    loss[b] = (float)(acc / (double)(cnt > 1 ? cnt : 1));
  }
  return -1;
}

TRM_EXPORT i64 trm_stablemax_xent_backward(i64 batch, i64 seq, i64 vocab, const float *logits,
                                           const int32_t *labels, int32_t ignore,
                                           const float *dloss, float *dlogits) {
  i64 bad = check_labels(batch * seq, labels, vocab, ignore);
  if (bad >= 0) return bad;
#pragma omp parallel for num_threads(trm_nth(batch * seq * vocab * 4)) schedule(static)
  for (i64 b = 0; b < batch; b++) {
    i64 cnt = 0;
    for (i64 t = 0; t < seq; t++) cnt += labels[b * seq + t] != ignore;
    const double w = (double)dloss[b] / (double)(cnt > 1 ? cnt : 1);
    for (i64 t = 0; t < seq; t++) {
      const i64 row = b * seq + t;
      const float *xr = logits + row * vocab;
      float *dr = dlogits + row * vocab;
      const int32_t lab = labels[row];
      if (lab == ignore) {
        memset(dr, 0, (size_t)vocab * sizeof(float));
        continue;
      }
      double z = 0;
      for (i64 c = 0; c < vocab; c++) z += smax(xr[c]);
      const double wz = w / z;
      for (i64 c = 0; c < vocab; c++) {
        double g = smax_grad(xr[c]) * wz;
        if (c == lab) g -= w * smax_dlog(xr[c]);
        dr[c] = (float)g;
      }
    }
  }
  return -1;
}
