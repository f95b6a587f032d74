/**
 * `cuda` backend, ssm family: Mamba-2 causal depthwise conv1d and the SSD scan (ssd.cu, or a kernel
 * lab's variant), with their backwards.
 */
import type { SsdDims } from "../../backend.ts";
import type { FamilyMethods } from "../../kernels.ts";
import { ssdDimArgs } from "../ffi.ts";
import type { CudaContext } from "./context.ts";

/** The ssm kernels of the cuda backend. */
export function cudaSsm(ctx: CudaContext): FamilyMethods<"ssm"> {
  const { L, ops, B, check, ptrs, ptrOpt } = ctx;

  /** The dims as the kernel's int64 arguments, after its own headDim limit (not the table's). */
  function dimArgs(K: string, d: SsdDims) {
    if (d.headDim > 1024) {
      const sizes = `batch=${d.batch}, seq=${d.seq}, heads=${d.heads}, headDim=${d.headDim}, ` +
        `groups=${d.groups}, dState=${d.dState}, chunk=${d.chunk}`;
      throw new RangeError(`${K}: headDim above 1024: ${sizes}`);
    }
    return ssdDimArgs(d, B);
  }

  return {
    conv1dCausal(batch, seq, ch, k, x, w, bias, out) {
      const K = "conv1dCausal";
      const [X, W, Bv, O] = ptrs(K, { x, w, bias, out });
      check(L.trm_cuda_conv1d_causal(B(batch), B(seq), B(ch), B(k), X, W, Bv, O), K);
    },
    conv1dCausalBackward(batch, seq, ch, k, x, w, dy, dx, dw, dbias) {
      const K = "conv1dCausalBackward";
      const [X, W, DY, DX, DW, DB] = ptrs(K, { x, w, dy, dx, dw, dbias });
      check(
        L.trm_cuda_conv1d_causal_backward(B(batch), B(seq), B(ch), B(k), X, W, DY, DX, DW, DB),
        K,
      );
    },
    ssdScan(dims, x, dt, A, Bm, Cm, D, init, y, finalState) {
      const K = "ssdScan";
      const d = dimArgs(K, dims);
      const [X, DT, AA, BB, CC, DD, Y] = ptrs(K, { x, dt, A, Bm, Cm, D, y });
      const I = ptrOpt(init, K, "init"), FS = ptrOpt(finalState, K, "finalState");
      check(ops.ssdScan(...d, X, DT, AA, BB, CC, DD, I, Y, FS), K);
    },
    ssdScanBackward(dims, x, dt, A, Bm, Cm, D, init, dy, dFinal, dx, ddt, dA, dBm, dCm, dD, dInit) {
      const K = "ssdScanBackward";
      const d = dimArgs(K, dims);
      const [X, DT, AA, BB, CC, DD, DY, DX, DDT, DA, DBB, DCC, DDD] = ptrs(K, {
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
      const I = ptrOpt(init, K, "init"), DF = ptrOpt(dFinal, K, "dFinal");
      const DI = ptrOpt(dInit, K, "dInit");
      check(
        ops.ssdScanBackward(
          ...d,
          ...[X, DT, AA, BB, CC, DD, I, DY, DF],
          ...[DX, DDT, DA, DBB, DCC, DDD, DI],
        ),
        K,
      );
    },
  };
}
