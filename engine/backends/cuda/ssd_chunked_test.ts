/**
 * The chunked CUDA SSD (ssd_chunked.cu) WITHOUT a GPU: the library's host entry points
 * `trm_cuda_ssd_chunked_host_scan` / `_backward` run the very block programs the GPU runs
 * (ssd_chunk.cuh, ssd_chunk_bwd.cuh), each block's threads one after another with barrier
 * semantics, on host arrays. Checked here against the cpu backend's ssdScan / ssdScanBackward (or,
 * without the native library, the float64 ref backend) on seeded inputs, at awkward shapes: seq
 * not a multiple of the chunk, groups < heads, dState 5, 16 and 128, chunk 1, 16, 64 and 256 (two
 * tile rows of 32 and a ragged tail), with and without init / dFinal, and Δ·A of about −30 per
 * step (decays spanning e⁻³⁰⁰⁰ inside a chunk).
 *
 * Each case runs with 256 threads per block in order and in reverse order (results must be
 * bitwise equal: a step whose result depends on the order of its threads has a race) and with 37
 * threads (a partition that divides nothing). Tolerances as the GPU SSD tests of cuda_test.ts:
 * rtol 1e-3, atol 1e-4·√(batch·seq·headDim). What this cannot show: device-only behaviour —
 * __syncthreads placement is emulated, not executed; shared-memory limits, launch configuration,
 * CUDA's expf and FMA contraction — those need the GPU tests (cuda_test.ts, TRM_CUDA_SSD=chunked).
 */
import assert from "node:assert/strict";
import type { Backend, SsdDims } from "../../backend.ts";
import { NativeUnavailableError } from "../../errors.ts";
import { Rng } from "../../rng.ts";
import { assertClose, randomArray } from "../../testing.ts";
import { createCpuBackend } from "../cpu.ts";
import { createRefBackend } from "../ref.ts";
import { buildCuda } from "./build.ts";

const I64 = "i64" as const, BUF = "buffer" as const;
const SYMBOLS = {
  trm_cuda_ssd_chunked_host_scan: {
    parameters: [...Array(7).fill(I64), ...Array(9).fill(BUF), I64, I64],
    result: "i32",
  },
  trm_cuda_ssd_chunked_host_backward: {
    parameters: [...Array(7).fill(I64), ...Array(16).fill(BUF), I64, I64],
    result: "i32",
  },
} as const;

let lib: Deno.DynamicLibrary<typeof SYMBOLS> | null = null;
try {
  lib = Deno.dlopen(buildCuda().path, SYMBOLS);
} catch (e) {
  if (!(e instanceof NativeUnavailableError)) throw e;
  console.warn(`ssd_chunked_test: SKIPPED (no CUDA library): ${e.message}`);
}

let oracle: Backend, oracleName: string;
try {
  oracle = createCpuBackend();
  oracleName = "cpu";
} catch (e) {
  if (!(e instanceof NativeUnavailableError)) throw e;
  oracle = createRefBackend({ precision: "f64" });
  oracleName = "ref(f64)";
}

const OUTS = ["y", "fin", "dx", "ddt", "dA", "dBm", "dCm", "dD", "dInit"] as const;
type Outs = Record<(typeof OUTS)[number], Float32Array>;
interface Inputs {
  x: Float32Array;
  dt: Float32Array;
  A: Float32Array;
  Bm: Float32Array;
  Cm: Float32Array;
  D: Float32Array;
  init: Float32Array | null;
  dy: Float32Array;
  dfin: Float32Array | null;
}

