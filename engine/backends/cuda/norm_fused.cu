// CUDA backend: the fused row norms of engine/backend.ts — addRmsnorm / addRmsnormBackward
// (residual + RMSNorm without weight, the post-norm sub-layer) and gatedRmsnorm /
// gatedRmsnormBackward (Mamba-2's gated RMSNorm, norm_before_gate = false) — as BLOCK PROGRAMS
// (block_prog.cuh, which sets out their conventions), so trm_cuda_*_host run the very code
// the GPU runs on host arrays (norm_fused_test.ts). The arithmetic is the cpu backend's
// (engine/native/rows.c trm_add_rmsnorm*, kernels.c trm_gated_rmsnorm*) with f32 accumulation.
//
// Work units (1-D grid of nf_grid(units) blocks; block b takes units b, b + grid, …):
//   add forward / backward:   one unit per row;
//   gated forward / backward: one unit per (row r, group g), u = r·G + g (its rstd's index);
//   gated dweight:            NfDwPart, a unit per (segment of SEG_ROWS rows, strip of NF_CW
//                             columns): per-segment column sums into scratch; then NfDwSum, a
//                             unit per strip: the segments summed in order, WRITTEN to dweight.
// Threads per block: the unit's width (cols, or group) rounded up to a multiple of 32, in
// [32, NF_NT] (nf_threads); NF_CW for the dweight programs. Shared memory: nt floats (red).
//
// Row reductions (Σ s², Σ dy·out, Σ gw·v) are f32 in a fixed order: thread t sums its columns
// t, t + nt, … into red[t]; threads t < 32 fold red[t + 32k] (k = 1, 2, …) into red[t]; then each
// thread sums red[0 .. min(32, nt)) itself, in order (the same total everywhere, no extra
// barrier). The order depends on nt only, so results are bitwise equal run to run, and the host
// simulation is the device's arithmetic up to: rsqrtf (≤ 2 ulp) where the host has 1/sqrtf, CUDA's
// expf vs glibc's, and FMA contraction (nvcc contracts a·b + c by default; the host build targets
// baseline x86-64, no FMA). Only a GPU run shows those (cuda_test.ts).
//
// Neither s = x + y, v = y·silu(z) nor silu(z) is stored: the backward programs recompute v.
// In place: ds = dy (addRmsnormBackward) works — each element is read and then written by the
// same thread in the last step, after the reduction has read the whole row.
// Empty inputs (rows = 0 or cols = 0) are no-ops; gatedRmsnormBackward with rows = 0 zeroes
// dweight. Scratch (gated backward): ceil(rows / SEG_ROWS)·cols floats.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "block_prog.cuh"

#define NF_NT 256        // most threads per block (row programs)
#define NF_CW 128        // columns per strip and threads per block of the dweight programs
#define NF_GRID 65535LL  // most blocks per launch (as core.cu's row_grid); blocks loop over units

HD inline i64 nf_grid(i64 units) { return units < NF_GRID ? units : NF_GRID; }
static inline int nf_threads(i64 n) {
  return n >= NF_NT ? NF_NT : n <= 32 ? 32 : (int)((n + 31) / 32 * 32);
}

// 1/√v: rsqrtf on the device (≤ 2 ulp, what core.cu's rmsnorm uses), 1/sqrtf (≤ 1 ulp) on the host.
HD inline float nf_rsqrt(float v) {
#ifdef __CUDA_ARCH__
  return rsqrtf(v);
#else
  return 1.f / sqrtf(v);
#endif
}

// σ(x) and σ(−x) = 1 − σ(x) from one e = e^(−|x|) ≤ 1: no overflow, no cancellation (the values of
// core.cu's sigmoidf_); NaN gives NaN.
HD inline void nf_sigmoid(float x, float &s, float &sneg) {
  const float e = expf(-fabsf(x)), a = 1.f / (1.f + e), b = e / (1.f + e);
  s = x >= 0.f ? a : b;
  sneg = x >= 0.f ? b : a;
}
HD inline float nf_silu(float z) {
  float s, sn;
  nf_sigmoid(z, s, sn);
  return z * s;
}

