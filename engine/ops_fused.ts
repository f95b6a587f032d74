/**
 * Fused ops that keep less for backward than the ops they stand for, with the same values:
 * `addRmsnorm` (TRM's post-norm sub-layer rmsnorm(x + y): one kernel, backward from the output, so
 * the sum is not kept) and `swigluLinear` (linear(swiglu(gu), W): the product's input is recomputed
 * in backward instead of kept — the same kernels in the same order, so bitwise the two ops).
 * Mamba-2's fused ops (`gatedRmsnorm`, `conv1dCausalSilu`) are in ops_ssm.ts.
 *
 * @example
 * ```ts
 * import { createRefBackend } from "./backends/ref/mod.ts";
 * import { tensor } from "./tensor.ts";
 * import { addRmsnorm } from "./ops_fused.ts";
 * const be = createRefBackend();
 * const y = addRmsnorm(tensor(be, [1, 1], [1, 2]), tensor(be, [2, 3], [1, 2])); // ≈ [0.849, 1.131]
 * ```
 */
import { record } from "./autograd.ts";
import { fmtShape } from "./errors.ts";
import { f32Backend, last, sameShape } from "./ops.ts";
import { empty, type Tensor } from "./tensor.ts";

/**
 * rmsnorm(x + y) over the last axis without weight, fused (TRM's post-norm sub-layer): the sum is
 * not kept for backward, which works from the output; both inputs receive the same gradient.
 */
export function addRmsnorm(x: Tensor, y: Tensor, eps = 1e-5): Tensor {
  const be = f32Backend("addRmsnorm", x, y);
  sameShape("addRmsnorm", x, y);
  const c = last(x), rows = x.size / (c || 1);
  const out = empty(be, x.shape), rstd = empty(be, [rows]);
  be.addRmsnorm(rows, c, x.buf, y.buf, eps, out.buf, rstd.buf);
  record(out, "addRmsnorm", [x, y], (g) => {
    const gs = empty(be, x.shape);
    be.addRmsnormBackward(rows, c, out.buf, rstd.buf, g.buf, gs.buf);
    rstd.dispose(); // internal to this node, and a graph runs backward once
    return [gs, gs];
  });
  if (!out.node) rstd.dispose(); // not recorded: nothing will read it
  return out;
}

/**
 * linear(swiglu(gu), w) with gu [..., 2·inter] (gate | up) and w [out, inter] (PyTorch layout):
 * the SwiGLU output (the product's input) is recomputed in backward rather than kept — by the
 * SwiGLU backward kernel, in the pass that computes its derivative (the bits `swiglu` writes).
 */
export function swigluLinear(gu: Tensor, w: Tensor): Tensor {
  const be = f32Backend("swigluLinear", gu, w);
  const wd = last(gu), inter = wd / 2, rows = gu.size / (wd || 1);
  if (wd % 2 !== 0 || w.rank !== 2 || w.shape[1] !== inter) {
    throw new TypeError(
      `swigluLinear: input ${fmtShape(gu.shape)} does not fit weight ${fmtShape(w.shape)}`,
    );
  }
  const n = w.shape[0];
  const act = () => {
    const h = empty(be, [rows, inter]);
    be.swiglu(rows, inter, gu.buf, h.buf);
    return h;
  };
  const h = act();
  const out = empty(be, [...gu.shape.slice(0, -1), n]);
  be.gemm(false, true, rows, n, inter, 1, h.buf, inter, w.buf, inter, 0, out.buf, n, 1, 0, 0, 0);
  h.dispose();
  return record(out, "swigluLinear", [gu, w], (g) => {
    let ggu: Tensor | null = null, gw: Tensor | null = null, h: Tensor;
    if (gu.requiresGrad) {
      const gh = empty(be, [rows, inter]); // dh = g · W
      const [G, W, GH] = [g.buf, w.buf, gh.buf];
      be.gemm(false, false, rows, inter, n, 1, G, n, W, inter, 0, GH, inter, 1, 0, 0, 0);
      ggu = empty(be, gu.shape);
      h = empty(be, [rows, inter]); // swiglu(gu) again, in the pass that computes its derivative
      be.swigluBackward(rows, inter, gu.buf, gh.buf, ggu.buf, h.buf);
      gh.dispose();
    } else h = act();
    if (w.requiresGrad) {
      gw = empty(be, w.shape); // dW = gᵀ · h
      be.gemm(true, false, n, inter, rows, 1, g.buf, n, h.buf, inter, 0, gw.buf, inter, 1, 0, 0, 0);
    }
    h.dispose();
    return [ggu, gw];
  });
}
