// Backward block programs of the chunked SSD (organised like the Triton backward of
// state-spaces/mamba; conventions: ssd_chunk.cuh).
// Pass A is StateProg mode 1; the states are recomputed by StateProg mode 0 + PassProg; then
// PassBProg (reverse state passing), CbProg, PassCProg (everything inside a chunk) and
// HeadSumProg (dA, dD in a fixed order). Follows trm_ssd_scan_backward of engine/native/ssd.c.
#pragma once
#include "ssd_chunk.cuh"

// Blocks (b·h): R = dFinal or 0; for c = nc−1 … 0: glt_c = exp(Λtot_c)·⟨R, Hst[c]⟩ (f64, fixed
// tree order), ds[c] ← R (dS_c, the gradient of the state leaving chunk c), R ← dHout_c +
// exp(Λtot_c)·R; dInit = R. R lives in rbuf.
struct PassBProg {
  SsdP p;
  static i64 smem(const SsdP &) { return 8 * SSD_RED; }
  template <class X>
  HD void operator()(const X &run, i64 bh, float *sm) const {
    const i64 PN = p.P * p.N;
    double *red = (double *)sm;
    float *R = p.rbuf + bh * PN;
    run([&](int tid, int nt) {
      for (i64 e = tid; e < PN; e += nt) R[e] = p.dfin ? p.dfin[bh * PN + e] : 0.f;
    });
    for (i64 c = p.nc - 1; c >= 0; c--) {
      const i64 o = (bh * p.nc + c) * PN;
      const float el = expf(fminf(p.ltot[bh * p.nc + c], 0.f));
      run([&](int tid, int nt) {
        double dot = 0.0;
        for (i64 e = tid; e < PN; e += nt) {
          const float r = R[e], dh = p.ds[o + e];
          dot += (double)r * (double)p.st[o + e];
          p.ds[o + e] = r;
          R[e] = dh + el * r;
        }
        red[tid] = dot;
      });
      for (int s = SSD_RED / 2; s > 0; s >>= 1) {  // tree over nt ≤ SSD_RED partial sums
        run([&](int tid, int nt) {
          if (tid < s && tid + s < nt) red[tid] += red[tid + s];
        });
      }
      run([&](int tid, int) {
        if (tid == 0) p.glt[bh * p.nc + c] = (float)(el * red[0]);
      });
    }
    if (p.dinit) {
      run([&](int tid, int nt) {
        for (i64 e = tid; e < PN; e += nt) p.dinit[bh * PN + e] = R[e];
      });
    }
  }
};