// Sizes, inputs and outputs of one call (unused pointers null).
struct NfP {
  i64 rows, cols, group, G, nseg;  // G = cols / group (add: group = cols, G = 1)
  float eps;
  const float *x, *y, *z, *w;  // add: x, y; gated: y, z, weight
  const float *o, *r, *g;      // backward inputs: out (add), rstd, upstream gradient dy / dout
  float *out, *rstd, *dx, *dz, *dw, *part;  // dx: ds (add), dy (gated)
  HD i64 strips() const { return (cols + NF_CW - 1) / NF_CW; }
};

// Steps 1–2 of a row reduction of f(c) over c < n: red[0 .. min(32, nt)) hold the partials after.
template <class X, class Fn>
HD void nf_partials(const X &run, float *red, i64 n, const Fn &f) {
  run([&](int tid, int nt) {
    float s = 0.f;
    for (i64 c = tid; c < n; c += nt) s += f(c);
    red[tid] = s;
  });
  run([&](int tid, int nt) {
    if (tid >= 32) return;
    float s = red[tid];
    for (int k = tid + 32; k < nt; k += 32) s += red[k];
    red[tid] = s;
  });
}
// The total of the partials, in order (every thread computes it: the same value).
HD inline float nf_total(const float *red, int nt) {
  float s = 0.f;
  for (int k = 0; k < imin(32, nt); k++) s += red[k];
  return s;
}

// addRmsnorm: s = x + y, rstd[r] = 1/√(Σ s²/cols + eps), out = s·rstd.
struct NfAddFwd {
  NfP p;
  template <class X>
  HD void operator()(const X &run, i64 blk, float *red) const {
    const i64 C = p.cols, grid = nf_grid(p.rows);
    for (i64 r = blk; r < p.rows; r += grid) {
      const float *x = p.x + r * C, *y = p.y + r * C;
      float *o = p.out + r * C;
      nf_partials(run, red, C, [&](i64 c) {
        const float s = x[c] + y[c];
        return s * s;
      });
      run([&](int tid, int nt) {
        const float rs = nf_rsqrt(nf_total(red, nt) / (float)C + p.eps);
        if (tid == 0) p.rstd[r] = rs;
        for (i64 c = tid; c < C; c += nt) o[c] = (x[c] + y[c]) * rs;
      });
    }
  }
};

// addRmsnormBackward: ds = rstd·(dy − out·Σ(dy·out)/cols).
struct NfAddBwd {
  NfP p;
  template <class X>
  HD void operator()(const X &run, i64 blk, float *red) const {
    const i64 C = p.cols, grid = nf_grid(p.rows);
    for (i64 r = blk; r < p.rows; r += grid) {
      const float *o = p.o + r * C, *dy = p.g + r * C;
      float *ds = p.dx + r * C;
      nf_partials(run, red, C, [&](i64 c) { return dy[c] * o[c]; });
      run([&](int tid, int nt) {
        const float k = nf_total(red, nt) / (float)C, rs = p.r[r];
        for (i64 c = tid; c < C; c += nt) ds[c] = rs * (dy[c] - o[c] * k);  // dy[c] read first
      });
    }
  }
};

// gatedRmsnorm, unit (r, g): v = y·silu(z), rstd[u] = 1/√(Σ v²/group + eps), out = v·rstd·w.
struct NfGatedFwd {
  NfP p;
  template <class X>
  HD void operator()(const X &run, i64 blk, float *red) const {
    const i64 n = p.group, units = p.rows * p.G, grid = nf_grid(units);
    for (i64 u = blk; u < units; u += grid) {
      const i64 base = u / p.G * p.cols + u % p.G * n;
      const float *y = p.y + base, *z = p.z + base, *w = p.w + u % p.G * n;
      float *o = p.out + base;
      nf_partials(run, red, n, [&](i64 c) {
        const float v = y[c] * nf_silu(z[c]);
        return v * v;
      });
      run([&](int tid, int nt) {
        const float rs = nf_rsqrt(nf_total(red, nt) / (float)n + p.eps);
        if (tid == 0) p.rstd[u] = rs;
        for (i64 c = tid; c < n; c += nt) o[c] = y[c] * nf_silu(z[c]) * rs * w[c];
      });
    }
  }
};

