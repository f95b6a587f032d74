// CUDA backend, part 4: Mamba-2's causal depthwise conv1d and the SSD scan (forward, backward).
//
// The scan here is the SEQUENTIAL recurrence S_t = exp(Δ_t·A)·S_{t−1} + Δ_t·x_t⊗B_t,
// y_t = S_t·C_t + D·x_t (rung 1 of the ladder), parallel over (batch, head) blocks and headDim
// threads — each thread owns one row S[p, :] of the state, which evolves independently of the
// other rows. f32 states, decays exp(Δ·A) formed per step (never exp(Λi − Λj) as a product). The
// backward is the exact adjoint of the recurrence (a reverse scan of ∂L/∂S) with the states
// recomputed from checkpoints every K = ⌈√seq⌉ steps, run in waves of batches so that scratch
// memory stays bounded; dA, dD and the group sums of dB, dC are reduced in a fixed order.
// TODO(perf): this kernel is latency-bound over seq. The chunked SSD of arXiv:2405.21060 §6
// (chunk-local quadratic form, f32 or on tf32 tensor cores) is in the kernel lab
// (dev/cuda/ssd_chunked.cu), not yet run on a GPU: promoted only as dev/cuda/README.md says.
#include <math.h>

#include "trm_cuda.cuh"

// ------------------------------------------------------------------------------ conv1d

__global__ void conv1d_kernel(i64 batch, i64 seq, i64 ch, i64 k, const float *x, const float *w,
                              const float *bias, float *out) {
  i64 n = batch * seq * ch;
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    i64 c = i % ch, bt = i / ch, t = bt % seq;
    float acc = bias[c];
    for (i64 j = k - 1 - t > 0 ? k - 1 - t : 0; j < k; j++)
      acc += w[c * k + j] * x[(bt - k + 1 + j) * ch + c];
    out[i] = acc;
  }
}
TRM_API int trm_cuda_conv1d_causal(i64 batch, i64 seq, i64 ch, i64 k, u64 x, u64 w, u64 bias,
                                   u64 out) {
  i64 n = batch * seq * ch;
  if (n <= 0) return 0;
  conv1d_kernel<<<grid1d(n), 256>>>(batch, seq, ch, k, CF(x), CF(w), CF(bias), F(out));
  LAUNCHED("conv1d_kernel");
  return 0;
}

