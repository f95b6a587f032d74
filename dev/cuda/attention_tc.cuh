// Tensor-core flash attention (non-causal), forward and backward, as BLOCK PROGRAMS compiled for
// the device and the host — the pattern of ssd_chunk.cuh (DevRun / HostRun and the tile product
// tile_mm come from block_prog.cuh): a block's work is a sequence of steps
// run([&](int tid, int nt) {...}), each ending at a barrier;
// nothing survives a step in registers (the online-softmax state and the O / dQ / dK / dV
// accumulators live in SHARED memory, not in wmma fragments), so the host can run every step
// thread by thread, forwards or backwards, and check the tiling, masking and softmax algebra.
//
// Tiles: ATC_T = 64 query rows per block, key/value tiles of ATC_T rows; headDim D a multiple of
// 16, at most ATC_MAXD. Buffers of ATC_T × D are stored with row stride D + ATC_PAD and score
// tiles with ATC_T + ATC_PAD: a multiple of 4 floats (wmma's ldm rule for f32/tf32) and, for the
// row-per-thread scalar steps below, rows 4 banks apart (rows r..r+7 × 4 column phases hit 32
// distinct banks). Every buffer starts at a multiple of 8 floats (wmma wants 256-bit pointers).
//
// Programs (ATC_NT threads per block on the device; semantics of engine/backend.ts):
//  - AtcFwd, block (bh, query tile): S = Q·Kᵀ (tensor cores) → online softmax in a scalar step
//    (running max m, sum z, rescale of the shared O accumulator) → O += P·V (tensor cores); at the
//    end out = O / z, lse = m + log z.
//  - AtcDq, block (bh, query tile): D_r = Σ dO·O for its rows (written to `drow` for AtcDkv);
//    per key tile S = Q·Kᵀ, dP = dO·Vᵀ, dS = P∘(dP − D) with P = exp(scale·S − lse), dQ += dS·K.
//  - AtcDkv, block (bh, key tile), after AtcDq: per query tile Sᵀ = K·Qᵀ, dPᵀ = V·dOᵀ, Pᵀ and dSᵀ
//    in place, dV += Pᵀ·dO, dK += dSᵀ·Q.
// Ragged tiles (L not a multiple of 64) are zero-padded on load and masked in the scalar steps
// (score → −∞ in the forward max, P = 0 and dS = 0 in the backward), so padded rows and columns
// contribute exactly nothing. No atomics: every output element has one writer.
#pragma once
#include <math.h>
#include <string.h>

#include "block_prog.cuh"  // DevRun, HostRun, HD, imin, tile_mm

#define ATC_T 64       // rows of a query tile and of a key tile
#define ATC_PAD 4      // row padding of shared buffers (floats)
#define ATC_NT 256     // threads per block on the device (8 warps)
#define ATC_SPLIT 4    // threads per row in the forward softmax (interleaved columns)
#define ATC_MAXD 128
#define ATC_LDS (ATC_T + ATC_PAD)

// Sizes, inputs, outputs and scratch of one call. `tf32` matters on the host only: 1 rounds the
// operands of every tile product to tf32 (as cvt.rna.tf32.f32 does on the device), 0 keeps f32.
struct AtcP {
  i64 B, L, H, D, ld, nT;  // nT = ceil(L / ATC_T)
  float scale;
  int tf32;
  const float *q, *k, *v, *o, *lse_in, *dout;
  float *out, *lse, *dq, *dk, *dv, *drow;  // drow [B·H·L]: D_r, AtcDq → AtcDkv
  HD int ldt() const { return (int)D + ATC_PAD; }
  HD i64 tile() const { return (i64)ATC_T * ldt(); }
};

// Rows r < n of a [·, D] head slice (row stride ld) into a tile (stride D + ATC_PAD); rows n..63
// zero (the padding of a ragged tile). When Z is given, also clears that accumulator tile.
template <class X>
HD void atc_stage(const X &run, const float *src, i64 ld, int n, int D, float *dst, float *Z) {
  const int ldt = D + ATC_PAD;
  run([&](int tid, int nt) {
    for (int e = tid; e < ATC_T * D; e += nt) {
      const int r = e / D, c = e % D;
      dst[r * ldt + c] = r < n ? src[(i64)r * ld + c] : 0.f;
      if (Z) Z[r * ldt + c] = 0.f;
    }
  });
}