// gatedRmsnormBackward, unit (r, g): gw = dout·w, k = rstd²·Σ(gw·v)/group,
// dv = rstd·(gw − v·k), dy = dv·silu(z), dz = silu'(z)·(dv·y), silu' = σ(z)·(1 + z·σ(−z)).
struct NfGatedBwd {
  NfP p;
  template <class X>
  HD void operator()(const X &run, i64 blk, float *red) const {
    const i64 n = p.group, units = p.rows * p.G, grid = nf_grid(units);
    for (i64 u = blk; u < units; u += grid) {
      const i64 base = u / p.G * p.cols + u % p.G * n;
      const float *y = p.y + base, *z = p.z + base, *w = p.w + u % p.G * n, *dout = p.g + base;
      float *dy = p.dx + base, *dz = p.dz + base;
      nf_partials(run, red, n, [&](i64 c) { return w[c] * dout[c] * (y[c] * nf_silu(z[c])); });
      run([&](int tid, int nt) {
        const float rs = p.r[u], k = nf_total(red, nt) / (float)n * rs * rs;
        for (i64 c = tid; c < n; c += nt) {
          const float zc = z[c], yc = y[c];
          float s, sn;
          nf_sigmoid(zc, s, sn);
          const float gate = zc * s, v = yc * gate, dv = rs * (w[c] * dout[c] - v * k);
          dy[c] = dv * gate;
          dz[c] = s * (1.f + zc * sn) * (dv * yc);
        }
      });
    }
  }
};

// dweight pass 1, unit (segment s, strip q): part[s·cols + c] = Σ_{r in s} (dout·v)·rstd[r·G + c/group]
// for the strip's columns, rows ascending.
struct NfDwPart {
  NfP p;
  template <class X>
  HD void operator()(const X &run, i64 blk, float *) const {
    const i64 nq = p.strips(), units = p.nseg * nq, grid = nf_grid(units);
    for (i64 u = blk; u < units; u += grid) {
      const i64 s = u / nq, c0 = u % nq * NF_CW, c1 = lmin(p.cols, c0 + NF_CW);
      const i64 r0 = s * SEG_ROWS, r1 = lmin(p.rows, r0 + SEG_ROWS);
      run([&](int tid, int nt) {
        for (i64 c = c0 + tid; c < c1; c += nt) {
          const i64 gi = c / p.group;
          float acc = 0.f;
          for (i64 r = r0; r < r1; r++) {
            const i64 j = r * p.cols + c;
            acc += p.g[j] * (p.y[j] * nf_silu(p.z[j])) * p.r[r * p.G + gi];
          }
          p.part[s * p.cols + c] = acc;
        }
      });
    }
  }
};

// dweight pass 2, unit (strip q): dweight[c] = Σ_s part[s·cols + c], segments ascending.
struct NfDwSum {
  NfP p;
  template <class X>
  HD void operator()(const X &run, i64 blk, float *) const {
    const i64 nq = p.strips(), grid = nf_grid(nq);
    for (i64 q = blk; q < nq; q += grid) {
      const i64 c0 = q * NF_CW, c1 = lmin(p.cols, c0 + NF_CW);
      run([&](int tid, int nt) {
        for (i64 c = c0 + tid; c < c1; c += nt) {
          float acc = 0.f;
          for (i64 s = 0; s < p.nseg; s++) acc += p.part[s * p.cols + c];
          p.dw[c] = acc;
        }
      });
    }
  }
};

// --------------------------------------------------------------------------- launches

template <class Pg>
__global__ void __launch_bounds__(NF_NT) nf_kernel(Pg pg) {
  extern __shared__ float nf_sm[];
  const Pg local = pg;
  local(DevRun{}, (i64)blockIdx.x, nf_sm);
}