__global__ void conv1d_dx_kernel(i64 batch, i64 seq, i64 ch, i64 k, const float *w,
                                 const float *dy, float *dx) {
  i64 n = batch * seq * ch;
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    i64 c = i % ch, bt = i / ch, s = bt % seq;
    float acc = 0.f;
    for (i64 j = 0; j < k; j++) {
      i64 t = s + k - 1 - j;
      if (t < seq) acc += w[c * k + j] * dy[(bt + k - 1 - j) * ch + c];
    }
    dx[i] = acc;
  }
}
// Pass 1 of dw / dbias: column q = c·(k+1) + j (j < k: dw[c, j]; j = k: dbias[c]); partial sums
// over segments of SEG_ROWS flattened (b, t) rows.
__global__ void conv1d_dw_part_kernel(i64 batch, i64 seq, i64 ch, i64 k, const float *x,
                                      const float *dy, float *part) {
  i64 s = blockIdx.y, cols = ch * (k + 1), rows = batch * seq;
  for (i64 q = blockIdx.x * (i64)blockDim.x + threadIdx.x; q < cols; q += (i64)gridDim.x * blockDim.x) {
    i64 c = q / (k + 1), j = q % (k + 1);
    i64 r1 = min(rows, (s + 1) * SEG_ROWS);
    float acc = 0.f;
    for (i64 r = s * SEG_ROWS; r < r1; r++) {
      float g = dy[r * ch + c];
      if (j == k) {
        acc += g;
      } else {
        i64 t = r % seq, src = t - k + 1 + j;
        if (src >= 0) acc += g * x[(r - k + 1 + j) * ch + c];
      }
    }
    part[s * cols + q] = acc;
  }
}
__global__ void conv1d_dw_final_kernel(i64 nseg, i64 ch, i64 k, const float *part, float *dw,
                                       float *dbias) {
  i64 cols = ch * (k + 1);
  for (i64 q = blockIdx.x * (i64)blockDim.x + threadIdx.x; q < cols; q += (i64)gridDim.x * blockDim.x) {
    float acc = 0.f;
    for (i64 s = 0; s < nseg; s++) acc += part[s * cols + q];
    i64 c = q / (k + 1), j = q % (k + 1);
    if (j == k) dbias[c] = acc;
    else dw[c * k + j] = acc;
  }
}
TRM_API int trm_cuda_conv1d_causal_backward(i64 batch, i64 seq, i64 ch, i64 k, u64 x, u64 w,
                                            u64 dy, u64 dx, u64 dw, u64 dbias) {
  if (ch <= 0) return 0;
  i64 n = batch * seq * ch;
  if (n <= 0) {
    CK(cudaMemsetAsync(F(dw), 0, (size_t)(ch * k) * 4, 0));
    CK(cudaMemsetAsync(F(dbias), 0, (size_t)ch * 4, 0));
    return 0;
  }
  conv1d_dx_kernel<<<grid1d(n), 256>>>(batch, seq, ch, k, CF(w), CF(dy), F(dx));
  LAUNCHED("conv1d_dx_kernel");
  i64 rows = batch * seq, nseg = (rows + SEG_ROWS - 1) / SEG_ROWS, cols = ch * (k + 1);
  float *part = (float *)trm_scratch((size_t)(nseg * cols) * 4);
  if (!part) return 1;
  unsigned cb = (unsigned)((cols + 127) / 128 > 4096 ? 4096 : (cols + 127) / 128);
  conv1d_dw_part_kernel<<<dim3(cb, (unsigned)nseg), 128>>>(batch, seq, ch, k, CF(x), CF(dy), part);
  LAUNCHED("conv1d_dw_part_kernel");
  conv1d_dw_final_kernel<<<cb, 128>>>(nseg, ch, k, part, F(dw), F(dbias));
  LAUNCHED("conv1d_dw_final_kernel");
  return 0;
}

// ------------------------------------------------------------------------------ SSD forward

// Block (b, h), thread p. S (scratch, [n][p] per block so that threads read consecutive words).
__global__ void ssd_fwd_kernel(i64 seq, i64 H, i64 P, i64 G, i64 N, const float *x,
                               const float *dt, const float *A, const float *Bm, const float *Cm,
                               const float *D, const float *init, float *y, float *fin,
                               float *Sall) {
  extern __shared__ float sm[];
  float *Bs = sm, *Cs = sm + N;
  i64 bh = blockIdx.x, b = bh / H, h = bh % H, g = h / (H / G);
  i64 p = threadIdx.x;
  bool live = p < P;
  float *S = Sall + bh * N * P;
  if (live) {
    for (i64 n = 0; n < N; n++) S[n * P + p] = init ? init[(bh * P + p) * N + n] : 0.f;
  }
  float av = A[h], dh = D[h];
  for (i64 t = 0; t < seq; t++) {
    __syncthreads();
    for (i64 n = threadIdx.x; n < N; n += blockDim.x) {
      Bs[n] = Bm[((b * seq + t) * G + g) * N + n];
      Cs[n] = Cm[((b * seq + t) * G + g) * N + n];
    }
    __syncthreads();
    if (!live) continue;
    float d = dt[(b * seq + t) * H + h], decay = expf(d * av);
    i64 xo = ((b * seq + t) * H + h) * P + p;
    float xv = x[xo], dx = d * xv, acc = dh * xv;
    for (i64 n = 0; n < N; n++) {
      float s = decay * S[n * P + p] + dx * Bs[n];
      S[n * P + p] = s;
      acc += s * Cs[n];
    }
    y[xo] = acc;
  }
  if (live && fin) {
    for (i64 n = 0; n < N; n++) fin[(bh * P + p) * N + n] = S[n * P + p];
  }
}

static int ssd_threads(i64 P) { return (int)((P + 31) / 32 * 32); }

