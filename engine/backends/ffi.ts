/**
 * The FFI signatures of the native kernels, derived from the kernel table (engine/kernels.ts): for
 * each kernel its entry point in the cpu library (`trm_<snake_case name>`, engine/native/*.c) and
 * in the CUDA library (`trm_cuda_<snake_case name>`, engine/backends/cuda/*.cu), with the native
 * parameters in order — sizes "i64", buffers "buffer" (cpu, host arrays) or "u64" (cuda, device
 * addresses), every other scalar the table's `ffi` type — and the result (cpu: void, or "i64"
 * where `native.cpu.result` says so; cuda: an "i32" status). The symbols.ts of each backend adds
 * its housekeeping functions by hand; symbols_test.ts checks everything against the C sources.
 *
 * The same derivation runs twice: once on values (`kernelSymbols`, what `Deno.dlopen` gets) and
 * once on types (`KernelSymbols`, the literal parameter tuples Deno's FFI typing needs so that
 * `nat().trm_mul(n, X, Y, O)` type-checks). This module also holds the marshalling the cpu and
 * cuda family modules share (the unary op codes, the SSD dims in native order).
 *
 * @example
 * ```ts
 * import { kernelSymbols, nativeSignature } from "./ffi.ts";
 * nativeSignature("axpby", "cpu");
 * // { name: "trm_axpby", parameters: ["i64", "f32", "buffer", "f32", "buffer", "buffer"], result: "void" }
 * kernelSymbols("cuda").trm_cuda_bce.parameters; // ["i64", "u64", "u64", "u64"]
 * ```
 */
import type { SsdDims, UnaryOp } from "../backend.ts";
import {
  type FfiScalar,
  KERNEL_NAMES,
  type KernelDecl,
  type KernelName,
  KERNELS,
} from "../kernels.ts";

/** A native library: the cpu one (host buffers) or the CUDA one (device addresses). */
export type Target = "cpu" | "cuda";
/** The FFI type of a native parameter. */
export type FfiType = FfiScalar | "buffer" | "u64";
/** One native signature as `Deno.dlopen` takes it, with its exported name. */
export interface NativeSignature {
  name: string;
  parameters: FfiType[];
  result: "void" | "i32" | "i64";
}

/** The native code of each unary op (the C `switch` of kernels.c and core.cu). */
export const UNARY_CODE: Record<UnaryOp, number> = { silu: 0, softplus: 1, exp: 2, sigmoid: 3 };

/** SSD dims in the native order (the table's `ints` of ssdScan), each through `conv`. */
export function ssdDimArgs<T>(d: SsdDims, conv: (v: number) => T): [T, T, T, T, T, T, T] {
  return [d.batch, d.seq, d.heads, d.headDim, d.groups, d.dState, d.chunk].map(conv) as [
    T,
    T,
    T,
    T,
    T,
    T,
    T,
  ];
}

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** The native signature of `kernel` in `target`'s library; null where it has none. */
export function nativeSignature(kernel: KernelName, target: Target): NativeSignature | null {
  const d: KernelDecl = KERNELS[kernel];
  const nat = d.native ?? {};
  if (target === "cpu" && nat.cpu === false) return null;
  const name = target === "cpu"
    ? `trm_${snake(kernel)}`
    : nat.cuda?.symbol ?? `trm_cuda_${snake(kernel)}`;
  const parameters = (nat.params ?? d.params).map((p): FfiType => {
    if (d.ints.includes(p)) return "i64";
    if (p in d.bufs) return target === "cpu" ? "buffer" : "u64";
    const t = d.ffi?.[p];
    if (t === undefined) {
      throw new TypeError(`${kernel}: native parameter ${p} is no size, buffer or ffi scalar`);
    }
    return t;
  });
  const result = target === "cuda" ? "i32" : nat.cpu ? nat.cpu.result : "void";
  return { name, parameters, result };
}

/** Every kernel's symbol in `target`'s library, keyed by exported name (for `Deno.dlopen`). */
export function kernelSymbols<T extends Target>(target: T): KernelSymbols<T> {
  const out: Record<string, { parameters: FfiType[]; result: string }> = {};
  for (const k of KERNEL_NAMES) {
    const s = nativeSignature(k, target);
    if (s) out[s.name] = { parameters: s.parameters, result: s.result };
  }
  return out as unknown as KernelSymbols<T>;
}

// ------------------------------------------------------------------------ the same, on types

type Decl<K extends KernelName> = (typeof KERNELS)[K];
/** camelCase → snake_case. */
type Snake<S extends string> = S extends `${infer H}${infer R}`
  ? `${H extends Lowercase<H> ? H : `_${Lowercase<H>}`}${Snake<R>}`
  : S;
/** D's field F; never where D has none. */
type Field<D, F extends string> = D extends { readonly [P in F]: infer V } ? V : never;
/** A, or B where A is never. */
type Or<A, B> = [A] extends [never] ? B : A;
type Elem<A> = A extends readonly (infer E)[] ? E : never;
type FfiOf<D, P, Ptr> = P extends Elem<Field<D, "ints">> ? "i64"
  : P extends keyof Field<D, "bufs"> ? Ptr
  : P extends keyof Field<D, "ffi"> ? Field<D, "ffi">[P]
  : never;
type Params<D, Ptr, N> = { readonly [I in keyof N]: FfiOf<D, N[I], Ptr> };
type NativeOf<K extends KernelName> = Field<Decl<K>, "native">;
type SymbolOf<K extends KernelName, T extends Target> = T extends "cpu"
  ? Or<Field<NativeOf<K>, "cpu">, true> extends false ? never : `trm_${Snake<K>}`
  : Or<Field<Field<NativeOf<K>, "cuda">, "symbol">, `trm_cuda_${Snake<K>}`>;
type ResultOf<K extends KernelName, T extends Target> = T extends "cuda" ? "i32"
  : Or<Field<Field<NativeOf<K>, "cpu">, "result">, "void">;

/** The type of `kernelSymbols(target)`: literal parameter tuples, as Deno's FFI typing needs. */
export type KernelSymbols<T extends Target> = {
  readonly [K in KernelName as SymbolOf<K, T>]: {
    readonly parameters: Params<
      Decl<K>,
      T extends "cpu" ? "buffer" : "u64",
      Or<Field<NativeOf<K>, "params">, Field<Decl<K>, "params">>
    >;
    readonly result: ResultOf<K, T>;
  };
};
