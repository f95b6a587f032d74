// CUDA backend, part 1: error recording, device queries, buffers, scratch memory, and the
// elementwise, row, embedding, loss, reduction and optimiser kernels.
//
// Determinism: no kernel here uses floating-point atomics; every reduction runs in a fixed order
// that depends only on the sizes (not on the device or the launch timing).
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "trm_cuda.cuh"

// ------------------------------------------------------------------------------ errors

static char g_err[1024] = "";

void trm_set_error(const char *call, const char *detail, const char *file, int line) {
  const char *base = strrchr(file, '/');
  snprintf(g_err, sizeof g_err, "%s: %s (at %s:%d)", call, detail, base ? base + 1 : file, line);
}

// Copies the last recorded error into buf (NUL-terminated); returns its length.
TRM_API int trm_cuda_last_error(char *buf, int cap) {
  int n = (int)strlen(g_err);
  if (cap <= 0) return n;
  if (n >= cap) n = cap - 1;
  memcpy(buf, g_err, n);
  buf[n] = 0;
  return n;
}

// ------------------------------------------------------------------------------ device

// Number of devices; on failure (e.g. no driver) returns -1 and records the CUDA error.
TRM_API int trm_cuda_device_count(void) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    snprintf(g_err, sizeof g_err, "cudaGetDeviceCount: %s (error %d)", cudaGetErrorString(e),
             (int)e);
    return -1;
  }
  return n;
}

// Selects the device and writes its name, compute capability and memory into info
// ("name|major.minor|totalBytes|runtimeVersion|driverVersion").
TRM_API int trm_cuda_init(int device, char *info, int cap) {
  CK(cudaSetDevice(device));
  cudaDeviceProp p;
  CK(cudaGetDeviceProperties(&p, device));
  int rt = 0, drv = 0;
  CK(cudaRuntimeGetVersion(&rt));
  CK(cudaDriverGetVersion(&drv));
  CK(cudaFree(0));  // creates the context now rather than inside the first kernel call
  snprintf(info, cap, "%s|%d.%d|%llu|%d|%d", p.name, p.major, p.minor,
           (unsigned long long)p.totalGlobalMem, rt, drv);
  return 0;
}

TRM_API int trm_cuda_sync(void) {
  CK(cudaDeviceSynchronize());
  return 0;
}

// ------------------------------------------------------------------------------ buffers

// Allocates bytes (at least 4) and writes the device address to *out; zero-fills when asked.
// Returns 2 when the device is out of memory (the caller may release cached buffers and retry).
// A failed cudaMalloc also sets the runtime's last error, which is not sticky but would be
// reported by the next launch check (cudaGetLastError) as that kernel's failure: cleared here.
TRM_API int trm_cuda_alloc(i64 bytes, int zero, u64 *out) {
  void *p = nullptr;
  size_t n = bytes < 4 ? 4 : (size_t)bytes;
  cudaError_t e = cudaMalloc(&p, n);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    trm_set_error("cudaMalloc(&p, bytes)", cudaGetErrorString(e), __FILE__, __LINE__);
    return e == cudaErrorMemoryAllocation ? 2 : 1;
  }
  if (zero) CK(cudaMemsetAsync(p, 0, n, 0));
  *out = (u64)(uintptr_t)p;
  return 0;
}

// Free and total device memory in bytes (cudaMemGetInfo) into out[0], out[1].
TRM_API int trm_cuda_mem_info(u64 *out) {
  size_t fr = 0, tot = 0;
  CK(cudaMemGetInfo(&fr, &tot));
  out[0] = (u64)fr;
  out[1] = (u64)tot;
  return 0;
}

TRM_API int trm_cuda_free(u64 ptr) {
  CK(cudaFree((void *)(uintptr_t)ptr));
  return 0;
}

// Host → device; synchronous (the host array may be reused at once).
TRM_API int trm_cuda_upload(u64 dst, const void *src, i64 bytes) {
  if (bytes > 0) CK(cudaMemcpy((void *)(uintptr_t)dst, src, (size_t)bytes, cudaMemcpyHostToDevice));
  return 0;
}

// Device → host; waits for the queued work that writes src.
TRM_API int trm_cuda_download(void *dst, u64 src, i64 bytes) {
  if (bytes > 0) CK(cudaMemcpy(dst, (const void *)(uintptr_t)src, (size_t)bytes, cudaMemcpyDeviceToHost));
  return 0;
}

TRM_API int trm_cuda_copy(u64 src, u64 dst, i64 bytes) {
  if (bytes > 0) {
    CK(cudaMemcpyAsync((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, (size_t)bytes,
                       cudaMemcpyDeviceToDevice, 0));
  }
  return 0;
}

__global__ void copy2d_kernel(i64 rows, i64 cols, const uint32_t *src, i64 lds, uint32_t *dst,
                              i64 ldd) {
  i64 n = rows * cols;
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    i64 r = i / cols, c = i - r * cols;
    dst[r * ldd + c] = src[r * lds + c];
  }
}