// ------------------------------------------------------------------ forward

// The running max of row r after this tile's partial maxima (identical wherever recomputed).
HD inline float atc_newmax(const float *m, const float *pm, int r) {
  float x = m[r];
  for (int s = 0; s < ATC_SPLIT; s++) x = fmaxf(x, pm[s * ATC_T + r]);
  return x;
}

struct AtcFwd {
  AtcP p;
  static i64 smem(i64 D) {
    return 4 * (3 * (i64)ATC_T * (D + ATC_PAD) + ATC_T * ATC_LDS + (2 + 2 * ATC_SPLIT) * ATC_T);
  }
  template <class X>
  HD void operator()(const X &run, i64 blk, float *sm) const {
    const i64 bh = blk / p.nT, b = bh / p.H, h = bh % p.H;
    const int i0 = (int)(blk % p.nT) * ATC_T, nq = imin(ATC_T, (int)(p.L - i0));
    const int D = (int)p.D, ldt = p.ldt();
    const float sc = p.scale;
    const bool rnd = p.tf32 != 0;
    float *Qs = sm, *KV = Qs + p.tile(), *Os = KV + p.tile(), *Ss = Os + p.tile();
    float *m = Ss + ATC_T * ATC_LDS, *z = m + ATC_T, *pm = z + ATC_T, *ps = pm + ATC_SPLIT * ATC_T;
    const i64 head = b * p.L * p.ld + h * p.D;  // token t of this (b, h) at head + t·ld
    atc_stage(run, p.q + head + (i64)i0 * p.ld, p.ld, nq, D, Qs, Os);
    run([&](int tid, int nt) {
      for (int r = tid; r < ATC_T; r += nt) m[r] = -INFINITY, z[r] = 0.f;
    });
    for (i64 j0 = 0; j0 < p.L; j0 += ATC_T) {
      const int nk = imin(ATC_T, (int)(p.L - j0));
      atc_stage(run, p.k + head + j0 * p.ld, p.ld, nk, D, KV, nullptr);
      run([&](int tid, int nt) {
        tile_mm<false, true>(tid, nt, ATC_T, ATC_T, D, Qs, ldt, KV, ldt, Ss, ATC_LDS, false, rnd);
      });
      // Partial row maxima of the scaled scores (item (r, s): columns j ≡ s mod ATC_SPLIT, only
      // j < nk: the padded keys are −∞); V replaces K, which no step reads any more.
      run([&](int tid, int nt) {
        for (int e = tid; e < ATC_T * ATC_SPLIT; e += nt) {
          const int r = e / ATC_SPLIT, s = e % ATC_SPLIT;
          float x = -INFINITY;
          for (int j = s; j < nk; j += ATC_SPLIT) x = fmaxf(x, sc * Ss[r * ATC_LDS + j]);
          pm[s * ATC_T + r] = x;
        }
        const float *vs = p.v + head + j0 * p.ld;
        for (int e = tid; e < ATC_T * D; e += nt) {
          const int r = e / D, c = e % D;
          KV[r * ldt + c] = r < nk ? vs[(i64)r * p.ld + c] : 0.f;
        }
      });
      // P = exp(scale·S − m') in place (0 for padded keys), partial row sums, and the rescale of
      // the item's columns of O by exp(m − m') (0 on the first tile, where m = −∞).
      run([&](int tid, int nt) {
        for (int e = tid; e < ATC_T * ATC_SPLIT; e += nt) {
          const int r = e / ATC_SPLIT, s = e % ATC_SPLIT;
          const float mx = atc_newmax(m, pm, r), corr = expf(m[r] - mx);
          float sum = 0.f;
          for (int j = s; j < ATC_T; j += ATC_SPLIT) {
            const float pr = j < nk ? expf(sc * Ss[r * ATC_LDS + j] - mx) : 0.f;
            Ss[r * ATC_LDS + j] = pr;
            sum += pr;
          }
          ps[s * ATC_T + r] = sum;
          for (int c = s; c < D; c += ATC_SPLIT) Os[r * ldt + c] *= corr;
        }
      });
      // O += P·V; then (after the warp's tile work, so whole warps reach the wmma calls) the
      // running sum and max of each row.
      run([&](int tid, int nt) {
        tile_mm<false, false>(tid, nt, ATC_T, D, ATC_T, Ss, ATC_LDS, KV, ldt, Os, ldt, true, rnd);
        for (int r = tid; r < ATC_T; r += nt) {
          const float mx = atc_newmax(m, pm, r);
          float sum = 0.f;
          for (int s = 0; s < ATC_SPLIT; s++) sum += ps[s * ATC_T + r];
          z[r] = z[r] * expf(m[r] - mx) + sum;
          m[r] = mx;
        }
      });
    }
    float *ob = p.out + (b * p.L + i0) * p.H * p.D + h * p.D;
    run([&](int tid, int nt) {
      for (int e = tid; e < nq * D; e += nt) {
        const int r = e / D, c = e % D;
        ob[(i64)r * p.H * p.D + c] = Os[r * ldt + c] / z[r];
      }
      for (int r = tid; r < nq; r += nt) p.lse[bh * p.L + i0 + r] = m[r] + logf(z[r]);
    });
  }
};

