/**
 * `ref` backend, ssm family: Mamba-2 causal depthwise conv1d and the SSD scan (the sequential
 * recurrence in float64; its backward the exact adjoint), each with its backward.
 */
import type { SsdDims } from "../../backend.ts";
import type { FamilyMethods } from "../../kernels.ts";
import { type F, f, type RefContext } from "./util.ts";

/** The ssm kernels of the ref backend. */
export function refSsm(_ctx: RefContext): FamilyMethods<"ssm"> {
  return {
    // Mamba-2: the conv as plain loops, the scan as the sequential recurrence (rung 1 of the
    // ladder; see ssdRecurrence below).
    conv1dCausal(batch, seq, ch, k, x, w, bias, out) {
      const X = f(x), W = f(w), Bv = f(bias), O = f(out);
      for (let b = 0; b < batch; b++) {
        for (let t = 0; t < seq; t++) {
          for (let c = 0; c < ch; c++) {
            let acc = Bv[c];
            for (let j = Math.max(0, k - 1 - t); j < k; j++) {
              acc += W[c * k + j] * X[(b * seq + t - k + 1 + j) * ch + c];
            }
            O[(b * seq + t) * ch + c] = acc;
          }
        }
      }
    },
    conv1dCausalBackward(batch, seq, ch, k, x, w, dy, dx, dw, dbias) {
      const X = f(x), W = f(w), DY = f(dy), DX = f(dx), DW = f(dw), DB = f(dbias);
      for (let b = 0; b < batch; b++) {
        for (let s = 0; s < seq; s++) {
          for (let c = 0; c < ch; c++) {
            let acc = 0;
            for (let j = 0; j < k; j++) {
              const t = s + k - 1 - j;
              if (t < seq) acc += W[c * k + j] * DY[(b * seq + t) * ch + c];
            }
            DX[(b * seq + s) * ch + c] = acc;
          }
        }
      }
      for (let c = 0; c < ch; c++) {
        let bsum = 0;
        for (let b = 0; b < batch; b++) {
          for (let t = 0; t < seq; t++) bsum += DY[(b * seq + t) * ch + c];
        }
        DB[c] = bsum;
        for (let j = 0; j < k; j++) {
          let acc = 0;
          for (let b = 0; b < batch; b++) {
            for (let t = Math.max(0, k - 1 - j); t < seq; t++) {
              acc += DY[(b * seq + t) * ch + c] * X[(b * seq + t - k + 1 + j) * ch + c];
            }
          }
          DW[c * k + j] = acc;
        }
      }
    },
    ssdScan(dims, x, dt, A, Bm, Cm, D, init, y, finalState) {
      ssdRecurrence(
        dims,
        { x: f(x), dt: f(dt), A: f(A), B: f(Bm), C: f(Cm), D: f(D) },
        init && f(init),
        {
          y: f(y),
          fin: finalState && f(finalState),
        },
      );
    },
    ssdScanBackward(dims, x, dt, A, Bm, Cm, D, init, dy, dFinal, dx, ddt, dA, dBm, dCm, dD, dInit) {
      ssdAdjoint(
        dims,
        { x: f(x), dt: f(dt), A: f(A), B: f(Bm), C: f(Cm), D: f(D) },
        init && f(init),
        f(dy),
        dFinal && f(dFinal),
        {
          dx: f(dx),
          ddt: f(ddt),
          dA: f(dA),
          dB: f(dBm),
          dC: f(dCm),
          dD: f(dD),
          dInit: dInit && f(dInit),
        },
      );
    },
  };
}

// ------------------------------------------------------------------ Mamba-2 scan (reference)

interface SsdInputs {
  x: F;
  dt: F;
  A: F;
  B: F;
  C: F;
  D: F;
}

/**
 * The SSD recurrence S_t = exp(Δ_t·A)·S_{t−1} + Δ_t·x_t⊗B_t for one (batch, head), in float64.
 * Calls `step(t, S)` after each update with the state S_t (P × N, row-major), and returns the final
 * state.
 */
function runHead(
  dims: SsdDims,
  inp: SsdInputs,
  init: F | null,
  b: number,
  h: number,
  step: (t: number, S: Float64Array) => void,
): Float64Array {
  const { seq, heads: H, headDim: P, groups: G, dState: N } = dims;
  const g = Math.floor(h / (H / G));
  const S = new Float64Array(P * N);
  if (init) { for (let i = 0; i < P * N; i++) S[i] = init[(b * H + h) * P * N + i]; }
  const av = inp.A[h];
  for (let t = 0; t < seq; t++) {
    const d = inp.dt[(b * seq + t) * H + h], decay = Math.exp(d * av);
    const xo = ((b * seq + t) * H + h) * P, bo = ((b * seq + t) * G + g) * N;
    for (let p = 0; p < P; p++) {
      const xv = d * inp.x[xo + p];
      for (let n = 0; n < N; n++) S[p * N + n] = decay * S[p * N + n] + xv * inp.B[bo + n];
    }
    step(t, S);
  }
  return S;
}

