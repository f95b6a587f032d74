/**
 * What the `ref` backend's family modules share: their context (how "f32" buffers are stored), the
 * buffer casts and the logistic sigmoid.
 */
import type { Buf } from "../../backend.ts";

/** An "f32" buffer of the ref backend (Float64Array with precision "f64"). */
export type F = Float32Array | Float64Array;
/** An "i32" buffer of the ref backend. */
export type I = Int32Array;

/** The shared context of the ref family modules. */
export interface RefContext {
  /** Storage of "f32" buffers: float32 (default) or float64. */
  precision: "f32" | "f64";
  /** The constructor of "f32" buffers. */
  Arr: Float32ArrayConstructor | Float64ArrayConstructor;
}

/** The buffer as an f32 array (no check: the kernel table checked the dtype). */
export const f = (b: Buf) => b as F;
/** The buffer as an i32 array. */
export const i = (b: Buf) => b as I;

export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}
