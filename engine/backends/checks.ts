/**
 * Size arithmetic the backends share (`ref/`, `cpu/`, `cuda/`). The checks themselves — sizes,
 * dtypes, lengths, divisibility — run once per call in the kernel table (engine/kernels.ts
 * `withKernelChecks`) before any backend sees the call, so nothing here validates again.
 *
 * @example
 * ```ts
 * import { gatedGroups } from "./checks.ts";
 * gatedGroups(12, 4); // 3 groups of 4 columns
 * ```
 */
import type { SsdDims } from "../backend.ts";

/** The sizes text of SSD dims (for messages) and the element counts of its buffers. */
export function ssdSizes(dims: SsdDims) {
  const { batch, seq, heads, headDim, groups, dState, chunk } = dims;
  const sizes = `batch=${batch}, seq=${seq}, heads=${heads}, headDim=${headDim}, ` +
    `groups=${groups}, dState=${dState}, chunk=${chunk}`;
  return {
    sizes,
    x: batch * seq * heads * headDim,
    dt: batch * seq * heads,
    bc: batch * seq * groups * dState,
    state: batch * heads * headDim * dState,
  };
}

/** The group count G = cols / group of a gated RMSNorm (the table checks that group divides). */
export function gatedGroups(cols: number, group: number): number {
  return cols / group;
}
