/**
 * `cuda` backend, loss family: stable-max cross-entropy (bad labels reported at the next sync), BCE
 * with logits, sum, argmax.
 */
import type { FamilyMethods } from "../../kernels.ts";
import type { CudaContext } from "./context.ts";

/** The loss kernels of the cuda backend. */
export function cudaLoss(ctx: CudaContext): FamilyMethods<"loss"> {
  const { L, B, check, cb, ptrs, flat } = ctx;
  return {
    stablemaxXent(batch, seq, vocab, logits, labels, ignore, loss) {
      const K = "stablemaxXent", sizes = `batch=${batch}, seq=${seq}, vocab=${vocab}`;
      const [X, O] = ptrs(K, sizes, [["logits", logits, batch * seq * vocab], [
        "loss",
        loss,
        batch,
      ]]);
      const LB = cb(labels, K, "labels", "i32");
      check(L.trm_cuda_stablemax_xent(B(batch), B(seq), B(vocab), X, LB.ptr, ignore, O), K);
    },
    stablemaxXentBackward(batch, seq, vocab, logits, labels, ignore, dloss, dlogits) {
      const K = "stablemaxXentBackward", sizes = `batch=${batch}, seq=${seq}, vocab=${vocab}`;
      const [X, DL, DX] = ptrs(K, sizes, [
        ["logits", logits, batch * seq * vocab],
        ["dloss", dloss, batch],
        ["dlogits", dlogits, batch * seq * vocab],
      ]);
      const LB = cb(labels, K, "labels", "i32");
      check(
        L.trm_cuda_stablemax_xent_backward(B(batch), B(seq), B(vocab), X, LB.ptr, ignore, DL, DX),
        K,
      );
    },
    bceWithLogits(n, x, target, out) {
      const [X, T, O] = flat("bceWithLogits", n, { x, target, out });
      check(L.trm_cuda_bce(B(n), X, T, O), "bceWithLogits");
    },
    bceWithLogitsBackward(n, x, target, dy, dx) {
      const [X, T, DY, DX] = flat("bceWithLogitsBackward", n, { x, target, dy, dx });
      check(L.trm_cuda_bce_backward(B(n), X, T, DY, DX), "bceWithLogitsBackward");
    },
    sum(n, x, out) {
      const [X] = flat("sum", n, { x });
      const [O] = ptrs("sum", `n=${n}`, [["out", out, 1]]);
      check(L.trm_cuda_sum(B(n), X, O), "sum");
    },
    argmax(rows, cols, x, out) {
      const K = "argmax", sizes = `rows=${rows}, cols=${cols}`;
      const [X] = ptrs(K, sizes, [["x", x, rows * cols]]);
      const O = cb(out, K, "out", "i32");
      if (cols === 0 && rows > 0) throw new RangeError(`${K}: cols must be positive: ${cols}`);
      check(L.trm_cuda_argmax(B(rows), B(cols), X, O.ptr), K);
    },
  };
}
