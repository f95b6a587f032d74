/**
 * MLP-t (MLP over tokens, TRM's Sudoku variant, `models/recursive_reasoning/trm.py`): a SwiGLU
 * applied along the sequence axis of width L' (= L + 16 with the puzzle prefix). TRM transposes h
 * to [B, D, L'], applies h ← RMSNorm(h + SwiGLU_seq(h)) there — so its post-norm normalises over
 * the *sequence* axis — and only then transposes back. `block` does exactly that.
 *
 * @example
 * ```ts
 * import { getBackend } from "../engine/backends/mod.ts";
 * import { Rng } from "../engine/rng.ts";
 * import { createMlpT } from "./mlp_t.ts";
 * const op = createMlpT(getBackend("ref"), new Rng(0), { seqLen: 97 }); // inter 512
 * ```
 */
import type { Backend } from "../engine/backend.ts";
import { fmtShape } from "../engine/errors.ts";
import { transpose } from "../engine/ops.ts";
import type { Rng } from "../engine/rng.ts";
import type { Tensor } from "../engine/tensor.ts";
import type { Operator } from "./operator.ts";
import { postNorm, preNorm } from "./rmsnorm.ts";
import { lecunWeight, swigluInter, swigluMap } from "./swiglu.ts";

export interface MlpTConfig {
  /** Sequence length L' the operator mixes over (its width). */
  seqLen: number;
  /** SwiGLU expansion (default 4). */
  expansion?: number;
}

/** MLP-t with params `gate_up_proj.weight` [2·inter, L'] and `down_proj.weight` [L', inter]. */
export function createMlpT(be: Backend, rng: Rng, cfg: MlpTConfig): Operator {
  const l = cfg.seqLen;
  const inter = swigluInter(l, cfg.expansion);
  const params = {
    "gate_up_proj.weight": lecunWeight(be, rng, 2 * inter, l),
    "down_proj.weight": lecunWeight(be, rng, l, inter),
  };
  const check = (x: Tensor): void => {
    if (x.rank !== 3 || x.shape[1] !== l) {
      throw new TypeError(`mlp_t: expected input [B, ${l}, D], got ${fmtShape(x.shape)}`);
    }
  };
  /** SwiGLU over the last axis of the transposed layout [B, D, L']. */
  const seqMix = (xt: Tensor): Tensor =>
    swigluMap(xt, params["gate_up_proj.weight"], params["down_proj.weight"]);
  return {
    kind: "mlp_t",
    params,
    forward(x) {
      check(x);
      return transpose(seqMix(transpose(x)));
    },
    block(x) {
      check(x);
      return transpose(postNorm(transpose(x), seqMix, { release: true }));
    },
    preBlock(x) {
      check(x);
      return transpose(preNorm(transpose(x), seqMix));
    },
  };
}
