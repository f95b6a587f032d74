/**
 * `cuda` backend, loss family: stable-max cross-entropy (bad labels reported at the next sync), BCE
 * with logits, sum, argmax.
 */
import type { FamilyMethods } from "../../kernels.ts";
import type { CudaContext } from "./context.ts";

/** The loss kernels of the cuda backend. */
export function cudaLoss(ctx: CudaContext): FamilyMethods<"loss"> {
  const { L, B, check, cb, ptrs } = ctx;
  return {
    stablemaxXent(batch, seq, vocab, logits, labels, ignore, loss) {
      const K = "stablemaxXent";
      const [X, O] = ptrs(K, { logits, loss }), LB = cb(labels, K, "labels", "i32").ptr;
      check(L.trm_cuda_stablemax_xent(B(batch), B(seq), B(vocab), X, LB, ignore, O), K);
    },
    stablemaxXentBackward(batch, seq, vocab, logits, labels, ignore, dloss, dlogits) {
      const K = "stablemaxXentBackward";
      const [X, DL, DX] = ptrs(K, { logits, dloss, dlogits });
      const LB = cb(labels, K, "labels", "i32").ptr;
      check(
        L.trm_cuda_stablemax_xent_backward(B(batch), B(seq), B(vocab), X, LB, ignore, DL, DX),
        K,
      );
    },
    bceWithLogits(n, x, target, out) {
      const [X, T, O] = ptrs("bceWithLogits", { x, target, out });
      check(L.trm_cuda_bce(B(n), X, T, O), "bceWithLogits");
    },
    bceWithLogitsBackward(n, x, target, dy, dx) {
      const [X, T, DY, DX] = ptrs("bceWithLogitsBackward", { x, target, dy, dx });
      check(L.trm_cuda_bce_backward(B(n), X, T, DY, DX), "bceWithLogitsBackward");
    },
    sum(n, x, out) {
      const [X, O] = ptrs("sum", { x, out });
      check(L.trm_cuda_sum(B(n), X, O), "sum");
    },
    argmax(rows, cols, x, out) {
      const K = "argmax";
      const [X] = ptrs(K, { x }), O = cb(out, K, "out", "i32").ptr;
      check(L.trm_cuda_argmax(B(rows), B(cols), X, O), K);
    },
  };
}
