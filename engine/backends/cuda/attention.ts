/**
 * `cuda` backend, attention family: fused attention forward (writing the log-sum-exp) and backward:
 * the mainline kernels of attention.cu, or a kernel lab's variants (the context's `ops`). The
 * native signatures are the backend's parameter lists 1:1 (engine/kernels.ts).
 */
import type { FamilyMethods } from "../../kernels.ts";
import type { CudaContext } from "./context.ts";

/** The attention kernels of the cuda backend. */
export function cudaAttention(ctx: CudaContext): FamilyMethods<"attention"> {
  const { ops, B, check, ptrs, maxHeadDim } = ctx;

  /** The kernels' own limits (not the table's: they are this backend's), as a RangeError. */
  function limits(
    K: string,
    batch: number,
    seq: number,
    heads: number,
    headDim: number,
    ld: number,
  ) {
    const sizes = `batch=${batch}, seq=${seq}, heads=${heads}, headDim=${headDim}, ld=${ld}`;
    if (headDim > maxHeadDim) {
      throw new RangeError(`${K}: headDim above ${maxHeadDim} (the kernel's limit): ${sizes}`);
    }
    if (batch * heads > 65535) throw new RangeError(`${K}: batch·heads above 65535: ${sizes}`);
  }

  return {
    attention(batch, seq, heads, headDim, scale, q, k, v, ld, out, lse) {
      const K = "attention";
      limits(K, batch, seq, heads, headDim, ld);
      const [Q, Kb, V, O, LS] = ptrs(K, { q, k, v, out, lse });
      if (batch * seq === 0 || heads * headDim === 0) return;
      const dims = [B(batch), B(seq), B(heads), B(headDim)] as const;
      check(ops.attention(...dims, scale, Q, Kb, V, B(ld), O, LS), K);
    },
    attentionBackward(batch, seq, heads, headDim, scale, q, k, v, ld, out, lse, dout, dq, dk, dv) {
      const K = "attentionBackward";
      limits(K, batch, seq, heads, headDim, ld);
      const p = ptrs(K, { q, k, v, out, lse, dout, dq, dk, dv });
      if (batch * seq === 0 || heads * headDim === 0) return;
      const [Q, Kb, V, O, LS, DO, DQ, DK, DV] = p;
      const dims = [B(batch), B(seq), B(heads), B(headDim)] as const;
      check(ops.attentionBackward(...dims, scale, Q, Kb, V, B(ld), O, LS, DO, DQ, DK, DV), K);
    },
  };
}