// dst[r·ldd + c] = src[r·lds + c] over 4-byte elements; lds = 0 broadcasts one row.
TRM_API int trm_cuda_copy2d(i64 rows, i64 cols, u64 src, i64 lds, u64 dst, i64 ldd) {
  if (rows <= 0 || cols <= 0) return 0;
  if (lds >= cols && ldd >= cols) {
    CK(cudaMemcpy2DAsync((void *)(uintptr_t)dst, (size_t)ldd * 4, (const void *)(uintptr_t)src,
                         (size_t)lds * 4, (size_t)cols * 4, (size_t)rows, cudaMemcpyDeviceToDevice,
                         0));
    return 0;
  }
  copy2d_kernel<<<grid1d(rows * cols), 256>>>(rows, cols, (const uint32_t *)(uintptr_t)src, lds,
                                              (uint32_t *)(uintptr_t)dst, ldd);
  LAUNCHED("copy2d_kernel");
  return 0;
}

__global__ void fill_kernel(i64 n, uint32_t bits, uint32_t *dst) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x)
    dst[i] = bits;
}

// dst[0..n) = the 32-bit pattern `bits` (the TS side encodes f32 or i32 values).
TRM_API int trm_cuda_fill(i64 n, uint32_t bits, u64 dst) {
  if (n <= 0) return 0;
  if (bits == 0) {
    CK(cudaMemsetAsync((void *)(uintptr_t)dst, 0, (size_t)n * 4, 0));
    return 0;
  }
  fill_kernel<<<grid1d(n), 256>>>(n, bits, (uint32_t *)(uintptr_t)dst);
  LAUNCHED("fill_kernel");
  return 0;
}

// ------------------------------------------------------------------------------ scratch

static void *g_scratch = nullptr;
static size_t g_scratch_bytes = 0;

void *trm_scratch(size_t bytes) {
  if (bytes <= g_scratch_bytes) return g_scratch;
  if (g_scratch) {
    // cudaFree waits for the device, so no queued kernel still uses the old region.
    cudaError_t e = cudaFree(g_scratch);
    if (e != cudaSuccess) {
      trm_set_error("cudaFree(scratch)", cudaGetErrorString(e), __FILE__, __LINE__);
      return nullptr;
    }
    g_scratch = nullptr;
    g_scratch_bytes = 0;
  }
  size_t want = bytes + bytes / 4;
  cudaError_t e = cudaMalloc(&g_scratch, want);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();  // not sticky: keep it out of the next launch check
    g_scratch = nullptr;
    trm_set_error("cudaMalloc(scratch)", cudaGetErrorString(e), __FILE__, __LINE__);
    return nullptr;
  }
  g_scratch_bytes = want;
  return g_scratch;
}

TRM_API i64 trm_cuda_scratch_bytes(void) { return (i64)g_scratch_bytes; }

// ------------------------------------------------------------------------------ bad indices

__device__ u64 trm_bad[BAD_KINDS] = {~0ULL, ~0ULL, ~0ULL, ~0ULL, ~0ULL};
__device__ inline void report_bad(int kind, i64 pos) { atomicMin(&trm_bad[kind], (u64)pos); }

// Copies the smallest bad position per kind into out[BAD_KINDS] (-1: none) and resets them.
// Synchronises with the device (cudaMemcpyFromSymbol).
TRM_API int trm_cuda_take_bad(i64 *out) {
  u64 h[BAD_KINDS];
  CK(cudaMemcpyFromSymbol(h, trm_bad, sizeof h));
  for (int k = 0; k < BAD_KINDS; k++) out[k] = h[k] == ~0ULL ? -1 : (i64)h[k];
  for (int k = 0; k < BAD_KINDS; k++) h[k] = ~0ULL;
  CK(cudaMemcpyToSymbol(trm_bad, h, sizeof h));
  return 0;
}

// ------------------------------------------------------------------------------ elementwise

#define GRID_LOOP(i, n) \
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < (n); i += (i64)gridDim.x * blockDim.x)

__device__ inline float sigmoidf_(float x) {
  return x >= 0.f ? 1.f / (1.f + expf(-x)) : expf(x) / (1.f + expf(x));
}

__global__ void axpby_kernel(i64 n, float a, const float *x, float b, const float *y, float *o) {
  GRID_LOOP(i, n) o[i] = a * x[i] + b * y[i];
}
TRM_API int trm_cuda_axpby(i64 n, float a, u64 x, float b, u64 y, u64 o) {
  if (n <= 0) return 0;
  axpby_kernel<<<grid1d(n), 256>>>(n, a, CF(x), b, CF(y), F(o));
  LAUNCHED("axpby_kernel");
  return 0;
}

