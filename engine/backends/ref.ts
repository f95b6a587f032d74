/**
 * `ref` backend: plain TypeScript scalar loops, float64 arithmetic and accumulation.
 *
 * The oracle every other backend is tested against, and the automatic fallback when native code
 * cannot be built. With `precision: "f64"` its "f32" buffers are Float64Arrays, so whole
 * computations run in float64 — what finite-difference gradient checks need.
 */
import type { Backend, Buf, DType, HostArray, SsdDims, UnaryOp } from "../backend.ts";
import { gatedGroups } from "./checks.ts";
import { withKernelChecks } from "../kernels.ts";

type F = Float32Array | Float64Array;
type I = Int32Array;

export interface RefOptions {
  /** Storage of "f32" buffers: float32 (default, matches other backends) or float64. */
  precision?: "f32" | "f64";
}

function softplus(x: number): number {
  return x > 20 ? x : Math.log1p(Math.exp(x));
}
function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}
/** TRM's stable-max transform s(x). */
function smax(x: number): number {
  return x < 0 ? 1 / (1 - x) : x + 1;
}
/** ds/dx of the stable-max transform. */
function smaxGrad(x: number): number {
  return x < 0 ? 1 / ((1 - x) * (1 - x)) : 1;
}

/** Creates the reference backend. */
export function createRefBackend(opts: RefOptions = {}): Backend {
  const precision = opts.precision ?? "f32";
  const Arr = precision === "f64" ? Float64Array : Float32Array;
  const f = (b: Buf) => b as F;
  const i = (b: Buf) => b as I;

  const be: Backend = {
    name: "ref",
    info: { backend: "ref", precision },

    alloc(dtype: DType, n: number): Buf {
      if (!Number.isInteger(n) || n < 0) throw new RangeError(`alloc: bad length: ${n}`);
      return dtype === "i32" ? new Int32Array(n) : new Arr(n);
    },
    free(_buf: Buf) {},
    view(buf: Buf, offset: number, n: number): Buf {
      if (offset < 0 || offset + n > buf.length) {
        throw new RangeError(`view: [${offset}, ${offset + n}) outside buffer of ${buf.length}`);
      }
      return (buf as F | I).subarray(offset, offset + n);
    },
    upload(dst: Buf, src: ArrayLike<number>) {
      if (src.length !== dst.length) {
        throw new RangeError(`upload: length ${src.length} into buffer of ${dst.length}`);
      }
      (dst as F | I).set(src);
    },
    download(src: Buf): HostArray {
      return (src as F | I).slice();
    },
    copy(n, src, dst) {
      (dst as F | I).set((src as F | I).subarray(0, n));
    },
    copy2d(rows, cols, src, lds, dst, ldd) {
      const S = src as F | I, D = dst as F | I;
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) D[r * ldd + c] = S[r * lds + c];
      }
    },
    fill(n, value, dst) {
      (dst as F | I).fill(value, 0, n);
    },
    sync() {},

    gemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, batch, sA, sB, sC) {
      const A = f(a), B = f(b), C = f(c);
      for (let p = 0; p < batch; p++) {
        const oa = p * sA, ob = p * sB, oc = p * sC;
        for (let r = 0; r < m; r++) {
          for (let col = 0; col < n; col++) {
            let acc = 0;
            for (let q = 0; q < k; q++) {
              const av = tA ? A[oa + q * lda + r] : A[oa + r * lda + q];
              const bv = tB ? B[ob + col * ldb + q] : B[ob + q * ldb + col];
              acc += av * bv;
            }
            const ci = oc + r * ldc + col;
            C[ci] = beta === 0 ? alpha * acc : alpha * acc + beta * C[ci];
          }
        }
      }
    },

    axpby(n, alpha, x, beta, y, out) {
      const X = f(x), Y = f(y), O = f(out);
      for (let j = 0; j < n; j++) O[j] = alpha * X[j] + beta * Y[j];
    },
    mul(n, x, y, out) {
      const X = f(x), Y = f(y), O = f(out);
      for (let j = 0; j < n; j++) O[j] = X[j] * Y[j];
    },
    addRowVector(rows, cols, x, bias, out) {
      const X = f(x), Bv = f(bias), O = f(out);
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) O[r * cols + c] = X[r * cols + c] + Bv[c];
      }
    },
    sumRows(rows, cols, x, out) {
      const X = f(x), O = f(out);
      for (let c = 0; c < cols; c++) {
        let acc = 0;
        for (let r = 0; r < rows; r++) acc += X[r * cols + c];
        O[c] = acc;
      }
    },
    unary(op: UnaryOp, n, x, out) {
      const X = f(x), O = f(out);
      for (let j = 0; j < n; j++) {
        const v = X[j];
        O[j] = op === "silu"
          ? v * sigmoid(v)
          : op === "softplus"
          ? softplus(v)
          : op === "exp"
          ? Math.exp(v)
          : sigmoid(v);
      }
    },
    unaryBackward(op: UnaryOp, n, x, dy, dx) {
      const X = f(x), DY = f(dy), DX = f(dx);
      for (let j = 0; j < n; j++) {
        const v = X[j];
        let d: number;
        if (op === "silu") {
          const s = sigmoid(v);
          d = s * (1 + v * (1 - s));
        } else if (op === "softplus") d = v > 20 ? 1 : sigmoid(v);
        else if (op === "exp") d = Math.exp(v);
        else {
          const s = sigmoid(v);
          d = s * (1 - s);
        }
        DX[j] = d * DY[j];
      }
    },
    swiglu(rows, inter, gu, out) {
      const G = f(gu), O = f(out);
      for (let r = 0; r < rows; r++) {
        for (let j = 0; j < inter; j++) {
          const g = G[r * 2 * inter + j], u = G[r * 2 * inter + inter + j];
          O[r * inter + j] = g * sigmoid(g) * u;
        }
      }
    },
    swigluBackward(rows, inter, gu, dy, dgu, out) {
      const G = f(gu), DY = f(dy), D = f(dgu), O = out ? f(out) : null;
      for (let r = 0; r < rows; r++) {
        for (let j = 0; j < inter; j++) {
          const gi = r * 2 * inter + j, ui = gi + inter;
          const g = G[gi], u = G[ui], d = DY[r * inter + j], s = sigmoid(g);
          D[gi] = d * u * s * (1 + g * (1 - s));
          D[ui] = d * g * s;
          if (O) O[r * inter + j] = g * s * u;
        }
      }
    },
    transpose(batch, rows, cols, x, out) {
      const X = f(x), O = f(out);
      for (let p = 0; p < batch; p++) {
        const o = p * rows * cols;
        for (let r = 0; r < rows; r++) {
          for (let c = 0; c < cols; c++) O[o + c * rows + r] = X[o + r * cols + c];
        }
      }
    },

    rmsnorm(rows, cols, x, weight, eps, out, rstd) {
      const X = f(x), W = weight ? f(weight) : null, O = f(out), R = f(rstd);
      for (let r = 0; r < rows; r++) {
        let ss = 0;
        for (let c = 0; c < cols; c++) ss += X[r * cols + c] * X[r * cols + c];
        const s = 1 / Math.sqrt(ss / cols + eps);
        R[r] = s;
        for (let c = 0; c < cols; c++) O[r * cols + c] = X[r * cols + c] * s * (W ? W[c] : 1);
      }
    },
    rmsnormBackward(rows, cols, x, weight, rstd, dy, dx, dweight) {
      const X = f(x), W = weight ? f(weight) : null, R = f(rstd), DY = f(dy), DX = f(dx);
      if ((weight === null) !== (dweight === null)) {
        throw new TypeError("rmsnormBackward: dweight must be given iff weight is");
      }
      const DW = dweight ? f(dweight) : null;
      if (DW) DW.fill(0, 0, cols);
      for (let r = 0; r < rows; r++) {
        const s = R[r];
        // g = dy ⊙ w; dx = s·g − x·s³·mean(g ⊙ x)
        let dot = 0;
        for (let c = 0; c < cols; c++) {
          dot += DY[r * cols + c] * (W ? W[c] : 1) * X[r * cols + c];
        }
        const k = (s * s * s * dot) / cols;
        for (let c = 0; c < cols; c++) {
          const j = r * cols + c;
          DX[j] = s * DY[j] * (W ? W[c] : 1) - X[j] * k;
        }
      }
      if (DW) {
        for (let c = 0; c < cols; c++) {
          let acc = 0;
          for (let r = 0; r < rows; r++) acc += DY[r * cols + c] * X[r * cols + c] * R[r];
          DW[c] = acc;
        }
      }
    },
    addRmsnorm(rows, cols, x, y, eps, out, rstd) {
      const X = f(x), Y = f(y), O = f(out), R = f(rstd);
      for (let r = 0; r < rows; r++) {
        let ss = 0;
        for (let c = 0; c < cols; c++) {
          const v = X[r * cols + c] + Y[r * cols + c];
          ss += v * v;
        }
        const s = 1 / Math.sqrt(ss / cols + eps);
        R[r] = s;
        for (let c = 0; c < cols; c++) O[r * cols + c] = (X[r * cols + c] + Y[r * cols + c]) * s;
      }
    },
    addRmsnormBackward(rows, cols, out, rstd, dy, ds) {
      const O = f(out), R = f(rstd), DY = f(dy), DS = f(ds);
      for (let r = 0; r < rows; r++) {
        let dot = 0;
        for (let c = 0; c < cols; c++) dot += DY[r * cols + c] * O[r * cols + c];
        const k = dot / cols, s = R[r];
        for (let c = 0; c < cols; c++) {
          const j = r * cols + c;
          DS[j] = s * (DY[j] - O[j] * k);
        }
      }
    },
    gatedRmsnorm(rows, cols, group, y, z, weight, eps, out, rstd) {
      const Y = f(y), Z = f(z), W = f(weight), O = f(out), R = f(rstd);
      const groups = gatedGroups("gatedRmsnorm", cols, group);
      for (let r = 0; r < rows; r++) {
        for (let g = 0; g < groups; g++) {
          const c0 = r * cols + g * group;
          let ss = 0;
          for (let c = 0; c < group; c++) {
            const v = Y[c0 + c] * Z[c0 + c] * sigmoid(Z[c0 + c]);
            ss += v * v;
          }
          const s = 1 / Math.sqrt(ss / group + eps);
          R[r * groups + g] = s;
          for (let c = 0; c < group; c++) {
            O[c0 + c] = Y[c0 + c] * Z[c0 + c] * sigmoid(Z[c0 + c]) * s * W[g * group + c];
          }
        }
      }
    },
    gatedRmsnormBackward(rows, cols, group, y, z, weight, rstd, dout, dy, dz, dweight) {
      const Y = f(y), Z = f(z), W = f(weight), R = f(rstd), DO = f(dout);
      const DY = f(dy), DZ = f(dz), DW = f(dweight);
      const groups = gatedGroups("gatedRmsnormBackward", cols, group);
      const acc = new Float64Array(cols);
      for (let r = 0; r < rows; r++) {
        for (let g = 0; g < groups; g++) {
          const c0 = r * cols + g * group, w0 = g * group, s = R[r * groups + g];
          let dot = 0;
          for (let c = 0; c < group; c++) {
            dot += DO[c0 + c] * W[w0 + c] * Y[c0 + c] * Z[c0 + c] * sigmoid(Z[c0 + c]);
          }
          const k = (s * s * dot) / group;
          for (let c = 0; c < group; c++) {
            const j = c0 + c, sg = sigmoid(Z[j]), gate = Z[j] * sg, v = Y[j] * gate;
            const dv = s * (DO[j] * W[w0 + c] - v * k);
            DY[j] = dv * gate;
            DZ[j] = dv * Y[j] * sg * (1 + Z[j] * (1 - sg));
            acc[w0 + c] += DO[j] * v * s;
          }
        }
      }
      for (let c = 0; c < cols; c++) DW[c] = acc[c];
    },
    softmax(rows, cols, x, out) {
      const X = f(x), O = f(out);
      for (let r = 0; r < rows; r++) {
        let mx = -Infinity;
        for (let c = 0; c < cols; c++) mx = Math.max(mx, X[r * cols + c]);
        let s = 0;
        const e = new Float64Array(cols);
        for (let c = 0; c < cols; c++) s += e[c] = Math.exp(X[r * cols + c] - mx);
        for (let c = 0; c < cols; c++) O[r * cols + c] = e[c] / s;
      }
    },
    softmaxBackward(rows, cols, y, dy, dx) {
      const Y = f(y), DY = f(dy), DX = f(dx);
      for (let r = 0; r < rows; r++) {
        let dot = 0;
        for (let c = 0; c < cols; c++) dot += DY[r * cols + c] * Y[r * cols + c];
        for (let c = 0; c < cols; c++) {
          DX[r * cols + c] = Y[r * cols + c] * (DY[r * cols + c] - dot);
        }
      }
    },

    embedding(n, dim, ids, table, out) {
      const ID = i(ids), T = f(table), O = f(out);
      const rowsT = T.length / dim;
      for (let j = 0; j < n; j++) {
        const id = ID[j];
        if (id < 0 || id >= rowsT) {
          throw new RangeError(`embedding: id ${id} at ${j} outside table of ${rowsT} rows`);
        }
        for (let c = 0; c < dim; c++) O[j * dim + c] = T[id * dim + c];
      }
    },
    embeddingBackward(n, dim, ids, dy, dtable) {
      const ID = i(ids), DY = f(dy), DT = f(dtable);
      for (let j = 0; j < n; j++) {
        const id = ID[j];
        for (let c = 0; c < dim; c++) DT[id * dim + c] += DY[j * dim + c];
      }
    },
    rope(batch, seq, heads, hd, x, ldx, cos, sin, inverse, out, ldo) {
      const X = f(x), C = f(cos), S = f(sin), O = f(out);
      const half = hd / 2, sg = inverse ? -1 : 1;
      const tmp = new Float64Array(hd);
      for (let b = 0; b < batch; b++) {
        for (let t = 0; t < seq; t++) {
          const xi = (b * seq + t) * ldx, oi = (b * seq + t) * ldo;
          for (let h = 0; h < heads; h++) {
            for (let d = 0; d < hd; d++) {
              const v = X[xi + h * hd + d];
              const rot = d < half ? -X[xi + h * hd + d + half] : X[xi + h * hd + d - half];
              tmp[d] = v * C[t * hd + d] + sg * rot * S[t * hd + d];
            }
            for (let d = 0; d < hd; d++) O[oi + h * hd + d] = tmp[d];
          }
        }
      }
    },

    attention(batch, seq, heads, hd, scale, q, k, v, ld, out, lse) {
      const Q = f(q), K = f(k), V = f(v), O = f(out), LSE = f(lse);
      const p = new Float64Array(seq);
      const od = heads * hd;
      for (let b = 0; b < batch; b++) {
        for (let h = 0; h < heads; h++) {
          for (let r = 0; r < seq; r++) {
            const qi = (b * seq + r) * ld + h * hd;
            let mx = -Infinity;
            for (let c = 0; c < seq; c++) {
              const ki = (b * seq + c) * ld + h * hd;
              let s = 0;
              for (let d = 0; d < hd; d++) s += Q[qi + d] * K[ki + d];
              p[c] = s * scale;
              if (p[c] > mx) mx = p[c];
            }
            let z = 0;
            for (let c = 0; c < seq; c++) z += p[c] = Math.exp(p[c] - mx);
            LSE[(b * heads + h) * seq + r] = mx + Math.log(z);
            for (let d = 0; d < hd; d++) {
              let acc = 0;
              for (let c = 0; c < seq; c++) acc += p[c] * V[(b * seq + c) * ld + h * hd + d];
              O[(b * seq + r) * od + h * hd + d] = acc / z;
            }
          }
        }
      }
    },
    attentionBackward(batch, seq, heads, hd, scale, q, k, v, ld, out, lse, dout, dq, dk, dv) {
      const Q = f(q), K = f(k), V = f(v), O = f(out), LSE = f(lse), DO = f(dout);
      const DQ = f(dq), DK = f(dk), DV = f(dv);
      const od = heads * hd;
      const P = new Float64Array(seq * seq), dS = new Float64Array(seq * seq);
      for (let b = 0; b < batch; b++) {
        for (let h = 0; h < heads; h++) {
          const qa = (r: number) => (b * seq + r) * ld + h * hd;
          const oa = (r: number) => (b * seq + r) * od + h * hd;
          for (let r = 0; r < seq; r++) {
            const l = LSE[(b * heads + h) * seq + r];
            let dd = 0; // D_r = dO_r · O_r
            for (let d = 0; d < hd; d++) dd += DO[oa(r) + d] * O[oa(r) + d];
            for (let c = 0; c < seq; c++) {
              let s = 0, dp = 0;
              for (let d = 0; d < hd; d++) {
                s += Q[qa(r) + d] * K[qa(c) + d];
                dp += DO[oa(r) + d] * V[qa(c) + d];
              }
              const pv = Math.exp(s * scale - l);
              P[r * seq + c] = pv;
              dS[r * seq + c] = pv * (dp - dd);
            }
          }
          for (let r = 0; r < seq; r++) {
            for (let d = 0; d < hd; d++) {
              let aq = 0, ak = 0, av = 0;
              for (let c = 0; c < seq; c++) {
                aq += dS[r * seq + c] * K[qa(c) + d];
                ak += dS[c * seq + r] * Q[qa(c) + d];
                av += P[c * seq + r] * DO[oa(c) + d];
              }
              DQ[qa(r) + d] = scale * aq;
              DK[qa(r) + d] = scale * ak;
              DV[qa(r) + d] = av;
            }
          }
        }
      }
    },

    stablemaxXent(batch, seq, vocab, logits, labels, ignore, loss) {
      const X = f(logits), L = i(labels), OUT = f(loss);
      for (let b = 0; b < batch; b++) {
        let acc = 0, cnt = 0;
        for (let t = 0; t < seq; t++) {
          const row = b * seq + t, lab = L[row];
          if (lab === ignore) continue;
          if (lab < 0 || lab >= vocab) {
            throw new RangeError(
              `stablemaxXent: label ${lab} at row ${row} outside vocab ${vocab}`,
            );
          }
          let z = 0;
          for (let c = 0; c < vocab; c++) z += smax(X[row * vocab + c]);
          acc += -Math.log(smax(X[row * vocab + lab]) / z);
          cnt++;
        }
        OUT[b] = acc / Math.max(1, cnt);
      }
    },
    stablemaxXentBackward(batch, seq, vocab, logits, labels, ignore, dloss, dlogits) {
      const X = f(logits), L = i(labels), DL = f(dloss), D = f(dlogits);
      for (let b = 0; b < batch; b++) {
        let cnt = 0;
        for (let t = 0; t < seq; t++) if (L[b * seq + t] !== ignore) cnt++;
        const w = DL[b] / Math.max(1, cnt);
        for (let t = 0; t < seq; t++) {
          const row = b * seq + t, lab = L[row];
          if (lab === ignore) {
            for (let c = 0; c < vocab; c++) D[row * vocab + c] = 0;
            continue;
          }
          let z = 0;
          for (let c = 0; c < vocab; c++) z += smax(X[row * vocab + c]);
          // loss = log z − log s(x_lab); d/dx_c = s'(x_c)/z − [c = lab]·s'(x_c)/s(x_c)
          for (let c = 0; c < vocab; c++) {
            const x = X[row * vocab + c];
            let g = smaxGrad(x) / z;
            if (c === lab) g -= smaxGrad(x) / smax(x);
            D[row * vocab + c] = w * g;
          }
        }
      }
    },
    bceWithLogits(n, x, target, out) {
      const X = f(x), T = f(target), O = f(out);
      for (let j = 0; j < n; j++) {
        const v = X[j];
        O[j] = Math.max(v, 0) - v * T[j] + Math.log1p(Math.exp(-Math.abs(v)));
      }
    },
    bceWithLogitsBackward(n, x, target, dy, dx) {
      const X = f(x), T = f(target), DY = f(dy), DX = f(dx);
      for (let j = 0; j < n; j++) DX[j] = (sigmoid(X[j]) - T[j]) * DY[j];
    },
    sum(n, x, out) {
      const X = f(x);
      let acc = 0;
      for (let j = 0; j < n; j++) acc += X[j];
      f(out)[0] = acc;
    },
    argmax(rows, cols, x, out) {
      const X = f(x), O = i(out);
      for (let r = 0; r < rows; r++) {
        let best = 0;
        for (let c = 1; c < cols; c++) if (X[r * cols + c] > X[r * cols + best]) best = c;
        O[r] = best;
      }
    },

    adamAtan2(n, p, g, m, v, lr, wd, b1, b2, bc1, bc2) {
      const P = f(p), G = f(g), M = f(m), V = f(v);
      const sbc2 = Math.sqrt(bc2);
      for (let j = 0; j < n; j++) {
        P[j] = P[j] * (1 - lr * wd);
        M[j] = M[j] + (1 - b1) * (G[j] - M[j]);
        V[j] = V[j] + (1 - b2) * (G[j] * G[j] - V[j]);
        P[j] = P[j] - (lr / bc1) * Math.atan2(M[j], Math.sqrt(V[j]) / sbc2);
      }
    },
    signSgdRows(n, dim, ids, grads, table, lr, wd) {
      const ID = i(ids), G = f(grads), T = f(table);
      for (let j = 0; j < n; j++) {
        const r = ID[j];
        for (let c = 0; c < dim; c++) {
          T[r * dim + c] = T[r * dim + c] * (1 - lr * wd) - lr * Math.sign(G[j * dim + c]);
        }
      }
    },
    ema(n, shadow, p, decay) {
      const S = f(shadow), P = f(p);
      for (let j = 0; j < n; j++) S[j] = decay * S[j] + (1 - decay) * P[j];
    },

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
  // Sizes, dtypes and constraints of every kernel: the kernel table (engine/kernels.ts).
  return withKernelChecks(be);
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

function checkSsd(dims: SsdDims): void {
  const { heads, groups, chunk } = dims;
  if (!(groups >= 1 && heads % groups === 0) || !(chunk >= 1)) {
    throw new RangeError(
      `ssdScan: heads must be a multiple of groups and chunk >= 1: heads=${heads}, ` +
        `groups=${groups}, chunk=${chunk}`,
    );
  }
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
  checkSsd(dims);
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
  checkSsd(dims);
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
