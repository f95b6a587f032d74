/**
 * `cpu` backend, loss family: stable-max cross-entropy (bad labels reported by C), BCE with logits,
 * sum, argmax.
 */
import type { FamilyMethods } from "../../kernels.ts";
import type { CpuContext } from "./context.ts";

/** The loss kernels of the cpu backend. */
export function cpuLoss(ctx: CpuContext): FamilyMethods<"loss"> {
  const { nat, i, fs, badIndex } = ctx;
  return {
    stablemaxXent(batch, seq, vocab, logits, labels, ignore, loss) {
      const K = "stablemaxXent";
      const [X, O] = fs(K, { logits, loss }), LB = i(labels, K, "labels");
      const bad = badIndex(nat().trm_stablemax_xent(batch, seq, vocab, X, LB, ignore, O));
      if (bad >= 0) {
        throw new RangeError(`${K}: label ${LB[bad]} at row ${bad} outside vocab ${vocab}`);
      }
    },
    stablemaxXentBackward(batch, seq, vocab, logits, labels, ignore, dloss, dlogits) {
      const K = "stablemaxXentBackward";
      const [X, DL, DX] = fs(K, { logits, dloss, dlogits }), LB = i(labels, K, "labels");
      const bad = badIndex(
        nat().trm_stablemax_xent_backward(batch, seq, vocab, X, LB, ignore, DL, DX),
      );
      if (bad >= 0) {
        throw new RangeError(`${K}: label ${LB[bad]} at row ${bad} outside vocab ${vocab}`);
      }
    },
    bceWithLogits(n, x, target, out) {
      const [X, T, O] = fs("bceWithLogits", { x, target, out });
      nat().trm_bce_with_logits(n, X, T, O);
    },
    bceWithLogitsBackward(n, x, target, dy, dx) {
      const [X, T, DY, DX] = fs("bceWithLogitsBackward", { x, target, dy, dx });
      nat().trm_bce_with_logits_backward(n, X, T, DY, DX);
    },
    sum(n, x, out) {
      const [X, O] = fs("sum", { x, out });
      nat().trm_sum(n, X, O);
    },
    argmax(rows, cols, x, out) {
      const [X] = fs("argmax", { x });
      nat().trm_argmax(rows, cols, X, i(out, "argmax", "out"));
    },
  };
}
