// CUDA backend, part 5: the CHUNKED SSD scan, forward and backward (spec-mamba2 §2.3–2.6b), chosen
// over the sequential kernels of ssd.cu by TRM_CUDA_SSD=chunked (cuda.ts). Same entry-point
// arguments and results as trm_cuda_ssd_scan / trm_cuda_ssd_scan_backward.
//
// The kernels are the block programs of ssd_chunk.cuh / ssd_chunk_bwd.cuh, launched with SSD_NT
// threads per block:
//   forward:  StateProg (b, h, c) → PassProg (b·h, elements) → CbProg (b, g, c, tile) →
//             OutProg (b, c, tile, h)
//   backward: StateProg pass A → StateProg + PassProg (states again) → PassBProg (b·h) → CbProg →
//             PassCProg (b, g, c) → HeadSumProg
// Chunk length: dims.chunk, capped at SSD_QMAX (the result does not depend on it beyond rounding).
// Scratch (trm_scratch): forward B·H·nc·P·N + B·G·nc·Qe² floats (Qe = min(chunk, seq)); backward
// twice that plus B·H·P·N floats and 2·B·H·nc doubles. Falls back to the sequential kernels when a
// size is 0 or a block would need more shared memory than the device allows per block.
//
// trm_cuda_ssd_chunked_host_scan / _backward run the SAME programs on the host (HostRun: the
// threads of a block one after another, step by step) on host arrays: a CPU-only test of the
// kernels' arithmetic and of their partition of work over threads (ssd_chunked_test.ts).
#include <stdlib.h>
#include <string.h>

#include "ssd_chunk_bwd.cuh"

#define SSD_QMAX 512

template <class Pg>
__global__ void __launch_bounds__(SSD_NT) ssd_chunk_kernel(Pg pg) {
  extern __shared__ float4 ssd_sm4[];  // float4: 16-byte aligned (PassBProg keeps doubles there)
  const Pg local = pg;
  local(DevRun{}, (i64)blockIdx.x, (float *)ssd_sm4);
}

struct DevLaunch {
  template <class Pg>
  int operator()(const char *name, const Pg &pg, i64 nblk, i64 smem) const {
    if (nblk <= 0) return 0;
    cudaError_t e = cudaSuccess;
    if (smem > 48 * 1024)
      e = cudaFuncSetAttribute(ssd_chunk_kernel<Pg>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               (int)smem);
    if (e == cudaSuccess) {
      ssd_chunk_kernel<Pg><<<(unsigned)nblk, SSD_NT, (size_t)smem>>>(pg);
      e = cudaGetLastError();
    }
    if (e != cudaSuccess) {
      trm_set_error(name, cudaGetErrorString(e), __FILE__, __LINE__);
      return 1;
    }
    return 0;
  }
};

struct HostLaunch {
  int nt, rev;
  template <class Pg>
  int operator()(const char *name, const Pg &pg, i64 nblk, i64 smem) const {
    float *sm = (float *)malloc(smem > 0 ? (size_t)smem : 16);  // exact: overruns show under ASan
    if (!sm) {
      trm_set_error(name, "host malloc failed", __FILE__, __LINE__);
      return 1;
    }
    for (i64 blk = 0; blk < nblk; blk++) pg(HostRun{nt, rev}, blk, sm);
    free(sm);
    return 0;
  }
};

static SsdP ssd_params(i64 B, i64 T, i64 H, i64 P, i64 G, i64 N, i64 chunk) {
  SsdP p;
  memset(&p, 0, sizeof p);
  p.B = B, p.T = T, p.H = H, p.P = P, p.G = G, p.N = N;
  p.Q = chunk < SSD_QMAX ? chunk : SSD_QMAX;
  p.nc = (T + p.Q - 1) / p.Q, p.hpg = H / G, p.Qe = p.Q < T ? p.Q : T;
  p.nT = (p.Qe + SSD_TB - 1) / SSD_TB;
  return p;
}

static i64 ssd_smem_max(const SsdP &p) {
  i64 m = StateProg::smem(p);
  const i64 o[] = {CbProg::smem(p), OutProg::smem(p), PassBProg::smem(p), PassCProg::smem(p)};
  for (i64 v : o) m = v > m ? v : m;
  return m;
}

