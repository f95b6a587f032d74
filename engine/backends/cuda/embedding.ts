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
      const K = "embedding", sizes = `n=${n}, dim=${dim}`;
      const [T, O] = ptrs(K, sizes, [["table", table, dim], ["out", out, n * dim]]);
      const ID = cb(ids, K, "ids", "i32");
      const rows = dim > 0 ? Math.floor(table.length / dim) : 0;
      check(L.trm_cuda_embedding(B(n), B(dim), ID.ptr, T, B(rows), O), K);
    },
    embeddingBackward(n, dim, ids, dy, dtable) {
      const K = "embeddingBackward", sizes = `n=${n}, dim=${dim}`;
      const [DY, DT] = ptrs(K, sizes, [["dy", dy, n * dim], ["dtable", dtable, dim]]);
      const ID = cb(ids, K, "ids", "i32");
      const rows = dim > 0 ? Math.floor(dtable.length / dim) : 0;
      check(L.trm_cuda_embedding_backward(B(n), B(dim), ID.ptr, DY, DT, B(rows)), K);
    },
    rope(batch, seq, heads, headDim, x, ldx, cos, sin, inverse, out, ldo) {
      const K = "rope";
      if (headDim % 2 !== 0) throw new TypeError(`${K}: headDim must be even: ${headDim}`);
      const hd = heads * headDim, tokens = batch * seq;
      const sizes =
        `batch=${batch}, seq=${seq}, heads=${heads}, headDim=${headDim}, ldx=${ldx}, ldo=${ldo}`;
      const X = cb(x, K, "x"), C = cb(cos, K, "cos"), S = cb(sin, K, "sin"), O = cb(out, K, "out");
      if (tokens === 0 || hd === 0) return;
      if (ldx < hd || ldo < hd) {
        throw new RangeError(`${K}: token stride below heads·headDim: ${sizes}`);
      }
      check(
        L.trm_cuda_rope(
          B(batch),
          B(seq),
          B(heads),
          B(headDim),
          X.ptr,
          B(ldx),
          C.ptr,
          S.ptr,
          inverse ? 1 : 0,
          O.ptr,
          B(ldo),
        ),
        K,
      );
    },
  };
}
