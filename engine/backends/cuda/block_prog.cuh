// BLOCK PROGRAMS: kernels written once for the device and the host (used by norm_fused.cu, and by
// the kernel lab's variants in dev/cuda/: ssd_chunk.cuh, ssd_chunk_bwd.cuh, attention_tc.cuh).
// A program is a __host__ __device__ functor `prog(run, blk, sm)`: block `blk` of a grid, `sm` its
// shared memory. Its work is a sequence of STEPS run([&](int tid, int nt) {...}); each step
// partitions its work over nt threads by tid and ends at a barrier. Nothing survives a step in
// registers: what later steps read lives in shared or global memory, and all control flow outside
// the steps is uniform over the block. DevRun runs a step as the CUDA block's threads (tid =
// threadIdx.x, then __syncthreads()); HostRun runs it thread after thread (forwards or backwards)
// — exact barrier semantics, so a CPU-only test can run the very code the GPU runs, and a result
// that changes with the thread order inside a step exposes a race.
//
// Also here: the warp-level tensor-core tile product `tile_mm` (tf32 wmma on the device, the same
// fragments as a scalar loop on the host) and the host model of the tf32 rounding.
#pragma once
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#include <mma.h>

#include <type_traits>
#define BLOCK_WMMA 1
#endif

#include "trm_cuda.cuh"

#define HD __host__ __device__

struct DevRun {
  template <class F>
  HD void operator()(F &&f) const {
#ifdef __CUDA_ARCH__
    f((int)threadIdx.x, (int)blockDim.x);
    __syncthreads();
#else
    (void)f;
#endif
  }
};

struct HostRun {
  int nt, rev;
  template <class F>
  HD void operator()(F &&f) const {
#ifndef __CUDA_ARCH__
    for (int t = 0; t < nt; t++) f(rev ? nt - 1 - t : t, nt);
#else
    (void)f;
#endif
  }
};

// Host memory for block programs' shared memory and scratch: 128-byte aligned like the device's
// (so host checks of wmma's alignment rules mean what they would on the device), exact sizes (so
// overruns show under ASan). Null when the allocation fails.
static inline void *block_host_alloc(i64 bytes) {
  void *m = nullptr;
  return posix_memalign(&m, 128, (size_t)(bytes > 0 ? bytes : 1)) == 0 ? m : nullptr;
}

// Runs block program `pg` on the host: blocks 0 … nblk−1 in turn, each with its nt threads one
// after another (HostRun, reversed when rev) on `smem` bytes of shared memory that start
// NaN-filled (all bits set) like the device's garbage — a value read before it is written shows
// instead of passing as 0. Returns 1 (error set under `name`) when the allocation fails.
template <class Pg>
int block_host_run(const char *name, const Pg &pg, i64 nblk, i64 smem, int nt, int rev) {
  float *sm = (float *)block_host_alloc(smem);
  if (!sm) {
    trm_set_error(name, "host malloc failed", __FILE__, __LINE__);
    return 1;
  }
  for (i64 blk = 0; blk < nblk; blk++) {
    memset(sm, 0xff, (size_t)(smem > 0 ? smem : 0));
    pg(HostRun{nt, rev}, blk, sm);
  }
  free(sm);
  return 0;
}

HD inline int imin(int a, int b) { return a < b ? a : b; }
HD inline i64 lmin(i64 a, i64 b) { return a < b ? a : b; }

// Host model of cvt.rna.tf32.f32: round to 10 mantissa bits, nearest, ties away from zero.
HD inline float tf32_rna(float x) {
  unsigned u;
  memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0x1000u) & 0xffffe000u;  // not inf / NaN
  memcpy(&x, &u, 4);
  return x;
}

