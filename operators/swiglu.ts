/**
 * TRM's SwiGLU feed-forward: Down(SiLU(gate) ⊙ up) with one fused projection W → 2·inter (gate
 * first half, up second), no biases (TRM's `models/layers.py`).
 *
 * @example
 * ```ts
 * import { getBackend } from "../engine/backends/mod.ts";
 * import { Rng } from "../engine/rng.ts";
 * import { createSwiGLU, swigluInter } from "./swiglu.ts";
 * swigluInter(512); // 1536
 * const op = createSwiGLU(getBackend("ref"), new Rng(0), { hidden: 16 });
 * ```
 */
import type { Backend } from "../engine/backend.ts";
import { linear } from "../engine/ops.ts";
import { swigluLinear } from "../engine/ops_fused.ts";
import { fmtShape } from "../engine/errors.ts";
import { lecunNormal } from "../engine/init.ts";
import type { Rng } from "../engine/rng.ts";
import { type Tensor, tensor } from "../engine/tensor.ts";
import type { Operator } from "./operator.ts";
import { postNorm, preNorm } from "./rmsnorm.ts";

/** Default expansion of TRM's SwiGLU. */
export const SWIGLU_EXPANSION = 4;

/**
 * Intermediate width for a SwiGLU of `width`: round(expansion·width·2/3) rounded up to a multiple
 * of 256 (512 → 1536, 97 → 512, 916 → 2560). Python's round (half to even) is matched; the
 * product is never exactly half-integral for integer widths and expansion 4, so this is moot there.
 */
export function swigluInter(width: number, expansion: number = SWIGLU_EXPANSION): number {
  if (!Number.isInteger(width) || width < 1) {
    throw new RangeError(`swigluInter: width must be a positive integer: ${width}`);
  }
  if (!(expansion > 0 && Number.isFinite(expansion))) {
    throw new RangeError(`swigluInter: expansion must be positive: ${expansion}`);
  }
  const v = (expansion * width * 2) / 3;
  const r = Math.round(v);
  // Math.round rounds .5 up; Python rounds half to even.
  const rounded = v - Math.floor(v) === 0.5 && r % 2 === 1 ? r - 1 : r;
  return Math.ceil(rounded / 256) * 256;
}

/** A trainable weight [fanOut, fanIn] with TRM's init (truncated LeCun normal, std 1/√fanIn). */
export function lecunWeight(be: Backend, rng: Rng, fanOut: number, fanIn: number): Tensor {
  return tensor(be, lecunNormal(rng, fanOut, fanIn), [fanOut, fanIn], { requiresGrad: true });
}

/** The bare SwiGLU map over the last axis of x, given its two weights (shared with MLP-t). */
export function swigluMap(x: Tensor, gateUp: Tensor, down: Tensor): Tensor {
  return swigluLinear(linear(x, gateUp), down);
}

export interface SwiGLUConfig {
  /** Width W of the feature axis it maps. */
  hidden: number;
  /** Expansion factor (default 4). */
  expansion?: number;
  /**
   * Intermediate width, overriding TRM's rule `swigluInter(hidden, expansion)` (a parity search's
   * knob, recursion/parity.ts `--match`; absent in the paper's models).
   */
  inter?: number;
}

/**
 * SwiGLU over the feature axis: params `gate_up_proj.weight` [2·inter, W] and `down_proj.weight`
 * [W, inter], inter = `cfg.inter` or TRM's rule.
 */
export function createSwiGLU(be: Backend, rng: Rng, cfg: SwiGLUConfig): Operator {
  const w = cfg.hidden;
  const inter = cfg.inter ?? swigluInter(w, cfg.expansion);
  if (!Number.isInteger(inter) || inter < 1) {
    throw new RangeError(`swiglu: inter must be a positive integer: ${inter}`);
  }
  const params = {
    "gate_up_proj.weight": lecunWeight(be, rng, 2 * inter, w),
    "down_proj.weight": lecunWeight(be, rng, w, inter),
  };
  const forward = (x: Tensor): Tensor => {
    if (x.rank !== 3 || x.shape[2] !== w) {
      throw new TypeError(`swiglu: expected input [B, L, ${w}], got ${fmtShape(x.shape)}`);
    }
    return swigluMap(x, params["gate_up_proj.weight"], params["down_proj.weight"]);
  };
  return {
    kind: "swiglu",
    params,
    forward,
    block: (x) => postNorm(x, forward, { release: true }),
    preBlock: (x) => preNorm(x, forward),
  };
}
