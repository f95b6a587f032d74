/**
 * `cuda` backend, ssm family: Mamba-2 causal depthwise conv1d and the SSD scan (ssd.cu, or a kernel
 * lab's variant), with their backwards.
 */
import type { SsdDims } from "../../backend.ts";
import type { FamilyMethods } from "../../kernels.ts";
import type { CudaContext } from "./context.ts";
import { ssdSizes as ssdCounts } from "../checks.ts";

/** The ssm kernels of the cuda backend. */
export function cudaSsm(ctx: CudaContext): FamilyMethods<"ssm"> {
  const { L, ops, B, check, ptrs, opt } = ctx;

  /** The shared SSD checks, plus the kernel's headDim limit; adds the dims as BigInt args. */
  function ssdSizes(kernel: string, dims: SsdDims) {
    const z = ssdCounts(dims);
    const { batch, seq, heads, headDim, groups, dState, chunk } = dims;
    if (headDim > 1024) throw new RangeError(`${kernel}: headDim above 1024: ${z.sizes}`);
    const dimArgs = [batch, seq, heads, headDim, groups, dState, chunk].map(B);
    return { ...z, dimArgs };
  }

  return {
    conv1dCausal(batch, seq, ch, k, x, w, bias, out) {
      const K = "conv1dCausal";
      const n = batch * seq * ch, sizes = `batch=${batch}, seq=${seq}, ch=${ch}, k=${k}`;
      const [X, W, Bv, O] = ptrs(K, sizes, [
        ["x", x, n],
        ["w", w, ch * k],
        ["bias", bias, ch],
        ["out", out, n],
      ]);
      check(L.trm_cuda_conv1d_causal(B(batch), B(seq), B(ch), B(k), X, W, Bv, O), K);
    },
    conv1dCausalBackward(batch, seq, ch, k, x, w, dy, dx, dw, dbias) {
      const K = "conv1dCausalBackward";
      const n = batch * seq * ch, sizes = `batch=${batch}, seq=${seq}, ch=${ch}, k=${k}`;
      const [X, W, DY, DX, DW, DB] = ptrs(K, sizes, [
        ["x", x, n],
        ["w", w, ch * k],
        ["dy", dy, n],
        ["dx", dx, n],
        ["dw", dw, ch * k],
        ["dbias", dbias, ch],
      ]);
      check(
        L.trm_cuda_conv1d_causal_backward(B(batch), B(seq), B(ch), B(k), X, W, DY, DX, DW, DB),
        K,
      );
    },
    ssdScan(dims, x, dt, A, Bm, Cm, D, init, y, finalState) {
      const K = "ssdScan";
      const z = ssdSizes(K, dims);
      const [X, DT, AA, BB, CC, DD, Y] = ptrs(K, z.sizes, [
        ["x", x, z.x],
        ["dt", dt, z.dt],
        ["A", A, dims.heads],
        ["Bm", Bm, z.bc],
        ["Cm", Cm, z.bc],
        ["D", D, dims.heads],
        ["y", y, z.x],
      ]);
      const I = opt(init, K, "init", z.state, z.sizes);
      const FS = opt(finalState, K, "finalState", z.state, z.sizes);
      const [b, s, h, p, g, n, c] = z.dimArgs;
      check(ops.ssdScan(b, s, h, p, g, n, c, X, DT, AA, BB, CC, DD, I, Y, FS), K);
    },
    ssdScanBackward(dims, x, dt, A, Bm, Cm, D, init, dy, dFinal, dx, ddt, dA, dBm, dCm, dD, dInit) {
      const K = "ssdScanBackward";
      const z = ssdSizes(K, dims);
      const [X, DT, AA, BB, CC, DD, DY, DX, DDT, DA, DBB, DCC, DDD] = ptrs(K, z.sizes, [
        ["x", x, z.x],
        ["dt", dt, z.dt],
        ["A", A, dims.heads],
        ["Bm", Bm, z.bc],
        ["Cm", Cm, z.bc],
        ["D", D, dims.heads],
        ["dy", dy, z.x],
        ["dx", dx, z.x],
        ["ddt", ddt, z.dt],
        ["dA", dA, dims.heads],
        ["dBm", dBm, z.bc],
        ["dCm", dCm, z.bc],
        ["dD", dD, dims.heads],
      ]);
      const I = opt(init, K, "init", z.state, z.sizes);
      const DF = opt(dFinal, K, "dFinal", z.state, z.sizes);
      const DI = opt(dInit, K, "dInit", z.state, z.sizes);
      const [b, s, h, p, g, n, c] = z.dimArgs;
      check(
        ops.ssdScanBackward(
          ...[b, s, h, p, g, n, c],
          ...[X, DT, AA, BB, CC, DD, I, DY, DF],
          ...[DX, DDT, DA, DBB, DCC, DDD, DI],
        ),
        K,
      );
    },
  };
}