/** Forward of the reference scan: y and the final state. */
function ssdRecurrence(
  dims: SsdDims,
  inp: SsdInputs,
  init: F | null,
  out: { y: F; fin: F | null },
): void {
  const { batch, seq, heads: H, headDim: P, groups: G, dState: N } = dims;
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / (H / G));
      const S = runHead(dims, inp, init, b, h, (t, S) => {
        const xo = ((b * seq + t) * H + h) * P, co = ((b * seq + t) * G + g) * N;
        for (let p = 0; p < P; p++) {
          let acc = inp.D[h] * inp.x[xo + p];
          for (let n = 0; n < N; n++) acc += S[p * N + n] * inp.C[co + n];
          out.y[xo + p] = acc;
        }
      });
      if (out.fin) out.fin.set(S, (b * H + h) * P * N);
    }
  }
}

/**
 * Backward of the reference scan: the exact adjoint of the recurrence (a reverse scan on
 * S̄ = ∂L/∂S, with S̄ ← exp(a_t)·S̄ at each step and da_t = exp(a_t)·⟨S̄_t, S_{t−1}⟩). Keeps one
 * head's states S_{−1..T−1} at a time (T·P·N float64s), then runs the reverse scan.
 */
function ssdAdjoint(
  dims: SsdDims,
  inp: SsdInputs,
  init: F | null,
  dy: F,
  dFinal: F | null,
  out: { dx: F; ddt: F; dA: F; dB: F; dC: F; dD: F; dInit: F | null },
): void {
  const { batch, seq, heads: H, headDim: P, groups: G, dState: N } = dims;
  const PN = P * N;
  out.dB.fill(0, 0, batch * seq * G * N);
  out.dC.fill(0, 0, batch * seq * G * N);
  const dA = new Float64Array(H), dD = new Float64Array(H);
  const states = new Float64Array((seq + 1) * PN);
  const Sb = new Float64Array(PN);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / (H / G)), av = inp.A[h], dh = inp.D[h];
      if (init) states.set(init.subarray((b * H + h) * PN, (b * H + h + 1) * PN), 0);
      else states.fill(0, 0, PN);
      runHead(dims, inp, init, b, h, (t, S) => states.set(S, (t + 1) * PN));
      if (dFinal) Sb.set(dFinal.subarray((b * H + h) * PN, (b * H + h + 1) * PN));
      else Sb.fill(0);
      for (let t = seq - 1; t >= 0; t--) {
        const d = inp.dt[(b * seq + t) * H + h], decay = Math.exp(d * av);
        const xo = ((b * seq + t) * H + h) * P, bo = ((b * seq + t) * G + g) * N;
        const cur = (t + 1) * PN, prev = t * PN;
        for (let p = 0; p < P; p++) {
          const gy = dy[xo + p];
          for (let n = 0; n < N; n++) Sb[p * N + n] += gy * inp.C[bo + n];
        }
        for (let n = 0; n < N; n++) {
          let acc = 0, accB = 0;
          for (let p = 0; p < P; p++) {
            acc += states[cur + p * N + n] * dy[xo + p];
            accB += Sb[p * N + n] * inp.x[xo + p];
          }
          out.dC[bo + n] += acc;
          out.dB[bo + n] += d * accB;
        }
        let ddt = 0, dd = 0, inner = 0;
        for (let p = 0; p < P; p++) {
          let u = 0;
          for (let n = 0; n < N; n++) {
            u += Sb[p * N + n] * inp.B[bo + n];
            inner += Sb[p * N + n] * states[prev + p * N + n];
          }
          out.dx[xo + p] = d * u + dh * dy[xo + p];
          ddt += inp.x[xo + p] * u;
          dd += dy[xo + p] * inp.x[xo + p];
        }
        const da = decay * inner;
        out.ddt[(b * seq + t) * H + h] = ddt + av * da;
        dA[h] += d * da;
        dD[h] += dd;
        for (let i = 0; i < PN; i++) Sb[i] *= decay;
      }
      if (out.dInit) out.dInit.set(Sb, (b * H + h) * PN);
    }
  }
  for (let h = 0; h < H; h++) {
    out.dA[h] = dA[h];
    out.dD[h] = dD[h];
  }
}