// Floats of scratch; the pointers are set when `base` is given (doubles first: alignment).
static i64 ssd_carve(SsdP &p, bool backward, float *base) {
  const i64 nst = p.B * p.H * p.nc, PN = p.P * p.N, ncb = p.B * p.G * p.nc * p.Qe * p.Qe;
  i64 o = 0;
  float *b = base;
  auto take = [&](i64 n) { float *r = b ? b + o : nullptr; o += n; return r; };
  if (backward) p.part = (double *)take(4 * nst);
  p.st = take(nst * PN), p.ltot = take(nst), p.cb = take(ncb);
  if (backward) p.ds = take(nst * PN), p.glt = take(nst), p.dcb = take(ncb), p.rbuf = take(p.B * p.H * PN);
  return o;
}

template <class Ln>
static int ssd_forward(const Ln &run, const SsdP &p) {
  const i64 BH = p.B * p.H, neb = (p.P * p.N + PASS_EB - 1) / PASS_EB;
  if (run("ssd_chunk_state", StateProg{p, 0}, BH * p.nc, StateProg::smem(p))) return 1;
  if (run("ssd_chunk_pass", PassProg{p}, BH * neb, 0)) return 1;
  if (run("ssd_chunk_cb", CbProg{p}, p.B * p.G * p.nc * p.nT, CbProg::smem(p))) return 1;
  return run("ssd_chunk_out", OutProg{p}, p.B * p.nc * p.nT * p.H, OutProg::smem(p));
}

template <class Ln>
static int ssd_backward(const Ln &run, const SsdP &p) {
  const i64 BH = p.B * p.H, neb = (p.P * p.N + PASS_EB - 1) / PASS_EB;
  if (run("ssd_chunk_dstates", StateProg{p, 1}, BH * p.nc, StateProg::smem(p))) return 1;
  if (run("ssd_chunk_state", StateProg{p, 0}, BH * p.nc, StateProg::smem(p))) return 1;
  if (run("ssd_chunk_pass", PassProg{p}, BH * neb, 0)) return 1;
  if (run("ssd_chunk_pass_b", PassBProg{p}, BH, PassBProg::smem(p))) return 1;
  if (run("ssd_chunk_cb", CbProg{p}, p.B * p.G * p.nc * p.nT, CbProg::smem(p))) return 1;
  if (run("ssd_chunk_pass_c", PassCProg{p}, p.B * p.G * p.nc, PassCProg::smem(p))) return 1;
  return run("ssd_chunk_head_sum", HeadSumProg{p}, 1, 0);
}

// Whether the chunked kernels take this call on the current device (else: the sequential ones).
static bool ssd_chunked_fits(const SsdP &p) {
  if (p.B <= 0 || p.T <= 0 || p.H <= 0 || p.P <= 0 || p.N <= 0 || p.G <= 0) return false;
  int dev = 0, optin = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) return false;
  if (cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess)
    return false;
  const i64 blocks = p.B * p.nc * p.nT * p.H;
  return ssd_smem_max(p) <= optin && blocks < (1LL << 31);
}

TRM_API int trm_cuda_ssd_scan_chunked(i64 batch, i64 seq, i64 H, i64 P, i64 G, i64 N, i64 chunk,
                                      u64 x, u64 dt, u64 A, u64 Bm, u64 Cm, u64 D, u64 init,
                                      u64 y, u64 fin) {
  SsdP p = ssd_params(batch, seq, H, P, G, N, chunk);
  if (!ssd_chunked_fits(p))
    return trm_cuda_ssd_scan(batch, seq, H, P, G, N, chunk, x, dt, A, Bm, Cm, D, init, y, fin);
  p.x = CF(x), p.dt = CF(dt), p.A = CF(A), p.Bm = CF(Bm), p.Cm = CF(Cm), p.D = CF(D);
  p.init = CF(init), p.y = F(y), p.fin = F(fin);
  float *base = (float *)trm_scratch((size_t)ssd_carve(p, false, nullptr) * 4);
  if (!base) return 1;
  ssd_carve(p, false, base);
  return ssd_forward(DevLaunch{}, p);
}

