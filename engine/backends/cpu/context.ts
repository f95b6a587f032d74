/**
 * The context the `cpu` backend's family modules take: the native symbols accessor (it applies the
 * backend's thread count first), the OpenBLAS library and thread count for GEMM, and the helpers
 * that type buffers for FFI. Sizes, dtypes and lengths are checked by the kernel table
 * (engine/kernels.ts) before a kernel runs: the helpers only check what the table cannot, that a
 * buffer is a host array of this backend (a Float32Array, not the ref backend's Float64Array).
 */
import type { Buf } from "../../backend.ts";
import type { BLAS_SYMBOLS, SYMBOLS } from "./symbols.ts";

/** OpenBLAS, as loaded by mod.ts. */
export type BlasLib = Deno.DynamicLibrary<typeof BLAS_SYMBOLS>;
/** The native library's symbols as `Deno.dlopen` returns them. */
export type Symbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
/** A native function whose int64 parameters also take numbers (converted to BigInt per call). */
type Loose<F> = F extends (...args: infer A) => infer R
  ? (...args: { [K in keyof A]: A[K] extends bigint ? number : A[K] }) => R
  : never;
/** The native library's symbols with int64 parameters that take numbers. */
export type NativeLib = { [K in keyof Symbols]: Loose<Symbols[K]> };

/** An f32 buffer of the cpu backend, typed for FFI (TypeError naming the kernel and operand). */
function f(b: Buf, kernel: string, name: string): Float32Array {
  if (!(b instanceof Float32Array)) {
    throw new TypeError(`${kernel}: ${name} must be an f32 buffer of the cpu backend`);
  }
  return b;
}
/** An i32 buffer of the cpu backend, typed for FFI. */
function i(b: Buf, kernel: string, name: string): Int32Array {
  if (!(b instanceof Int32Array)) {
    throw new TypeError(`${kernel}: ${name} must be an i32 buffer of the cpu backend`);
  }
  return b;
}
/** Named f32 buffers typed for FFI, in order. */
function fs(kernel: string, bufs: Record<string, Buf>): Float32Array[] {
  return Object.entries(bufs).map(([name, b]) => f(b, kernel, name));
}
/** An optional f32 buffer typed for FFI (null stays null: the kernel's NULL). */
function fOpt(b: Buf | null | undefined, kernel: string, name: string): Float32Array | null {
  return b ? f(b, kernel, name) : null;
}
/** The position a native kernel returned for the first bad index (-1: none). */
function badIndex(r: number | bigint): number {
  return Number(r);
}

/** The buffer-typing helpers of the context. */
export const TYPING = { f, i, fs, fOpt, badIndex };

/** What every cpu family module takes. */
export interface CpuContext {
  /** The native library, with this backend's thread count applied (cheap when unchanged). */
  nat: () => NativeLib;
  /** OpenBLAS when GEMM goes through it, else null (our C GEMM). */
  blas: BlasLib | null;
  /** The backend's thread count (OpenBLAS's is re-applied when another backend changed it). */
  threads: number;
  f: typeof f;
  i: typeof i;
  fs: typeof fs;
  fOpt: typeof fOpt;
  badIndex: typeof badIndex;
}