__global__ void mul_kernel(i64 n, const float *x, const float *y, float *o) {
  GRID_LOOP(i, n) o[i] = x[i] * y[i];
}
TRM_API int trm_cuda_mul(i64 n, u64 x, u64 y, u64 o) {
  if (n <= 0) return 0;
  mul_kernel<<<grid1d(n), 256>>>(n, CF(x), CF(y), F(o));
  LAUNCHED("mul_kernel");
  return 0;
}

// bf16 mode (engine/bf16.ts): every element to the nearest bfloat16 value, ties to even, kept in
// f32 storage; NaN stays a quiet NaN, overflow past the midpoint above the largest finite bf16
// becomes inf. The same bit arithmetic as the cpu kernel (engine/native/bf16.c).
__global__ void round_bf16_kernel(i64 n, const uint32_t *x, uint32_t *o) {
  GRID_LOOP(i, n) {
    const uint32_t u = x[i];
    const uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    o[i] = (u & 0x7fffffffu) > 0x7f800000u ? ((u | 0x00400000u) & 0xffff0000u) : r;
  }
}
TRM_API int trm_cuda_round_bf16(i64 n, u64 x, u64 o) {
  if (n <= 0) return 0;
  round_bf16_kernel<<<grid1d(n), 256>>>(n, (const uint32_t *)(uintptr_t)x, (uint32_t *)(uintptr_t)o);
  LAUNCHED("round_bf16_kernel");
  return 0;
}

__global__ void add_row_vector_kernel(i64 rows, i64 cols, const float *x, const float *b, float *o) {
  GRID_LOOP(i, rows * cols) o[i] = x[i] + b[i % cols];
}
TRM_API int trm_cuda_add_row_vector(i64 rows, i64 cols, u64 x, u64 b, u64 o) {
  if (rows * cols <= 0) return 0;
  add_row_vector_kernel<<<grid1d(rows * cols), 256>>>(rows, cols, CF(x), CF(b), F(o));
  LAUNCHED("add_row_vector_kernel");
  return 0;
}

// Pass 1 of the column sums of sumRows: part[s, c] = Σ_{r in segment s} x[r, c].
__global__ void sum_rows_part_kernel(i64 rows, i64 cols, const float *x, float *part) {
  i64 s = blockIdx.y;
  for (i64 c = blockIdx.x * (i64)blockDim.x + threadIdx.x; c < cols; c += (i64)gridDim.x * blockDim.x) {
    i64 r1 = min(rows, (s + 1) * SEG_ROWS);
    float acc = 0.f;
    for (i64 r = s * SEG_ROWS; r < r1; r++) acc += x[r * cols + c];
    part[s * cols + c] = acc;
  }
}
static unsigned col_blocks(i64 cols) {
  i64 b = (cols + 127) / 128;
  return (unsigned)(b > 4096 ? 4096 : (b < 1 ? 1 : b));
}
TRM_API int trm_cuda_sum_rows(i64 rows, i64 cols, u64 x, u64 o) {
  if (cols <= 0) return 0;
  if (rows <= 0) {
    CK(cudaMemsetAsync(F(o), 0, (size_t)cols * 4, 0));
    return 0;
  }
  i64 nseg = (rows + SEG_ROWS - 1) / SEG_ROWS;
  float *part = (float *)trm_scratch((size_t)(nseg * cols) * 4);
  if (!part) return 1;
  sum_rows_part_kernel<<<dim3(col_blocks(cols), (unsigned)nseg), 128>>>(rows, cols, CF(x), part);
  LAUNCHED("sum_rows_part_kernel");
  reduce_segments_kernel<<<col_blocks(cols), 128>>>(nseg, cols, part, F(o));
  LAUNCHED("reduce_segments_kernel");
  return 0;
}

// op: 0 silu, 1 softplus (threshold 20), 2 exp, 3 sigmoid.
__device__ inline float unary_f(int op, float v) {
  switch (op) {
    case 0: return v * sigmoidf_(v);
    case 1: return v > 20.f ? v : log1pf(expf(v));
    case 2: return expf(v);
    default: return sigmoidf_(v);
  }
}
__device__ inline float unary_df(int op, float v) {
  float s;
  switch (op) {
    // 1 − σ(v) as σ(−v): no cancellation where σ(v) is close to 1 (matches the cpu kernels).
    case 0: s = sigmoidf_(v); return s * (1.f + v * sigmoidf_(-v));
    case 1: return v > 20.f ? 1.f : sigmoidf_(v);
    case 2: return expf(v);
    default: return sigmoidf_(v) * sigmoidf_(-v);
  }
}
__global__ void unary_kernel(int op, i64 n, const float *x, float *o) {
  GRID_LOOP(i, n) o[i] = unary_f(op, x[i]);
}
__global__ void unary_backward_kernel(int op, i64 n, const float *x, const float *dy, float *dx) {
  GRID_LOOP(i, n) dx[i] = unary_df(op, x[i]) * dy[i];
}
TRM_API int trm_cuda_unary(int op, i64 n, u64 x, u64 o) {
  if (n <= 0) return 0;
  unary_kernel<<<grid1d(n), 256>>>(op, n, CF(x), F(o));
  LAUNCHED("unary_kernel");
  return 0;
}
TRM_API int trm_cuda_unary_backward(int op, i64 n, u64 x, u64 dy, u64 dx) {
  if (n <= 0) return 0;
  unary_backward_kernel<<<grid1d(n), 256>>>(op, n, CF(x), CF(dy), F(dx));
  LAUNCHED("unary_backward_kernel");
  return 0;
}

