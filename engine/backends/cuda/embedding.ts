/**
 * `cuda` backend, embedding family: embedding gather and scatter-add (bad ids reported at the next
 * sync), RoPE.
 */
import type { FamilyMethods } from "../../kernels.ts";
import type { CudaContext } from "./context.ts";

/** The embedding kernels of the cuda backend. */
export function cudaEmbedding(ctx: CudaContext): FamilyMethods<"embedding"> {
  const { L, B, check, cb, ptrs } = ctx;
  return {
    embedding(n, dim, ids, table, out) {
      const K = "embedding";
      const [T, O] = ptrs(K, { table, out }), ID = cb(ids, K, "ids", "i32").ptr;
      const rows = dim > 0 ? Math.floor(table.length / dim) : 0;
      check(L.trm_cuda_embedding(B(n), B(dim), ID, T, B(rows), O), K);
    },
    embeddingBackward(n, dim, ids, dy, dtable) {
      const K = "embeddingBackward";
      const [DY, DT] = ptrs(K, { dy, dtable }), ID = cb(ids, K, "ids", "i32").ptr;
      const rows = dim > 0 ? Math.floor(dtable.length / dim) : 0;
      check(L.trm_cuda_embedding_backward(B(n), B(dim), ID, DY, DT, B(rows)), K);
    },
    rope(batch, seq, heads, headDim, x, ldx, cos, sin, inverse, out, ldo) {
      const K = "rope";
      const [X, C, S, O] = ptrs(K, { x, cos, sin, out });
      if (batch * seq === 0 || heads * headDim === 0) return;
      const dims = [B(batch), B(seq), B(heads), B(headDim)] as const;
      check(L.trm_cuda_rope(...dims, X, B(ldx), C, S, inverse ? 1 : 0, O, B(ldo)), K);
    },
  };
}
