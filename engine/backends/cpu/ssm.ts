/**
 * `cpu` backend, ssm family: Mamba-2 causal depthwise conv1d and the SSD scan, with their
 * backwards.
 */
import type { Buf, SsdDims } from "../../backend.ts";
import type { FamilyMethods } from "../../kernels.ts";
import type { CpuContext } from "./context.ts";
import { ssdSizes } from "../checks.ts";

/** The ssm kernels of the cpu backend. */
export function cpuSsm(ctx: CpuContext): FamilyMethods<"ssm"> {
  const { nat, sized } = ctx;

  /**
   * Validates SSD dims and the inputs the scan and its backward share. Returns the sizes, a checker
   * of optional [batch, heads, headDim, dState] state buffers (null stays null), and the leading
   * native arguments: the seven dims, then x, dt, A, Bm, Cm, D.
   */
  function ssdInputs(K: string, dims: SsdDims, x: Buf, dt: Buf, A: Buf, Bm: Buf, Cm: Buf, D: Buf) {
    const z = ssdSizes(dims);
    const { batch, seq, heads, headDim, groups, dState, chunk } = dims;
    const [X, DT, AA, BB, CC, DD] = sized(K, z.sizes, [
      ["x", x, z.x],
      ["dt", dt, z.dt],
      ["A", A, heads],
      ["Bm", Bm, z.bc],
      ["Cm", Cm, z.bc],
      ["D", D, heads],
    ]);
    const state = (name: string, b: Buf | null) =>
      b ? sized(K, z.sizes, [[name, b, z.state]])[0] : null;
    const args = [
      batch,
      seq,
      heads,
      headDim,
      groups,
      dState,
      chunk,
      X,
      DT,
      AA,
      BB,
      CC,
      DD,
    ] as const;
    return { z, state, args };
  }

  return {
    conv1dCausal(batch, seq, ch, k, x, w, bias, out) {
      const K = "conv1dCausal";
      const n = batch * seq * ch, sizes = `batch=${batch}, seq=${seq}, ch=${ch}, k=${k}`;
      const [X, W, Bv, O] = sized(K, sizes, [
        ["x", x, n],
        ["w", w, ch * k],
        ["bias", bias, ch],
        ["out", out, n],
      ]);
      if (n > 0) nat().trm_conv1d_causal(batch, seq, ch, k, X, W, Bv, O);
    },
    conv1dCausalBackward(batch, seq, ch, k, x, w, dy, dx, dw, dbias) {
      const K = "conv1dCausalBackward";
      const n = batch * seq * ch, sizes = `batch=${batch}, seq=${seq}, ch=${ch}, k=${k}`;
      const [X, W, DY, DX, DW, DB] = sized(K, sizes, [
        ["x", x, n],
        ["w", w, ch * k],
        ["dy", dy, n],
        ["dx", dx, n],
        ["dw", dw, ch * k],
        ["dbias", dbias, ch],
      ]);
      if (ch === 0) return;
      if (n === 0) {
        DW.fill(0, 0, ch * k);
        DB.fill(0, 0, ch);
        return;
      }
      nat().trm_conv1d_causal_backward(batch, seq, ch, k, X, W, DY, DX, DW, DB);
    },
    ssdScan(dims, x, dt, A, Bm, Cm, D, init, y, finalState) {
      const K = "ssdScan";
      const { z, state, args } = ssdInputs(K, dims, x, dt, A, Bm, Cm, D);
      const [Y] = sized(K, z.sizes, [["y", y, z.x]]);
      nat().trm_ssd_scan(...args, state("init", init), Y, state("finalState", finalState));
    },
    ssdScanBackward(dims, x, dt, A, Bm, Cm, D, init, dy, dFinal, dx, ddt, dA, dBm, dCm, dD, dInit) {
      const K = "ssdScanBackward";
      const { z, state, args } = ssdInputs(K, dims, x, dt, A, Bm, Cm, D);
      const [DY, DX, DDT, DA, DBB, DCC, DDD] = sized(K, z.sizes, [
        ["dy", dy, z.x],
        ["dx", dx, z.x],
        ["ddt", ddt, z.dt],
        ["dA", dA, dims.heads],
        ["dBm", dBm, z.bc],
        ["dCm", dCm, z.bc],
        ["dD", dD, dims.heads],
      ]);
      const I = state("init", init), DF = state("dFinal", dFinal), DI = state("dInit", dInit);
      nat().trm_ssd_scan_backward(...args, I, DY, DF, DX, DDT, DA, DBB, DCC, DDD, DI);
    },
  };
}
