/**
 * `cuda` backend, elementwise family: axpby, mul, the row-vector add and its reduction, the
 * pointwise functions, SwiGLU, batched transpose.
 */
import type { UnaryOp } from "../../backend.ts";
import type { FamilyMethods } from "../../kernels.ts";
import type { CudaContext } from "./context.ts";

const UNARY: Record<UnaryOp, number> = { silu: 0, softplus: 1, exp: 2, sigmoid: 3 };

/** The elementwise kernels of the cuda backend. */
export function cudaElementwise(ctx: CudaContext): FamilyMethods<"elementwise"> {
  const { L, B, check, ptrs, flat, opt } = ctx;
  return {
    axpby(n, alpha, x, beta, y, out) {
      const [X, Y, O] = flat("axpby", n, { x, y, out });
      check(L.trm_cuda_axpby(B(n), alpha, X, beta, Y, O), "axpby");
    },
    mul(n, x, y, out) {
      const [X, Y, O] = flat("mul", n, { x, y, out });
      check(L.trm_cuda_mul(B(n), X, Y, O), "mul");
    },
    addRowVector(rows, cols, x, bias, out) {
      const K = "addRowVector";
      const [X, Bv, O] = ptrs(K, `rows=${rows}, cols=${cols}`, [
        ["x", x, rows * cols],
        ["bias", bias, cols],
        ["out", out, rows * cols],
      ]);
      check(L.trm_cuda_add_row_vector(B(rows), B(cols), X, Bv, O), K);
    },
    sumRows(rows, cols, x, out) {
      const K = "sumRows";
      const [X, O] = ptrs(K, `rows=${rows}, cols=${cols}`, [["x", x, rows * cols], [
        "out",
        out,
        cols,
      ]]);
      check(L.trm_cuda_sum_rows(B(rows), B(cols), X, O), K);
    },
    unary(op, n, x, out) {
      const code = UNARY[op];
      if (code === undefined) throw new TypeError(`unary: unknown op: ${op}`);
      const [X, O] = flat("unary", n, { x, out });
      check(L.trm_cuda_unary(code, B(n), X, O), "unary");
    },
    unaryBackward(op, n, x, dy, dx) {
      const code = UNARY[op];
      if (code === undefined) throw new TypeError(`unaryBackward: unknown op: ${op}`);
      const [X, DY, DX] = flat("unaryBackward", n, { x, dy, dx });
      check(L.trm_cuda_unary_backward(code, B(n), X, DY, DX), "unaryBackward");
    },
    swiglu(rows, inter, gu, out) {
      const K = "swiglu";
      const [G, O] = ptrs(K, `rows=${rows}, inter=${inter}`, [
        ["gu", gu, rows * 2 * inter],
        ["out", out, rows * inter],
      ]);
      check(L.trm_cuda_swiglu(B(rows), B(inter), G, O), K);
    },
    swigluBackward(rows, inter, gu, dy, dgu, out) {
      const K = "swigluBackward", sizes = `rows=${rows}, inter=${inter}`;
      const [G, DY, DG] = ptrs(K, sizes, [
        ["gu", gu, rows * 2 * inter],
        ["dy", dy, rows * inter],
        ["dgu", dgu, rows * 2 * inter],
      ]);
      const O = opt(out ?? null, K, "out", rows * inter, sizes);
      check(L.trm_cuda_swiglu_backward(B(rows), B(inter), G, DY, DG, O), K);
    },
    transpose(batch, rows, cols, x, out) {
      const K = "transpose";
      const n = batch * rows * cols;
      const [X, O] = ptrs(K, `batch=${batch}, rows=${rows}, cols=${cols}`, [["x", x, n], [
        "out",
        out,
        n,
      ]]);
      check(L.trm_cuda_transpose(B(batch), B(rows), B(cols), X, O), K);
    },
  };
}