__global__ void swiglu_kernel(i64 rows, i64 inter, const float *gu, float *o) {
  GRID_LOOP(i, rows * inter) {
    i64 r = i / inter, j = i - r * inter;
    float g = gu[r * 2 * inter + j], u = gu[r * 2 * inter + inter + j];
    o[i] = g * sigmoidf_(g) * u;
  }
}
// With o (may be null), also writes swiglu(gu): g·σ(g)·u, the expression of swiglu_kernel.
__global__ void swiglu_backward_kernel(i64 rows, i64 inter, const float *gu, const float *dy,
                                       float *dgu, float *o) {
  GRID_LOOP(i, rows * inter) {
    i64 r = i / inter, j = i - r * inter;
    i64 gi = r * 2 * inter + j, ui = gi + inter;
    float g = gu[gi], u = gu[ui], d = dy[i], s = sigmoidf_(g);
    dgu[gi] = d * u * s * (1.f + g * sigmoidf_(-g));
    dgu[ui] = d * g * s;
    if (o) o[i] = g * s * u;
  }
}
TRM_API int trm_cuda_swiglu(i64 rows, i64 inter, u64 gu, u64 o) {
  if (rows * inter <= 0) return 0;
  swiglu_kernel<<<grid1d(rows * inter), 256>>>(rows, inter, CF(gu), F(o));
  LAUNCHED("swiglu_kernel");
  return 0;
}
TRM_API int trm_cuda_swiglu_backward(i64 rows, i64 inter, u64 gu, u64 dy, u64 dgu, u64 o) {
  if (rows * inter <= 0) return 0;
  swiglu_backward_kernel<<<grid1d(rows * inter), 256>>>(rows, inter, CF(gu), CF(dy), F(dgu),
                                                        F(o));
  LAUNCHED("swiglu_backward_kernel");
  return 0;
}

// Per-batch transpose through a 32 × 33 shared tile (coalesced on both sides).
__global__ void transpose_kernel(i64 rows, i64 cols, const float *x, float *o) {
  __shared__ float tile[32][33];
  i64 b = blockIdx.z;
  const float *xb = x + b * rows * cols;
  float *ob = o + b * rows * cols;
  i64 c0 = (i64)blockIdx.x * 32, r0 = (i64)blockIdx.y * 32;
  for (int k = threadIdx.y; k < 32; k += 8) {
    i64 r = r0 + k, c = c0 + threadIdx.x;
    if (r < rows && c < cols) tile[k][threadIdx.x] = xb[r * cols + c];
  }
  __syncthreads();
  for (int k = threadIdx.y; k < 32; k += 8) {
    i64 c = c0 + k, r = r0 + threadIdx.x;
    if (r < rows && c < cols) ob[c * rows + r] = tile[threadIdx.x][k];
  }
}
TRM_API int trm_cuda_transpose(i64 batch, i64 rows, i64 cols, u64 x, u64 o) {
  if (batch * rows * cols <= 0) return 0;
  for (i64 b0 = 0; b0 < batch; b0 += 65535) {
    i64 nb = batch - b0 < 65535 ? batch - b0 : 65535;
    dim3 grid((unsigned)((cols + 31) / 32), (unsigned)((rows + 31) / 32), (unsigned)nb);
    transpose_kernel<<<grid, dim3(32, 8)>>>(rows, cols, CF(x) + b0 * rows * cols,
                                            F(o) + b0 * rows * cols);
    LAUNCHED("transpose_kernel");
  }
  return 0;
}

// ------------------------------------------------------------------------------ rows

// One block per row; blocks loop over rows (grid capped at 65535).
static unsigned row_grid(i64 rows) { return (unsigned)(rows > 65535 ? 65535 : rows); }

