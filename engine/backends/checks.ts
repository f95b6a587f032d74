/**
 * Size arithmetic the backends share. The checks themselves — sizes, dtypes, lengths, divisibility
 * — run once per call in the kernel table (engine/kernels.ts `withKernelChecks`) before any backend
 * sees the call, so nothing here validates again; the native backends' shared marshalling (unary
 * op codes, SSD dims in native order) is in ffi.ts.
 *
 * @example
 * ```ts
 * import { gatedGroups } from "./checks.ts";
 * gatedGroups(12, 4); // 3 groups of 4 columns
 * ```
 */

/** The group count G = cols / group of a gated RMSNorm (the table checks that group divides). */
export function gatedGroups(cols: number, group: number): number {
  return cols / group;
}
