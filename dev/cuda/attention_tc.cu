// KERNEL LAB (dev/cuda/README.md: not run on a GPU yet, not in the mainline library): tensor-core
// flash attention (attention_tc.cuh), a variant of the scalar kernels of
// engine/backends/cuda/attention.cu that the backend runs in their place under
// labBackend("attention-tc") (lab.ts). Same arguments and results as trm_cuda_attention /
// trm_cuda_attention_backward, which these fall back to for a shape the tc kernels do not take:
// headDim not a multiple of 16 or above ATC_MAXD, a block needing more shared memory than the
// device grants (at headDim 128 the dK/dV block does: its backward runs the scalar kernels), a
// device below compute capability 8.0 (no tf32 tensor cores), or a grid above 2³¹ − 1 blocks.
//
// Launches (ATC_NT threads per block, one block per (batch·head, 64-row tile), 1-D grid):
//   forward:  AtcFwd;   backward: AtcDq (also writes D_r to scratch) → AtcDkv.
// Shared memory per block, headDim 64: forward 72 192 B, dQ 122 368 B, dK/dV 139 776 B (opt-in
// above 48 KB via cudaFuncAttributeMaxDynamicSharedMemorySize). Scratch: B·H·L floats (D_r).
//
// trm_cuda_attention_tc_host / _host_backward run the SAME programs on host arrays, each block's
// threads one after another (HostRun): the CPU-only test attention_tc_test.ts.
#include <stdlib.h>

#include "attention_tc.cuh"

TRM_API int trm_cuda_attention(i64 batch, i64 seq, i64 heads, i64 hd, float scale, u64 q, u64 k,
                               u64 v, i64 ld, u64 out, u64 lse);
TRM_API int trm_cuda_attention_backward(i64 batch, i64 seq, i64 heads, i64 hd, float scale, u64 q,
                                        u64 k, u64 v, i64 ld, u64 out, u64 lse, u64 dout, u64 dq,
                                        u64 dk, u64 dv);

// Shared-memory bytes per block of a program (0: forward, 1: dQ, 2: dK/dV) at headDim hd.
TRM_API i64 trm_cuda_attention_tc_smem(i64 hd, i64 which) {
  return which == 0 ? AtcFwd::smem(hd) : which == 1 ? AtcDq::smem(hd) : AtcDkv::smem(hd);
}

template <class Pg>
__global__ void __launch_bounds__(ATC_NT) atc_kernel(Pg pg) {
  extern __shared__ __align__(128) float atc_sm[];  // wmma pointers: 256-bit aligned
  const Pg local = pg;
  local(DevRun{}, (i64)blockIdx.x, atc_sm);
}

struct AtcDevLaunch {
  template <class Pg>
  int operator()(const char *name, const Pg &pg, i64 nblk, i64 smem) const {
    cudaError_t e = cudaSuccess;
    if (smem > 48 * 1024)
      e = cudaFuncSetAttribute(atc_kernel<Pg>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               (int)smem);
    if (e == cudaSuccess) {
      atc_kernel<Pg><<<(unsigned)nblk, ATC_NT, (size_t)smem>>>(pg);
      e = cudaGetLastError();
    }
    if (e != cudaSuccess) {
      trm_set_error(name, cudaGetErrorString(e), __FILE__, __LINE__);
      return 1;
    }
    return 0;
  }
};

struct AtcHostLaunch {
  int nt, rev;
  template <class Pg>
  int operator()(const char *name, const Pg &pg, i64 nblk, i64 smem) const {
    return block_host_run(name, pg, nblk, smem, nt, rev);
  }
};

static AtcP atc_params(i64 B, i64 L, i64 H, i64 D, float scale, i64 ld) {
  AtcP p;
  memset(&p, 0, sizeof p);
  p.B = B, p.L = L, p.H = H, p.D = D, p.ld = ld, p.scale = scale;
  p.nT = (L + ATC_T - 1) / ATC_T;
  return p;
}

static bool atc_shape_ok(const AtcP &p) {
  return p.D >= 16 && p.D <= ATC_MAXD && p.D % 16 == 0 && p.ld >= p.H * p.D;
}

// Whether the tc kernels take this call on the current device (forward, or both backward ones).
static bool atc_fits(const AtcP &p, bool backward) {
  if (!atc_shape_ok(p) || p.B * p.H * p.nT >= (1LL << 31)) return false;
  int dev = 0, major = 0, optin = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) return false;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess)
    return false;
  const i64 need = backward ? (AtcDq::smem(p.D) > AtcDkv::smem(p.D) ? AtcDq::smem(p.D)
                                                                     : AtcDkv::smem(p.D))
                            : AtcFwd::smem(p.D);
  return major >= 8 && need <= optin;
}

