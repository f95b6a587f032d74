// The chunked SSD (Dao & Gu 2024, arXiv:2405.21060 §6) as BLOCK PROGRAMS compiled for the device
// and the host.
//
// A block program is a __host__ __device__ functor `prog(run, blk, sm)`: block `blk` of a grid,
// `sm` its shared memory. Its work is a sequence of STEPS `run([&](int tid, int nt) {...})`; each
// step partitions its work over nt threads by tid and ends at a barrier. Nothing survives a step in
// registers: what later steps read lives in shared or global memory, and all control flow outside
// the steps is uniform over the block. So the same code runs
//  - on the device (DevRun: tid = threadIdx.x, then __syncthreads()), one CUDA block per blk, and
//  - on the host (HostRun: the step's lambda for tid = 0..nt−1 in turn, forwards or backwards),
//    which is exact barrier semantics: ssd_chunked.cu's host entry points let a CPU-only test run
//    the very kernels the GPU runs, and a result that changes with the thread order inside a step
//    would expose a race (DevRun, HostRun: block_prog.cuh). The tensor-core variant of the tile
//    products is set out below ("Tensor-core variant").
//
// The algorithm is the cpu backend's (engine/native/ssd.c): chunk states, state passing, CB = C·Bᵀ
// per group, y = diagonal block + state → output + D·x; backward passes A, B, C of ssd.c. All f32
// with f32 accumulation (dA, dD and the ⟨R, Hst⟩ of pass B in f64). Exponents are clamped to ≤ 0
// and masks are selects (a masked exp may be inf, and inf·0 = NaN). In-chunk decays are never
// differences of running sums: a chunk is cut into tiles of TB steps; per tile, pre[i] = Σ a from
// the tile start to i and suf[j] = Σ a from j+1 to the tile end are direct sums, so the log-decay
// from j to i in tiles J < I is suf[j] + (whole tiles between) + pre[i] — a sum of same-signed
// terms — and inside one tile it is summed down the column (as ssd.c's decay_row). Λ_i and the
// decay to the chunk end are built the same way.
#pragma once
#include <math.h>

#include "block_prog.cuh"

#define SSD_TB 32      // tile edge (in-chunk steps)
#define SSD_NT 256     // threads per block on the device
#define SSD_RED 1024   // doubles reserved for block reductions (host simulations: nt ≤ 1024)
#define SSD_PAD 4      // row padding of the shared tiles of the tensor-core variant (floats)
#ifdef __CUDA_ARCH__
#define SSD_UNROLL _Pragma("unroll")
#else
#define SSD_UNROLL
#endif

// Sizes, inputs, outputs and scratch of one call (layouts: engine/backend.ts; states [P, N]).
struct SsdP {
  i64 B, T, H, P, G, N, Q, nc, hpg, Qe, nT;  // Qe = min(Q, T); nT = ceil(Qe / TB)
  const float *x, *dt, *A, *Bm, *Cm, *D, *init, *dy, *dfin;
  float *y, *fin, *dx, *ddt, *dA, *dBm, *dCm, *dD, *dinit;
  // scratch: st, ds [B·H·nc·P·N]; ltot, glt [B·H·nc]; cb, dcb [B·G·nc·Qe²]; rbuf [B·H·P·N];
  // part [2·B·H·nc] (dA, dD per (b, c, h))
  float *st, *ds, *ltot, *glt, *cb, *dcb, *rbuf;
  double *part;
  // The tensor-core variant (tc ≠ 0; see "Tensor-core variant" below): tf32 ≠ 0 rounds the
  // operands of its products to tf32 on the host as the device does; `bad`, on the host only,
  // is set when a product breaks wmma's rules (tile_mm_ok).
  int tc, tf32;
  int *bad;
  HD int len(i64 c) const { return (int)lmin(Q, T - c * Q); }
  // Row strides of the shared tiles (P-, N- and TB-wide) and buffer sizes rounded so that every
  // buffer starts 32-byte aligned: padded under tc, exactly the scalar kernels' layout otherwise.
  HD int ldp() const { return (int)P + (tc ? SSD_PAD : 0); }
  HD int ldn() const { return (int)N + (tc ? SSD_PAD : 0); }
  HD int ldw() const { return SSD_TB + (tc ? SSD_PAD : 0); }
  HD i64 al(i64 n) const { return tc ? (n + 7) / 8 * 8 : n; }
  // Rows a staged tile must hold valid values for: under tc a ragged tile's rows up to TB are
  // zeros (products run over whole 16 × 16 × 8 fragments), otherwise just its n rows.
  HD int zr(int n) const { return tc ? SSD_TB : n; }
};

