/**
 * `ref` backend, elementwise family: axpby, mul, the row-vector add and its reduction, the
 * pointwise functions, SwiGLU, batched transpose.
 */
import type { UnaryOp } from "../../backend.ts";
import type { FamilyMethods } from "../../kernels.ts";
import { f, type RefContext, sigmoid } from "./util.ts";
import { roundBf16 } from "../../bf16.ts";

function softplus(x: number): number {
  return x > 20 ? x : Math.log1p(Math.exp(x));
}

/** The elementwise kernels of the ref backend. */
export function refElementwise(_ctx: RefContext): FamilyMethods<"elementwise"> {
  return {
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
    roundBf16(n, x, out) {
      const X = f(x), O = f(out);
      for (let j = 0; j < n; j++) O[j] = roundBf16(X[j]);
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
  };
}
