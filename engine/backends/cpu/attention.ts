/**
 * `cpu` backend, attention family: fused attention forward (writing the log-sum-exp) and backward.
 * The native signatures are the backend's parameter lists 1:1 (engine/kernels.ts).
 */
import type { FamilyMethods } from "../../kernels.ts";
import type { CpuContext } from "./context.ts";

/** The attention kernels of the cpu backend. */
export function cpuAttention(ctx: CpuContext): FamilyMethods<"attention"> {
  const { nat, fs } = ctx;
  return {
    attention(batch, seq, heads, headDim, scale, q, k, v, ld, out, lse) {
      const [Q, Kb, V, O, LS] = fs("attention", { q, k, v, out, lse });
      if (batch * seq === 0 || heads * headDim === 0) return;
      nat().trm_attention(batch, seq, heads, headDim, scale, Q, Kb, V, ld, O, LS);
    },
    attentionBackward(batch, seq, heads, headDim, scale, q, k, v, ld, out, lse, dout, dq, dk, dv) {
      const [Q, Kb, V, O, LS, DO, DQ, DK, DV] = fs("attentionBackward", {
        q,
        k,
        v,
        out,
        lse,
        dout,
        dq,
        dk,
        dv,
      });
      if (batch * seq === 0 || heads * headDim === 0) return;
      const dims = [batch, seq, heads, headDim] as const;
      nat().trm_attention_backward(...dims, scale, Q, Kb, V, ld, O, LS, DO, DQ, DK, DV);
    },
  };
}