struct NfDevLaunch {
  template <class Pg>
  int operator()(const char *name, const Pg &pg, i64 units, int nt) const {
    if (units <= 0) return 0;
    nf_kernel<Pg><<<(unsigned)nf_grid(units), nt, (size_t)nt * sizeof(float)>>>(pg);
    const cudaError_t e = cudaGetLastError();  // as LAUNCHED(name), with a run-time name
    if (e != cudaSuccess) {
      trm_set_error(name, cudaGetErrorString(e), __FILE__, __LINE__);
      return 1;
    }
    return 0;
  }
};

// The host (block_host_run: NaN-filled shared memory, threads in turn); nt = 0: the device's choice.
struct NfHostLaunch {
  int nt, rev;
  template <class Pg>
  int operator()(const char *name, const Pg &pg, i64 units, int dev_nt) const {
    const int n = nt > 0 ? nt : dev_nt;
    return block_host_run(name, pg, nf_grid(units), (i64)n * (i64)sizeof(float), n, rev);
  }
};

static NfP nf_params(i64 rows, i64 cols, i64 group) {
  NfP p;
  memset(&p, 0, sizeof p);
  p.rows = rows, p.cols = cols, p.group = group, p.G = group > 0 ? cols / group : 0;
  p.nseg = (rows + SEG_ROWS - 1) / SEG_ROWS;
  return p;
}

template <class Ln>
static int nf_gated_backward(const Ln &run, const NfP &p) {
  if (run("launch nf_gated_rmsnorm_backward", NfGatedBwd{p}, p.rows * p.G, nf_threads(p.group)))
    return 1;
  if (run("launch nf_gated_dweight_part", NfDwPart{p}, p.nseg * p.strips(), NF_CW)) return 1;
  return run("launch nf_gated_dweight_sum", NfDwSum{p}, p.strips(), NF_CW);
}

static bool nf_group_ok(const char *fn, i64 cols, i64 group) {
  if (group >= 1 && cols % group == 0) return true;
  trm_set_error(fn, "group must be at least 1 and divide cols", __FILE__, __LINE__);
  return false;
}

TRM_API int trm_cuda_add_rmsnorm(i64 rows, i64 cols, u64 x, u64 y, double eps, u64 out, u64 rstd) {
  if (rows <= 0 || cols <= 0) return 0;
  NfP p = nf_params(rows, cols, cols);
  p.x = CF(x), p.y = CF(y), p.eps = (float)eps, p.out = F(out), p.rstd = F(rstd);
  return NfDevLaunch{}("launch nf_add_rmsnorm", NfAddFwd{p}, rows, nf_threads(cols));
}

TRM_API int trm_cuda_add_rmsnorm_backward(i64 rows, i64 cols, u64 out, u64 rstd, u64 dy, u64 ds) {
  if (rows <= 0 || cols <= 0) return 0;
  NfP p = nf_params(rows, cols, cols);
  p.o = CF(out), p.r = CF(rstd), p.g = CF(dy), p.dx = F(ds);
  return NfDevLaunch{}("launch nf_add_rmsnorm_backward", NfAddBwd{p}, rows, nf_threads(cols));
}

TRM_API int trm_cuda_gated_rmsnorm(i64 rows, i64 cols, i64 group, u64 y, u64 z, u64 w, double eps,
                                   u64 out, u64 rstd) {
  if (!nf_group_ok("trm_cuda_gated_rmsnorm", cols, group)) return 1;
  if (rows <= 0 || cols <= 0) return 0;
  NfP p = nf_params(rows, cols, group);
  p.y = CF(y), p.z = CF(z), p.w = CF(w), p.eps = (float)eps, p.out = F(out), p.rstd = F(rstd);
  return NfDevLaunch{}("launch nf_gated_rmsnorm", NfGatedFwd{p}, rows * p.G, nf_threads(group));
}

