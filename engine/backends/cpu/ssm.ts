/**
 * `cpu` backend, ssm family: Mamba-2 causal depthwise conv1d and the SSD scan, with their
 * backwards.
 */
import type { FamilyMethods } from "../../kernels.ts";
import { ssdDimArgs } from "../ffi.ts";
import type { CpuContext } from "./context.ts";

const num = (v: number) => v;

/** The ssm kernels of the cpu backend. */
export function cpuSsm(ctx: CpuContext): FamilyMethods<"ssm"> {
  const { nat, fs, fOpt } = ctx;
  return {
    conv1dCausal(batch, seq, ch, k, x, w, bias, out) {
      const [X, W, Bv, O] = fs("conv1dCausal", { x, w, bias, out });
      if (batch * seq * ch > 0) nat().trm_conv1d_causal(batch, seq, ch, k, X, W, Bv, O);
    },
    conv1dCausalBackward(batch, seq, ch, k, x, w, dy, dx, dw, dbias) {
      const [X, W, DY, DX, DW, DB] = fs("conv1dCausalBackward", { x, w, dy, dx, dw, dbias });
      if (ch === 0) return;
      if (batch * seq === 0) {
        DW.fill(0, 0, ch * k);
        DB.fill(0, 0, ch);
        return;
      }
      nat().trm_conv1d_causal_backward(batch, seq, ch, k, X, W, DY, DX, DW, DB);
    },
    ssdScan(dims, x, dt, A, Bm, Cm, D, init, y, finalState) {
      const K = "ssdScan";
      const [X, DT, AA, BB, CC, DD, Y] = fs(K, { x, dt, A, Bm, Cm, D, y });
      const I = fOpt(init, K, "init"), FS = fOpt(finalState, K, "finalState");
      nat().trm_ssd_scan(...ssdDimArgs(dims, num), X, DT, AA, BB, CC, DD, I, Y, FS);
    },
    ssdScanBackward(dims, x, dt, A, Bm, Cm, D, init, dy, dFinal, dx, ddt, dA, dBm, dCm, dD, dInit) {
      const K = "ssdScanBackward";
      const [X, DT, AA, BB, CC, DD, DY, DX, DDT, DA, DBB, DCC, DDD] = fs(K, {
        x,
        dt,
        A,
        Bm,
        Cm,
        D,
        dy,
        dx,
        ddt,
        dA,
        dBm,
        dCm,
        dD,
      });
      const I = fOpt(init, K, "init"), DF = fOpt(dFinal, K, "dFinal");
      const DI = fOpt(dInit, K, "dInit");
      nat().trm_ssd_scan_backward(
        ...ssdDimArgs(dims, num),
        ...[X, DT, AA, BB, CC, DD, I, DY, DF],
        ...[DX, DDT, DA, DBB, DCC, DDD, DI],
      );
    },
  };
}
