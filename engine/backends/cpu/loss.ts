/**
 * `cpu` backend, loss family: stable-max cross-entropy (bad labels reported by C), BCE with logits,
 * sum, argmax.
 */
import type { FamilyMethods } from "../../kernels.ts";
import type { CpuContext } from "./context.ts";

/** The loss kernels of the cpu backend. */
export function cpuLoss(ctx: CpuContext): FamilyMethods<"loss"> {
  const { nat, f, i, flat, grid, badIndex } = ctx;
  return {
    stablemaxXent(batch, seq, vocab, logits, labels, ignore, loss) {
      const K = "stablemaxXent";
      const X = f(logits, K, "logits"), LB = i(labels, K, "labels"), O = f(loss, K, "loss");
      const bad = badIndex(nat().trm_stablemax_xent(batch, seq, vocab, X, LB, ignore, O));
      if (bad >= 0) {
        throw new RangeError(`${K}: label ${LB[bad]} at row ${bad} outside vocab ${vocab}`);
      }
    },
    stablemaxXentBackward(batch, seq, vocab, logits, labels, ignore, dloss, dlogits) {
      const K = "stablemaxXentBackward";
      const X = f(logits, K, "logits"), LB = i(labels, K, "labels");
      const DL = f(dloss, K, "dloss"), DX = f(dlogits, K, "dlogits");
      const bad = badIndex(
        nat().trm_stablemax_xent_backward(batch, seq, vocab, X, LB, ignore, DL, DX),
      );
      if (bad >= 0) {
        throw new RangeError(`${K}: label ${LB[bad]} at row ${bad} outside vocab ${vocab}`);
      }
    },
    bceWithLogits(n, x, target, out) {
      const [X, T, O] = flat("bceWithLogits", n, { x, target, out });
      nat().trm_bce_with_logits(n, X, T, O);
    },
    bceWithLogitsBackward(n, x, target, dy, dx) {
      const [X, T, DY, DX] = flat("bceWithLogitsBackward", n, { x, target, dy, dx });
      nat().trm_bce_with_logits_backward(n, X, T, DY, DX);
    },
    sum(n, x, out) {
      const [X] = flat("sum", n, { x });
      const O = f(out, "sum", "out");
      nat().trm_sum(n, X, O);
    },
    argmax(rows, cols, x, out) {
      const K = "argmax";
      const [X] = grid(K, rows, cols, [["x", x, rows * cols]]);
      const O = i(out, K, "out");
      if (cols === 0 && rows > 0) throw new RangeError(`${K}: cols must be positive: ${cols}`);
      nat().trm_argmax(rows, cols, X, O);
    },
  };
}