TRM_API int trm_cuda_gated_rmsnorm_backward(i64 rows, i64 cols, i64 group, u64 y, u64 z, u64 w,
                                            u64 rstd, u64 dout, u64 dy, u64 dz, u64 dw) {
  if (!nf_group_ok("trm_cuda_gated_rmsnorm_backward", cols, group)) return 1;
  if (cols <= 0) return 0;
  if (rows <= 0) {
    CK(cudaMemsetAsync(F(dw), 0, (size_t)cols * sizeof(float), 0));
    return 0;
  }
  NfP p = nf_params(rows, cols, group);
  p.y = CF(y), p.z = CF(z), p.w = CF(w), p.r = CF(rstd), p.g = CF(dout);
  p.dx = F(dy), p.dz = F(dz), p.dw = F(dw);
  p.part = (float *)trm_scratch((size_t)(p.nseg * cols) * sizeof(float));
  if (!p.part) return 1;
  return nf_gated_backward(NfDevLaunch{}, p);
}

// ------------------------------------------------------------------ host simulation (tests)

// The same programs on host arrays (same arguments as the device entry points, host pointers),
// nt threads per block (0: the device's choice) run one after another, reversed when rev ≠ 0.
// Returns 0; 1 for nt outside 0..1024, a bad group or a failed allocation.
static bool nf_host_ok(i64 nt) { return nt >= 0 && nt <= 1024; }

TRM_API int trm_cuda_add_rmsnorm_host(i64 rows, i64 cols, const float *x, const float *y,
                                      double eps, float *out, float *rstd, i64 nt, i64 rev) {
  if (!nf_host_ok(nt)) return 1;
  if (rows <= 0 || cols <= 0) return 0;
  NfP p = nf_params(rows, cols, cols);
  p.x = x, p.y = y, p.eps = (float)eps, p.out = out, p.rstd = rstd;
  return NfHostLaunch{(int)nt, rev != 0}("nf_add_rmsnorm", NfAddFwd{p}, rows, nf_threads(cols));
}

TRM_API int trm_cuda_add_rmsnorm_backward_host(i64 rows, i64 cols, const float *out,
                                               const float *rstd, const float *dy, float *ds,
                                               i64 nt, i64 rev) {
  if (!nf_host_ok(nt)) return 1;
  if (rows <= 0 || cols <= 0) return 0;
  NfP p = nf_params(rows, cols, cols);
  p.o = out, p.r = rstd, p.g = dy, p.dx = ds;
  return NfHostLaunch{(int)nt, rev != 0}("nf_add_rmsnorm_backward", NfAddBwd{p}, rows,
                                         nf_threads(cols));
}

TRM_API int trm_cuda_gated_rmsnorm_host(i64 rows, i64 cols, i64 group, const float *y,
                                        const float *z, const float *w, double eps, float *out,
                                        float *rstd, i64 nt, i64 rev) {
  if (!nf_host_ok(nt) || !nf_group_ok("trm_cuda_gated_rmsnorm_host", cols, group)) return 1;
  if (rows <= 0 || cols <= 0) return 0;
  NfP p = nf_params(rows, cols, group);
  p.y = y, p.z = z, p.w = w, p.eps = (float)eps, p.out = out, p.rstd = rstd;
  return NfHostLaunch{(int)nt, rev != 0}("nf_gated_rmsnorm", NfGatedFwd{p}, rows * p.G,
                                         nf_threads(group));
}

TRM_API int trm_cuda_gated_rmsnorm_backward_host(i64 rows, i64 cols, i64 group, const float *y,
                                                 const float *z, const float *w,
                                                 const float *rstd, const float *dout, float *dy,
                                                 float *dz, float *dw, i64 nt, i64 rev) {
  if (!nf_host_ok(nt) || !nf_group_ok("trm_cuda_gated_rmsnorm_backward_host", cols, group))
    return 1;
  if (cols <= 0) return 0;
  if (rows <= 0) {
    memset(dw, 0, (size_t)cols * sizeof(float));
    return 0;
  }
  NfP p = nf_params(rows, cols, group);
  p.y = y, p.z = z, p.w = w, p.r = rstd, p.g = dout, p.dx = dy, p.dz = dz, p.dw = dw;
  p.part = (float *)malloc((size_t)(p.nseg * cols) * sizeof(float));  // exact: ASan sees overruns
  if (!p.part) return 1;
  const int rc = nf_gated_backward(NfHostLaunch{(int)nt, rev != 0}, p);
  free(p.part);
  return rc;
}