TRM_API int trm_cuda_ssd_scan(i64 batch, i64 seq, i64 H, i64 P, i64 G, i64 N, i64 chunk, u64 x,
                              u64 dt, u64 A, u64 Bm, u64 Cm, u64 D, u64 init, u64 y, u64 fin) {
  (void)chunk;  // the sequential kernel does not depend on it
  if (batch * H * P <= 0) return 0;
  float *S = (float *)trm_scratch((size_t)(batch * H * N * P) * 4 + 4);
  if (!S) return 1;
  ssd_fwd_kernel<<<(unsigned)(batch * H), ssd_threads(P), (size_t)2 * N * 4>>>(
      seq, H, P, G, N, CF(x), CF(dt), CF(A), CF(Bm), CF(Cm), CF(D), CF(init), F(y), F(fin), S);
  LAUNCHED("ssd_fwd_kernel");
  return 0;
}

// ------------------------------------------------------------------------------ SSD backward

// Per-block scratch (all [slot][n][p]): ck (nseg checkpoints, ck[s] = S_{s·K − 1}), seg (K + 1
// slots: seg[0] = S_{t0 − 1}, seg[i + 1] = S_{t0 + i}), sb (the running state gradient S̄).
// Shared: B, C rows (2N), then the partial sums of dB and dC over p for NB values of n at a time
// (2·NB·P), then 32 floats for block sums.
__global__ void ssd_bwd_kernel(i64 b0, i64 seq, i64 H, i64 P, i64 G, i64 N, i64 K, i64 NB,
                               const float *x, const float *dt, const float *A, const float *Bm,
                               const float *Cm, const float *D, const float *init,
                               const float *dy, const float *dfin, float *dx, float *ddt,
                               float *dBh, float *dCh, float *dAp, float *dDp, float *dinit,
                               float *work) {
  extern __shared__ float sm[];
  float *Bs = sm, *Cs = sm + N, *redB = Cs + N, *redC = redB + NB * P, *red = redC + NB * P;
  i64 lb = blockIdx.x / H, h = blockIdx.x % H, b = b0 + lb, g = h / (H / G), bh = b * H + h;
  i64 p = threadIdx.x;
  bool live = p < P;
  i64 NP = N * P, nseg = (seq + K - 1) / K;
  float *ck = work + (i64)blockIdx.x * (nseg + K + 2) * NP, *seg = ck + nseg * NP,
        *sb = seg + (K + 1) * NP;
  float av = A[h], dh = D[h];

  // 1) forward from init, keeping the state entering each segment
  if (live) {
    for (i64 n = 0; n < N; n++) {
      float v = init ? init[(bh * P + p) * N + n] : 0.f;
      seg[n * P + p] = v;  // the running state lives in seg[0] during this pass
      sb[n * P + p] = dfin ? dfin[(bh * P + p) * N + n] : 0.f;
    }
    for (i64 t = 0; t < seq; t++) {
      if (t % K == 0)
        for (i64 n = 0; n < N; n++) ck[(t / K) * NP + n * P + p] = seg[n * P + p];
      float d = dt[(b * seq + t) * H + h], decay = expf(d * av);
      float dxv = d * x[((b * seq + t) * H + h) * P + p];
      const float *Br = Bm + ((b * seq + t) * G + g) * N;
      for (i64 n = 0; n < N; n++) seg[n * P + p] = decay * seg[n * P + p] + dxv * Br[n];
    }
  }
  float dA_acc = 0.f, dD_acc = 0.f;

  // 2) segments in reverse: recompute their states, then run the adjoint backwards through them
  for (i64 s = nseg - 1; s >= 0; s--) {
    i64 t0 = s * K, len = min(K, seq - t0);
    if (live) {
      for (i64 n = 0; n < N; n++) seg[n * P + p] = ck[s * NP + n * P + p];
      for (i64 i = 0; i < len; i++) {
        i64 t = t0 + i;
        float d = dt[(b * seq + t) * H + h], decay = expf(d * av);
        float dxv = d * x[((b * seq + t) * H + h) * P + p];
        const float *Br = Bm + ((b * seq + t) * G + g) * N;
        for (i64 n = 0; n < N; n++)
          seg[(i + 1) * NP + n * P + p] = decay * seg[i * NP + n * P + p] + dxv * Br[n];
      }
    }
    for (i64 i = len - 1; i >= 0; i--) {
      i64 t = t0 + i;
      __syncthreads();
      for (i64 n = threadIdx.x; n < N; n += blockDim.x) {
        Bs[n] = Bm[((b * seq + t) * G + g) * N + n];
        Cs[n] = Cm[((b * seq + t) * G + g) * N + n];
      }
      __syncthreads();
      float d = dt[(b * seq + t) * H + h], decay = expf(d * av);
      i64 xo = ((b * seq + t) * H + h) * P + p;
      float gy = live ? dy[xo] : 0.f, xv = live ? x[xo] : 0.f;
      const float *cur = seg + (i + 1) * NP, *prev = seg + i * NP;
      float u = 0.f, inner = 0.f;
      if (live) {
        for (i64 n = 0; n < N; n++) {
          float v = sb[n * P + p] + gy * Cs[n];
          sb[n * P + p] = v;
          u += v * Bs[n];
          inner += v * prev[n * P + p];
        }
      }
      // dB[t, n] = Δ·Σ_p S̄[p, n]·x[p], dC[t, n] = Σ_p S_t[p, n]·dy[p] (this head's share)
      for (i64 n0 = 0; n0 < N; n0 += NB) {
        i64 nb = min(NB, N - n0);
        if (live) {
          for (i64 j = 0; j < nb; j++) {
            redB[j * P + p] = sb[(n0 + j) * P + p] * xv;
            redC[j * P + p] = cur[(n0 + j) * P + p] * gy;
          }
        }
        __syncthreads();
        for (i64 q = threadIdx.x; q < 2 * nb; q += blockDim.x) {
          const float *r = q < nb ? redB + q * P : redC + (q - nb) * P;
          float acc = 0.f;
          for (i64 pp = 0; pp < P; pp++) acc += r[pp];
          i64 n = n0 + (q < nb ? q : q - nb);
          i64 o = ((lb * seq + t) * H + h) * N + n;
          if (q < nb) dBh[o] = d * acc;
          else dCh[o] = acc;
        }
        __syncthreads();
      }
      if (live) dx[xo] = d * u + dh * gy;
      float ddt_sum = block_sum(live ? xv * u : 0.f, red);
      float inner_sum = block_sum(inner, red);
      float dd_sum = block_sum(gy * xv, red);
      float da = decay * inner_sum;
      if (threadIdx.x == 0) ddt[(b * seq + t) * H + h] = ddt_sum + av * da;
      dA_acc += d * da;
      dD_acc += dd_sum;
      if (live)
        for (i64 n = 0; n < N; n++) sb[n * P + p] *= decay;
    }
  }
  if (threadIdx.x == 0) {
    dAp[bh] = dA_acc;
    dDp[bh] = dD_acc;
  }
  if (live && dinit) {
    for (i64 n = 0; n < N; n++) dinit[(bh * P + p) * N + n] = sb[n * P + p];
  }
}

