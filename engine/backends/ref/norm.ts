/**
 * `ref` backend, norm family: RMSNorm, fused residual + RMSNorm, gated RMSNorm, softmax, and
 * their backwards.
 */
import type { FamilyMethods } from "../../kernels.ts";
import { gatedGroups } from "../checks.ts";
import { f, type RefContext, sigmoid } from "./util.ts";

/** The norm kernels of the ref backend. */
export function refNorm(_ctx: RefContext): FamilyMethods<"norm"> {
  return {
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
      const groups = gatedGroups(cols, group);
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
      const groups = gatedGroups(cols, group);
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
  };
}