function inputs(d: SsdDims, withState: boolean, stress: boolean): Inputs {
  const rng = new Rng(20261201).fork(`ssd chunked ${JSON.stringify(d)} ${withState} ${stress}`);
  const nx = d.batch * d.seq * d.heads * d.headDim, ndt = d.batch * d.seq * d.heads;
  const nbc = d.batch * d.seq * d.groups * d.dState, ns = d.batch * d.heads * d.headDim * d.dState;
  const normal = (n: number) => randomArray(rng, n, { std: 1 });
  // as cuda_test.ts; stress: Δ ≈ 3–5 with every 7th tiny, |A| ≈ 8–20 (Δ·A ≈ −30 … −100)
  const dt = Float32Array.from(
    normal(ndt),
    (v, i) => stress && i % 7 !== 0 ? Math.log1p(Math.exp(v + 4)) : Math.log1p(Math.exp(v - 2)),
  );
  const A = Float32Array.from(
    randomArray(rng, d.heads, { lo: 0, hi: 1 }),
    (v) => -Math.exp(v) * (stress ? 8 : 1),
  );
  return {
    x: normal(nx),
    dt,
    A,
    Bm: normal(nbc),
    Cm: normal(nbc),
    D: normal(d.heads),
    init: withState ? normal(ns) : null,
    dy: normal(nx),
    dfin: withState ? normal(ns) : null,
  };
}

function sizes(d: SsdDims) {
  return {
    nx: d.batch * d.seq * d.heads * d.headDim,
    ndt: d.batch * d.seq * d.heads,
    nbc: d.batch * d.seq * d.groups * d.dState,
    ns: d.batch * d.heads * d.headDim * d.dState,
  };
}

/** Forward + backward through the host simulation of the CUDA block programs. */
function hostRun(d: SsdDims, inp: Inputs, nt: number, rev: boolean): Outs {
  const { nx, ndt, nbc, ns } = sizes(d);
  const o: Outs = {
    y: new Float32Array(nx).fill(NaN),
    fin: new Float32Array(ns).fill(NaN),
    dx: new Float32Array(nx).fill(NaN),
    ddt: new Float32Array(ndt).fill(NaN),
    dA: new Float32Array(d.heads).fill(NaN),
    dBm: new Float32Array(nbc).fill(NaN),
    dCm: new Float32Array(nbc).fill(NaN),
    dD: new Float32Array(d.heads).fill(NaN),
    dInit: new Float32Array(ns).fill(NaN),
  };
  const dims = [d.batch, d.seq, d.heads, d.headDim, d.groups, d.dState, d.chunk].map(BigInt);
  const s = inp.init !== null;
  const L = lib!.symbols;
  const r1 = L.trm_cuda_ssd_chunked_host_scan(
    ...dims,
    ...[inp.x, inp.dt, inp.A, inp.Bm, inp.Cm, inp.D, inp.init, o.y, s ? o.fin : null] as const,
    BigInt(nt),
    rev ? 1n : 0n,
  );
  const r2 = L.trm_cuda_ssd_chunked_host_backward(
    ...dims,
    ...[inp.x, inp.dt, inp.A, inp.Bm, inp.Cm, inp.D, inp.init, inp.dy, inp.dfin] as const,
    ...[o.dx, o.ddt, o.dA, o.dBm, o.dCm, o.dD, s ? o.dInit : null] as const,
    BigInt(nt),
    rev ? 1n : 0n,
  );
  assert.equal(r1, 0, "host scan returned an error");
  assert.equal(r2, 0, "host backward returned an error");
  return o;
}

/** The same through the oracle backend. */
function oracleRun(d: SsdDims, inp: Inputs): Outs {
  const be = oracle;
  const put = (a: Float32Array | null) => {
    if (a === null) return null;
    const b = be.alloc("f32", a.length);
    be.upload(b, a);
    return b;
  };
  const { nx, ndt, nbc, ns } = sizes(d);
  const [x, dt, A, Bm, Cm, D, init, dy, dfin] = [
    inp.x,
    inp.dt,
    inp.A,
    inp.Bm,
    inp.Cm,
    inp.D,
    inp.init,
    inp.dy,
    inp.dfin,
  ].map(put);
  const out = {
    y: be.alloc("f32", nx),
    fin: be.alloc("f32", ns),
    dx: be.alloc("f32", nx),
    ddt: be.alloc("f32", ndt),
    dA: be.alloc("f32", d.heads),
    dBm: be.alloc("f32", nbc),
    dCm: be.alloc("f32", nbc),
    dD: be.alloc("f32", d.heads),
    dInit: be.alloc("f32", ns),
  };
  const s = init !== null;
  be.ssdScan(d, x!, dt!, A!, Bm!, Cm!, D!, init, out.y, s ? out.fin : null);
  be.ssdScanBackward(
    ...[d, x!, dt!, A!, Bm!, Cm!, D!, init, dy!, dfin] as const,
    ...[out.dx, out.ddt, out.dA, out.dBm, out.dCm, out.dD, s ? out.dInit : null] as const,
  );
  return Object.fromEntries(
    Object.entries(out).map(([k, b]) => [k, Float32Array.from(be.download(b))]),
  ) as Outs;
}