__global__ void rmsnorm_kernel(i64 rows, i64 cols, const float *x, const float *w, float eps,
                               float *o, float *rstd) {
  __shared__ float sh[32];
  for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
    const float *xr = x + r * cols;
    float ss = 0.f;
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) ss += xr[c] * xr[c];
    ss = block_sum(ss, sh);
    float s = rsqrtf(ss / (float)cols + eps);
    if (threadIdx.x == 0) rstd[r] = s;
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) o[r * cols + c] = xr[c] * s * (w ? w[c] : 1.f);
  }
}
TRM_API int trm_cuda_rmsnorm(i64 rows, i64 cols, u64 x, u64 w, double eps, u64 o, u64 rstd) {
  if (rows <= 0) return 0;
  if (cols <= 0) return 0;
  rmsnorm_kernel<<<row_grid(rows), 256>>>(rows, cols, CF(x), CF(w), (float)eps, F(o), F(rstd));
  LAUNCHED("rmsnorm_kernel");
  return 0;
}

__global__ void rmsnorm_backward_kernel(i64 rows, i64 cols, const float *x, const float *w,
                                        const float *rstd, const float *dy, float *dx) {
  __shared__ float sh[32];
  for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
    const float *xr = x + r * cols, *dyr = dy + r * cols;
    float dot = 0.f;
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) dot += dyr[c] * (w ? w[c] : 1.f) * xr[c];
    dot = block_sum(dot, sh);
    float s = rstd[r], k = s * s * s * dot / (float)cols;
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x)
      dx[r * cols + c] = s * dyr[c] * (w ? w[c] : 1.f) - xr[c] * k;
  }
}
__global__ void rmsnorm_dweight_part_kernel(i64 rows, i64 cols, const float *x, const float *rstd,
                                            const float *dy, float *part) {
  i64 s = blockIdx.y;
  for (i64 c = blockIdx.x * (i64)blockDim.x + threadIdx.x; c < cols; c += (i64)gridDim.x * blockDim.x) {
    i64 r1 = min(rows, (s + 1) * SEG_ROWS);
    float acc = 0.f;
    for (i64 r = s * SEG_ROWS; r < r1; r++) acc += dy[r * cols + c] * x[r * cols + c] * rstd[r];
    part[s * cols + c] = acc;
  }
}
TRM_API int trm_cuda_rmsnorm_backward(i64 rows, i64 cols, u64 x, u64 w, u64 rstd, u64 dy, u64 dx,
                                      u64 dw) {
  if (cols <= 0) return 0;
  if (rows > 0) {
    rmsnorm_backward_kernel<<<row_grid(rows), 256>>>(rows, cols, CF(x), CF(w), CF(rstd), CF(dy),
                                                     F(dx));
    LAUNCHED("rmsnorm_backward_kernel");
  }
  if (dw) {
    if (rows <= 0) {
      CK(cudaMemsetAsync(F(dw), 0, (size_t)cols * 4, 0));
      return 0;
    }
    i64 nseg = (rows + SEG_ROWS - 1) / SEG_ROWS;
    float *part = (float *)trm_scratch((size_t)(nseg * cols) * 4);
    if (!part) return 1;
    rmsnorm_dweight_part_kernel<<<dim3(col_blocks(cols), (unsigned)nseg), 128>>>(
        rows, cols, CF(x), CF(rstd), CF(dy), part);
    LAUNCHED("rmsnorm_dweight_part_kernel");
    reduce_segments_kernel<<<col_blocks(cols), 128>>>(nseg, cols, part, F(dw));
    LAUNCHED("reduce_segments_kernel");
  }
  return 0;
}

__global__ void softmax_kernel(i64 rows, i64 cols, const float *x, float *o) {
  __shared__ float sh[32];
  for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
    const float *xr = x + r * cols;
    float mx = -INFINITY;
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) mx = fmaxf(mx, xr[c]);
    mx = block_max(mx, sh);
    float s = 0.f;
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) s += expf(xr[c] - mx);
    s = block_sum(s, sh);
    float inv = 1.f / s;
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) o[r * cols + c] = expf(xr[c] - mx) * inv;
  }
}
__global__ void softmax_backward_kernel(i64 rows, i64 cols, const float *y, const float *dy,
                                        float *dx) {
  __shared__ float sh[32];
  for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
    float dot = 0.f;
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) dot += dy[r * cols + c] * y[r * cols + c];
    dot = block_sum(dot, sh);
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x)
      dx[r * cols + c] = y[r * cols + c] * (dy[r * cols + c] - dot);
  }
}
TRM_API int trm_cuda_softmax(i64 rows, i64 cols, u64 x, u64 o) {
  if (rows <= 0 || cols <= 0) return 0;
  softmax_kernel<<<row_grid(rows), 256>>>(rows, cols, CF(x), F(o));
  LAUNCHED("softmax_kernel");
  return 0;
}
TRM_API int trm_cuda_softmax_backward(i64 rows, i64 cols, u64 y, u64 dy, u64 dx) {
  if (rows <= 0 || cols <= 0) return 0;
  softmax_backward_kernel<<<row_grid(rows), 256>>>(rows, cols, CF(y), CF(dy), F(dx));
  LAUNCHED("softmax_backward_kernel");
  return 0;
}