// ------------------------------------------------------------------ backward

// Blocks (bh, query tile): D_r into drow, then dQ = scale · Σ_key tiles dS·K.
struct AtcDq {
  AtcP p;
  static i64 smem(i64 D) {
    return 4 * (5 * (i64)ATC_T * (D + ATC_PAD) + 2 * ATC_T * ATC_LDS + 2 * ATC_T);
  }
  template <class X>
  HD void operator()(const X &run, i64 blk, float *sm) const {
    const i64 bh = blk / p.nT, b = bh / p.H, h = bh % p.H;
    const int i0 = (int)(blk % p.nT) * ATC_T, nq = imin(ATC_T, (int)(p.L - i0));
    const int D = (int)p.D, ldt = p.ldt(), lds = ATC_LDS;
    const bool rnd = p.tf32 != 0;
    float *Qs = sm, *Gs = Qs + p.tile(), *Ks = Gs + p.tile(), *Vs = Ks + p.tile();
    float *Acc = Vs + p.tile(), *Ss = Acc + p.tile(), *Ps = Ss + ATC_T * ATC_LDS;
    float *ls = Ps + ATC_T * ATC_LDS, *dr = ls + ATC_T;
    const i64 head = b * p.L * p.ld + h * p.D, dense = (b * p.L + i0) * p.H * p.D + h * p.D;
    atc_stage(run, p.q + head + (i64)i0 * p.ld, p.ld, nq, D, Qs, Acc);
    atc_stage(run, p.dout + dense, p.H * p.D, nq, D, Gs, nullptr);
    run([&](int tid, int nt) {
      for (int r = tid; r < ATC_T; r += nt) {
        float s = 0.f;
        if (r < nq) {
          const float *orow = p.o + dense + (i64)r * p.H * p.D;
          for (int c = 0; c < D; c++) s += Gs[r * ldt + c] * orow[c];
          p.drow[bh * p.L + i0 + r] = s;
        }
        dr[r] = s;
        ls[r] = r < nq ? p.lse_in[bh * p.L + i0 + r] : 0.f;
      }
    });
    for (i64 j0 = 0; j0 < p.L; j0 += ATC_T) {
      const int nk = imin(ATC_T, (int)(p.L - j0));
      atc_stage(run, p.k + head + j0 * p.ld, p.ld, nk, D, Ks, nullptr);
      atc_stage(run, p.v + head + j0 * p.ld, p.ld, nk, D, Vs, nullptr);
      run([&](int tid, int nt) {
        tile_mm<false, true>(tid, nt, ATC_T, ATC_T, D, Qs, ldt, Ks, ldt, Ss, lds, false, rnd);
        tile_mm<false, true>(tid, nt, ATC_T, ATC_T, D, Gs, ldt, Vs, ldt, Ps, lds, false, rnd);
      });
      run([&](int tid, int nt) {  // dS = P∘(dP − D_i), zero outside the nq × nk live block
        for (int e = tid; e < ATC_T * ATC_T; e += nt) {
          const int i = e / ATC_T, j = e % ATC_T, x = i * lds + j;
          const float pr = i < nq && j < nk ? expf(p.scale * Ss[x] - ls[i]) : 0.f;
          Ss[x] = pr * (Ps[x] - dr[i]);
        }
      });
      run([&](int tid, int nt) {
        tile_mm<false, false>(tid, nt, ATC_T, D, ATC_T, Ss, lds, Ks, ldt, Acc, ldt, true, rnd);
      });
    }
    float *dq = p.dq + head + (i64)i0 * p.ld;
    run([&](int tid, int nt) {
      for (int e = tid; e < nq * D; e += nt)
        dq[(i64)(e / D) * p.ld + e % D] = p.scale * Acc[(e / D) * ldt + e % D];
    });
  }
};

