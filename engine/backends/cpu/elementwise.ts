/**
 * `cpu` backend, elementwise family: axpby, mul, the row-vector add and its reduction, the
 * pointwise functions, SwiGLU, batched transpose.
 */
import type { UnaryOp } from "../../backend.ts";
import type { FamilyMethods } from "../../kernels.ts";
import type { CpuContext } from "./context.ts";

const UNARY: Record<UnaryOp, number> = { silu: 0, softplus: 1, exp: 2, sigmoid: 3 };

/** The elementwise kernels of the cpu backend. */
export function cpuElementwise(ctx: CpuContext): FamilyMethods<"elementwise"> {
  const { nat, f, flat, grid } = ctx;
  return {
    axpby(n, alpha, x, beta, y, out) {
      const [X, Y, O] = flat("axpby", n, { x, y, out });
      nat().trm_axpby(n, alpha, X, beta, Y, O);
    },
    mul(n, x, y, out) {
      const [X, Y, O] = flat("mul", n, { x, y, out });
      nat().trm_mul(n, X, Y, O);
    },
    addRowVector(rows, cols, x, bias, out) {
      const [X, Bv, O] = grid("addRowVector", rows, cols, [
        ["x", x, rows * cols],
        ["bias", bias, cols],
        ["out", out, rows * cols],
      ]);
      nat().trm_add_row_vector(rows, cols, X, Bv, O);
    },
    sumRows(rows, cols, x, out) {
      const [X, O] = grid("sumRows", rows, cols, [["x", x, rows * cols], ["out", out, cols]]);
      nat().trm_sum_rows(rows, cols, X, O);
    },
    unary(op, n, x, out) {
      const code = UNARY[op];
      if (code === undefined) throw new TypeError(`unary: unknown op: ${op}`);
      const [X, O] = flat("unary", n, { x, out });
      nat().trm_unary(code, n, X, O);
    },
    unaryBackward(op, n, x, dy, dx) {
      const code = UNARY[op];
      if (code === undefined) throw new TypeError(`unaryBackward: unknown op: ${op}`);
      const [X, DY, DX] = flat("unaryBackward", n, { x, dy, dx });
      nat().trm_unary_backward(code, n, X, DY, DX);
    },
    swiglu(rows, inter, gu, out) {
      const [G, O] = grid("swiglu", rows, inter, [
        ["gu", gu, rows * 2 * inter],
        ["out", out, rows * inter],
      ]);
      nat().trm_swiglu(rows, inter, G, O);
    },
    swigluBackward(rows, inter, gu, dy, dgu, out) {
      const [G, DY, DG] = grid("swigluBackward", rows, inter, [
        ["gu", gu, rows * 2 * inter],
        ["dy", dy, rows * inter],
        ["dgu", dgu, rows * 2 * inter],
      ]);
      const O = out ? f(out, "swigluBackward", "out") : null;
      nat().trm_swiglu_backward(rows, inter, G, DY, DG, O);
    },
    transpose(batch, rows, cols, x, out) {
      const n = batch * rows * cols;
      const [X, O] = grid("transpose", rows, cols, [["x", x, n], ["out", out, n]]);
      nat().trm_transpose(batch, rows, cols, X, O);
    },
  };
}
