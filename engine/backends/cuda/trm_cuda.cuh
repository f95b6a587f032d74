// Shared declarations of the CUDA backend's kernels (engine/backends/cuda/*.cu).
//
// Every exported function returns 0 on success and 1 on failure; on failure the text of
// trm_cuda_last_error() names the CUDA call, the CUDA error string and our call site.
// Device pointers arrive as 64-bit integers (the TS side's handles); sizes as int64.
#pragma once
#include <cuda_runtime.h>
#include <stdint.h>

#define TRM_API extern "C" __attribute__((visibility("default")))

typedef long long i64;
typedef unsigned long long u64;

// Records a failed call; defined in buffers.cu.
void trm_set_error(const char *call, const char *detail, const char *file, int line);

// Checks a CUDA runtime call; on failure records it and returns 1 from the enclosing function.
#define CK(call)                                                                   \
  do {                                                                             \
    cudaError_t e_ = (call);                                                       \
    if (e_ != cudaSuccess) {                                                       \
      trm_set_error(#call, cudaGetErrorString(e_), __FILE__, __LINE__);            \
      return 1;                                                                    \
    }                                                                              \
  } while (0)

// Checks the launch of the kernel just queued (configuration errors show up here; faults
// inside the kernel surface at the next synchronising call).
#define LAUNCHED(name) CK_NAMED(cudaGetLastError(), name)
#define CK_NAMED(call, name)                                                       \
  do {                                                                             \
    cudaError_t e_ = (call);                                                       \
    if (e_ != cudaSuccess) {                                                       \
      trm_set_error("launch " name, cudaGetErrorString(e_), __FILE__, __LINE__);   \
      return 1;                                                                    \
    }                                                                              \
  } while (0)

#define F(p) ((float *)(uintptr_t)(p))
#define CF(p) ((const float *)(uintptr_t)(p))
#define I(p) ((int *)(uintptr_t)(p))
#define CI(p) ((const int *)(uintptr_t)(p))

// 1-D grid over n elements with 256 threads per block (grid-stride loops inside).
static inline unsigned grid1d(i64 n) {
  i64 b = (n + 255) / 256;
  if (b > 65535LL * 32) b = 65535LL * 32;
  return (unsigned)(b < 1 ? 1 : b);
}

// Device scratch memory (grow-only, one region; callers use it within one queued sequence of
// kernels on the default stream). Defined in buffers.cu; returns null after recording an error.
void *trm_scratch(size_t bytes);

// Bad-index reporting from kernels: the smallest offending position per kind, read and reset
// by trm_cuda_take_bad (the TS side checks it at sync and download). The flags live in core.cu,
// and so do all kernels that report (no relocatable device code needed).
enum { BAD_EMBEDDING = 0, BAD_EMBEDDING_BWD = 1, BAD_SIGN_SGD = 2, BAD_XENT = 3, BAD_XENT_BWD = 4,
       BAD_KINDS = 5 };

// Block-wide sum of one value per thread (blockDim.x a multiple of 32, at most 1024); fixed
// order, so deterministic. `sh` holds 32 T. Every thread gets the total.
template <typename T>
__device__ inline T block_sum(T v, T *sh) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) sh[w] = v;
  __syncthreads();
  int nw = (blockDim.x + 31) >> 5;
  T t = 0;
  if (threadIdx.x < 32) {
    t = lane < nw ? sh[lane] : (T)0;
    for (int o = 16; o > 0; o >>= 1) t += __shfl_down_sync(0xffffffffu, t, o);
    if (lane == 0) sh[0] = t;
  }
  __syncthreads();
  t = sh[0];
  __syncthreads();
  return t;
}

template <typename T>
__device__ inline T block_max(T v, T *sh) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, o));
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) sh[w] = v;
  __syncthreads();
  int nw = (blockDim.x + 31) >> 5;
  if (threadIdx.x < 32) {
    T t = lane < nw ? sh[lane] : (T)-INFINITY;
    for (int o = 16; o > 0; o >>= 1) t = fmaxf(t, __shfl_down_sync(0xffffffffu, t, o));
    if (lane == 0) sh[0] = t;
  }
  __syncthreads();
  T t = sh[0];
  __syncthreads();
  return t;
}

// Column sums in two deterministic passes: partial sums over fixed segments of SEG_ROWS rows,
// then the segments in order. Used by sumRows, rmsnorm's dweight and conv1d's dw/dbias.
// (static: each translation unit has its own copy, no relocatable device code needed.)
#define SEG_ROWS 256
static __global__ void reduce_segments_kernel(i64 nseg, i64 cols, const float *part, float *out) {
  for (i64 c = blockIdx.x * (i64)blockDim.x + threadIdx.x; c < cols;
       c += (i64)gridDim.x * blockDim.x) {
    float acc = 0.f;
    for (i64 s = 0; s < nseg; s++) acc += part[s * cols + c];
    out[c] = acc;
  }
}

// The SSD scan entry points (ssd.cu: the sequential recurrence; the kernel lab's chunked variants,
// dev/cuda/ssd_chunked.cu, fall back to them for shapes they do not take). Arguments:
// engine/backend.ts.
TRM_API int trm_cuda_ssd_scan(i64 batch, i64 seq, i64 H, i64 P, i64 G, i64 N, i64 chunk, u64 x,
                              u64 dt, u64 A, u64 Bm, u64 Cm, u64 D, u64 init, u64 y, u64 fin);
TRM_API int trm_cuda_ssd_scan_backward(i64 batch, i64 seq, i64 H, i64 P, i64 G, i64 N, i64 chunk,
                                       u64 x, u64 dt, u64 A, u64 Bm, u64 Cm, u64 D, u64 init,
                                       u64 dy, u64 dfin, u64 dx, u64 ddt, u64 dA, u64 dBm,
                                       u64 dCm, u64 dD, u64 dinit);