// O[r·ldo + c] (+)= Σ_{k<nk} A[r·ars + k·aks] · Bp[k·bks + c·bcs] for r < nr, c < ncol: one step's
// work, RM × RN outputs per thread and tile, k in ascending order.
template <int RM, int RN>
HD void mm(int tid, int nt, int nr, int ncol, int nk, const float *A, i64 ars, i64 aks,
           const float *Bp, i64 bks, i64 bcs, float *O, i64 ldo, bool acc) {
  const int tr = (nr + RM - 1) / RM, tc = (ncol + RN - 1) / RN;
  for (int q = tid; q < tr * tc; q += nt) {
    const int r0 = q / tc * RM, c0 = q % tc * RN;
    i64 ra[RM], cb[RN];
SSD_UNROLL
    for (int m = 0; m < RM; m++) ra[m] = (i64)imin(r0 + m, nr - 1) * ars;
SSD_UNROLL
    for (int n = 0; n < RN; n++) cb[n] = (i64)imin(c0 + n, ncol - 1) * bcs;
    float s[RM][RN];
SSD_UNROLL
    for (int m = 0; m < RM; m++)
SSD_UNROLL
      for (int n = 0; n < RN; n++) s[m][n] = 0.f;
    for (int k = 0; k < nk; k++) {
      float av[RM], bv[RN];
SSD_UNROLL
      for (int m = 0; m < RM; m++) av[m] = A[ra[m] + k * aks];
SSD_UNROLL
      for (int n = 0; n < RN; n++) bv[n] = Bp[k * bks + cb[n]];
SSD_UNROLL
      for (int m = 0; m < RM; m++)
SSD_UNROLL
        for (int n = 0; n < RN; n++) s[m][n] += av[m] * bv[n];
    }
SSD_UNROLL
    for (int m = 0; m < RM; m++)
SSD_UNROLL
      for (int n = 0; n < RN; n++)
        if (r0 + m < nr && c0 + n < ncol) {
          float *o = O + (i64)(r0 + m) * ldo + c0 + n;
          *o = acc ? *o + s[m][n] : s[m][n];
        }
  }
}

// Copies rows × cols of src (row stride lds) into dst (row stride ldd, default cols); with zr, zc
// beyond rows, cols, the rest of that zr × zc block is zeroed (the padding of a ragged tile).
template <class X>
HD void stage(const X &run, int rows, int cols, const float *src, i64 lds, float *dst, int ldd = 0,
              int zr = 0, int zc = 0) {
  const int R = zr > rows ? zr : rows, C = zc > cols ? zc : cols, ld = ldd ? ldd : cols;
  run([&](int tid, int nt) {
    for (int e = tid; e < R * C; e += nt) {
      const int r = e / C, c = e % C;
      dst[r * ld + c] = r < rows && c < cols ? src[(i64)r * lds + c] : 0.f;
    }
  });
}

// ------------------------------------------------------------------ tensor-core variant
//
// With p.tc set (the lab variant ssd-chunked-tc), the tile products of the programs run on tensor cores:
// tile_mm (block_prog.cuh), tf32 operands, f32 accumulation, fragments of 16 × 16 outputs spread
// over the block's warps. Everything else — decays, masks, exponent clamps, segment sums, the f64
// dA / dD / ⟨R, Hst⟩ reductions — is the scalar code of the chunked kernels, unchanged. Taken only
// when headDim P and dState N are multiples of 16 and Qe ≥ 16 (ssd_chunked.cu; otherwise the
// scalar chunked kernels run the whole call). Then a product's dims are P, N (exact) or a tile's
// ni, nj ≤ TB, rounded up to 16 (output rows / columns, dropped afterwards) or 8 (the summed
// dim), so the tc layout (i) zero-fills every staged tile up to TB rows (a padded term must be
// exactly 0 — 0 · garbage could be NaN), (ii) gives shared tiles row strides of P, N, TB + SSD_PAD
// floats (a multiple of 4: wmma's ldm rule; rows 4 banks apart) and (iii) starts every buffer at
// a multiple of 8 floats. The per-chunk states Hst / dS are read straight from global scratch
// (aligned by the carve of ssd_chunked.cu; row stride N). A product whose output lives in global
// memory (CB, dB, dC) goes through a shared tile first: wmma stores whole fragments.