template <class Ln>
static int atc_forward(const Ln &run, const AtcP &p) {
  return run("attention_tc_fwd", AtcFwd{p}, p.B * p.H * p.nT, AtcFwd::smem(p.D));
}

template <class Ln>
static int atc_backward(const Ln &run, const AtcP &p) {
  const i64 nblk = p.B * p.H * p.nT;
  if (run("attention_tc_dq", AtcDq{p}, nblk, AtcDq::smem(p.D))) return 1;
  return run("attention_tc_dkv", AtcDkv{p}, nblk, AtcDkv::smem(p.D));
}

TRM_API int trm_cuda_attention_tc(i64 batch, i64 seq, i64 heads, i64 hd, float scale, u64 q, u64 k,
                                  u64 v, i64 ld, u64 out, u64 lse) {
  if (batch * seq * heads * hd <= 0) return 0;
  AtcP p = atc_params(batch, seq, heads, hd, scale, ld);
  if (!atc_fits(p, false))
    return trm_cuda_attention(batch, seq, heads, hd, scale, q, k, v, ld, out, lse);
  p.tf32 = 1, p.q = CF(q), p.k = CF(k), p.v = CF(v), p.out = F(out), p.lse = F(lse);
  return atc_forward(AtcDevLaunch{}, p);
}

TRM_API int trm_cuda_attention_tc_backward(i64 batch, i64 seq, i64 heads, i64 hd, float scale,
                                           u64 q, u64 k, u64 v, i64 ld, u64 out, u64 lse,
                                           u64 dout, u64 dq, u64 dk, u64 dv) {
  if (batch * seq * heads * hd <= 0) return 0;
  AtcP p = atc_params(batch, seq, heads, hd, scale, ld);
  if (!atc_fits(p, true))
    return trm_cuda_attention_backward(batch, seq, heads, hd, scale, q, k, v, ld, out, lse, dout,
                                       dq, dk, dv);
  p.tf32 = 1, p.q = CF(q), p.k = CF(k), p.v = CF(v), p.o = CF(out), p.lse_in = CF(lse);
  p.dout = CF(dout), p.dq = F(dq), p.dk = F(dk), p.dv = F(dv);
  p.drow = (float *)trm_scratch((size_t)(batch * heads * seq) * 4);
  if (!p.drow) return 1;
  return atc_backward(AtcDevLaunch{}, p);
}

// ------------------------------------------------------------------ host simulation (tests)

// The same programs on host arrays: nt threads per block run one after another (in reverse order
// when rev ≠ 0); tf32 ≠ 0 rounds the operands of the tile products to tf32 as the device does.
// Returns 0, or 1 for sizes the tc kernels do not take (the device would fall back to
// attention.cu), nt outside 1..1024, or a failed allocation.
static bool atc_host_ok(const AtcP &p, i64 nt) {
  return p.B > 0 && p.L > 0 && p.H > 0 && atc_shape_ok(p) && nt >= 1 && nt <= 1024;
}

TRM_API int trm_cuda_attention_tc_host(i64 batch, i64 seq, i64 heads, i64 hd, float scale,
                                       const float *q, const float *k, const float *v, i64 ld,
                                       float *out, float *lse, i64 nt, i64 rev, i64 tf32) {
  AtcP p = atc_params(batch, seq, heads, hd, scale, ld);
  if (!atc_host_ok(p, nt)) return 1;
  p.tf32 = tf32 != 0, p.q = q, p.k = k, p.v = v, p.out = out, p.lse = lse;
  return atc_forward(AtcHostLaunch{(int)nt, rev != 0}, p);
}

TRM_API int trm_cuda_attention_tc_host_backward(i64 batch, i64 seq, i64 heads, i64 hd, float scale,
                                                const float *q, const float *k, const float *v,
                                                i64 ld, const float *out, const float *lse,
                                                const float *dout, float *dq, float *dk, float *dv,
                                                i64 nt, i64 rev, i64 tf32) {
  AtcP p = atc_params(batch, seq, heads, hd, scale, ld);
  if (!atc_host_ok(p, nt)) return 1;
  p.tf32 = tf32 != 0, p.q = q, p.k = k, p.v = v, p.o = out, p.lse_in = lse, p.dout = dout;
  p.dq = dq, p.dk = dk, p.dv = dv;
  p.drow = (float *)malloc((size_t)(batch * heads * seq) * 4);
  if (!p.drow) return 1;
  const int rc = atc_backward(AtcHostLaunch{(int)nt, rev != 0}, p);
  free(p.drow);
  return rc;
}
