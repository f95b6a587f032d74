/**
 * `cuda` backend, attention family: fused attention forward (writing the log-sum-exp) and backward:
 * the mainline kernels of attention.cu, or a kernel lab's variants (the context's `ops`).
 */
import type { Buf } from "../../backend.ts";
import type { FamilyMethods } from "../../kernels.ts";
import type { CudaContext } from "./context.ts";

/** The attention kernels of the cuda backend. */
export function cudaAttention(ctx: CudaContext): FamilyMethods<"attention"> {
  const { ops, B, check, cb, maxHeadDim } = ctx;

  function attnPtrs(
    K: string,
    batch: number,
    seq: number,
    heads: number,
    headDim: number,
    ld: number,
    strided: Record<string, Buf>,
    dense: Record<string, Buf>,
    lse: Buf,
  ): bigint[] | null {
    const hd = heads * headDim, tokens = batch * seq;
    const sizes = `batch=${batch}, seq=${seq}, heads=${heads}, headDim=${headDim}, ld=${ld}`;
    if (headDim > maxHeadDim) {
      throw new RangeError(`${K}: headDim above ${maxHeadDim} (the kernel's limit): ${sizes}`);
    }
    if (batch * heads > 65535) throw new RangeError(`${K}: batch·heads above 65535: ${sizes}`);
    const out: bigint[] = [];
    for (const [name, b] of Object.entries({ ...strided, ...dense })) out.push(cb(b, K, name).ptr);
    out.push(cb(lse, K, "lse").ptr);
    return tokens === 0 || hd === 0 ? null : out;
  }

  return {
    attention(batch, seq, heads, headDim, scale, q, k, v, ld, out, lse) {
      const K = "attention";
      const p = attnPtrs(K, batch, seq, heads, headDim, ld, { q, k, v }, { out }, lse);
      if (!p) return;
      const [Q, Kb, V, O, LS] = p;
      check(
        ops.attention(B(batch), B(seq), B(heads), B(headDim), scale, Q, Kb, V, B(ld), O, LS),
        K,
      );
    },
    attentionBackward(batch, seq, heads, headDim, scale, q, k, v, ld, out, lse, dout, dq, dk, dv) {
      const K = "attentionBackward";
      const p = attnPtrs(K, batch, seq, heads, headDim, ld, { q, k, v, dq, dk, dv }, {
        out,
        dout,
      }, lse);
      if (!p) return;
      const [Q, Kb, V, DQ, DK, DV, O, DO, LS] = p;
      check(
        ops.attentionBackward(
          B(batch),
          B(seq),
          B(heads),
          B(headDim),
          scale,
          Q,
          Kb,
          V,
          B(ld),
          O,
          LS,
          DO,
          DQ,
          DK,
          DV,
        ),
        K,
      );
    },
  };
}
