/**
 * `ref` backend, optim family: AdamATan2, sign-SGD on embedding rows, EMA.
 */
import type { FamilyMethods } from "../../kernels.ts";
import { f, i, type RefContext } from "./util.ts";

/** The optim kernels of the ref backend. */
export function refOptim(_ctx: RefContext): FamilyMethods<"optim"> {
  return {
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
  };
}
