/**
 * TRM's self-attention (`models/layers.py` of TRM's code): non-causal, a fused bias-free projection
 * qkv_proj W → 3·W (q | k | v, each `numHeads` heads of W/numHeads), scaled dot-product attention
 * with scale 1/√headDim, optional rotate-half RoPE on q and k (base 10000, over the flattened
 * sequence: the puzzle-prefix positions are positions 0..prefixLen−1), and o_proj W → W.
 *
 * @example
 * ```ts
 * import { getBackend } from "../engine/backends/mod.ts";
 * import { Rng } from "../engine/rng.ts";
 * import { createAttention } from "./attention.ts";
 * const op = createAttention(getBackend("ref"), new Rng(0), { hidden: 32, numHeads: 4, rope: true });
 * ```
 */
import type { Backend } from "../engine/backend.ts";
import { fmtShape } from "../engine/errors.ts";
import { linear } from "../engine/ops.ts";
import { attention, type RopeTables, ropeTables } from "../engine/ops_nn.ts";
import type { Rng } from "../engine/rng.ts";
import type { Tensor } from "../engine/tensor.ts";
import type { Operator } from "./operator.ts";
import { untracked } from "../engine/scope.ts";
import { postNorm, preNorm } from "./rmsnorm.ts";
import { lecunWeight } from "./swiglu.ts";

export interface AttentionConfig {
  /** Model width W (= numHeads · headDim). */
  hidden: number;
  numHeads: number;
  /** Rotary position embedding on q and k (TRM: on, except Sudoku MLP-t which has no attention). */
  rope: boolean;
  /** RoPE base (default 10000). */
  ropeBase?: number;
  /**
   * Length of the puzzle-embedding prefix (default 16). Documentation only: RoPE runs over the
   * flattened sequence including the prefix, so prefix row i has position i, grid cell j has
   * position prefixLen + j, and nothing here depends on the value.
   */
  prefixLen?: number;
  /** Longest sequence expected (RoPE tables are built for it up front; longer inputs extend them). */
  maxSeq?: number;
}

/** Attention operator with params `qkv_proj.weight` [3·W, W] and `o_proj.weight` [W, W]. */
export function createAttention(be: Backend, rng: Rng, cfg: AttentionConfig): Operator {
  const w = cfg.hidden, heads = cfg.numHeads;
  if (!Number.isInteger(w) || !Number.isInteger(heads) || heads < 1 || w < 1 || w % heads !== 0) {
    throw new RangeError(`attention: hidden must be a multiple of numHeads: ${w} and ${heads}`);
  }
  const headDim = w / heads;
  if (cfg.rope && headDim % 2 !== 0) {
    throw new RangeError(`attention: RoPE needs an even head dim: ${w}/${heads} = ${headDim}`);
  }
  const base = cfg.ropeBase ?? 10000;
  const params = {
    "qkv_proj.weight": lecunWeight(be, rng, 3 * w, w),
    "o_proj.weight": lecunWeight(be, rng, w, w),
  };
  let tables: RopeTables | null = null;
  const ropeFor = (seq: number): RopeTables => {
    if (!tables || tables.cos.shape[0] < seq) {
      // A cache: it must outlive any disposal scope the first call happens in.
      tables = untracked(() => ropeTables(be, Math.max(seq, cfg.maxSeq ?? 0), headDim, base));
    }
    return tables;
  };
  if (cfg.rope && cfg.maxSeq) ropeFor(cfg.maxSeq);

  const forward = (x: Tensor): Tensor => {
    if (x.rank !== 3 || x.shape[2] !== w) {
      throw new TypeError(`attention: expected input [B, L, ${w}], got ${fmtShape(x.shape)}`);
    }
    const qkv = linear(x, params["qkv_proj.weight"]);
    const rope = cfg.rope ? ropeFor(x.shape[1]) : null;
    return linear(attention(qkv, heads, { rope }), params["o_proj.weight"]);
  };
  return {
    kind: "attention",
    params,
    forward,
    block: (x) => postNorm(x, forward, { release: true }),
    preBlock: (x) => preNorm(x, forward),
  };
}
