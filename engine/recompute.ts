/**
 * Activation recomputation ("gradient checkpointing"): trade one extra forward for memory.
 *
 * `recompute(fn, inputs, params)` runs `fn(...inputs)` WITHOUT recording — its intermediates are
 * released at once — and records a single node whose inputs are `inputs` and `params`. Its
 * backward reruns `fn` with recording on, over fresh leaves that share the inputs' buffers, and
 * backpropagates the incoming gradient through that graph: the leaves' gradients go back to the
 * outer graph, and the parameters `fn` reads accumulate theirs in `.grad` directly (as any
 * backward does). The rerun's activations are released before the outer backward goes on, so at
 * most one recomputed block is alive at a time.
 *
 * Requirements: `fn` is deterministic (our kernels are: a rerun reproduces the forward bit for
 * bit, so the gradients are those of the plain graph, up to the order in which a parameter's
 * contributions are summed), and the inputs' buffers are not overwritten between the forward and
 * the backward. `params` must list every tensor requiring grad that `fn` reads other than the
 * inputs (a parameter left out would silently get no gradient from this block).
 */
import { backward, isGradEnabled, noGrad, record, withGrad } from "./autograd.ts";
import { scoped } from "./scope.ts";
import { Tensor } from "./tensor.ts";

export function recompute(
  fn: (...xs: Tensor[]) => Tensor,
  inputs: readonly Tensor[],
  params: readonly Tensor[],
): Tensor {
  const all = [...inputs, ...params];
  if (!isGradEnabled() || !all.some((t) => t.requiresGrad)) return fn(...inputs);
  const out = scoped(() => noGrad(() => fn(...inputs)));
  return record(out, "recompute", all, (g) => {
    let inGrads: (Tensor | null)[] = [];
    scoped(() =>
      withGrad(() => {
        // Leaves over the inputs' buffers: views, so the scope never releases the inputs.
        const leaves = inputs.map((x) =>
          x.requiresGrad ? new Tensor(x.backend, x.buf, x.shape, x.dtype, true, x.base ?? x) : x
        );
        const y = fn(...leaves);
        if (y.size !== out.size) {
          throw new TypeError(`recompute: rerun gave ${y.size} elements, forward ${out.size}`);
        }
        if (y.requiresGrad) backward(y, g);
        inGrads = leaves.map((l, k) => (inputs[k].requiresGrad ? l.grad : null));
        // Kept past the scope: the leaves' gradients (the outer backward owns them from here)
        // and the parameters' gradients (adopted inside this scope when they were null).
        return [...inGrads, ...params.map((p) => p.grad)].filter((t): t is Tensor => t !== null);
      })
    );
    return [...inGrads, ...params.map(() => null)];
  });
}
