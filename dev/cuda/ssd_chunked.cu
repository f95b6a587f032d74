// KERNEL LAB (dev/cuda/README.md: not run on a GPU yet, not in the mainline library): the CHUNKED
// SSD scan, forward and backward (arXiv:2405.21060 §6), a variant of the sequential kernels of
// engine/backends/cuda/ssd.cu that the backend runs in their place under labBackend("ssd-chunked")
// (lab.ts). Same entry-point arguments and results as trm_cuda_ssd_scan / _backward.
//
// The kernels are the block programs of ssd_chunk.cuh / ssd_chunk_bwd.cuh, launched with SSD_NT
// threads per block:
//   forward:  StateProg (b, h, c) → PassProg (b·h, elements) → CbProg (b, g, c, tile) →
//             OutProg (b, c, tile, h)
//   backward: StateProg pass A → StateProg + PassProg (states again) → PassBProg (b·h) → CbProg →
//             PassCProg (b, g, c) → HeadSumProg
// Chunk length: dims.chunk, capped at SSD_QMAX (the result does not depend on it beyond rounding).
// Scratch (trm_scratch): forward B·H·nc·P·N + B·G·nc·Qe² floats (Qe = min(chunk, seq)); backward
// twice that plus B·H·P·N floats and 2·B·H·nc doubles (tc: each array rounded up to 8 floats).
// Falls back to the sequential kernels when a size is 0 or a block would need more shared memory
// than the device allows per block.
//
// trm_cuda_ssd_chunked_host_scan / _backward run the SAME programs on the host (HostRun: the
// threads of a block one after another, step by step) on host arrays: a CPU-only test of the
// kernels' arithmetic and of their partition of work over threads (ssd_chunked_test.ts, here).
//
// TENSOR-CORE VARIANT (labBackend("ssd-chunked-tc"): trm_cuda_ssd_scan_chunked_tc / _backward): the
// same programs and launches with SsdP::tc set, so their tile products run as tf32 wmma with f32
// accumulation (ssd_chunk.cuh, "Tensor-core variant"). Taken when headDim and dState are
// multiples of 16, min(chunk, seq) ≥ 16, the device has compute capability ≥ 8.0 and every block's
// (padded) shared memory fits the opt-in limit; otherwise the call runs the scalar chunked
// kernels, and where those do not fit either, the sequential ones. Shared memory per block at the
// paper shape (headDim 64, dState 128, chunk 256), bytes scalar → tc (trm_cuda_ssd_chunked_smem):
// state 62 468 → 64 544, CB 32 768 → 38 400, out 41 988 → 44 064, pass B 8 192 (both), pass C
// 84 996 → 106 016 (above 48 KB: opt-in; an H200 grants 227 KB).
#include <stdlib.h>
#include <string.h>

#include "ssd_chunk_bwd.cuh"

#define SSD_QMAX 512

// One kernel per program and variant: TC (= p.tc) is a compile-time constant in the kernel, so
// the scalar kernels carry no tensor-core code (nor its register pressure).
template <class Pg, int TC>
__global__ void __launch_bounds__(SSD_NT) ssd_chunk_kernel(Pg pg) {
  // PassBProg keeps doubles there; the tc variant's wmma tiles want 32-byte aligned pointers
  extern __shared__ __align__(128) float4 ssd_sm4[];
  Pg local = pg;
  local.p.tc = TC;
  local(DevRun{}, (i64)blockIdx.x, (float *)ssd_sm4);
}

