/**
 * `cuda` backend, norm family: RMSNorm, fused residual + RMSNorm, gated RMSNorm, softmax, and their
 * backwards.
 */
import type { FamilyMethods } from "../../kernels.ts";
import type { CudaContext } from "./context.ts";

/** The norm kernels of the cuda backend. */
export function cudaNorm(ctx: CudaContext): FamilyMethods<"norm"> {
  const { L, B, check, ptrs, ptrOpt } = ctx;
  return {
    rmsnorm(rows, cols, x, weight, eps, out, rstd) {
      const K = "rmsnorm";
      const [X, O, R] = ptrs(K, { x, out, rstd }), W = ptrOpt(weight, K, "weight");
      check(L.trm_cuda_rmsnorm(B(rows), B(cols), X, W, eps, O, R), K);
    },
    rmsnormBackward(rows, cols, x, weight, rstd, dy, dx, dweight) {
      const K = "rmsnormBackward";
      const [X, R, DY, DX] = ptrs(K, { x, rstd, dy, dx });
      const W = ptrOpt(weight, K, "weight"), DW = ptrOpt(dweight, K, "dweight");
      check(L.trm_cuda_rmsnorm_backward(B(rows), B(cols), X, W, R, DY, DX, DW), K);
    },
    addRmsnorm(rows, cols, x, y, eps, out, rstd) {
      const K = "addRmsnorm";
      const [X, Y, O, R] = ptrs(K, { x, y, out, rstd });
      check(L.trm_cuda_add_rmsnorm(B(rows), B(cols), X, Y, eps, O, R), K);
    },
    addRmsnormBackward(rows, cols, out, rstd, dy, ds) {
      const K = "addRmsnormBackward";
      const [O, R, DY, DS] = ptrs(K, { out, rstd, dy, ds });
      check(L.trm_cuda_add_rmsnorm_backward(B(rows), B(cols), O, R, DY, DS), K);
    },
    gatedRmsnorm(rows, cols, group, y, z, weight, eps, out, rstd) {
      const K = "gatedRmsnorm";
      const [Y, Z, W, O, R] = ptrs(K, { y, z, weight, out, rstd });
      check(L.trm_cuda_gated_rmsnorm(B(rows), B(cols), B(group), Y, Z, W, eps, O, R), K);
    },
    gatedRmsnormBackward(rows, cols, group, y, z, weight, rstd, dout, dy, dz, dweight) {
      const K = "gatedRmsnormBackward";
      const p = ptrs(K, { y, z, weight, rstd, dout, dy, dz, dweight });
      const [Y, Z, W, R, DO, DY, DZ, DW] = p;
      check(
        L.trm_cuda_gated_rmsnorm_backward(B(rows), B(cols), B(group), Y, Z, W, R, DO, DY, DZ, DW),
        K,
      );
    },
    softmax(rows, cols, x, out) {
      const K = "softmax";
      const [X, O] = ptrs(K, { x, out });
      check(L.trm_cuda_softmax(B(rows), B(cols), X, O), K);
    },
    softmaxBackward(rows, cols, y, dy, dx) {
      const K = "softmaxBackward";
      const [Y, DY, DX] = ptrs(K, { y, dy, dx });
      check(L.trm_cuda_softmax_backward(B(rows), B(cols), Y, DY, DX), K);
    },
  };
}