// ------------------------------------------------------------------------------ embedding, rope

__global__ void embedding_kernel(i64 n, i64 dim, const int *ids, const float *table, i64 trows,
                                 float *o) {
  GRID_LOOP(i, n * dim) {
    i64 j = i / dim, c = i - j * dim;
    int id = ids[j];
    if (id < 0 || id >= trows) {
      if (c == 0) report_bad(BAD_EMBEDDING, j);
      o[i] = 0.f;
    } else {
      o[i] = table[(i64)id * dim + c];
    }
  }
}
TRM_API int trm_cuda_embedding(i64 n, i64 dim, u64 ids, u64 table, i64 trows, u64 o) {
  if (n * dim <= 0) return 0;
  embedding_kernel<<<grid1d(n * dim), 256>>>(n, dim, CI(ids), CF(table), trows, F(o));
  LAUNCHED("embedding_kernel");
  return 0;
}

// Deterministic scatter-add: one thread per column walks the ids in ascending order (the
// contract's summation order). Parallel over dim only.
// TODO(perf): for n ≫ dim (paper size: n = 768·916) a sort by id + segmented sum in
// ascending i would expose more parallelism with the same order.
__global__ void embedding_backward_kernel(i64 n, i64 dim, const int *ids, const float *dy,
                                          float *dt, i64 trows) {
  for (i64 c = blockIdx.x * (i64)blockDim.x + threadIdx.x; c < dim; c += (i64)gridDim.x * blockDim.x) {
    for (i64 j = 0; j < n; j++) {
      int id = ids[j];
      if (id < 0 || id >= trows) {
        if (c == 0) report_bad(BAD_EMBEDDING_BWD, j);
        continue;
      }
      dt[(i64)id * dim + c] += dy[j * dim + c];
    }
  }
}
TRM_API int trm_cuda_embedding_backward(i64 n, i64 dim, u64 ids, u64 dy, u64 dt, i64 trows) {
  if (n * dim <= 0) return 0;
  embedding_backward_kernel<<<col_blocks(dim), 128>>>(n, dim, CI(ids), CF(dy), F(dt), trows);
  LAUNCHED("embedding_backward_kernel");
  return 0;
}

// One thread per (token, head, d < half): reads both halves before writing (in place safe).
__global__ void rope_kernel(i64 tokens, i64 seq, i64 heads, i64 hd, const float *x, i64 ldx,
                            const float *cs, const float *sn, float sg, float *o, i64 ldo) {
  i64 half = hd / 2;
  GRID_LOOP(i, tokens * heads * half) {
    i64 d = i % half, th = i / half, h = th % heads, tok = th / heads, t = tok % seq;
    const float *xp = x + tok * ldx + h * hd;
    float *op = o + tok * ldo + h * hd;
    float a = xp[d], b = xp[d + half];
    float c0 = cs[t * hd + d], s0 = sn[t * hd + d];
    float c1 = cs[t * hd + d + half], s1 = sn[t * hd + d + half];
    op[d] = a * c0 - sg * b * s0;
    op[d + half] = b * c1 + sg * a * s1;
  }
}
TRM_API int trm_cuda_rope(i64 batch, i64 seq, i64 heads, i64 hd, u64 x, i64 ldx, u64 cs, u64 sn,
                          int inverse, u64 o, i64 ldo) {
  i64 n = batch * seq * heads * (hd / 2);
  if (n <= 0) return 0;
  rope_kernel<<<grid1d(n), 256>>>(batch * seq, seq, heads, hd, CF(x), ldx, CF(cs), CF(sn),
                                  inverse ? -1.f : 1.f, F(o), ldo);
  LAUNCHED("rope_kernel");
  return 0;
}

// ------------------------------------------------------------------------------ losses

__device__ inline double smax_d(double x) { return x < 0 ? 1.0 / (1.0 - x) : x + 1.0; }
__device__ inline double smax_grad_d(double x) { return x < 0 ? 1.0 / ((1.0 - x) * (1.0 - x)) : 1.0; }

