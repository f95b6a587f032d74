/**
 * `cpu` backend, attention family: fused attention forward (writing the log-sum-exp) and backward.
 */
import type { Buf } from "../../backend.ts";
import type { FamilyMethods } from "../../kernels.ts";
import type { CpuContext } from "./context.ts";

/** The attention kernels of the cpu backend. */
export function cpuAttention(ctx: CpuContext): FamilyMethods<"attention"> {
  const { nat, f } = ctx;

  /**
   * Types attention buffers: `strided` ones are [batch, seq, heads, headDim] with token stride
   * `ld`, `dense` ones [batch, seq, heads·headDim]; lse is [batch, heads, seq]. Returns them typed
   * (strided, dense, lse), or all null when there is nothing to compute.
   */
  function attnArgs(
    K: string,
    batch: number,
    seq: number,
    heads: number,
    headDim: number,
    _ld: number,
    strided: Record<string, Buf>,
    dense: Record<string, Buf>,
    lse: Buf,
  ): Float32Array[] {
    const hd = heads * headDim, tokens = batch * seq;
    const typed: Float32Array[] = [];
    for (const [name, b] of Object.entries({ ...strided, ...dense })) typed.push(f(b, K, name));
    const LS = f(lse, K, "lse");
    typed.push(LS);
    if (tokens === 0 || hd === 0) return typed.map(() => null as unknown as Float32Array);
    return typed;
  }

  return {
    attention(batch, seq, heads, headDim, scale, q, k, v, ld, out, lse) {
      const K = "attention";
      const [Q, Kb, V, O, LS] = attnArgs(K, batch, seq, heads, headDim, ld, { q, k, v }, {
        out,
      }, lse);
      if (Q) nat().trm_attention(batch, seq, heads, headDim, scale, Q, Kb, V, ld, O, LS);
    },
    attentionBackward(batch, seq, heads, headDim, scale, q, k, v, ld, out, lse, dout, dq, dk, dv) {
      const K = "attentionBackward";
      const [Q, Kb, V, DQ, DK, DV, O, DO, LS] = attnArgs(
        K,
        batch,
        seq,
        heads,
        headDim,
        ld,
        { q, k, v, dq, dk, dv },
        { out, dout },
        lse,
      );
      if (Q) {
        nat().trm_attention_backward(
          batch,
          seq,
          heads,
          headDim,
          scale,
          Q,
          Kb,
          V,
          ld,
          O,
          LS,
          DO,
          DQ,
          DK,
          DV,
        );
      }
    },
  };
}
