/**
 * Argument and size checks shared by the native backends (`cpu/`, `cuda/`): the same
 * validation and the same error messages, whatever the buffers are.
 *
 * @example
 * ```ts
 * import { need, nonneg } from "./checks.ts";
 * nonneg("sum", { n: 4 });
 * need("sum", "x", new Float32Array(4), 4, "n=4");
 * ```
 */
import type { SsdDims } from "../backend.ts";

/** Checks `b` holds at least `n` elements (RangeError naming the kernel, buffer and sizes). */
export function need(
  kernel: string,
  name: string,
  b: { length: number },
  n: number,
  sizes: string,
) {
  if (b.length < n) {
    throw new RangeError(`${kernel}: ${name} has ${b.length} elements, needs ${n}: ${sizes}`);
  }
}

/** Checks every given size is a non-negative integer. */
export function nonneg(kernel: string, sizes: Record<string, number>) {
  for (const [k, v] of Object.entries(sizes)) {
    if (!Number.isInteger(v) || v < 0) {
      throw new RangeError(`${kernel}: ${k} must be a non-negative integer: ${v}`);
    }
  }
}

/** Validates SSD dims; returns the sizes text and the element counts of its buffers. */
export function ssdSizes(kernel: string, dims: SsdDims) {
  const { batch, seq, heads, headDim, groups, dState, chunk } = dims;
  nonneg(kernel, { batch, seq, heads, headDim, groups, dState, chunk });
  const sizes = `batch=${batch}, seq=${seq}, heads=${heads}, headDim=${headDim}, ` +
    `groups=${groups}, dState=${dState}, chunk=${chunk}`;
  if (groups < 1 || heads % groups !== 0 || chunk < 1) {
    throw new RangeError(
      `${kernel}: heads must be a multiple of groups (>= 1) and chunk >= 1: ${sizes}`,
    );
  }
  return {
    sizes,
    x: batch * seq * heads * headDim,
    dt: batch * seq * heads,
    bc: batch * seq * groups * dState,
    state: batch * heads * headDim * dState,
  };
}

/**
 * Validates attention dims (buffers [batch, seq, heads, headDim] with token stride `ld`); returns
 * heads·headDim, the token count and the sizes text.
 */
export function attnSizes(
  kernel: string,
  batch: number,
  seq: number,
  heads: number,
  headDim: number,
  ld: number,
): { hd: number; tokens: number; sizes: string } {
  nonneg(kernel, { batch, seq, heads, headDim, ld });
  const hd = heads * headDim, tokens = batch * seq;
  const sizes = `batch=${batch}, seq=${seq}, heads=${heads}, headDim=${headDim}, ld=${ld}`;
  if (ld < hd) throw new RangeError(`${kernel}: ld below heads·headDim: ${sizes}`);
  return { hd, tokens, sizes };
}

/** The group count G = cols / group of a gated RMSNorm (RangeError unless group ≥ 1 divides cols). */
export function gatedGroups(kernel: string, cols: number, group: number): number {
  nonneg(kernel, { cols, group });
  if (group < 1 || cols % group !== 0) {
    throw new RangeError(`${kernel}: group must divide cols: group=${group}, cols=${cols}`);
  }
  return cols / group;
}
