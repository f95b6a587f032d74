/**
 * `ref` backend, embedding family: embedding gather and scatter-add, RoPE.
 */
import type { FamilyMethods } from "../../kernels.ts";
import { f, i, type RefContext } from "./util.ts";

/** The embedding kernels of the ref backend. */
export function refEmbedding(_ctx: RefContext): FamilyMethods<"embedding"> {
  return {
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
  };
}
