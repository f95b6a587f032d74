/**
 * `cpu` backend, norm family: RMSNorm, fused residual + RMSNorm, gated RMSNorm, softmax, and their
 * backwards.
 */
import type { FamilyMethods } from "../../kernels.ts";
import type { CpuContext } from "./context.ts";
import { gatedGroups } from "../checks.ts";

/** The norm kernels of the cpu backend. */
export function cpuNorm(ctx: CpuContext): FamilyMethods<"norm"> {
  const { nat, f, grid } = ctx;
  return {
    rmsnorm(rows, cols, x, weight, eps, out, rstd) {
      const K = "rmsnorm";
      const [X, O, R] = grid(K, rows, cols, [
        ["x", x, rows * cols],
        ["out", out, rows * cols],
        ["rstd", rstd, rows],
      ]);
      const W = weight ? f(weight, K, "weight") : null;
      nat().trm_rmsnorm(rows, cols, X, W, eps, O, R);
    },
    rmsnormBackward(rows, cols, x, weight, rstd, dy, dx, dweight) {
      const K = "rmsnormBackward";
      const [X, R, DY, DX] = grid(K, rows, cols, [
        ["x", x, rows * cols],
        ["rstd", rstd, rows],
        ["dy", dy, rows * cols],
        ["dx", dx, rows * cols],
      ]);
      if (!weight !== !dweight) {
        throw new TypeError(`${K}: dweight must be given iff weight is`);
      }
      const W = weight ? f(weight, K, "weight") : null;
      const DW = dweight ? f(dweight, K, "dweight") : null;
      nat().trm_rmsnorm_backward(rows, cols, X, W, R, DY, DX, DW);
    },
    addRmsnorm(rows, cols, x, y, eps, out, rstd) {
      const n = rows * cols;
      const [X, Y, O, R] = grid("addRmsnorm", rows, cols, [
        ["x", x, n],
        ["y", y, n],
        ["out", out, n],
        ["rstd", rstd, rows],
      ]);
      nat().trm_add_rmsnorm(rows, cols, X, Y, eps, O, R);
    },
    addRmsnormBackward(rows, cols, out, rstd, dy, ds) {
      const n = rows * cols;
      const [O, R, DY, DS] = grid("addRmsnormBackward", rows, cols, [
        ["out", out, n],
        ["rstd", rstd, rows],
        ["dy", dy, n],
        ["ds", ds, n],
      ]);
      nat().trm_add_rmsnorm_backward(rows, cols, O, R, DY, DS);
    },
    gatedRmsnorm(rows, cols, group, y, z, weight, eps, out, rstd) {
      const K = "gatedRmsnorm", n = rows * cols, g = gatedGroups(cols, group);
      const [Y, Z, O, R] = grid(K, rows, cols, [
        ["y", y, n],
        ["z", z, n],
        ["out", out, n],
        ["rstd", rstd, rows * g],
      ]);
      const W = f(weight, K, "weight");
      nat().trm_gated_rmsnorm(rows, cols, group, Y, Z, W, eps, O, R);
    },
    gatedRmsnormBackward(rows, cols, group, y, z, weight, rstd, dout, dy, dz, dweight) {
      const K = "gatedRmsnormBackward", n = rows * cols, g = gatedGroups(cols, group);
      const [Y, Z, R, DO, DY, DZ] = grid(K, rows, cols, [
        ["y", y, n],
        ["z", z, n],
        ["rstd", rstd, rows * g],
        ["dout", dout, n],
        ["dy", dy, n],
        ["dz", dz, n],
      ]);
      const W = f(weight, K, "weight"), DW = f(dweight, K, "dweight");
      nat().trm_gated_rmsnorm_backward(rows, cols, group, Y, Z, W, R, DO, DY, DZ, DW);
    },
    softmax(rows, cols, x, out) {
      const [X, O] = grid("softmax", rows, cols, [["x", x, rows * cols], [
        "out",
        out,
        rows * cols,
      ]]);
      nat().trm_softmax(rows, cols, X, O);
    },
    softmaxBackward(rows, cols, y, dy, dx) {
      const [Y, DY, DX] = grid("softmaxBackward", rows, cols, [
        ["y", y, rows * cols],
        ["dy", dy, rows * cols],
        ["dx", dx, rows * cols],
      ]);
      nat().trm_softmax_backward(rows, cols, Y, DY, DX);
    },
  };
}
