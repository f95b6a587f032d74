// CUDA backend, part 3: fused non-causal multi-head attention, forward and backward.
//
// Forward (flash-style): one thread per query row, blocks of ATT_ROWS rows of one (batch, head);
// keys and values stream through shared memory in tiles of ATT_TILE rows with an online softmax
// (running max and sum), so no score matrix is ever stored. lse is saved for the backward.
// Backward: D_r = dO_r · O_r first; then dQ with one thread per query row streaming key tiles,
// and dK, dV with one thread per key row streaming query tiles, each recomputing
// P = exp(scale·q·k − lse) per tile. No atomics: deterministic.
// headDim ≤ ATT_MAXD (checked on the TS side). Correctness first: the per-thread row vectors live
// in local memory; a tf32 tensor-core flash attention is in the kernel lab
// (dev/cuda/attention_tc.cu), not yet run on a GPU: promoted only as dev/cuda/README.md says.
#include <math.h>

#include "trm_cuda.cuh"

#define ATT_ROWS 64
#define ATT_TILE 16
#define ATT_MAXD 256

TRM_API int trm_cuda_attention_max_head_dim(void) { return ATT_MAXD; }

__global__ void attention_fwd_kernel(i64 seq, i64 heads, i64 hd, float scale, const float *q,
                                     const float *k, const float *v, i64 ld, float *out,
                                     float *lse) {
  extern __shared__ float sm[];
  float *Ks = sm, *Vs = sm + ATT_TILE * hd;
  i64 bh = blockIdx.y, b = bh / heads, h = bh % heads;
  i64 r = (i64)blockIdx.x * ATT_ROWS + threadIdx.x;
  bool live = r < seq;
  float qr[ATT_MAXD], acc[ATT_MAXD];
  if (live) {
    const float *qp = q + (b * seq + r) * ld + h * hd;
    for (i64 d = 0; d < hd; d++) {
      qr[d] = qp[d] * scale;
      acc[d] = 0.f;
    }
  }
  float mx = -INFINITY, z = 0.f;
  for (i64 c0 = 0; c0 < seq; c0 += ATT_TILE) {
    int nt = (int)min((i64)ATT_TILE, seq - c0);
    __syncthreads();
    for (i64 e = threadIdx.x; e < nt * hd; e += blockDim.x) {
      i64 j = e / hd, d = e - j * hd;
      i64 off = (b * seq + c0 + j) * ld + h * hd + d;
      Ks[j * hd + d] = k[off];
      Vs[j * hd + d] = v[off];
    }
    __syncthreads();
    if (!live) continue;
    float s[ATT_TILE];
    float tmx = mx;
    for (int j = 0; j < nt; j++) {
      float dot = 0.f;
      for (i64 d = 0; d < hd; d++) dot += qr[d] * Ks[j * hd + d];
      s[j] = dot;
      tmx = fmaxf(tmx, dot);
    }
    float corr = expf(mx - tmx);  // mx = -inf on the first tile: corr = 0, acc and z are 0
    z *= corr;
    for (i64 d = 0; d < hd; d++) acc[d] *= corr;
    for (int j = 0; j < nt; j++) {
      float p = expf(s[j] - tmx);
      z += p;
      for (i64 d = 0; d < hd; d++) acc[d] += p * Vs[j * hd + d];
    }
    mx = tmx;
  }
  if (live) {
    float *op = out + (b * seq + r) * heads * hd + h * hd;
    float inv = 1.f / z;
    for (i64 d = 0; d < hd; d++) op[d] = acc[d] * inv;
    lse[bh * seq + r] = mx + logf(z);
  }
}

