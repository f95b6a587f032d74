/**
 * RMSNorm as TRM uses it: x / √(mean(x²) + 1e-5) over the last axis, computed in f32, with no
 * learnable scale; and the post-norm sub-layer h ← RMSNorm(h + f(h)) every operator's `block` is.
 *
 * @example
 * ```ts
 * import { getBackend } from "../engine/backends/mod.ts";
 * import { tensor } from "../engine/tensor.ts";
 * import { rmsNorm } from "./rmsnorm.ts";
 * const be = getBackend("ref");
 * const y = rmsNorm(tensor(be, [3, 4], [1, 2])); // ≈ [0.849, 1.131]
 * ```
 */
import { add, rmsnorm } from "../engine/ops.ts";
import { addRmsnorm } from "../engine/ops_fused.ts";
import type { Tensor } from "../engine/tensor.ts";

/** TRM's RMSNorm epsilon. */
export const RMS_EPS = 1e-5;

/** RMSNorm over the last axis without weight (TRM's norm; also the `rmsnorm` op of op-check). */
export function rmsNorm(x: Tensor, eps: number = RMS_EPS): Tensor {
  return rmsnorm(x, eps);
}

/**
 * The post-norm residual sub-layer: RMSNorm(x + f(x)) over the last axis, as one fused op that
 * keeps only its output and the row scales for backward (not the sum). With `release`, f(x) is
 * released as soon as it is summed — for an f whose output no backward rule reads (one ending in a
 * linear, which keeps its input, not its output): every operator here.
 */
export function postNorm(
  x: Tensor,
  f: (x: Tensor) => Tensor,
  opts: { release?: boolean; eps?: number } = {},
): Tensor {
  const y = f(x);
  const out = addRmsnorm(x, y, opts.eps ?? RMS_EPS);
  if (opts.release) y.dispose();
  return out;
}

/**
 * The pre-norm residual sub-layer x + f(RMSNorm(x)) over the last axis: the ablation of the
 * post-norm above (TRM's claim is that post-norm keeps the unrolled recursion stable). The
 * residual stream itself is never normalised here, so a recursion that feeds its output back in
 * sees the stream's scale grow or shrink freely.
 */
export function preNorm(x: Tensor, f: (x: Tensor) => Tensor, eps: number = RMS_EPS): Tensor {
  const n = rmsnorm(x, eps);
  const y = f(n);
  const out = add(x, y);
  y.dispose();
  return out;
}