HD inline int up16(int n) { return (n + 15) / 16 * 16; }
HD inline int up8(int n) { return (n + 7) / 8 * 8; }

// O (+)= op(A) · op(B): M × Nc outputs, K terms, one step's work. op(A)[m][k] = TA ? A[k·lda + m]
// : A[m·lda + k], op(B)[k][n] = TB ? B[n·ldb + k] : B[k·ldb + n]. Scalar: mm<RM, RN> — exactly
// the chunked kernels' products; tc: tile_mm over the rounded dims (see above).
template <int RM, int RN, bool TA, bool TB>
HD void prod(const SsdP &p, int tid, int nt, int M, int Nc, int K, const float *A, i64 lda,
             const float *B, i64 ldb, float *O, i64 ldo, bool acc) {
  if (!p.tc) {
    mm<RM, RN>(tid, nt, M, Nc, K, A, TA ? 1 : lda, TA ? lda : 1, B, TB ? 1 : ldb, TB ? ldb : 1, O,
               ldo, acc);
    return;
  }
  const int la = (int)lda, lb = (int)ldb, lo = (int)ldo;
  M = up16(M), Nc = up16(Nc), K = up8(K);
#ifndef __CUDA_ARCH__
  if (!tile_mm_ok(M, Nc, K, A, la, B, lb, O, lo)) {
    if (p.bad) *p.bad = 1;
    return;
  }
#endif
  tile_mm<TA, TB>(tid, nt, M, Nc, K, A, la, B, lb, O, lo, acc, p.tf32 != 0);
}

// Under tc: dst[r·ldd + c] += S[r·lds + c] for r < rows, c < cols (a product's shared result
// into global memory).
template <class X>
HD void add_tile(const X &run, int rows, int cols, const float *S, int lds, float *dst, i64 ldd) {
  run([&](int tid, int nt) {
    for (int e = tid; e < rows * cols; e += nt) {
      const int r = e / cols, c = e % cols;
      dst[r * ldd + c] += S[r * lds + c];
    }
  });
}

// ------------------------------------------------------------------ decays of one (b, h, chunk)

// Shared-memory vectors of length Qe: dtc (Δ), pre, suf (tile-local sums of a = Δ·A), el =
// exp(Λ_i), ej = exp(Σ_{k>j} a_k) (decay to the chunk end); lt[0] = Λ_{L−1} (Λtot).
struct Dec {
  float *dtc, *pre, *suf, *el, *ej, *lt;
  float av;
  int L;
  HD float tot(int t) const { return pre[imin(t * SSD_TB + SSD_TB, L) - 1]; }
};
HD inline i64 dec_floats(i64 Qe) { return 5 * Qe + 1; }
HD inline Dec dec_at(float *sm, i64 Qe) {
  Dec d;
  d.dtc = sm, d.pre = sm + Qe, d.suf = sm + 2 * Qe, d.el = sm + 3 * Qe, d.ej = sm + 4 * Qe;
  d.lt = sm + 5 * Qe;
  d.av = 0.f, d.L = 0;
  return d;
}