struct DevLaunch {
  template <class Pg, int TC>
  static int launch(const char *name, const Pg &pg, i64 nblk, i64 smem) {
    cudaError_t e = cudaSuccess;
    if (smem > 48 * 1024)
      e = cudaFuncSetAttribute(ssd_chunk_kernel<Pg, TC>,
                               cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (e == cudaSuccess) {
      ssd_chunk_kernel<Pg, TC><<<(unsigned)nblk, SSD_NT, (size_t)smem>>>(pg);
      e = cudaGetLastError();
    }
    if (e != cudaSuccess) {
      trm_set_error(name, cudaGetErrorString(e), __FILE__, __LINE__);
      return 1;
    }
    return 0;
  }
  template <class Pg>
  int operator()(const char *name, const Pg &pg, i64 nblk, i64 smem) const {
    if (nblk <= 0) return 0;
    return pg.p.tc ? launch<Pg, 1>(name, pg, nblk, smem) : launch<Pg, 0>(name, pg, nblk, smem);
  }
};

struct HostLaunch {
  int nt, rev;
  template <class Pg>
  int operator()(const char *name, const Pg &pg, i64 nblk, i64 smem) const {
    return block_host_run(name, pg, nblk, smem, nt, rev);
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

// Floats of scratch; the pointers are set when `base` is given (doubles first: alignment; under tc
// every array starts at a multiple of 8 floats: the products read st, ds with wmma).
static i64 ssd_carve(SsdP &p, bool backward, float *base) {
  const i64 nst = p.B * p.H * p.nc, PN = p.P * p.N, ncb = p.B * p.G * p.nc * p.Qe * p.Qe;
  i64 o = 0;
  float *b = base;
  auto take = [&](i64 n) { o = p.al(o); float *r = b ? b + o : nullptr; o += n; return r; };
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

// Whether the tc variant's products can take this shape (whole 16 × 16 fragments over P and N).
static bool ssd_tc_shape(const SsdP &p) { return p.P % 16 == 0 && p.N % 16 == 0 && p.Qe >= 16; }

// Whether the chunked kernels take this call on the current device (else: the sequential ones);
// with want_tc, sets p.tc when the tc variant does (else the scalar chunked kernels run).
static bool ssd_chunked_fits(SsdP &p, bool want_tc) {
  p.tc = 0;
  if (p.B <= 0 || p.T <= 0 || p.H <= 0 || p.P <= 0 || p.N <= 0 || p.G <= 0) return false;
  int dev = 0, optin = 0, major = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) return false;
  if (cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess)
    return false;
  const i64 blocks = p.B * p.nc * p.nT * p.H;
  if (blocks >= (1LL << 31)) return false;
  if (want_tc && major >= 8 && ssd_tc_shape(p)) {
    p.tc = 1;
    if (ssd_smem_max(p) <= optin) return true;
    p.tc = 0;
  }
  return ssd_smem_max(p) <= optin;
}

static int ssd_chunked_fwd(bool tc, i64 batch, i64 seq, i64 H, i64 P, i64 G, i64 N, i64 chunk,
                           u64 x, u64 dt, u64 A, u64 Bm, u64 Cm, u64 D, u64 init, u64 y, u64 fin) {
  SsdP p = ssd_params(batch, seq, H, P, G, N, chunk);
  if (!ssd_chunked_fits(p, tc))
    return trm_cuda_ssd_scan(batch, seq, H, P, G, N, chunk, x, dt, A, Bm, Cm, D, init, y, fin);
  p.tf32 = p.tc;
  p.x = CF(x), p.dt = CF(dt), p.A = CF(A), p.Bm = CF(Bm), p.Cm = CF(Cm), p.D = CF(D);
  p.init = CF(init), p.y = F(y), p.fin = F(fin);
  float *base = (float *)trm_scratch((size_t)ssd_carve(p, false, nullptr) * 4);
  if (!base) return 1;
  ssd_carve(p, false, base);
  return ssd_forward(DevLaunch{}, p);
}

static int ssd_chunked_bwd(bool tc, i64 batch, i64 seq, i64 H, i64 P, i64 G, i64 N, i64 chunk,
                           u64 x, u64 dt, u64 A, u64 Bm, u64 Cm, u64 D, u64 init, u64 dy,
                           u64 dfin, u64 dx, u64 ddt, u64 dA, u64 dBm, u64 dCm, u64 dD,
                           u64 dinit) {
  SsdP p = ssd_params(batch, seq, H, P, G, N, chunk);
  if (!ssd_chunked_fits(p, tc))
    return trm_cuda_ssd_scan_backward(batch, seq, H, P, G, N, chunk, x, dt, A, Bm, Cm, D, init,
                                      dy, dfin, dx, ddt, dA, dBm, dCm, dD, dinit);
  p.tf32 = p.tc;
  p.x = CF(x), p.dt = CF(dt), p.A = CF(A), p.Bm = CF(Bm), p.Cm = CF(Cm), p.D = CF(D);
  p.init = CF(init), p.dy = CF(dy), p.dfin = CF(dfin), p.dx = F(dx), p.ddt = F(ddt);
  p.dA = F(dA), p.dBm = F(dBm), p.dCm = F(dCm), p.dD = F(dD), p.dinit = F(dinit);
  float *base = (float *)trm_scratch((size_t)ssd_carve(p, true, nullptr) * 4);
  if (!base) return 1;
  ssd_carve(p, true, base);
  return ssd_backward(DevLaunch{}, p);
}

TRM_API int trm_cuda_ssd_scan_chunked(i64 batch, i64 seq, i64 H, i64 P, i64 G, i64 N, i64 chunk,
                                      u64 x, u64 dt, u64 A, u64 Bm, u64 Cm, u64 D, u64 init,
                                      u64 y, u64 fin) {
  return ssd_chunked_fwd(false, batch, seq, H, P, G, N, chunk, x, dt, A, Bm, Cm, D, init, y, fin);
}

TRM_API int trm_cuda_ssd_scan_chunked_tc(i64 batch, i64 seq, i64 H, i64 P, i64 G, i64 N,
                                         i64 chunk, u64 x, u64 dt, u64 A, u64 Bm, u64 Cm, u64 D,
                                         u64 init, u64 y, u64 fin) {
  return ssd_chunked_fwd(true, batch, seq, H, P, G, N, chunk, x, dt, A, Bm, Cm, D, init, y, fin);
}

TRM_API int trm_cuda_ssd_scan_chunked_backward(i64 batch, i64 seq, i64 H, i64 P, i64 G, i64 N,
                                               i64 chunk, u64 x, u64 dt, u64 A, u64 Bm, u64 Cm,
                                               u64 D, u64 init, u64 dy, u64 dfin, u64 dx, u64 ddt,
                                               u64 dA, u64 dBm, u64 dCm, u64 dD, u64 dinit) {
  return ssd_chunked_bwd(false, batch, seq, H, P, G, N, chunk, x, dt, A, Bm, Cm, D, init, dy, dfin,
                         dx, ddt, dA, dBm, dCm, dD, dinit);
}

TRM_API int trm_cuda_ssd_scan_chunked_tc_backward(i64 batch, i64 seq, i64 H, i64 P, i64 G, i64 N,
                                                  i64 chunk, u64 x, u64 dt, u64 A, u64 Bm, u64 Cm,
                                                  u64 D, u64 init, u64 dy, u64 dfin, u64 dx,
                                                  u64 ddt, u64 dA, u64 dBm, u64 dCm, u64 dD,
                                                  u64 dinit) {
  return ssd_chunked_bwd(true, batch, seq, H, P, G, N, chunk, x, dt, A, Bm, Cm, D, init, dy, dfin,
                         dx, ddt, dA, dBm, dCm, dD, dinit);
}

// ------------------------------------------------------------------ host simulation (tests)

// The same programs on host arrays, each block's threads run one after another (nt of them, in
// reverse order when rev ≠ 0). tc ≠ 0: the tensor-core variant where the device would take it
// (ssd_tc_shape; otherwise the scalar programs run, as on the device), its products scalar f32
// loops over the same fragments, operands rounded to tf32 when tf32 ≠ 0. Returns 0; 1 on bad sizes
// (every size ≥ 1, 1 ≤ nt ≤ SSD_RED, heads a multiple of groups) or a failed allocation; 3 when
// a tc product broke wmma's rules (tile_mm_ok: dims, ldm, 32-byte alignment).
static bool host_sizes_ok(const SsdP &p, i64 nt) {
  return p.B > 0 && p.T > 0 && p.H > 0 && p.P > 0 && p.N > 0 && p.G > 0 && p.Q > 0 &&
         p.H % p.G == 0 && nt >= 1 && nt <= SSD_RED;
}

// Runs the forward or backward on host arrays (pointers in p already set), scratch aligned.
static int host_run(SsdP &p, bool backward, i64 nt, i64 rev, i64 tc, i64 tf32) {
  int bad = 0;
  p.tc = tc != 0 && ssd_tc_shape(p), p.tf32 = tf32 != 0, p.bad = &bad;
  const i64 n = ssd_carve(p, backward, nullptr) + 1;
  float *base = (float *)block_host_alloc(n * 4);
  if (!base) return 1;
  memset(base, 0, (size_t)n * 4);
  ssd_carve(p, backward, base);
  const HostLaunch run{(int)nt, (int)(rev != 0)};
  int rc = backward ? ssd_backward(run, p) : ssd_forward(run, p);
  free(base);
  return rc ? rc : bad ? 3 : 0;
}

TRM_API int trm_cuda_ssd_chunked_host_scan(i64 batch, i64 seq, i64 H, i64 P, i64 G, i64 N,
                                           i64 chunk, const float *x, const float *dt,
                                           const float *A, const float *Bm, const float *Cm,
                                           const float *D, const float *init, float *y, float *fin,
                                           i64 nt, i64 rev, i64 tc, i64 tf32) {
  SsdP p = ssd_params(batch, seq, H, P, G, N, chunk);
  if (!host_sizes_ok(p, nt)) return 1;
  p.x = x, p.dt = dt, p.A = A, p.Bm = Bm, p.Cm = Cm, p.D = D, p.init = init, p.y = y, p.fin = fin;
  return host_run(p, false, nt, rev, tc, tf32);
}

TRM_API int trm_cuda_ssd_chunked_host_backward(
    i64 batch, i64 seq, i64 H, i64 P, i64 G, i64 N, i64 chunk, const float *x, const float *dt,
    const float *A, const float *Bm, const float *Cm, const float *D, const float *init,
    const float *dy, const float *dfin, float *dx, float *ddt, float *dA, float *dBm, float *dCm,
    float *dD, float *dinit, i64 nt, i64 rev, i64 tc, i64 tf32) {
  SsdP p = ssd_params(batch, seq, H, P, G, N, chunk);
  if (!host_sizes_ok(p, nt)) return 1;
  p.x = x, p.dt = dt, p.A = A, p.Bm = Bm, p.Cm = Cm, p.D = D, p.init = init, p.dy = dy;
  p.dfin = dfin, p.dx = dx, p.ddt = ddt, p.dA = dA, p.dBm = dBm, p.dCm = dCm, p.dD = dD;
  p.dinit = dinit;
  return host_run(p, true, nt, rev, tc, tf32);
}

// Shared-memory bytes per block of program `which` (0 state, 1 CB, 2 out, 3 pass B, 4 pass C) of
// the scalar (tc = 0) or the tensor-core kernels at a shape; −1 when tc is asked for and the shape
// is one the tc variant does not take (the scalar kernels run it).
TRM_API i64 trm_cuda_ssd_chunked_smem(i64 batch, i64 seq, i64 H, i64 P, i64 G, i64 N, i64 chunk,
                                      i64 tc, i64 which) {
  SsdP p = ssd_params(batch, seq, H, P, G, N, chunk);
  if (tc && !ssd_tc_shape(p)) return -1;
  p.tc = tc != 0;
  const i64 v[] = {StateProg::smem(p), CbProg::smem(p), OutProg::smem(p), PassBProg::smem(p),
                   PassCProg::smem(p)};
  return which >= 0 && which < 5 ? v[which] : -1;
}