// dBm[b, t, g, n] = Σ_{h in g} dBh[lb, t, h, n] (heads in ascending order), likewise dCm.
__global__ void ssd_group_sum_kernel(i64 b0, i64 nb, i64 seq, i64 H, i64 G, i64 N,
                                     const float *dBh, const float *dCh, float *dBm, float *dCm) {
  i64 total = nb * seq * G * N, hpg = H / G;
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < total; i += (i64)gridDim.x * blockDim.x) {
    i64 n = i % N, g = (i / N) % G, lt = i / (N * G);  // lt = lb·seq + t
    float sB = 0.f, sC = 0.f;
    for (i64 j = 0; j < hpg; j++) {
      i64 o = (lt * H + g * hpg + j) * N + n;
      sB += dBh[o];
      sC += dCh[o];
    }
    i64 out = ((b0 * seq + lt) * G + g) * N + n;
    dBm[out] = sB;
    dCm[out] = sC;
  }
}

// dA[h] = Σ_b dAp[b, h] in ascending b, likewise dD.
__global__ void ssd_head_sum_kernel(i64 batch, i64 H, const float *dAp, const float *dDp,
                                    float *dA, float *dD) {
  for (i64 h = blockIdx.x * (i64)blockDim.x + threadIdx.x; h < H; h += (i64)gridDim.x * blockDim.x) {
    float a = 0.f, d = 0.f;
    for (i64 b = 0; b < batch; b++) {
      a += dAp[b * H + h];
      d += dDp[b * H + h];
    }
    dA[h] = a;
    dD[h] = d;
  }
}