// One block per sequence: each thread takes tokens, the block sums in float64 in fixed order.
__global__ void stablemax_xent_kernel(i64 batch, i64 seq, i64 vocab, const float *x,
                                      const int *labels, int ignore, float *loss) {
  __shared__ double sh[32];
  for (i64 b = blockIdx.x; b < batch; b += gridDim.x) {
    double acc = 0.0, cnt = 0.0;
    for (i64 t = threadIdx.x; t < seq; t += blockDim.x) {
      i64 row = b * seq + t;
      int lab = labels[row];
      if (lab == ignore) continue;
      if (lab < 0 || lab >= vocab) {
        report_bad(BAD_XENT, row);
        continue;
      }
      double z = 0.0;
      for (i64 c = 0; c < vocab; c++) z += smax_d(x[row * vocab + c]);
      acc += -log(smax_d(x[row * vocab + lab]) / z);
      cnt += 1.0;
    }
    acc = block_sum(acc, sh);
    cnt = block_sum(cnt, sh);
    if (threadIdx.x == 0) loss[b] = (float)(acc / (cnt > 1.0 ? cnt : 1.0));
  }
}
TRM_API int trm_cuda_stablemax_xent(i64 batch, i64 seq, i64 vocab, u64 x, u64 labels, int ignore,
                                    u64 loss) {
  if (batch <= 0) return 0;
  stablemax_xent_kernel<<<row_grid(batch), 256>>>(batch, seq, vocab, CF(x), CI(labels), ignore,
                                                  F(loss));
  LAUNCHED("stablemax_xent_kernel");
  return 0;
}

__global__ void xent_count_kernel(i64 batch, i64 seq, const int *labels, int ignore, float *cnt) {
  __shared__ float sh[32];
  for (i64 b = blockIdx.x; b < batch; b += gridDim.x) {
    float c = 0.f;
    for (i64 t = threadIdx.x; t < seq; t += blockDim.x) c += labels[b * seq + t] != ignore ? 1.f : 0.f;
    c = block_sum(c, sh);  // exact: integers below 2^24
    if (threadIdx.x == 0) cnt[b] = c;
  }
}
// One thread per logit row: z in float64, then the row's gradient.
__global__ void stablemax_xent_backward_kernel(i64 batch, i64 seq, i64 vocab, const float *x,
                                               const int *labels, int ignore, const float *dloss,
                                               const float *cnt, float *dx) {
  GRID_LOOP(row, batch * seq) {
    i64 b = row / seq;
    int lab = labels[row];
    const float *xr = x + row * vocab;
    float *dr = dx + row * vocab;
    if (lab == ignore || lab < 0 || lab >= vocab) {
      if (lab != ignore) report_bad(BAD_XENT_BWD, row);
      for (i64 c = 0; c < vocab; c++) dr[c] = 0.f;
      continue;
    }
    double w = (double)dloss[b] / (cnt[b] > 1.f ? (double)cnt[b] : 1.0);
    double z = 0.0;
    for (i64 c = 0; c < vocab; c++) z += smax_d(xr[c]);
    for (i64 c = 0; c < vocab; c++) {
      double v = xr[c], g = smax_grad_d(v) / z;
      if (c == lab) g -= smax_grad_d(v) / smax_d(v);
      dr[c] = (float)(w * g);
    }
  }
}
TRM_API int trm_cuda_stablemax_xent_backward(i64 batch, i64 seq, i64 vocab, u64 x, u64 labels,
                                             int ignore, u64 dloss, u64 dx) {
  if (batch * seq <= 0) return 0;
  float *cnt = (float *)trm_scratch((size_t)batch * 4);
  if (!cnt) return 1;
  xent_count_kernel<<<row_grid(batch), 256>>>(batch, seq, CI(labels), ignore, cnt);
  LAUNCHED("xent_count_kernel");
  stablemax_xent_backward_kernel<<<grid1d(batch * seq), 256>>>(batch, seq, vocab, CF(x),
                                                               CI(labels), ignore, CF(dloss), cnt,
                                                               F(dx));
  LAUNCHED("stablemax_xent_backward_kernel");
  return 0;
}

__global__ void bce_kernel(i64 n, const float *x, const float *t, float *o) {
  GRID_LOOP(i, n) {
    float v = x[i];
    o[i] = fmaxf(v, 0.f) - v * t[i] + log1pf(expf(-fabsf(v)));
  }
}
__global__ void bce_backward_kernel(i64 n, const float *x, const float *t, const float *dy,
                                    float *dx) {
  GRID_LOOP(i, n) dx[i] = (sigmoidf_(x[i]) - t[i]) * dy[i];
}
TRM_API int trm_cuda_bce(i64 n, u64 x, u64 t, u64 o) {
  if (n <= 0) return 0;
  bce_kernel<<<grid1d(n), 256>>>(n, CF(x), CF(t), F(o));
  LAUNCHED("bce_kernel");
  return 0;
}
TRM_API int trm_cuda_bce_backward(i64 n, u64 x, u64 t, u64 dy, u64 dx) {
  if (n <= 0) return 0;
  bce_backward_kernel<<<grid1d(n), 256>>>(n, CF(x), CF(t), CF(dy), F(dx));
  LAUNCHED("bce_backward_kernel");
  return 0;
}

