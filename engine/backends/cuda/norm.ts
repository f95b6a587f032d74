/**
 * `cuda` backend, norm family: RMSNorm, fused residual + RMSNorm, gated RMSNorm, softmax, and their
 * backwards.
 */
import type { FamilyMethods } from "../../kernels.ts";
import type { CudaContext } from "./context.ts";
import { gatedGroups } from "../checks.ts";

/** The norm kernels of the cuda backend. */
export function cudaNorm(ctx: CudaContext): FamilyMethods<"norm"> {
  const { L, B, check, ptrs, opt } = ctx;
  return {
    rmsnorm(rows, cols, x, weight, eps, out, rstd) {
      const K = "rmsnorm", sizes = `rows=${rows}, cols=${cols}`;
      const [X, O, R] = ptrs(K, sizes, [
        ["x", x, rows * cols],
        ["out", out, rows * cols],
        ["rstd", rstd, rows],
      ]);
      const W = opt(weight, K, "weight", cols, sizes);
      check(L.trm_cuda_rmsnorm(B(rows), B(cols), X, W, eps, O, R), K);
    },
    rmsnormBackward(rows, cols, x, weight, rstd, dy, dx, dweight) {
      const K = "rmsnormBackward", sizes = `rows=${rows}, cols=${cols}`;
      if (!weight !== !dweight) throw new TypeError(`${K}: dweight must be given iff weight is`);
      const [X, R, DY, DX] = ptrs(K, sizes, [
        ["x", x, rows * cols],
        ["rstd", rstd, rows],
        ["dy", dy, rows * cols],
        ["dx", dx, rows * cols],
      ]);
      const W = opt(weight, K, "weight", cols, sizes);
      const DW = opt(dweight, K, "dweight", cols, sizes);
      check(L.trm_cuda_rmsnorm_backward(B(rows), B(cols), X, W, R, DY, DX, DW), K);
    },
    addRmsnorm(rows, cols, x, y, eps, out, rstd) {
      const K = "addRmsnorm", sizes = `rows=${rows}, cols=${cols}`, n = rows * cols;
      const [X, Y, O, R] = ptrs(K, sizes, [
        ["x", x, n],
        ["y", y, n],
        ["out", out, n],
        ["rstd", rstd, rows],
      ]);
      check(L.trm_cuda_add_rmsnorm(B(rows), B(cols), X, Y, eps, O, R), K);
    },
    addRmsnormBackward(rows, cols, out, rstd, dy, ds) {
      const K = "addRmsnormBackward", sizes = `rows=${rows}, cols=${cols}`, n = rows * cols;
      const [O, R, DY, DS] = ptrs(K, sizes, [
        ["out", out, n],
        ["rstd", rstd, rows],
        ["dy", dy, n],
        ["ds", ds, n],
      ]);
      check(L.trm_cuda_add_rmsnorm_backward(B(rows), B(cols), O, R, DY, DS), K);
    },
    gatedRmsnorm(rows, cols, group, y, z, weight, eps, out, rstd) {
      const K = "gatedRmsnorm", sizes = `rows=${rows}, cols=${cols}, group=${group}`;
      const n = rows * cols, g = gatedGroups(cols, group);
      const [Y, Z, W, O, R] = ptrs(K, sizes, [
        ["y", y, n],
        ["z", z, n],
        ["weight", weight, cols],
        ["out", out, n],
        ["rstd", rstd, rows * g],
      ]);
      check(L.trm_cuda_gated_rmsnorm(B(rows), B(cols), B(group), Y, Z, W, eps, O, R), K);
    },
    gatedRmsnormBackward(rows, cols, group, y, z, weight, rstd, dout, dy, dz, dweight) {
      const K = "gatedRmsnormBackward", sizes = `rows=${rows}, cols=${cols}, group=${group}`;
      const n = rows * cols, g = gatedGroups(cols, group);
      const [Y, Z, W, R, DO, DY, DZ, DW] = ptrs(K, sizes, [
        ["y", y, n],
        ["z", z, n],
        ["weight", weight, cols],
        ["rstd", rstd, rows * g],
        ["dout", dout, n],
        ["dy", dy, n],
        ["dz", dz, n],
        ["dweight", dweight, cols],
      ]);
      const args = [Y, Z, W, R, DO, DY, DZ, DW] as const;
      check(L.trm_cuda_gated_rmsnorm_backward(B(rows), B(cols), B(group), ...args), K);
    },
    softmax(rows, cols, x, out) {
      const K = "softmax";
      const [X, O] = ptrs(K, `rows=${rows}, cols=${cols}`, [["x", x, rows * cols], [
        "out",
        out,
        rows * cols,
      ]]);
      check(L.trm_cuda_softmax(B(rows), B(cols), X, O), K);
    },
    softmaxBackward(rows, cols, y, dy, dx) {
      const K = "softmaxBackward";
      const [Y, DY, DX] = ptrs(K, `rows=${rows}, cols=${cols}`, [
        ["y", y, rows * cols],
        ["dy", dy, rows * cols],
        ["dx", dx, rows * cols],
      ]);
      check(L.trm_cuda_softmax_backward(B(rows), B(cols), Y, DY, DX), K);
    },
  };
}
