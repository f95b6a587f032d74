/**
 * Shared pieces of the CUDA backend's tests: the host oracle they compare against, and the loading
 * of the library's host entry points (the block programs run on the CPU) with a loud skip.
 */
import type { Backend } from "../../backend.ts";
import { NativeUnavailableError } from "../../errors.ts";
import { createCpuBackend } from "../cpu.ts";
import { createRefBackend } from "../ref.ts";
import { buildCuda } from "./build.ts";

/** The cpu backend, or the float64 `ref` backend where the native library is unavailable. */
export function hostOracle(): { oracle: Backend; oracleName: string } {
  try {
    return { oracle: createCpuBackend(), oracleName: "cpu" };
  } catch (e) {
    if (!(e instanceof NativeUnavailableError)) throw e;
    return { oracle: createRefBackend({ precision: "f64" }), oracleName: "ref(f64)" };
  }
}

/** The CUDA library (built on demand) with `symbols`, or null with a SKIPPED warning naming `test`. */
export function openCudaLibrary<S extends Deno.ForeignLibraryInterface>(
  symbols: S,
  test: string,
): Deno.DynamicLibrary<S> | null {
  try {
    return Deno.dlopen(buildCuda().path, symbols);
  } catch (e) {
    if (!(e instanceof NativeUnavailableError)) throw e;
    console.warn(`${test}: SKIPPED (no CUDA library): ${e.message}`);
    return null;
  }
}

/** A test registrar for host simulations of `what`: named with the oracle, ignored without `lib`. */
export function hostSimTest(what: string, lib: unknown, oracleName: string) {
  return (name: string, fn: () => void) =>
    Deno.test({ name: `${what}, host simulation vs ${oracleName}: ${name}`, ignore: !lib, fn });
}

/** Whether two arrays hold the same bits (same length, byte for byte). */
export const bitsEqual = (a: Float32Array, b: Float32Array) =>
  a.length === b.length &&
  new Uint8Array(a.buffer, a.byteOffset, a.byteLength)
    .every((x, i) => x === new Uint8Array(b.buffer, b.byteOffset, b.byteLength)[i]);

/** max |got − want| and max |want|. */
export function maxDiff(got: Float32Array, want: Float32Array): [number, number] {
  let d = 0, m = 0;
  for (let i = 0; i < want.length; i++) {
    d = Math.max(d, Math.abs(got[i] - want[i]));
    m = Math.max(m, Math.abs(want[i]));
  }
  return [d, m];
}