// C[M × N] (+)= op(A)[M × K] · op(B)[K × N], all in shared memory (row strides lda, ldb, ldc);
// op(A)[m][k] = TA ? A[k·lda + m] : A[m·lda + k], op(B)[k][n] = TB ? B[n·ldb + k] : B[k·ldb + n].
// M, N multiples of 16, K of 8. The 16 × 16 output fragments go to warps round-robin (fragment f
// to warp f mod ⌈nt/32⌉), the same partition on both sides. Device (sm_80+): the warp's 32 lanes
// run wmma tf32 m16n16k8 with an f32 accumulator. Host: lane 0 of the warp computes its fragments
// with a scalar f32 loop, k ascending (operands rounded to tf32 when `rnd`), the other lanes do
// nothing — so the host checks WHICH products are summed where, never the wmma calls themselves
// (fragment layouts, ldm, alignment, tf32 conversion): those only the GPU tests can show; the
// preconditions can be checked on the host with tile_mm_ok.
template <bool TA, bool TB>
HD void tile_mm(int tid, int nt, int M, int N, int K, const float *A, int lda, const float *B,
                int ldb, float *C, int ldc, bool acc, bool rnd) {
  const int w = tid >> 5, nw = (nt + 31) >> 5, fn = N / 16, nf = (M / 16) * fn;
#ifdef BLOCK_WMMA
  using namespace nvcuda;
  typedef typename std::conditional<TA, wmma::col_major, wmma::row_major>::type LA;
  typedef typename std::conditional<TB, wmma::col_major, wmma::row_major>::type LB;
  (void)rnd;
  for (int f = w; f < nf; f += nw) {
    const int r0 = f / fn * 16, c0 = f % fn * 16;
    wmma::fragment<wmma::accumulator, 16, 16, 8, float> c;
    if (acc)
      wmma::load_matrix_sync(c, C + r0 * ldc + c0, ldc, wmma::mem_row_major);
    else
      wmma::fill_fragment(c, 0.f);
    for (int k = 0; k < K; k += 8) {
      wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, LA> a;
      wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, LB> b;
      wmma::load_matrix_sync(a, TA ? A + k * lda + r0 : A + r0 * lda + k, lda);
      wmma::load_matrix_sync(b, TB ? B + c0 * ldb + k : B + k * ldb + c0, ldb);
      for (int t = 0; t < a.num_elements; t++) a.x[t] = wmma::__float_to_tf32(a.x[t]);
      for (int t = 0; t < b.num_elements; t++) b.x[t] = wmma::__float_to_tf32(b.x[t]);
      wmma::mma_sync(c, a, b, c);
    }
    wmma::store_matrix_sync(C + r0 * ldc + c0, c, ldc, wmma::mem_row_major);
  }
#else  // the host, and devices without tf32 tensor cores (correct, slow)
  if (tid & 31) return;
  for (int f = w; f < nf; f += nw) {
    const int r0 = f / fn * 16, c0 = f % fn * 16;
    for (int r = r0; r < r0 + 16; r++)
      for (int c = c0; c < c0 + 16; c++) {
        float s = acc ? C[r * ldc + c] : 0.f;
        for (int k = 0; k < K; k++) {
          float a = TA ? A[k * lda + r] : A[r * lda + k], b = TB ? B[c * ldb + k] : B[k * ldb + c];
          if (rnd) a = tf32_rna(a), b = tf32_rna(b);
          s += a * b;
        }
        C[r * ldc + c] = s;
      }
  }
#endif
}

// Whether a tile_mm call meets wmma's rules: M, N multiples of 16 and K of 8 (all > 0), every
// leading dimension a multiple of 4 floats (16 bytes, the ldm rule for f32/tf32) and every matrix
// 256-bit (32-byte) aligned — then each fragment pointer is too (offsets of 16 rows or 8 columns).
HD inline bool tile_mm_ok(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                          const float *C, int ldc) {
  const uintptr_t mis = ((uintptr_t)A | (uintptr_t)B | (uintptr_t)C) & 31;
  return M > 0 && N > 0 && K > 0 && M % 16 == 0 && N % 16 == 0 && K % 8 == 0 && lda % 4 == 0 &&
         ldb % 4 == 0 && ldc % 4 == 0 && mis == 0;
}
