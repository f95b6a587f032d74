/**
 * Reverse-mode autograd over recorded operations.
 *
 * Every differentiable op (engine/ops.ts) calls `record` with its output, its inputs and its
 * backward rule. `noGrad` turns recording off (TRM runs T−1 of its T recursion cycles this way, so
 * those cycles keep no activations alive). `backward` walks the recorded graph in reverse
 * topological order, sums gradients of tensors used more than once and accumulates into `.grad`
 * of leaf tensors (gradient accumulation across calls, until `zeroGrad`). The graph is released as
 * it is consumed, like PyTorch's default `retain_graph=False`.
 */
import { type Node, Tensor, zeros } from "./tensor.ts";
import { fmtShape } from "./errors.ts";
import { currentPrecision } from "./bf16.ts";

let gradEnabled = true;

/** Whether operations are being recorded. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` with recording on or off, restoring the previous state (also on throw). */
function withGradMode<T>(on: boolean, fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = on;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Runs `fn` without recording operations (restores the previous state, also on throw). */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}

/** Runs `fn` with recording on (restores the previous state, also on throw). */
export function withGrad<T>(fn: () => T): T {
  return withGradMode(true, fn);
}

/**
 * Records `out = op(inputs)` when gradients are enabled and any input requires grad; marks `out`
 * as requiring grad in that case. Returns `out`.
 *
 * In bf16 mode (engine/bf16.ts `withPrecision("bf16", …)`) every f32 output an op computes is
 * first rounded to bf16 in place, recorded or not (views share their base's values and are left
 * as they are), and the node is marked so that `backward` rounds its gradients too.
 *
 * A backward rule must return, per input, null, a tensor it allocated, or `grad` itself (or a
 * view of it): `backward` owns what it returns and releases it once consumed.
 */
export function record(
  out: Tensor,
  op: string,
  inputs: readonly Tensor[],
  backward: (grad: Tensor) => (Tensor | null)[],
): Tensor {
  const bf16 = currentPrecision() === "bf16";
  if (bf16) roundOutput(out);
  if (!gradEnabled || !inputs.some((t) => t.requiresGrad)) return out;
  out.requiresGrad = true;
  out.node = (bf16 ? { op, inputs, backward, bf16 } : { op, inputs, backward }) satisfies Node;
  return out;
}

/** Rounds an op's computed f32 output to bf16 in place (not a view: its base holds the values). */
function roundOutput(t: Tensor): void {
  if (t.dtype === "f32" && !t.base && t.size > 0) t.backend.roundBf16(t.size, t.buf, t.buf);
}

/** Rounds a gradient to bf16 in place (a view rounds its own elements of the shared storage). */
function roundGrad(t: Tensor): void {
  if (t.size > 0) t.backend.roundBf16(t.size, t.buf, t.buf);
}

/** Adds `g` into `acc` in place (both on one backend, same size). */
function accumulate(acc: Tensor, g: Tensor): void {
  acc.backend.axpby(acc.size, 1, g.buf, 1, acc.buf, acc.buf);
}

/**
 * Backpropagates from `root`. Without `grad`, root must have one element and its gradient is 1.
 * Leaf tensors with requiresGrad receive (accumulate) their gradient in `.grad`.
 */
export function backward(root: Tensor, grad?: Tensor): void {
  if (!root.requiresGrad) {
    throw new TypeError(`backward: root does not require grad: ${root}`);
  }
  const borrowed = new Set(grad ? [owner(grad)] : []);
  if (!grad) {
    if (root.size !== 1) {
      throw new TypeError(
        `backward: implicit gradient needs a 1-element root: ${fmtShape(root.shape)}`,
      );
    }
    grad = zeros(root.backend, root.shape);
    root.backend.fill(1, 1, grad.buf);
  } else if (grad.size !== root.size) {
    throw new TypeError(
      `backward: gradient shape ${fmtShape(grad.shape)} differs from root ${fmtShape(root.shape)}`,
    );
  }
  // A caller-supplied gradient stays the caller's: its buffer is "borrowed" and copied only
  // before something would write into it (accumulation, or adoption as a leaf's .grad).
  const own = (t: Tensor): Tensor => (borrowed.has(owner(t)) ? copyOf(t) : t);
  // A consumed gradient goes back to the backend (a pool reuses it) unless it is the caller's.
  const release = (t: Tensor): void => {
    if (!borrowed.has(owner(t))) owner(t).dispose();
  };

  // Reverse topological order by iterative DFS (graphs can be thousands of nodes deep).
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [t, idx] = top;
    const inputs = t.node?.inputs ?? [];
    if (idx < inputs.length) {
      top[1]++;
      const c = inputs[idx];
      if (c.requiresGrad && !seen.has(c)) {
        seen.add(c);
        stack.push([c, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }

  const grads = new Map<Tensor, Tensor>([[root, grad]]);
  for (let j = order.length - 1; j >= 0; j--) {
    const t = order[j];
    let g = grads.get(t);
    grads.delete(t);
    if (!g) continue;
    const node = t.node;
    if (!node) {
      // A leaf: accumulate into .grad.
      // Every gradient in `grads` owns its buffer (see below), so a leaf can adopt it as is.
      if (t.grad) {
        accumulate(t.grad, g);
        release(g);
      } else {
        // A view of the gradient's owner (never a second owner of one buffer).
        const mine = own(g);
        t.grad = new Tensor(t.backend, mine.buf, t.shape, "f32", false, mine.base ?? mine);
      }
      continue;
    }
    let gin: (Tensor | null)[];
    if (node.bf16) {
      const mine = own(g); // the caller's gradient is never rounded in place
      roundGrad(mine);
      gin = node.backward(mine);
      g = mine;
      for (const gi of gin) if (gi) roundGrad(gi);
    } else gin = node.backward(g);
    t.node = null; // release the graph as it is consumed
    // A gradient's storage (g's, or one the rule made) may be handed on once without a copy; a
    // second taker gets its own copy, since accumulation writes in place. Storage no input took
    // goes back (owners compared, so a view and its base count once).
    const taken = new Set<Tensor>();
    const made = new Set<Tensor>([owner(g)]);
    node.inputs.forEach((inp, k) => {
      const gi = gin[k];
      if (!gi) return;
      made.add(owner(gi));
      if (!inp.requiresGrad) return;
      if (gi.size !== inp.size) {
        throw new TypeError(
          `backward of ${node.op}: gradient ${fmtShape(gi.shape)} for input ${fmtShape(inp.shape)}`,
        );
      }
      const prev = grads.get(inp);
      if (prev) {
        const mine = own(prev);
        if (mine !== prev) grads.set(inp, mine);
        accumulate(mine, gi);
      } else if (taken.has(owner(gi))) grads.set(inp, copyOf(gi));
      else {
        grads.set(inp, gi);
        taken.add(owner(gi));
      }
    });
    for (const m of made) if (!taken.has(m)) release(m);
  }
}

/** The tensor that owns t's storage (t itself unless t is a view). */
function owner(t: Tensor): Tensor {
  return t.base ?? t;
}

function copyOf(t: Tensor): Tensor {
  const c = zeros(t.backend, t.shape);
  t.backend.copy(t.size, t.buf, c.buf);
  return c;
}

/** Clears `.grad` of the given tensors, releasing their buffers for reuse. */
export function zeroGrad(params: Iterable<Tensor>): void {
  for (const p of params) {
    if (p.grad) (p.grad.base ?? p.grad).dispose();
    p.grad = null;
  }
}

export { Tensor };
