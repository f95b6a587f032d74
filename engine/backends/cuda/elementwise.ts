/**
 * `cuda` backend, elementwise family: axpby, mul, the row-vector add and its reduction, the
 * pointwise functions, SwiGLU, batched transpose.
 */
import type { FamilyMethods } from "../../kernels.ts";
import { UNARY_CODE } from "../ffi.ts";
import type { CudaContext } from "./context.ts";

/** The elementwise kernels of the cuda backend. */
export function cudaElementwise(ctx: CudaContext): FamilyMethods<"elementwise"> {
  const { L, B, check, ptrs, ptrOpt } = ctx;
  return {
    axpby(n, alpha, x, beta, y, out) {
      const [X, Y, O] = ptrs("axpby", { x, y, out });
      check(L.trm_cuda_axpby(B(n), alpha, X, beta, Y, O), "axpby");
    },
    roundBf16(n, x, out) {
      const [X, O] = ptrs("roundBf16", { x, out });
      check(L.trm_cuda_round_bf16(B(n), X, O), "roundBf16");
    },
    mul(n, x, y, out) {
      const [X, Y, O] = ptrs("mul", { x, y, out });
      check(L.trm_cuda_mul(B(n), X, Y, O), "mul");
    },
    addRowVector(rows, cols, x, bias, out) {
      const K = "addRowVector";
      const [X, Bv, O] = ptrs(K, { x, bias, out });
      check(L.trm_cuda_add_row_vector(B(rows), B(cols), X, Bv, O), K);
    },
    sumRows(rows, cols, x, out) {
      const K = "sumRows";
      const [X, O] = ptrs(K, { x, out });
      check(L.trm_cuda_sum_rows(B(rows), B(cols), X, O), K);
    },
    unary(op, n, x, out) {
      const [X, O] = ptrs("unary", { x, out });
      check(L.trm_cuda_unary(UNARY_CODE[op], B(n), X, O), "unary");
    },
    unaryBackward(op, n, x, dy, dx) {
      const [X, DY, DX] = ptrs("unaryBackward", { x, dy, dx });
      check(L.trm_cuda_unary_backward(UNARY_CODE[op], B(n), X, DY, DX), "unaryBackward");
    },
    swiglu(rows, inter, gu, out) {
      const K = "swiglu";
      const [G, O] = ptrs(K, { gu, out });
      check(L.trm_cuda_swiglu(B(rows), B(inter), G, O), K);
    },
    swigluBackward(rows, inter, gu, dy, dgu, out) {
      const K = "swigluBackward";
      const [G, DY, DG] = ptrs(K, { gu, dy, dgu }), O = ptrOpt(out, K, "out");
      check(L.trm_cuda_swiglu_backward(B(rows), B(inter), G, DY, DG, O), K);
    },
    transpose(batch, rows, cols, x, out) {
      const K = "transpose";
      const [X, O] = ptrs(K, { x, out });
      check(L.trm_cuda_transpose(B(batch), B(rows), B(cols), X, O), K);
    },
  };
}
