/**
 * `cpu` backend, norm family: RMSNorm, fused residual + RMSNorm, gated RMSNorm, softmax, and their
 * backwards.
 */
import type { FamilyMethods } from "../../kernels.ts";
import type { CpuContext } from "./context.ts";

/** The norm kernels of the cpu backend. */
export function cpuNorm(ctx: CpuContext): FamilyMethods<"norm"> {
  const { nat, fs, fOpt } = ctx;
  return {
    rmsnorm(rows, cols, x, weight, eps, out, rstd) {
      const K = "rmsnorm";
      const [X, O, R] = fs(K, { x, out, rstd });
      nat().trm_rmsnorm(rows, cols, X, fOpt(weight, K, "weight"), eps, O, R);
    },
    rmsnormBackward(rows, cols, x, weight, rstd, dy, dx, dweight) {
      const K = "rmsnormBackward";
      const [X, R, DY, DX] = fs(K, { x, rstd, dy, dx });
      const W = fOpt(weight, K, "weight"), DW = fOpt(dweight, K, "dweight");
      nat().trm_rmsnorm_backward(rows, cols, X, W, R, DY, DX, DW);
    },
    addRmsnorm(rows, cols, x, y, eps, out, rstd) {
      const [X, Y, O, R] = fs("addRmsnorm", { x, y, out, rstd });
      nat().trm_add_rmsnorm(rows, cols, X, Y, eps, O, R);
    },
    addRmsnormBackward(rows, cols, out, rstd, dy, ds) {
      const [O, R, DY, DS] = fs("addRmsnormBackward", { out, rstd, dy, ds });
      nat().trm_add_rmsnorm_backward(rows, cols, O, R, DY, DS);
    },
    gatedRmsnorm(rows, cols, group, y, z, weight, eps, out, rstd) {
      const [Y, Z, W, O, R] = fs("gatedRmsnorm", { y, z, weight, out, rstd });
      nat().trm_gated_rmsnorm(rows, cols, group, Y, Z, W, eps, O, R);
    },
    gatedRmsnormBackward(rows, cols, group, y, z, weight, rstd, dout, dy, dz, dweight) {
      const [Y, Z, W, R, DO, DY, DZ, DW] = fs("gatedRmsnormBackward", {
        y,
        z,
        weight,
        rstd,
        dout,
        dy,
        dz,
        dweight,
      });
      nat().trm_gated_rmsnorm_backward(rows, cols, group, Y, Z, W, R, DO, DY, DZ, DW);
    },
    softmax(rows, cols, x, out) {
      const [X, O] = fs("softmax", { x, out });
      nat().trm_softmax(rows, cols, X, O);
    },
    softmaxBackward(rows, cols, y, dy, dx) {
      const [Y, DY, DX] = fs("softmaxBackward", { y, dy, dx });
      nat().trm_softmax_backward(rows, cols, Y, DY, DX);
    },
  };
}