// Blocks (b, g, c): pass C for every head of the group in turn (ascending), then the CB part of
// dB and dC. Owns the chunk's rows of dBm, dCm (accumulated in place) and its dcb region. Under
// tc the products into dB, dC land in a shared tile first (T6, or TO: tc only) and are added
// from there.
struct PassCProg {
  SsdP p;
  static i64 smem(const SsdP &p) {
    return 4 * (p.al(dec_floats(p.Qe)) + p.al(6 * p.Qe) + (p.tc ? 3 : 2) * SSD_TB * p.ldn() +
                4 * SSD_TB * p.ldp() + 2 * SSD_TB * p.ldw());
  }
  template <class X>
  HD void operator()(const X &run, i64 blk, float *sm) const {
    const i64 c = blk % p.nc, g = blk / p.nc % p.G, b = blk / p.nc / p.G;
    const i64 P = p.P, N = p.N, PN = P * N, Qe = p.Qe, t0 = c * p.Q;
    const i64 ldx = p.H * P, ldb = p.G * N, nst = p.B * p.H * p.nc;
    const int L = p.len(c), nTL = (L + SSD_TB - 1) / SSD_TB;
    const int ldp = p.ldp(), ldn = p.ldn(), ldw = p.ldw(), n = (int)N, np = (int)P;
    const float *cbm = p.cb + blk * Qe * Qe;
    float *dcbm = p.dcb + blk * Qe * Qe;
    const i64 brow = ((b * p.T + t0) * p.G + g) * N;  // row i of B, C, dB, dC: brow + i·ldb
    Dec d = dec_at(sm, Qe);
    float *tau = sm + p.al(dec_floats(Qe)), *rho = tau + Qe, *rpi = rho + Qe, *xg = rpi + Qe;
    float *dsr = xg + Qe, *dav = dsr + Qe;
    float *T1 = tau + p.al(6 * Qe), *T6 = T1 + SSD_TB * ldn, *T2 = T6 + SSD_TB * ldn;
    float *T3 = T2 + SSD_TB * ldp, *T4 = T3 + SSD_TB * ldp, *T7 = T4 + SSD_TB * ldp;
    float *T5 = T7 + SSD_TB * ldp, *T8 = T5 + SSD_TB * ldw, *TO = T8 + SSD_TB * ldw;

    run([&](int tid, int nt) {
      for (i64 e = tid; e < L * N; e += nt) {
        p.dBm[brow + e / N * ldb + e % N] = 0.f;
        p.dCm[brow + e / N * ldb + e % N] = 0.f;
      }
      for (i64 e = tid; e < (i64)L * L; e += nt) dcbm[e / L * Qe + e % L] = 0.f;
    });
    for (i64 h = g * p.hpg; h < (g + 1) * p.hpg; h++) {
      const i64 bh = b * p.H + h;
      const float *dS = p.ds + (bh * p.nc + c) * PN, *Hs = p.st + (bh * p.nc + c) * PN;
      const float *xr = p.x + ((b * p.T + t0) * p.H + h) * P;
      const float *dyr = p.dy + ((b * p.T + t0) * p.H + h) * P;
      float *dxr = p.dx + ((b * p.T + t0) * p.H + h) * P;
      const float dh = p.D[h];
      decay_setup(run, p, b, h, t0, L, d);

      // gx̄_j = ej·(dS_c·B_j) + Σ_{i≥j} CB_ij·decay(i, j)·dy_i; τ_j; dx; x·gx̄ (xg); dy·x (dsr)
      for (int J = 0; J < nTL; J++) {
        const int j0 = J * SSD_TB, nj = imin(SSD_TB, L - j0);
        stage(run, nj, n, p.Bm + brow + j0 * ldb, ldb, T1, ldn, p.zr(nj));
        stage(run, nj, np, xr + j0 * ldx, ldx, T2, ldp, p.zr(nj));
        stage(run, nj, np, dyr + j0 * ldx, ldx, T3, ldp, p.zr(nj));
        run([&](int tid, int nt) {  // u_j[p] = Σ_n B_j[n]·dS[p, n]
          prod<2, 4, false, true>(p, tid, nt, nj, np, n, T1, ldn, dS, n, T4, ldp, false);
        });
        run([&](int tid, int nt) {
          for (int r = tid; r < nj; r += nt) {
            const int j = j0 + r;
            float s = 0.f;
            for (int q = 0; q < P; q++) s += T2[r * ldp + q] * T4[r * ldp + q];
            tau[j] = d.ej[j] * d.dtc[j] * s;
            for (int q = 0; q < P; q++) T4[r * ldp + q] *= d.ej[j];
          }
        });
        for (int I = J; I < nTL; I++) {
          const int i0 = I * SSD_TB, ni = imin(SSD_TB, L - i0);
          decay_tile(run, d, I, J, T5, ldw, [&](int i, int j, float dec) {
            return dec * cbm[(i64)i * Qe + j];
          });
          stage(run, ni, np, dyr + i0 * ldx, ldx, T7, ldp, p.zr(ni));
          run([&](int tid, int nt) {  // gx̄_J += Mdecᵀ·dy_I
            prod<2, 4, true, false>(p, tid, nt, nj, np, ni, T5, ldw, T7, ldp, T4, ldp, true);
          });
        }
        run([&](int tid, int nt) {
          for (int e = tid; e < nj * P; e += nt) {
            const int r = e / np, q = e % np;
            dxr[(j0 + r) * ldx + q] = d.dtc[j0 + r] * T4[r * ldp + q] + dh * T3[r * ldp + q];
          }
          for (int r = tid; r < nj; r += nt) {
            float s = 0.f, sd = 0.f;
            for (int q = 0; q < P; q++) {
              s += T2[r * ldp + q] * T4[r * ldp + q];
              sd += T3[r * ldp + q] * T2[r * ldp + q];
            }
            xg[j0 + r] = s, dsr[j0 + r] = sd;
          }
        });
      }

      // dM = dy·xᵀ; q = dM·decay·Δ_j into dCB; π = q·CB; rpi_k = Σ_{i≥k} Σ_{j<k} π_ij
      run([&](int tid, int nt) {
        for (int k = tid; k < L; k += nt) rpi[k] = 0.f;
      });
      for (int I = 0; I < nTL; I++) {
        const int i0 = I * SSD_TB, ni = imin(SSD_TB, L - i0);
        stage(run, ni, np, dyr + i0 * ldx, ldx, T7, ldp, p.zr(ni));
        for (int J = 0; J <= I; J++) {
          const int j0 = J * SSD_TB, nj = imin(SSD_TB, L - j0);
          stage(run, nj, np, xr + j0 * ldx, ldx, T2, ldp, p.zr(nj));
          run([&](int tid, int nt) {
            prod<2, 2, false, true>(p, tid, nt, ni, nj, np, T7, ldp, T2, ldp, T5, ldw, false);
          });
          decay_tile(run, d, I, J, T8, ldw, [&](int, int j, float dec) { return dec * d.dtc[j]; });
          run([&](int tid, int nt) {
            for (int e = tid; e < SSD_TB * SSD_TB; e += nt) {
              const int r = e / SSD_TB, s = e % SSD_TB, i = i0 + r, j = j0 + s, x = r * ldw + s;
              float pi = 0.f;
              if (r < ni && s < nj && j <= i) {
                const float q = T5[x] * T8[x];
                dcbm[(i64)i * Qe + j] += q;
                pi = q * cbm[(i64)i * Qe + j];
              }
              T5[x] = pi;
            }
          });
          run([&](int tid, int nt) {  // column sums from the bottom up, in place
            for (int s = tid; s < SSD_TB; s += nt)
              for (int r = SSD_TB - 2; r >= 0; r--) T5[r * ldw + s] += T5[(r + 1) * ldw + s];
          });
          run([&](int tid, int nt) {
            for (int k = tid; k < L; k += nt) {
              const int K = k / SSD_TB;
              float s = 0.f;
              if (K == I) {  // Σ_{j<k} Σ_{i≥k} π_ij over this tile pair
                for (int jj = 0; jj < nj && j0 + jj < k; jj++) s += T5[(k - i0) * ldw + jj];
              } else if (K == J) {  // I > J: Σ_{j<k} (whole column sums)
                for (int jj = 0; jj < nj && j0 + jj < k; jj++) s += T5[jj];
              } else if (K > J && K < I) {
                for (int jj = 0; jj < nj; jj++) s += T5[jj];
              } else {
                continue;
              }
              rpi[k] += s;
            }
          });
        }
      }

      // dC_i += el_i·Hst·dy_i (dco); ρ_i = dco_i·C_i
      for (int I = 0; I < nTL; I++) {
        const int i0 = I * SSD_TB, ni = imin(SSD_TB, L - i0);
        stage(run, ni, np, dyr + i0 * ldx, ldx, T7, ldp, p.zr(ni));
        stage(run, ni, n, p.Cm + brow + i0 * ldb, ldb, T1, ldn, p.zr(ni));
        run([&](int tid, int nt) {
          prod<4, 4, false, false>(p, tid, nt, ni, n, np, T7, ldp, Hs, n, T6, ldn, false);
        });
        run([&](int tid, int nt) {
          for (int e = tid; e < ni * n; e += nt) T6[e / n * ldn + e % n] *= d.el[i0 + e / n];
        });
        run([&](int tid, int nt) {
          for (int r = tid; r < ni; r += nt) {
            float s = 0.f;
            for (int k = 0; k < n; k++) s += T6[r * ldn + k] * T1[r * ldn + k];
            rho[i0 + r] = s;
          }
          for (int e = tid; e < ni * n; e += nt)
            p.dCm[brow + (i0 + e / n) * ldb + e % n] += T6[e / n * ldn + e % n];
        });
      }

      // da_k = Σ_{j<k} τ_j + (glt + Σ_{i≥k} ρ_i) + rpi_k; dΔ, and dA, dD of this (b, c, h)
      const float glt = p.glt[bh * p.nc + c];
      run([&](int tid, int nt) {
        for (int k = tid; k < L; k += nt) {
          float pre = 0.f, suf = glt;
          for (int j = 0; j < k; j++) pre += tau[j];
          for (int i = L - 1; i >= k; i--) suf += rho[i];
          const float dak = pre + suf + rpi[k];
          p.ddt[(b * p.T + t0 + k) * p.H + h] = xg[k] + d.av * dak;
          dav[k] = dak;
        }
      });
      run([&](int tid, int) {
        if (tid != 0) return;
        double sa = 0.0, sd = 0.0;
        for (int k = 0; k < L; k++) {
          sa += (double)d.dtc[k] * (double)dav[k];
          sd += dsr[k];
        }
        p.part[(b * p.nc + c) * p.H + h] = sa;
        p.part[nst + (b * p.nc + c) * p.H + h] = sd;
      });

      // dB_j += ej·Δ_j·dS_cᵀ x_j
      for (int J = 0; J < nTL; J++) {
        const int j0 = J * SSD_TB, nj = imin(SSD_TB, L - j0);
        run([&](int tid, int nt) {
          for (int e = tid; e < p.zr(nj) * np; e += nt) {
            const int r = e / np, j = j0 + r;
            T2[r * ldp + e % np] = r < nj ? d.ej[j] * d.dtc[j] * xr[(i64)j * ldx + e % np] : 0.f;
          }
        });
        if (p.tc) {  // into T6 (free here), then added
          run([&](int tid, int nt) {
            prod<4, 4, false, false>(p, tid, nt, nj, n, np, T2, ldp, dS, n, T6, ldn, false);
          });
          add_tile(run, nj, n, T6, ldn, p.dBm + brow + j0 * ldb, ldb);
        } else {
          run([&](int tid, int nt) {
            mm<4, 4>(tid, nt, nj, n, np, T2, P, 1, dS, N, 1, p.dBm + brow + j0 * ldb, ldb, true);
          });
        }
      }
    }

    // dC_i += Σ_{j≤i} dCB_ij·B_j; dB_j += Σ_{i≥j} dCB_ij·C_i (dCB is 0 above the diagonal)
    for (int I = 0; I < nTL; I++) {
      const int i0 = I * SSD_TB, ni = imin(SSD_TB, L - i0);
      for (int J = 0; J <= I; J++) {
        const int j0 = J * SSD_TB, nj = imin(SSD_TB, L - j0);
        // dCB tile: packed (row stride nj) for the scalar products, padded and zero-filled
        // to TB × TB under tc (both of its dims are summed over in one of the products)
        stage(run, ni, nj, dcbm + i0 * Qe + j0, Qe, T5, p.tc ? ldw : nj, p.zr(ni), p.zr(nj));
        stage(run, nj, n, p.Bm + brow + j0 * ldb, ldb, T1, ldn, p.zr(nj));
        stage(run, ni, n, p.Cm + brow + i0 * ldb, ldb, T6, ldn, p.zr(ni));
        float *dC = p.dCm + brow + i0 * ldb, *dB = p.dBm + brow + j0 * ldb;
        if (p.tc) {
          run([&](int tid, int nt) {
            prod<4, 4, false, false>(p, tid, nt, ni, n, nj, T5, ldw, T1, ldn, TO, ldn, false);
          });
          add_tile(run, ni, n, TO, ldn, dC, ldb);
          run([&](int tid, int nt) {
            prod<4, 4, true, false>(p, tid, nt, nj, n, ni, T5, ldw, T6, ldn, TO, ldn, false);
          });
          add_tile(run, nj, n, TO, ldn, dB, ldb);
        } else {
          run([&](int tid, int nt) {
            mm<4, 4>(tid, nt, ni, n, nj, T5, nj, 1, T1, N, 1, dC, ldb, true);
          });
          run([&](int tid, int nt) {
            mm<4, 4>(tid, nt, nj, n, ni, T5, 1, nj, T6, N, 1, dB, ldb, true);
          });
        }
      }
    }
  }
};

// One block: dA[h] = Σ_{b, c} part (ascending b·nc + c), likewise dD.
struct HeadSumProg {
  SsdP p;
  template <class X>
  HD void operator()(const X &run, i64, float *) const {
    run([&](int tid, int nt) {
      const i64 nst = p.B * p.H * p.nc;
      for (i64 h = tid; h < p.H; h += nt) {
        double sa = 0.0, sd = 0.0;
        for (i64 i = 0; i < p.B * p.nc; i++) {
          sa += p.part[i * p.H + h];
          sd += p.part[nst + i * p.H + h];
        }
        p.dA[h] = (float)sa;
        p.dD[h] = (float)sd;
      }
    });
  }
};
