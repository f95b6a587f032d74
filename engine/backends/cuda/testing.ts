/**
 * Shared pieces of the CUDA backend's tests (and of the kernel lab's, dev/cuda/): the host oracle
 * they compare against, the loading of a library's host entry points (the block programs run on
 * the CPU) with a loud skip, and the device cases that run a backend against the oracle on the
 * same seeded inputs (`compareOn`, `attentionCase`, `ssdCase`).
 */
import type { Backend, Buf, SsdDims } from "../../backend.ts";
import { NativeUnavailableError } from "../../errors.ts";
import { Rng } from "../../rng.ts";
import { assertClose, randomArray } from "../../testing.ts";
import { createCpuBackend } from "../cpu/mod.ts";
import { createRefBackend } from "../ref/mod.ts";
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

/**
 * A CUDA library (built on demand by `build`: the mainline library by default, the kernel lab's
 * with dev/cuda/lab.ts's `buildLab`) with `symbols`, or null with a SKIPPED warning naming `test`.
 */
export function openCudaLibrary<S extends Deno.ForeignLibraryInterface>(
  symbols: S,
  test: string,
  build: () => { path: string } = () => buildCuda(),
): Deno.DynamicLibrary<S> | null {
  try {
    return Deno.dlopen(build().path, symbols);
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

// ------------------------------------------------------------------------------------ device cases

/** Host data of a buffer: f32 or i32. */
export type Host = Float32Array | Int32Array;
/** |got − want| ≤ atol + rtol·|want| (defaults: assertClose's). */
export type Tol = { atol?: number; rtol?: number };
/** One tolerance, or one per output from the oracle's values of it. */
export type TolFor = Tol | ((out: string, want: number[]) => Tol);

/** A buffer of `be` holding `data`. */
export function put(be: Backend, data: Host): Buf {
  const b = be.alloc(data instanceof Int32Array ? "i32" : "f32", data.length);
  be.upload(b, data);
  return b;
}
/** The contents of `b` as numbers. */
export const get = (be: Backend, b: Buf) => Array.from(be.download(b));
/** The bytes of `b` (bitwise comparisons). */
export const bits = (be: Backend, b: Buf) => new Uint8Array(be.download(b).slice().buffer);

/** The seeded generator of a case (one seed for all CUDA device tests, forked by label). */
export const rngFor = (label: string) => new Rng(20261201).fork(label);
export const normal = (rng: Rng, n: number, std = 1) => randomArray(rng, n, { std });
export const uniform = (rng: Rng, n: number, lo: number, hi: number) =>
  randomArray(rng, n, { lo, hi });
export const nans = (n: number) => new Float32Array(n).fill(NaN);

/**
 * Runs `fn` on `dev` and on `oracle` with the same inputs `bufs`; compares the buffers named in
 * `outs` (the oracle's rounded to f32) within `tol`. Returns the largest |dev − oracle|.
 */
export function compareOn(
  dev: Backend,
  oracle: Backend,
  bufs: Record<string, Host>,
  outs: string[],
  fn: (be: Backend, b: Record<string, Buf>) => void,
  tol: TolFor = {},
  msg = "",
): number {
  const mk = (x: Backend) =>
    Object.fromEntries(Object.entries(bufs).map(([k, v]) => [k, put(x, v)]));
  const bc = mk(dev), bo = mk(oracle);
  fn(dev, bc);
  fn(oracle, bo);
  let worst = 0;
  for (const o of outs) {
    const want = bufs[o] instanceof Int32Array
      ? get(oracle, bo[o])
      : Array.from(Float32Array.from(get(oracle, bo[o])));
    const got = get(dev, bc[o]);
    assertClose(got, want, {
      ...(typeof tol === "function" ? tol(o, want) : tol),
      msg: `${msg} ${o}`,
    });
    for (let i = 0; i < got.length; i++) {
      const d = Math.abs(got[i] - want[i]);
      if (d > worst) worst = d; // NaN-equal pairs give NaN: never larger
    }
  }
  for (const b of Object.values(bc)) dev.free(b);
  return worst;
}

/**
 * attention + attentionBackward on `dev` vs `oracle` at [B, L, H, D]: q, k, v as slices of a fused
 * qkv (ld = 3·H·D), scale 1/√D; outputs out, lse and dqkv (the gaps between the heads' columns
 * must stay untouched). Returns the largest |dev − oracle|.
 */
export function attentionCase(
  dev: Backend,
  oracle: Backend,
  [B, L, H, D]: readonly number[],
  tol: TolFor,
): number {
  const rng = rngFor(`attn ${B} ${L} ${H} ${D}`);
  const ld = 3 * H * D, span = (B * L - 1) * ld + H * D;
  return compareOn(
    dev,
    oracle,
    {
      qkv: normal(rng, B * L * ld),
      out: nans(B * L * H * D),
      lse: nans(B * H * L),
      dout: normal(rng, B * L * H * D),
      dqkv: normal(rng, B * L * ld),
    },
    ["out", "lse", "dqkv"],
    (be, b) => {
      const part = (buf: Buf, i: number) => be.view(buf, i * H * D, span);
      const s = 1 / Math.sqrt(D);
      be.attention(B, L, H, D, s, part(b.qkv, 0), part(b.qkv, 1), part(b.qkv, 2), ld, b.out, b.lse);
      be.attentionBackward(
        ...[B, L, H, D, s, part(b.qkv, 0), part(b.qkv, 1), part(b.qkv, 2), ld] as const,
        ...[b.out, b.lse, b.dout, part(b.dqkv, 0), part(b.dqkv, 1), part(b.dqkv, 2)] as const,
      );
    },
    tol,
    `attention B=${B} L=${L} H=${H} D=${D} (${String(dev.info.attention).split(" ")[0]})`,
  );
}

/** The SSD tolerance of f32 kernels at `d`: rtol 1e-3, atol 1e-4·√(batch·seq·headDim). */
export const ssdF32Tol = (d: SsdDims) => ({
  rtol: 1e-3,
  atol: 1e-4 * Math.sqrt(d.batch * d.seq * d.headDim),
});

/**
 * ssdScan + ssdScanBackward on `dev` vs `oracle`, with or without init / dFinal. `stress`: Δ ≈ 3–5
 * (every 7th step small) and |A| ≈ 8–20, so Δ·A ≈ −30 … −100 per step. `tol` defaults to
 * `ssdF32Tol(d)` (f32 recurrence over seq steps vs the oracle's order; dA / dD sum
 * batch·seq·headDim terms). Returns the largest |dev − oracle|.
 */
export function ssdCase(
  dev: Backend,
  oracle: Backend,
  d: SsdDims,
  withState: boolean,
  opts: { stress?: boolean; tol?: TolFor } = {},
): number {
  const stress = opts.stress ?? false;
  const rng = rngFor(`ssd ${JSON.stringify(d)} ${withState}${stress ? " stress" : ""}`);
  const nx = d.batch * d.seq * d.heads * d.headDim, ndt = d.batch * d.seq * d.heads;
  const nbc = d.batch * d.seq * d.groups * d.dState, ns = d.batch * d.heads * d.headDim * d.dState;
  const dt = Float32Array.from(
    normal(rng, ndt),
    (v, i) => Math.log1p(Math.exp(stress && i % 7 !== 0 ? v + 4 : v - 2)),
  );
  const A = Float32Array.from(uniform(rng, d.heads, 0, 1), (v) => -Math.exp(v) * (stress ? 8 : 1));
  return compareOn(
    dev,
    oracle,
    {
      x: normal(rng, nx),
      dt,
      A,
      Bm: normal(rng, nbc),
      Cm: normal(rng, nbc),
      D: normal(rng, d.heads),
      init: normal(rng, ns),
      dy: normal(rng, nx),
      dfin: normal(rng, ns),
      y: nans(nx),
      fin: nans(ns),
      dx: nans(nx),
      ddt: nans(ndt),
      dA: nans(d.heads),
      dBm: nans(nbc),
      dCm: nans(nbc),
      dD: nans(d.heads),
      dInit: nans(ns),
    },
    withState
      ? ["y", "fin", "dx", "ddt", "dA", "dBm", "dCm", "dD", "dInit"]
      : ["y", "dx", "ddt", "dA", "dBm", "dCm", "dD"],
    (be, b) => {
      const s = withState;
      be.ssdScan(d, b.x, b.dt, b.A, b.Bm, b.Cm, b.D, s ? b.init : null, b.y, s ? b.fin : null);
      be.ssdScanBackward(
        ...[
          d,
          b.x,
          b.dt,
          b.A,
          b.Bm,
          b.Cm,
          b.D,
          s ? b.init : null,
          b.dy,
          s ? b.dfin : null,
        ] as const,
        ...[b.dx, b.ddt, b.dA, b.dBm, b.dCm, b.dD, s ? b.dInit : null] as const,
      );
    },
    opts.tol ?? ssdF32Tol(d),
    `ssd ${JSON.stringify(d)} state=${withState} (${String(dev.info.ssd).split(" ")[0]})`,
  );
}