TRM_API int trm_cuda_attention(i64 batch, i64 seq, i64 heads, i64 hd, float scale, u64 q, u64 k,
                               u64 v, i64 ld, u64 out, u64 lse) {
  if (batch * seq * heads * hd <= 0) return 0;
  size_t shm = (size_t)2 * ATT_TILE * hd * 4;
  dim3 grid((unsigned)((seq + ATT_ROWS - 1) / ATT_ROWS), (unsigned)(batch * heads));
  attention_fwd_kernel<<<grid, ATT_ROWS, shm>>>(seq, heads, hd, scale, CF(q), CF(k), CF(v), ld,
                                                F(out), F(lse));
  LAUNCHED("attention_fwd_kernel");
  return 0;
}

// Drow[bh, r] = Σ_d dO[r, d] · O[r, d]; one warp per row.
__global__ void attention_drow_kernel(i64 rows, i64 seq, i64 heads, i64 hd, const float *out,
                                      const float *dout, float *drow) {
  i64 warp = ((i64)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  int lane = threadIdx.x & 31;
  if (warp >= rows) return;
  i64 bh = warp / seq, r = warp % seq, b = bh / heads, h = bh % heads;
  i64 off = (b * seq + r) * heads * hd + h * hd;
  float acc = 0.f;
  for (i64 d = lane; d < hd; d += 32) acc += dout[off + d] * out[off + d];
  for (int o = 16; o > 0; o >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, o);
  if (lane == 0) drow[warp] = acc;
}

// dQ: one thread per query row, key/value tiles in shared memory.
__global__ void attention_dq_kernel(i64 seq, i64 heads, i64 hd, float scale, const float *q,
                                    const float *k, const float *v, i64 ld, const float *lse,
                                    const float *drow, const float *dout, float *dq) {
  extern __shared__ float sm[];
  float *Ks = sm, *Vs = sm + ATT_TILE * hd;
  i64 bh = blockIdx.y, b = bh / heads, h = bh % heads;
  i64 r = (i64)blockIdx.x * ATT_ROWS + threadIdx.x;
  bool live = r < seq;
  float qr[ATT_MAXD], gr[ATT_MAXD], acc[ATT_MAXD];
  float l = 0.f, dr = 0.f;
  if (live) {
    const float *qp = q + (b * seq + r) * ld + h * hd;
    const float *gp = dout + (b * seq + r) * heads * hd + h * hd;
    for (i64 d = 0; d < hd; d++) {
      qr[d] = qp[d];
      gr[d] = gp[d];
      acc[d] = 0.f;
    }
    l = lse[bh * seq + r];
    dr = drow[bh * seq + r];
  }
  for (i64 c0 = 0; c0 < seq; c0 += ATT_TILE) {
    int nt = (int)min((i64)ATT_TILE, seq - c0);
    __syncthreads();
    for (i64 e = threadIdx.x; e < nt * hd; e += blockDim.x) {
      i64 j = e / hd, d = e - j * hd;
      i64 off = (b * seq + c0 + j) * ld + h * hd + d;
      Ks[j * hd + d] = k[off];
      Vs[j * hd + d] = v[off];
    }
    __syncthreads();
    if (!live) continue;
    for (int j = 0; j < nt; j++) {
      float s = 0.f, dp = 0.f;
      for (i64 d = 0; d < hd; d++) {
        s += qr[d] * Ks[j * hd + d];
        dp += gr[d] * Vs[j * hd + d];
      }
      float p = expf(s * scale - l), ds = p * (dp - dr);
      for (i64 d = 0; d < hd; d++) acc[d] += ds * Ks[j * hd + d];
    }
  }
  if (live) {
    float *op = dq + (b * seq + r) * ld + h * hd;
    for (i64 d = 0; d < hd; d++) op[d] = scale * acc[d];
  }
}

// dK, dV: one thread per key row, query / dO tiles (with their lse and D) in shared memory.
__global__ void attention_dkv_kernel(i64 seq, i64 heads, i64 hd, float scale, const float *q,
                                     const float *k, const float *v, i64 ld, const float *lse,
                                     const float *drow, const float *dout, float *dk, float *dv) {
  extern __shared__ float sm[];
  float *Qs = sm, *Gs = sm + ATT_TILE * hd, *Ls = Gs + ATT_TILE * hd, *Ds = Ls + ATT_TILE;
  i64 bh = blockIdx.y, b = bh / heads, h = bh % heads;
  i64 r = (i64)blockIdx.x * ATT_ROWS + threadIdx.x;
  bool live = r < seq;
  float kr[ATT_MAXD], vr[ATT_MAXD], ak[ATT_MAXD], av[ATT_MAXD];
  if (live) {
    const float *kp = k + (b * seq + r) * ld + h * hd, *vp = v + (b * seq + r) * ld + h * hd;
    for (i64 d = 0; d < hd; d++) {
      kr[d] = kp[d];
      vr[d] = vp[d];
      ak[d] = 0.f;
      av[d] = 0.f;
    }
  }
  for (i64 c0 = 0; c0 < seq; c0 += ATT_TILE) {
    int nt = (int)min((i64)ATT_TILE, seq - c0);
    __syncthreads();
    for (i64 e = threadIdx.x; e < nt * hd; e += blockDim.x) {
      i64 j = e / hd, d = e - j * hd;
      Qs[j * hd + d] = q[(b * seq + c0 + j) * ld + h * hd + d];
      Gs[j * hd + d] = dout[(b * seq + c0 + j) * heads * hd + h * hd + d];
    }
    if (threadIdx.x < nt) {
      Ls[threadIdx.x] = lse[bh * seq + c0 + threadIdx.x];
      Ds[threadIdx.x] = drow[bh * seq + c0 + threadIdx.x];
    }
    __syncthreads();
    if (!live) continue;
    for (int j = 0; j < nt; j++) {
      float s = 0.f, dp = 0.f;
      for (i64 d = 0; d < hd; d++) {
        s += Qs[j * hd + d] * kr[d];
        dp += Gs[j * hd + d] * vr[d];
      }
      float p = expf(s * scale - Ls[j]), ds = p * (dp - Ds[j]);
      for (i64 d = 0; d < hd; d++) {
        av[d] += p * Gs[j * hd + d];
        ak[d] += ds * Qs[j * hd + d];
      }
    }
  }
  if (live) {
    float *kp = dk + (b * seq + r) * ld + h * hd, *vp = dv + (b * seq + r) * ld + h * hd;
    for (i64 d = 0; d < hd; d++) {
      kp[d] = scale * ak[d];
      vp[d] = av[d];
    }
  }
}

TRM_API int trm_cuda_attention_backward(i64 batch, i64 seq, i64 heads, i64 hd, float scale, u64 q,
                                        u64 k, u64 v, i64 ld, u64 out, u64 lse, u64 dout, u64 dq,
                                        u64 dk, u64 dv) {
  if (batch * seq * heads * hd <= 0) return 0;
  i64 rows = batch * heads * seq;
  float *drow = (float *)trm_scratch((size_t)rows * 4);
  if (!drow) return 1;
  attention_drow_kernel<<<(unsigned)((rows * 32 + 255) / 256), 256>>>(rows, seq, heads, hd,
                                                                      CF(out), CF(dout), drow);
  LAUNCHED("attention_drow_kernel");
  dim3 grid((unsigned)((seq + ATT_ROWS - 1) / ATT_ROWS), (unsigned)(batch * heads));
  size_t shm = (size_t)2 * ATT_TILE * hd * 4;
  attention_dq_kernel<<<grid, ATT_ROWS, shm>>>(seq, heads, hd, scale, CF(q), CF(k), CF(v), ld,
                                               CF(lse), drow, CF(dout), F(dq));
  LAUNCHED("attention_dq_kernel");
  attention_dkv_kernel<<<grid, ATT_ROWS, shm + 2 * ATT_TILE * 4>>>(
      seq, heads, hd, scale, CF(q), CF(k), CF(v), ld, CF(lse), drow, CF(dout), F(dk), F(dv));
  LAUNCHED("attention_dkv_kernel");
  return 0;
}
