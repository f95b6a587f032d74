/**
 * The operator interface shared by every per-step operator of the recursion (attention, SwiGLU,
 * MLP-t, Mamba-2, GLA). The models are stacks of these (recursion/), so this is the
 * one shape they all have: parameters under PyTorch state-dict names (weights move between
 * frameworks unchanged), a bare forward, and the post-norm sub-layer TRM applies.
 */
import type { Tensor } from "../engine/tensor.ts";
import type { OperatorKind } from "./mod.ts";

/** The operator kinds (the `kind`s of mod.ts `OperatorSpec`, one registry entry each). */
export type { OperatorKind };

export interface Operator {
  readonly kind: OperatorKind;
  /** Trainable parameters, keyed by PyTorch state-dict name (e.g. "qkv_proj.weight"). */
  readonly params: Record<string, Tensor>;
  /** The bare operator: [B, L, D] → [B, L, D], no residual, no normalisation. */
  forward(x: Tensor): Tensor;
  /**
   * TRM's post-norm sub-layer: RMSNorm(x + forward(x)) with eps 1e-5 and no weight, normalised
   * over the feature axis — except MLP-t, which normalises over the sequence axis as TRM does.
   */
  block(x: Tensor): Tensor;
  /**
   * The pre-norm sub-layer x + forward(RMSNorm(x)) (normalised over the same axis as `block`): the
   * ablation of TRM's post-norm (recursion/config.ts `norm: "pre"`), not used by the paper's models.
   */
  preBlock(x: Tensor): Tensor;
}

/** Number of trainable scalars of an operator. */
export function countParams(op: Pick<Operator, "params">): number {
  let n = 0;
  for (const t of Object.values(op.params)) n += t.size;
  return n;
}