// Blocks (bh, key tile), after AtcDq (reads drow): dV = Σ Pᵀ·dO, dK = scale · Σ dSᵀ·Q over the
// query tiles, with Pᵀ, dSᵀ [key j][query i] computed directly as K·Qᵀ, V·dOᵀ.
struct AtcDkv {
  AtcP p;
  static i64 smem(i64 D) {
    return 4 * (6 * (i64)ATC_T * (D + ATC_PAD) + 2 * ATC_T * ATC_LDS + 2 * ATC_T);
  }
  template <class X>
  HD void operator()(const X &run, i64 blk, float *sm) const {
    const i64 bh = blk / p.nT, b = bh / p.H, h = bh % p.H;
    const int j0 = (int)(blk % p.nT) * ATC_T, nk = imin(ATC_T, (int)(p.L - j0));
    const int D = (int)p.D, ldt = p.ldt(), lds = ATC_LDS;
    const bool rnd = p.tf32 != 0;
    float *Ks = sm, *Vs = Ks + p.tile(), *dK = Vs + p.tile(), *dV = dK + p.tile();
    float *Qs = dV + p.tile(), *Gs = Qs + p.tile(), *St = Gs + p.tile();
    float *Pt = St + ATC_T * ATC_LDS, *ls = Pt + ATC_T * ATC_LDS, *dr = ls + ATC_T;
    const i64 head = b * p.L * p.ld + h * p.D;
    atc_stage(run, p.k + head + (i64)j0 * p.ld, p.ld, nk, D, Ks, dK);
    atc_stage(run, p.v + head + (i64)j0 * p.ld, p.ld, nk, D, Vs, dV);
    for (i64 i0 = 0; i0 < p.L; i0 += ATC_T) {
      const int nq = imin(ATC_T, (int)(p.L - i0));
      atc_stage(run, p.q + head + i0 * p.ld, p.ld, nq, D, Qs, nullptr);
      atc_stage(run, p.dout + (b * p.L + i0) * p.H * p.D + h * p.D, p.H * p.D, nq, D, Gs, nullptr);
      run([&](int tid, int nt) {
        for (int i = tid; i < ATC_T; i += nt) {
          ls[i] = i < nq ? p.lse_in[bh * p.L + i0 + i] : 0.f;
          dr[i] = i < nq ? p.drow[bh * p.L + i0 + i] : 0.f;
        }
      });
      run([&](int tid, int nt) {
        tile_mm<false, true>(tid, nt, ATC_T, ATC_T, D, Ks, ldt, Qs, ldt, St, lds, false, rnd);
        tile_mm<false, true>(tid, nt, ATC_T, ATC_T, D, Vs, ldt, Gs, ldt, Pt, lds, false, rnd);
      });
      run([&](int tid, int nt) {  // Pᵀ in St, dSᵀ in Pt; zero outside the nk × nq live block
        for (int e = tid; e < ATC_T * ATC_T; e += nt) {
          const int j = e / ATC_T, i = e % ATC_T, x = j * lds + i;
          const float pr = i < nq && j < nk ? expf(p.scale * St[x] - ls[i]) : 0.f;
          St[x] = pr;
          Pt[x] = pr * (Pt[x] - dr[i]);
        }
      });
      run([&](int tid, int nt) {
        tile_mm<false, false>(tid, nt, ATC_T, D, ATC_T, St, lds, Gs, ldt, dV, ldt, true, rnd);
        tile_mm<false, false>(tid, nt, ATC_T, D, ATC_T, Pt, lds, Qs, ldt, dK, ldt, true, rnd);
      });
    }
    float *dk = p.dk + head + (i64)j0 * p.ld, *dv = p.dv + head + (i64)j0 * p.ld;
    run([&](int tid, int nt) {
      for (int e = tid; e < nk * D; e += nt) {
        const int r = e / D, c = e % D;
        dk[(i64)r * p.ld + c] = p.scale * dK[r * ldt + c];
        dv[(i64)r * p.ld + c] = dV[r * ldt + c];
      }
    });
  }
};
