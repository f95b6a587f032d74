/**
 * `cpu` backend, elementwise family: axpby, mul, the row-vector add and its reduction, the
 * pointwise functions, SwiGLU, batched transpose.
 */
import type { FamilyMethods } from "../../kernels.ts";
import { UNARY_CODE } from "../ffi.ts";
import type { CpuContext } from "./context.ts";

/** The elementwise kernels of the cpu backend. */
export function cpuElementwise(ctx: CpuContext): FamilyMethods<"elementwise"> {
  const { nat, fs, fOpt } = ctx;
  return {
    axpby(n, alpha, x, beta, y, out) {
      const [X, Y, O] = fs("axpby", { x, y, out });
      nat().trm_axpby(n, alpha, X, beta, Y, O);
    },
    roundBf16(n, x, out) {
      const [X, O] = fs("roundBf16", { x, out });
      nat().trm_round_bf16(n, X, O);
    },
    mul(n, x, y, out) {
      const [X, Y, O] = fs("mul", { x, y, out });
      nat().trm_mul(n, X, Y, O);
    },
    addRowVector(rows, cols, x, bias, out) {
      const [X, Bv, O] = fs("addRowVector", { x, bias, out });
      nat().trm_add_row_vector(rows, cols, X, Bv, O);
    },
    sumRows(rows, cols, x, out) {
      const [X, O] = fs("sumRows", { x, out });
      nat().trm_sum_rows(rows, cols, X, O);
    },
    unary(op, n, x, out) {
      const [X, O] = fs("unary", { x, out });
      nat().trm_unary(UNARY_CODE[op], n, X, O);
    },
    unaryBackward(op, n, x, dy, dx) {
      const [X, DY, DX] = fs("unaryBackward", { x, dy, dx });
      nat().trm_unary_backward(UNARY_CODE[op], n, X, DY, DX);
    },
    swiglu(rows, inter, gu, out) {
      const [G, O] = fs("swiglu", { gu, out });
      nat().trm_swiglu(rows, inter, G, O);
    },
    swigluBackward(rows, inter, gu, dy, dgu, out) {
      const K = "swigluBackward";
      const [G, DY, DG] = fs(K, { gu, dy, dgu });
      nat().trm_swiglu_backward(rows, inter, G, DY, DG, fOpt(out, K, "out"));
    },
    transpose(batch, rows, cols, x, out) {
      const [X, O] = fs("transpose", { x, out });
      nat().trm_transpose(batch, rows, cols, X, O);
    },
  };
}
