/**
 * `cpu` backend, embedding family: embedding gather and scatter-add (bad ids reported by C), RoPE.
 */
import type { FamilyMethods } from "../../kernels.ts";
import type { CpuContext } from "./context.ts";

/** The embedding kernels of the cpu backend. */
export function cpuEmbedding(ctx: CpuContext): FamilyMethods<"embedding"> {
  const { nat, i, fs, badIndex } = ctx;
  return {
    embedding(n, dim, ids, table, out) {
      const K = "embedding";
      const [T, O] = fs(K, { table, out }), ID = i(ids, K, "ids");
      const rows = dim > 0 ? Math.floor(T.length / dim) : 0;
      const bad = badIndex(nat().trm_embedding(n, dim, ID, T, rows, O));
      if (bad >= 0) {
        throw new RangeError(`${K}: id ${ID[bad]} at ${bad} outside table of ${rows} rows`);
      }
    },
    embeddingBackward(n, dim, ids, dy, dtable) {
      const K = "embeddingBackward";
      const [DY, DT] = fs(K, { dy, dtable }), ID = i(ids, K, "ids");
      const rows = dim > 0 ? Math.floor(DT.length / dim) : 0;
      const bad = badIndex(nat().trm_embedding_backward(n, dim, ID, DY, DT, rows));
      if (bad >= 0) {
        throw new RangeError(`${K}: id ${ID[bad]} at ${bad} outside table of ${rows} rows`);
      }
    },
    rope(batch, seq, heads, headDim, x, ldx, cos, sin, inverse, out, ldo) {
      const [X, C, S, O] = fs("rope", { x, cos, sin, out });
      if (batch * seq === 0 || heads * headDim === 0) return;
      nat().trm_rope(batch, seq, heads, headDim, X, ldx, C, S, inverse ? 1 : 0, O, ldo);
    },
  };
}
