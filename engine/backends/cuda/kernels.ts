/**
 * The attention and SSD scan kernels of the cuda backend: one mainline kernel per op, their
 * provenance labels (`info.attention`, `info.ssd`), and the plug point through which the kernel
 * lab (dev/cuda/) runs a variant in their place (`createCudaBackend({ lab })`).
 *
 * Variants that have not passed their tests on a GPU and beaten the mainline kernel in a timed
 * benchmark live in dev/cuda/ (its README: the promotion rule and log), not here.
 *
 * @example
 * ```ts
 * import { ATTENTION_LABEL, checkLab } from "./kernels.ts";
 * console.log(ATTENTION_LABEL); // "simt (one thread per row, f32; attention.cu)"
 * checkLab({ library: "/tmp/libx.so", ssd: { forward: "f", backward: "b", label: "x" } });
 * ```
 */

/** `info.attention` of the mainline kernels (attention.cu; validated on an H200). */
export const ATTENTION_LABEL = "simt (one thread per row, f32; attention.cu)";

/** `info.ssd` of the mainline kernels (ssd.cu; validated on an H200). */
export const SSD_LABEL = "seq (sequential recurrence, √seq checkpoints; ssd.cu)";

/**
 * A lab variant of one op: the exported names of its forward and backward entry points (the
 * mainline kernels' signatures: ATTN / ATTN_BACKWARD or SSD_SCAN / SSD_SCAN_BACKWARD of
 * symbols.ts) and its provenance label (`info.attention` or `info.ssd`).
 */
export interface CudaLabKernel {
  forward: string;
  backward: string;
  label: string;
}

/**
 * The kernel lab's plug point: a library built from the mainline sources plus dev/cuda/'s
 * (`library`, a path), whose named variants replace the mainline attention and / or SSD scan
 * kernels; every other kernel is the library's copy of the mainline one. `info.lab` records the
 * library. dev/cuda/lab.ts makes these (`labBackend`).
 */
export interface CudaLab {
  library: string;
  attention?: CudaLabKernel;
  ssd?: CudaLabKernel;
}

/** Checks a `lab` option's shape (a TypeError saying what is wrong); returns it. */
export function checkLab(lab: CudaLab): CudaLab {
  const bad = (what: string) => {
    throw new TypeError(`createCudaBackend: lab ${what}`);
  };
  if (typeof lab !== "object" || lab === null) bad("must be an object");
  if (typeof lab.library !== "string" || lab.library === "") bad("library must be a path");
  if (!lab.attention && !lab.ssd) bad("names no variant (attention or ssd)");
  for (const op of ["attention", "ssd"] as const) {
    const k = lab[op];
    if (k === undefined) continue;
    for (const f of ["forward", "backward", "label"] as const) {
      if (typeof k?.[f] !== "string" || k[f] === "") bad(`${op}.${f} must be a non-empty string`);
    }
  }
  return lab;
}