template <class X>
HD void decay_setup(const X &run, const SsdP &p, i64 b, i64 h, i64 t0, int L, Dec &d) {
  d.av = p.A[h], d.L = L;
  const Dec dd = d;
  const float *dtr = p.dt + (b * p.T + t0) * p.H + h;
  run([&](int tid, int nt) {
    for (int i = tid; i < L; i += nt) dd.dtc[i] = dtr[(i64)i * p.H];
  });
  run([&](int tid, int nt) {
    for (int i = tid; i < L; i += nt) {
      const int i0 = i / SSD_TB * SSD_TB, i1 = imin(i0 + SSD_TB, L);
      float s = 0.f, u = 0.f;
      for (int k = i0; k <= i; k++) s += dd.dtc[k] * dd.av;
      for (int k = i1 - 1; k > i; k--) u += dd.dtc[k] * dd.av;
      dd.pre[i] = s, dd.suf[i] = u;
    }
  });
  run([&](int tid, int nt) {
    const int nTL = (L + SSD_TB - 1) / SSD_TB;
    for (int i = tid; i < L; i += nt) {
      const int I = i / SSD_TB;
      float s = 0.f, u = dd.suf[i];
      for (int t = 0; t < I; t++) s += dd.tot(t);
      for (int t = I + 1; t < nTL; t++) u += dd.tot(t);
      dd.el[i] = expf(fminf(s + dd.pre[i], 0.f));
      dd.ej[i] = expf(fminf(u, 0.f));
    }
    if (tid == 0) {
      float s = 0.f;
      for (int t = 0; t < nTL; t++) s += dd.tot(t);
      dd.lt[0] = s;
    }
  });
}

// W[r·ldw + s] = f(i, j, exp(min(seg(i, j), 0))) for i = I·TB + r < L, j = J·TB + s ≤ i, else 0
// (I ≥ J; r, s < TB); seg(i, j) = Σ_{k=j+1}^{i} a_k (stable: see the header).
template <class X, class F>
HD void decay_tile(const X &run, const Dec &d, int I, int J, float *W, int ldw, F f) {
  const int i0 = I * SSD_TB, j0 = J * SSD_TB, L = d.L;
  if (I == J) {
    run([&](int tid, int nt) {
      for (int s = tid; s < SSD_TB; s += nt) {
        float acc = 0.f;
        for (int r = 0; r < SSD_TB; r++) {
          const int i = i0 + r, j = j0 + s;
          if (r > s && i < L) acc += d.dtc[i] * d.av;
          W[r * ldw + s] = (r >= s && i < L) ? f(i, j, expf(fminf(acc, 0.f))) : 0.f;
        }
      }
    });
  } else {
    run([&](int tid, int nt) {
      float mid = 0.f;
      for (int t = J + 1; t < I; t++) mid += d.tot(t);
      for (int e = tid; e < SSD_TB * SSD_TB; e += nt) {
        const int r = e / SSD_TB, s = e % SSD_TB, i = i0 + r, j = j0 + s;
        const bool in = i < L && j < L;
        W[r * ldw + s] = in ? f(i, j, expf(fminf(d.suf[j] + mid + d.pre[i], 0.f))) : 0.f;
      }
    });
  }
}

// ------------------------------------------------------------------ forward programs