TRM_API int trm_cuda_ssd_scan_backward(i64 batch, i64 seq, i64 H, i64 P, i64 G, i64 N, i64 chunk,
                                       u64 x, u64 dt, u64 A, u64 Bm, u64 Cm, u64 D, u64 init,
                                       u64 dy, u64 dfin, u64 dx, u64 ddt, u64 dA, u64 dBm,
                                       u64 dCm, u64 dD, u64 dinit) {
  (void)chunk;
  if (H <= 0) return 0;
  if (batch * seq * P <= 0 || N <= 0) {
    // nothing flows: zero the reductions and the gradients that exist
    CK(cudaMemsetAsync(F(dA), 0, (size_t)H * 4, 0));
    CK(cudaMemsetAsync(F(dD), 0, (size_t)H * 4, 0));
    if (batch * seq * G * N > 0) {
      CK(cudaMemsetAsync(F(dBm), 0, (size_t)(batch * seq * G * N) * 4, 0));
      CK(cudaMemsetAsync(F(dCm), 0, (size_t)(batch * seq * G * N) * 4, 0));
    }
    if (batch * seq * H > 0) CK(cudaMemsetAsync(F(ddt), 0, (size_t)(batch * seq * H) * 4, 0));
    if (dinit && batch * P * N > 0) {
      if (dfin) CK(cudaMemcpyAsync(F(dinit), CF(dfin), (size_t)(batch * H * P * N) * 4,
                                   cudaMemcpyDeviceToDevice, 0));
      else CK(cudaMemsetAsync(F(dinit), 0, (size_t)(batch * H * P * N) * 4, 0));
    }
    return 0;
  }
  i64 K = 1;
  while (K * K < seq) K++;
  i64 nseg = (seq + K - 1) / K, NP = N * P;
  i64 wb = (2048 + H - 1) / H;  // batches per wave: about 2048 blocks
  if (wb > batch) wb = batch;
  int threads = ssd_threads(P);
  i64 NB = 4096 / P;
  if (NB < 1) NB = 1;
  if (NB > N) NB = N;
  size_t shm = (size_t)(2 * N + 2 * NB * P + 32) * 4;
  if (shm > 48 * 1024) {
    trm_set_error("ssd_bwd_kernel", "shared memory above 48 KiB (dState too large)", __FILE__,
                  __LINE__);
    return 1;
  }
  size_t per_block = (size_t)((nseg + K + 2) * NP);
  size_t floats = (size_t)(2 * batch * H) + (size_t)wb * H * per_block +
                  (size_t)(2 * wb * seq * H * N);
  float *base = (float *)trm_scratch(floats * 4);
  if (!base) return 1;
  float *dAp = base, *dDp = base + batch * H, *work = dDp + batch * H;
  float *dBh = work + (size_t)wb * H * per_block, *dCh = dBh + wb * seq * H * N;
  for (i64 b0 = 0; b0 < batch; b0 += wb) {
    i64 nb = batch - b0 < wb ? batch - b0 : wb;
    ssd_bwd_kernel<<<(unsigned)(nb * H), threads, shm>>>(
        b0, seq, H, P, G, N, K, NB, CF(x), CF(dt), CF(A), CF(Bm), CF(Cm), CF(D), CF(init), CF(dy),
        CF(dfin), F(dx), F(ddt), dBh, dCh, dAp, dDp, F(dinit), work);
    LAUNCHED("ssd_bwd_kernel");
    ssd_group_sum_kernel<<<grid1d(nb * seq * G * N), 256>>>(b0, nb, seq, H, G, N, dBh, dCh,
                                                            F(dBm), F(dCm));
    LAUNCHED("ssd_group_sum_kernel");
  }
  ssd_head_sum_kernel<<<1, 128>>>(batch, H, dAp, dDp, F(dA), F(dD));
  LAUNCHED("ssd_head_sum_kernel");
  return 0;
}