TRM_API int trm_cuda_ssd_scan_chunked_backward(i64 batch, i64 seq, i64 H, i64 P, i64 G, i64 N,
                                               i64 chunk, u64 x, u64 dt, u64 A, u64 Bm, u64 Cm,
                                               u64 D, u64 init, u64 dy, u64 dfin, u64 dx, u64 ddt,
                                               u64 dA, u64 dBm, u64 dCm, u64 dD, u64 dinit) {
  SsdP p = ssd_params(batch, seq, H, P, G, N, chunk);
  if (!ssd_chunked_fits(p))
    return trm_cuda_ssd_scan_backward(batch, seq, H, P, G, N, chunk, x, dt, A, Bm, Cm, D, init,
                                      dy, dfin, dx, ddt, dA, dBm, dCm, dD, dinit);
  p.x = CF(x), p.dt = CF(dt), p.A = CF(A), p.Bm = CF(Bm), p.Cm = CF(Cm), p.D = CF(D);
  p.init = CF(init), p.dy = CF(dy), p.dfin = CF(dfin), p.dx = F(dx), p.ddt = F(ddt);
  p.dA = F(dA), p.dBm = F(dBm), p.dCm = F(dCm), p.dD = F(dD), p.dinit = F(dinit);
  float *base = (float *)trm_scratch((size_t)ssd_carve(p, true, nullptr) * 4);
  if (!base) return 1;
  ssd_carve(p, true, base);
  return ssd_backward(DevLaunch{}, p);
}

// ------------------------------------------------------------------ host simulation (tests)

// The same programs on host arrays, each block's threads run one after another (nt of them, in
// reverse order when rev ≠ 0). Returns 0, or 1 on bad sizes (every size ≥ 1, 1 ≤ nt ≤ SSD_RED,
// heads a multiple of groups) or a failed allocation.
static bool host_sizes_ok(const SsdP &p, i64 nt) {
  return p.B > 0 && p.T > 0 && p.H > 0 && p.P > 0 && p.N > 0 && p.G > 0 && p.Q > 0 &&
         p.H % p.G == 0 && nt >= 1 && nt <= SSD_RED;
}

TRM_API int trm_cuda_ssd_chunked_host_scan(i64 batch, i64 seq, i64 H, i64 P, i64 G, i64 N,
                                           i64 chunk, const float *x, const float *dt,
                                           const float *A, const float *Bm, const float *Cm,
                                           const float *D, const float *init, float *y, float *fin,
                                           i64 nt, i64 rev) {
  SsdP p = ssd_params(batch, seq, H, P, G, N, chunk);
  if (!host_sizes_ok(p, nt)) return 1;
  p.x = x, p.dt = dt, p.A = A, p.Bm = Bm, p.Cm = Cm, p.D = D, p.init = init, p.y = y, p.fin = fin;
  float *base = (float *)calloc((size_t)ssd_carve(p, false, nullptr) + 1, 4);
  if (!base) return 1;
  ssd_carve(p, false, base);
  const int rc = ssd_forward(HostLaunch{(int)nt, (int)(rev != 0)}, p);
  free(base);
  return rc;
}

TRM_API int trm_cuda_ssd_chunked_host_backward(
    i64 batch, i64 seq, i64 H, i64 P, i64 G, i64 N, i64 chunk, const float *x, const float *dt,
    const float *A, const float *Bm, const float *Cm, const float *D, const float *init,
    const float *dy, const float *dfin, float *dx, float *ddt, float *dA, float *dBm, float *dCm,
    float *dD, float *dinit, i64 nt, i64 rev) {
  SsdP p = ssd_params(batch, seq, H, P, G, N, chunk);
  if (!host_sizes_ok(p, nt)) return 1;
  p.x = x, p.dt = dt, p.A = A, p.Bm = Bm, p.Cm = Cm, p.D = D, p.init = init, p.dy = dy;
  p.dfin = dfin, p.dx = dx, p.ddt = ddt, p.dA = dA, p.dBm = dBm, p.dCm = dCm, p.dD = dD;
  p.dinit = dinit;
  float *base = (float *)calloc((size_t)ssd_carve(p, true, nullptr) + 1, 4);
  if (!base) return 1;
  ssd_carve(p, true, base);
  const int rc = ssd_backward(HostLaunch{(int)nt, (int)(rev != 0)}, p);
  free(base);
  return rc;
}
