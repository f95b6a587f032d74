// CUDA backend, part 2: our own batched GEMM (the fallback when cuBLAS cannot be loaded; cuBLAS
// itself is called from TypeScript). Row-major, all four transpose combinations, strided batches
// (stride 0 shares a matrix), beta = 0 never reads C. f32 throughout, f32 accumulation.
//
// A 64 × 64 output tile per block of 256 threads, each thread a 4 × 4 register tile, K in steps of
// 16 through shared memory. Correctness first; cuBLAS is the fast path.
#include "trm_cuda.cuh"

#define TM 64
#define TN 64
#define TK 16

__global__ void gemm_kernel(int ta, int tb, i64 m, i64 n, i64 k, float alpha, const float *A,
                            i64 lda, const float *B, i64 ldb, float beta, float *C, i64 ldc,
                            i64 sA, i64 sB, i64 sC) {
  __shared__ float As[TK][TM + 1];
  __shared__ float Bs[TK][TN + 1];
  i64 bi = blockIdx.z;
  const float *a = A + bi * sA, *b = B + bi * sB;
  float *c = C + bi * sC;
  i64 r0 = (i64)blockIdx.y * TM, c0 = (i64)blockIdx.x * TN;
  int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;  // 16 × 16 threads, 4 × 4 outputs each
  float acc[4][4] = {};
  for (i64 k0 = 0; k0 < k; k0 += TK) {
    // load op(A)[r0 .. r0+64, k0 .. k0+16] and op(B)[k0 .. k0+16, c0 .. c0+64]
    for (int e = threadIdx.x; e < TM * TK; e += 256) {
      int rr = e / TK, kk = e % TK;
      i64 r = r0 + rr, q = k0 + kk;
      float v = 0.f;
      if (r < m && q < k) v = ta ? a[q * lda + r] : a[r * lda + q];
      As[kk][rr] = v;
    }
    for (int e = threadIdx.x; e < TN * TK; e += 256) {
      int cc = e % TN, kk = e / TN;
      i64 col = c0 + cc, q = k0 + kk;
      float v = 0.f;
      if (col < n && q < k) v = tb ? b[col * ldb + q] : b[q * ldb + col];
      Bs[kk][cc] = v;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < TK; kk++) {
      float av[4], bv[4];
#pragma unroll
      for (int i = 0; i < 4; i++) av[i] = As[kk][ty * 4 + i];
#pragma unroll
      for (int j = 0; j < 4; j++) bv[j] = Bs[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] += av[i] * bv[j];
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; i++) {
    i64 r = r0 + ty * 4 + i;
    if (r >= m) continue;
#pragma unroll
    for (int j = 0; j < 4; j++) {
      i64 col = c0 + tx + 16 * j;
      if (col >= n) continue;
      float *cp = c + r * ldc + col;
      *cp = beta == 0.f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * *cp;
    }
  }
}

TRM_API int trm_cuda_gemm(int ta, int tb, i64 m, i64 n, i64 k, float alpha, u64 a, i64 lda, u64 b,
                          i64 ldb, float beta, u64 c, i64 ldc, i64 batch, i64 sA, i64 sB, i64 sC) {
  if (m <= 0 || n <= 0 || batch <= 0) return 0;
  for (i64 b0 = 0; b0 < batch; b0 += 65535) {
    i64 nb = batch - b0 < 65535 ? batch - b0 : 65535;
    dim3 grid((unsigned)((n + TN - 1) / TN), (unsigned)((m + TM - 1) / TM), (unsigned)nb);
    gemm_kernel<<<grid, 256>>>(ta, tb, m, n, k, alpha, CF(a) + b0 * sA, lda, CF(b) + b0 * sB, ldb,
                               beta, F(c) + b0 * sC, ldc, sA, sB, sC);
    LAUNCHED("gemm_kernel");
  }
  return 0;
}