const bitsEqual = (a: Float32Array, b: Float32Array) =>
  new Uint8Array(a.buffer).every((v, i) => v === new Uint8Array(b.buffer)[i]);

function check(d: SsdDims, withState: boolean, stress = false) {
  const inp = inputs(d, withState, stress);
  const want = oracleRun(d, inp);
  const fwd = hostRun(d, inp, 256, false), back = hostRun(d, inp, 256, true);
  const odd = hostRun(d, inp, 37, true);
  const tol = { rtol: 1e-3, atol: 1e-4 * Math.sqrt(d.batch * d.seq * d.headDim) };
  const outs = OUTS.filter((k) => withState || (k !== "fin" && k !== "dInit"));
  const report: string[] = [];
  let worstRel = 0;
  for (const k of outs) {
    assert.ok(bitsEqual(fwd[k], back[k]), `${k}: thread order changed the result (a race)`);
    for (const [label, got] of [["256", fwd[k]], ["37", odd[k]]] as const) {
      assertClose(got, want[k], { ...tol, msg: `${JSON.stringify(d)} ${k} nt=${label}` });
    }
    let maxAbs = 0, scale = 0;
    for (let i = 0; i < want[k].length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(fwd[k][i] - want[k][i]));
      scale = Math.max(scale, Math.abs(want[k][i]));
    }
    report.push(`${k} ${maxAbs.toExponential(1)} (max|${oracleName}| ${scale.toPrecision(3)})`);
    if (scale > 0) worstRel = Math.max(worstRel, maxAbs / scale);
  }
  console.log(
    `  ${JSON.stringify(d)}${withState ? " +states" : ""}${stress ? " stress" : ""}: ` +
      `max |chunked − ${oracleName}| (largest ${
        worstRel.toExponential(1)
      } of max|${oracleName}|): ` +
      report.join(", "),
  );
}

function test(name: string, fn: () => void) {
  Deno.test({
    name: `cuda chunked SSD, host simulation vs ${oracleName}: ${name}`,
    ignore: !lib,
    fn,
  });
}

test("small odd shapes (chunk 16 and 1, groups < heads, dState 5)", () => {
  const base = { batch: 2, seq: 37, heads: 4, headDim: 8, groups: 2, dState: 5, chunk: 16 };
  check(base, true);
  check(base, false);
  check({ batch: 1, seq: 1, heads: 1, headDim: 1, groups: 1, dState: 1, chunk: 1 }, true);
  check({ batch: 1, seq: 9, heads: 2, headDim: 3, groups: 1, dState: 4, chunk: 1 }, true);
});

test("cpu-mini shape (dState 16, headDim 16, chunk 64) and headDim 40 with 3 groups", () => {
  check({ batch: 2, seq: 45, heads: 4, headDim: 16, groups: 1, dState: 16, chunk: 64 }, true);
  check({ batch: 3, seq: 33, heads: 6, headDim: 40, groups: 3, dState: 16, chunk: 64 }, true);
});

test("paper sizes: headDim 64, dState 128; chunk 64 (seq 130) and chunk 256 (seq 300)", () => {
  check({ batch: 2, seq: 130, heads: 2, headDim: 64, groups: 1, dState: 128, chunk: 64 }, true);
  check({ batch: 1, seq: 300, heads: 2, headDim: 64, groups: 1, dState: 128, chunk: 256 }, false);
});

test("stress: Δ·A ≈ −30 … −100 per step, every 7th step tiny (chunk 64 and 256)", () => {
  check(
    { batch: 2, seq: 100, heads: 2, headDim: 16, groups: 1, dState: 16, chunk: 64 },
    true,
    true,
  );
  check(
    { batch: 1, seq: 270, heads: 2, headDim: 8, groups: 2, dState: 16, chunk: 256 },
    true,
    true,
  );
});