// Blocks (b, h, c). mode 0: the chunk-local state s_c[p, n] = Σ_j ej·Δ_j·x_j[p]·B_j[n] into
// st, and Λtot into ltot; mode 1 (backward pass A): dHout_c[p, n] = Σ_i el_i·dy_i[p]·C_i[n] into ds.
struct StateProg {
  SsdP p;
  int mode;
  static i64 smem(const SsdP &p) {
    return 4 * (p.al(dec_floats(p.Qe)) + SSD_TB * (p.ldp() + p.ldn()) + p.P * p.ldn());
  }
  template <class X>
  HD void operator()(const X &run, i64 blk, float *sm) const {
    const i64 c = blk % p.nc, bh = blk / p.nc, h = bh % p.H, b = bh / p.H, g = h / p.hpg;
    const i64 t0 = c * p.Q, P = p.P, N = p.N;
    const int L = p.len(c), ldp = p.ldp(), ldn = p.ldn();
    Dec d = dec_at(sm, p.Qe);
    float *U = sm + p.al(dec_floats(p.Qe)), *V = U + SSD_TB * ldp, *acc = V + SSD_TB * ldn;
    decay_setup(run, p, b, h, t0, L, d);
    const float *Xin = mode ? p.dy : p.x, *Win = mode ? p.Cm : p.Bm;
    for (int J = 0; J * SSD_TB < L; J++) {
      const int j0 = J * SSD_TB, nj = imin(SSD_TB, L - j0), nz = p.zr(nj);
      run([&](int tid, int nt) {
        for (int e = tid; e < nj * P; e += nt) {
          const int r = e / (int)P, q = e % (int)P, j = j0 + r;
          const float al = mode ? d.el[j] : d.ej[j] * d.dtc[j];
          U[r * ldp + q] = al * Xin[((b * p.T + t0 + j) * p.H + h) * P + q];
        }
        for (int e = tid; e < nj * N; e += nt)
          V[e / N * ldn + e % N] = Win[((b * p.T + t0 + j0 + e / N) * p.G + g) * N + e % N];
        if (p.tc) {
          for (int e = tid; e < (nz - nj) * P; e += nt) U[(nj + e / P) * ldp + e % P] = 0.f;
          for (int e = tid; e < (nz - nj) * N; e += nt) V[(nj + e / N) * ldn + e % N] = 0.f;
        }
      });
      run([&](int tid, int nt) {
        prod<4, 8, true, false>(p, tid, nt, (int)P, (int)N, nj, U, ldp, V, ldn, acc, ldn, J > 0);
      });
    }
    float *out = (mode ? p.ds : p.st) + blk * P * N;
    run([&](int tid, int nt) {
      for (i64 e = tid; e < P * N; e += nt) out[e] = acc[e / N * ldn + e % N];
      if (tid == 0 && !mode) p.ltot[blk] = d.lt[0];
    });
  }
};

// Blocks (b·h, element block of PASS_EB): Hst[c] (state entering chunk c) in place of s_c in st;
// the final state into fin when given (forward state passing,
// Hst[c+1] = exp(Λtot_c)·Hst[c] + s_c).
#define PASS_EB 1024
struct PassProg {
  SsdP p;
  template <class X>
  HD void operator()(const X &run, i64 blk, float *) const {
    const i64 PN = p.P * p.N, neb = (PN + PASS_EB - 1) / PASS_EB, bh = blk / neb;
    const i64 e0 = blk % neb * PASS_EB, e1 = lmin(PN, e0 + PASS_EB);
    run([&](int tid, int nt) {
      for (i64 e = e0 + tid; e < e1; e += nt) {
        float hcur = p.init ? p.init[bh * PN + e] : 0.f;
        for (i64 c = 0; c < p.nc; c++) {
          float *s = p.st + (bh * p.nc + c) * PN + e;
          const float el = expf(fminf(p.ltot[bh * p.nc + c], 0.f)), sc = *s;
          *s = hcur;
          hcur = el * hcur + sc;
        }
        if (p.fin) p.fin[bh * PN + e] = hcur;
      }
    });
  }
};

// Blocks (b, g, c, row tile I): CB[i, j] = C_i·B_j for i in tile I, j < (I+1)·TB, into cb (row
// stride Qe), shared by the heads of the group. Under tc each tile pair goes through Ws.
struct CbProg {
  SsdP p;
  static i64 smem(const SsdP &p) {
    return 4 * (2 * SSD_TB * p.ldn() + (p.tc ? SSD_TB * p.ldw() : 0));
  }
  template <class X>
  HD void operator()(const X &run, i64 blk, float *sm) const {
    const int I = (int)(blk % p.nT);
    const i64 bgc = blk / p.nT, c = bgc % p.nc, b = bgc / p.nc / p.G, g = bgc / p.nc % p.G;
    const int L = p.len(c), i0 = I * SSD_TB;
    if (i0 >= L) return;  // uniform over the block
    const int ni = imin(SSD_TB, L - i0);
    const i64 N = p.N, ldb = p.G * N, row0 = ((b * p.T + c * p.Q) * p.G + g) * N;
    const int ldn = p.ldn();
    float *Cs = sm, *Bs = sm + SSD_TB * ldn, *Ws = Bs + SSD_TB * ldn;
    float *out = p.cb + bgc * p.Qe * p.Qe;
    stage(run, ni, (int)N, p.Cm + row0 + i0 * ldb, ldb, Cs, ldn, p.zr(ni));
    for (int J = 0; J <= I; J++) {
      const int j0 = J * SSD_TB, nj = imin(SSD_TB, L - j0);
      float *o = out + i0 * p.Qe + j0;
      stage(run, nj, (int)N, p.Bm + row0 + j0 * ldb, ldb, Bs, ldn, p.zr(nj));
      run([&](int tid, int nt) {
        prod<2, 2, false, true>(p, tid, nt, ni, nj, (int)N, Cs, ldn, Bs, ldn, p.tc ? Ws : o,
                                p.tc ? p.ldw() : p.Qe, false);
      });
      if (p.tc) stage(run, ni, nj, Ws, p.ldw(), o, (int)p.Qe);
    }
  }
};

