/**
 * `ref` backend, loss family: stable-max cross-entropy, BCE with logits, sum, argmax.
 */
import type { FamilyMethods } from "../../kernels.ts";
import { f, i, type RefContext, sigmoid } from "./util.ts";

/** TRM's stable-max transform s(x). */
function smax(x: number): number {
  return x < 0 ? 1 / (1 - x) : x + 1;
}
/** ds/dx of the stable-max transform. */
function smaxGrad(x: number): number {
  return x < 0 ? 1 / ((1 - x) * (1 - x)) : 1;
}

/** The loss kernels of the ref backend. */
export function refLoss(_ctx: RefContext): FamilyMethods<"loss"> {
  return {
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
  };
}