// Sum in float64: a fixed 256 × 256 grid of strided partial sums, then one block over them.
#define SUM_BLOCKS 256
__global__ void sum_part_kernel(i64 n, const float *x, double *part) {
  __shared__ double sh[32];
  double acc = 0.0;
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x)
    acc += x[i];
  acc = block_sum(acc, sh);
  if (threadIdx.x == 0) part[blockIdx.x] = acc;
}
__global__ void sum_final_kernel(const double *part, float *o) {
  __shared__ double sh[32];
  double v = block_sum(part[threadIdx.x], sh);
  if (threadIdx.x == 0) o[0] = (float)v;
}
TRM_API int trm_cuda_sum(i64 n, u64 x, u64 o) {
  double *part = (double *)trm_scratch(SUM_BLOCKS * sizeof(double));
  if (!part) return 1;
  if (n <= 0) {
    CK(cudaMemsetAsync(F(o), 0, 4, 0));
    return 0;
  }
  sum_part_kernel<<<SUM_BLOCKS, 256>>>(n, CF(x), part);
  LAUNCHED("sum_part_kernel");
  sum_final_kernel<<<1, SUM_BLOCKS>>>(part, F(o));
  LAUNCHED("sum_final_kernel");
  return 0;
}

__global__ void argmax_kernel(i64 rows, i64 cols, const float *x, int *o) {
  GRID_LOOP(r, rows) {
    const float *xr = x + r * cols;
    i64 best = 0;
    for (i64 c = 1; c < cols; c++) if (xr[c] > xr[best]) best = c;
    o[r] = (int)best;
  }
}
TRM_API int trm_cuda_argmax(i64 rows, i64 cols, u64 x, u64 o) {
  if (rows <= 0) return 0;
  argmax_kernel<<<grid1d(rows), 256>>>(rows, cols, CF(x), I(o));
  LAUNCHED("argmax_kernel");
  return 0;
}

// ------------------------------------------------------------------------------ optimisers

__global__ void adam_atan2_kernel(i64 n, float *p, const float *g, float *m, float *v, float lr,
                                  float wd, float b1, float b2, float bc1, float sbc2) {
  GRID_LOOP(i, n) {
    float gi = g[i];
    float pi = p[i] * (1.f - lr * wd);
    float mi = m[i] + (1.f - b1) * (gi - m[i]);
    float vi = v[i] + (1.f - b2) * (gi * gi - v[i]);
    p[i] = pi - (lr / bc1) * atan2f(mi, sqrtf(vi) / sbc2);
    m[i] = mi;
    v[i] = vi;
  }
}
TRM_API int trm_cuda_adam_atan2(i64 n, u64 p, u64 g, u64 m, u64 v, double lr, double wd,
                                double b1, double b2, double bc1, double bc2) {
  if (n <= 0) return 0;
  adam_atan2_kernel<<<grid1d(n), 256>>>(n, F(p), CF(g), F(m), F(v), (float)lr, (float)wd,
                                        (float)b1, (float)b2, (float)bc1, (float)sqrt(bc2));
  LAUNCHED("adam_atan2_kernel");
  return 0;
}

__global__ void sign_sgd_rows_kernel(i64 n, i64 dim, const int *ids, const float *g, float *t,
                                     i64 trows, float lr, float wd) {
  GRID_LOOP(i, n * dim) {
    i64 j = i / dim, c = i - j * dim;
    int r = ids[j];
    if (r < 0 || r >= trows) {
      if (c == 0) report_bad(BAD_SIGN_SGD, j);
      continue;
    }
    float gv = g[i], sg = gv > 0.f ? 1.f : (gv < 0.f ? -1.f : 0.f);
    float *tp = t + (i64)r * dim + c;
    *tp = *tp * (1.f - lr * wd) - lr * sg;
  }
}
TRM_API int trm_cuda_sign_sgd_rows(i64 n, i64 dim, u64 ids, u64 g, u64 t, i64 trows, double lr,
                                   double wd) {
  if (n * dim <= 0) return 0;
  sign_sgd_rows_kernel<<<grid1d(n * dim), 256>>>(n, dim, CI(ids), CF(g), F(t), trows, (float)lr,
                                                 (float)wd);
  LAUNCHED("sign_sgd_rows_kernel");
  return 0;
}

__global__ void ema_kernel(i64 n, float *s, const float *p, float decay) {
  GRID_LOOP(i, n) s[i] = decay * s[i] + (1.f - decay) * p[i];
}
TRM_API int trm_cuda_ema(i64 n, u64 s, u64 p, double decay) {
  if (n <= 0) return 0;
  ema_kernel<<<grid1d(n), 256>>>(n, F(s), CF(p), (float)decay);
  LAUNCHED("ema_kernel");
  return 0;
}