// Blocks (b, c, row tile I, h): y_i = el_i·C_i·Hst[c] + D·x_i + Σ_{j≤i} CB_ij·decay(i, j)·Δ_j·x_j.
struct OutProg {
  SsdP p;
  static i64 smem(const SsdP &p) {
    return 4 * (p.al(dec_floats(p.Qe)) + SSD_TB * (p.ldn() + 2 * p.ldp() + p.ldw()));
  }
  template <class X>
  HD void operator()(const X &run, i64 blk, float *sm) const {
    const i64 h = blk % p.H, rest = blk / p.H, c = rest / p.nT % p.nc, b = rest / p.nT / p.nc;
    const int I = (int)(rest % p.nT), L = p.len(c), i0 = I * SSD_TB;
    if (i0 >= L) return;
    const int ni = imin(SSD_TB, L - i0);
    const i64 P = p.P, N = p.N, g = h / p.hpg, bh = b * p.H + h, t0 = c * p.Q;
    const i64 ldx = p.H * P, ldb = p.G * N;
    const float *xr = p.x + ((b * p.T + t0) * p.H + h) * P, dh = p.D[h];
    const float *Hs = p.st + (bh * p.nc + c) * P * N;
    const float *cbm = p.cb + ((b * p.G + g) * p.nc + c) * p.Qe * p.Qe;
    const int ldp = p.ldp(), ldn = p.ldn(), ldw = p.ldw();
    Dec d = dec_at(sm, p.Qe);
    float *Cs = sm + p.al(dec_floats(p.Qe)), *Ys = Cs + SSD_TB * ldn, *Xs = Ys + SSD_TB * ldp;
    float *Ws = Xs + SSD_TB * ldp;
    decay_setup(run, p, b, h, t0, L, d);
    stage(run, ni, (int)N, p.Cm + ((b * p.T + t0 + i0) * p.G + g) * N, ldb, Cs, ldn, p.zr(ni));
    run([&](int tid, int nt) {  // C_i·Hst[c]ᵀ: Hst[p, n] read as the N × P operand
      prod<2, 4, false, true>(p, tid, nt, ni, (int)P, (int)N, Cs, ldn, Hs, (int)N, Ys, ldp, false);
    });
    run([&](int tid, int nt) {
      for (int e = tid; e < ni * P; e += nt) {
        const int r = e / (int)P, q = e % (int)P;
        Ys[r * ldp + q] = d.el[i0 + r] * Ys[r * ldp + q] + dh * xr[(i0 + r) * ldx + q];
      }
    });
    for (int J = 0; J <= I; J++) {
      const int j0 = J * SSD_TB, nj = imin(SSD_TB, L - j0);
      decay_tile(run, d, I, J, Ws, ldw, [&](int i, int j, float dec) {
        return dec * (cbm[(i64)i * p.Qe + j] * d.dtc[j]);
      });
      stage(run, nj, (int)P, xr + j0 * ldx, ldx, Xs, ldp, p.zr(nj));
      run([&](int tid, int nt) {
        prod<2, 4, false, false>(p, tid, nt, ni, (int)P, nj, Ws, ldw, Xs, ldp, Ys, ldp, true);
      });
    }
    float *yr = p.y + ((b * p.T + t0 + i0) * p.H + h) * P;
    run([&](int tid, int nt) {
      for (int e = tid; e < ni * P; e += nt) yr[(e / P) * ldx + e % P] = Ys[e / P * ldp + e % P];
    });
  }
};
