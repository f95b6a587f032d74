/**
 * The kernel lab's chunked CUDA SSD (ssd_chunked.cu, labBackend("ssd-chunked")) WITHOUT a GPU: the
 * lab library's host entry points
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
 * threads (a partition that divides nothing). Tolerances as the GPU SSD tests of
 * engine/backends/kernels_test.ts and lab_test.ts: rtol 1e-3, atol 1e-4·√(batch·seq·headDim).
 * What this cannot show: device-only behaviour — __syncthreads placement is emulated, not
 * executed; shared-memory limits, launch configuration, CUDA's expf and FMA contraction — those
 * need the GPU test (lab_test.ts, `[ssd-chunked]`).
 *
 * The tensor-core variant (labBackend("ssd-chunked-tc")) runs on every case too, its tile products as
 * the host side of tile_mm (block_prog.cuh: per 16 × 16 fragment, k ascending): with f32 operands
 * (in order, reversed, 37 threads: bitwise equal; within the f32 tolerance above) and with
 * operands rounded to tf32 as the device does (within SSD_TF32_TOL of lab.ts, relative to each
 * output's largest magnitude; the log reports the error in units of u = 2⁻¹¹). Where it does not
 * take the shape (headDim or dState not a multiple of 16, min(chunk, seq) < 16) it must give the
 * scalar chunked results bitwise. Every tc product is checked against wmma's rules (dims, ldm,
 * 32-byte alignment: the host entry points return 3), and each block starts on NaN-filled shared
 * memory, so a padded tile row that is not zeroed shows. The wmma calls themselves (fragment
 * layouts, the tf32 conversion, loads from global memory) run only on a GPU: lab_test.ts,
 * `[ssd-chunked-tc]`.
 */
import assert from "node:assert/strict";
import type { SsdDims } from "../../engine/backend.ts";
import { Rng } from "../../engine/rng.ts";
import { assertClose, randomArray } from "../../engine/testing.ts";
import {
  bitsEqual,
  hostOracle,
  hostSimTest,
  maxDiff,
  openCudaLibrary,
} from "../../engine/backends/cuda/testing.ts";
import { buildLab, SSD_TF32_TOL, TF32_U } from "./lab.ts";

const I64 = "i64" as const, BUF = "buffer" as const;
const SYMBOLS = {
  trm_cuda_ssd_chunked_host_scan: {
    parameters: [...Array(7).fill(I64), ...Array(9).fill(BUF), I64, I64, I64, I64],
    result: "i32",
  },
  trm_cuda_ssd_chunked_host_backward: {
    parameters: [...Array(7).fill(I64), ...Array(16).fill(BUF), I64, I64, I64, I64],
    result: "i32",
  },
  trm_cuda_ssd_chunked_smem: { parameters: Array(9).fill(I64), result: I64 },
} as const;

const lib = openCudaLibrary(SYMBOLS, "ssd_chunked_test", () => buildLab());
const { oracle, oracleName } = hostOracle();

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
  // as ssdCase of engine/backends/cuda/testing.ts; stress: Δ ≈ 3–5 with every 7th tiny,
  // |A| ≈ 8–20 (Δ·A ≈ −30 … −100)
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

/** Variant of the host simulation: scalar chunked, or tc with f32 or tf32-rounded operands. */
type Mode = "chunked" | "tc-f32" | "tc-tf32";

/** Forward + backward through the host simulation of the CUDA block programs. */
function hostRun(d: SsdDims, inp: Inputs, nt: number, rev: boolean, mode: Mode = "chunked"): Outs {
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
  const tc = mode === "chunked" ? 0n : 1n, tf32 = mode === "tc-tf32" ? 1n : 0n;
  const tail = [BigInt(nt), rev ? 1n : 0n, tc, tf32] as const;
  const r1 = L.trm_cuda_ssd_chunked_host_scan(
    ...dims,
    ...[inp.x, inp.dt, inp.A, inp.Bm, inp.Cm, inp.D, inp.init, o.y, s ? o.fin : null] as const,
    ...tail,
  );
  const r2 = L.trm_cuda_ssd_chunked_host_backward(
    ...dims,
    ...[inp.x, inp.dt, inp.A, inp.Bm, inp.Cm, inp.D, inp.init, inp.dy, inp.dfin] as const,
    ...[o.dx, o.ddt, o.dA, o.dBm, o.dCm, o.dD, s ? o.dInit : null] as const,
    ...tail,
  );
  // 3: a tensor-core product broke wmma's rules (dims, ldm, 32-byte alignment)
  assert.equal(r1, 0, `host scan (${mode}) returned ${r1}`);
  assert.equal(r2, 0, `host backward (${mode}) returned ${r2}`);
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

/** Whether the tc variant takes the shape (else the scalar chunked programs run the call). */
const tcTakes = (d: SsdDims) =>
  lib!.symbols.trm_cuda_ssd_chunked_smem(
    ...[d.batch, d.seq, d.heads, d.headDim, d.groups, d.dState, d.chunk].map(BigInt),
    1n,
    0n,
  ) >= 0n;

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
    const [maxAbs, scale] = maxDiff(fwd[k], want[k]);
    report.push(`${k} ${maxAbs.toExponential(1)} (max|${oracleName}| ${scale.toPrecision(3)})`);
    if (scale > 0) worstRel = Math.max(worstRel, maxAbs / scale);
  }
  const name = `${JSON.stringify(d)}${withState ? " +states" : ""}${stress ? " stress" : ""}`;
  console.log(
    `  ${name}: max |chunked − ${oracleName}| (largest ${worstRel.toExponential(1)} of ` +
      `max|${oracleName}|): ${report.join(", ")}`,
  );
  checkTc(d, inp, want, fwd, outs, tol, name);
}

/**
 * The tc variant on the same inputs. Where it does not take the shape: bitwise the scalar
 * chunked results (the fallback). Else: f32 operands in order, reversed and with 37 threads,
 * bitwise equal, within the f32 tolerance `tol` of the oracle; tf32-rounded operands within
 * SSD_TF32_TOL (atol relative to max |oracle| per output) and not bitwise the f32 results.
 */
function checkTc(
  d: SsdDims,
  inp: Inputs,
  want: Outs,
  chunked: Outs,
  outs: readonly (typeof OUTS)[number][],
  tol: { rtol: number; atol: number },
  name: string,
) {
  const f32 = hostRun(d, inp, 256, false, "tc-f32"), tf = hostRun(d, inp, 256, false, "tc-tf32");
  if (!tcTakes(d)) {
    for (const k of outs) {
      assert.ok(bitsEqual(f32[k], chunked[k]), `${name} ${k}: tc fallback is not chunked`);
      assert.ok(bitsEqual(tf[k], chunked[k]), `${name} ${k}: tc fallback (tf32) is not chunked`);
    }
    console.log(`  ${name}: tc variant falls back to chunked (bitwise equal)`);
    return;
  }
  const others = [
    ["reverse thread order", hostRun(d, inp, 256, true, "tc-f32")],
    ["37 threads", hostRun(d, inp, 37, true, "tc-f32")],
    ["tf32, 37 threads", hostRun(d, inp, 37, true, "tc-tf32")],
  ] as const;
  const report: string[] = [];
  let rounded = false;
  for (const k of outs) {
    const msg = `${name} ${k} tc`;
    for (const [label, r] of others) {
      const ref = label.startsWith("tf32") ? tf : f32;
      assert.ok(bitsEqual(ref[k], r[k]), `${msg}: ${label} changed the result (a race)`);
    }
    assertClose(f32[k], want[k], { ...tol, msg: `${msg} f32` });
    const [d32, scale] = maxDiff(f32[k], want[k]), [dtf] = maxDiff(tf[k], want[k]);
    const t = SSD_TF32_TOL;
    assertClose(tf[k], want[k], { atol: t.atol * scale, rtol: t.rtol, msg: `${msg} tf32` });
    rounded ||= !bitsEqual(tf[k], f32[k]);
    report.push(`${k} ${d32.toExponential(1)} / ${(dtf / (scale || 1) / TF32_U).toFixed(2)}u`);
  }
  assert.ok(rounded, `${name}: tf32 rounding changed nothing`);
  console.log(
    `    tc: max |tc − ${oracleName}| f32 / tf32 (·max|${oracleName}|): ${report.join(", ")}`,
  );
}

const test = hostSimTest("cuda chunked SSD", lib, oracleName);

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

test("tensor-core variant: ragged tiles (chunk 16, 48; tails of 5 and 20 rows), seq < chunk", () => {
  // chunk 16: a tile of 16 rows (half a fragment pair), tail of 5; chunk 48: tiles of 32 and 16
  check({ batch: 2, seq: 53, heads: 4, headDim: 16, groups: 2, dState: 32, chunk: 16 }, true);
  check({ batch: 1, seq: 101, heads: 2, headDim: 32, groups: 1, dState: 16, chunk: 48 }, true);
  check({ batch: 2, seq: 20, heads: 2, headDim: 16, groups: 1, dState: 16, chunk: 256 }, false);
  // min(chunk, seq) < 16, headDim 24, dState 8: the scalar chunked programs (bitwise)
  check({ batch: 1, seq: 12, heads: 2, headDim: 16, groups: 1, dState: 16, chunk: 64 }, true);
  check({ batch: 1, seq: 40, heads: 2, headDim: 24, groups: 1, dState: 16, chunk: 32 }, true);
  check({ batch: 1, seq: 40, heads: 2, headDim: 16, groups: 1, dState: 8, chunk: 32 }, true);
});

test("tensor-core variant: Δ·A stress at dims it takes (headDim 16, 64); seq 916, chunk 256", () => {
  check(
    { batch: 1, seq: 270, heads: 4, headDim: 16, groups: 2, dState: 32, chunk: 256 },
    true,
    true,
  );
  // the stress case of lab_test.ts's GPU test (there with batch 2)
  const paper = { batch: 1, seq: 270, heads: 4, headDim: 64, groups: 2, dState: 128, chunk: 256 };
  check(paper, true, true);
  check({ batch: 1, seq: 916, heads: 2, headDim: 64, groups: 1, dState: 128, chunk: 256 }, true);
});

test("shared memory per block at the paper shape; shapes the tc variant does not take", () => {
  const smem = (d: SsdDims, tc: bigint, which: number) =>
    Number(
      lib!.symbols.trm_cuda_ssd_chunked_smem(
        ...[d.batch, d.seq, d.heads, d.headDim, d.groups, d.dState, d.chunk].map(BigInt),
        tc,
        BigInt(which),
      ),
    );
  const paper = { batch: 32, seq: 916, heads: 16, headDim: 64, groups: 1, dState: 128, chunk: 256 };
  const names = ["state", "CB", "out", "pass B", "pass C"];
  const rows = names.map((n, w) => `${n} ${smem(paper, 0n, w)} → ${smem(paper, 1n, w)}`);
  console.log(`  bytes per block, chunked → chunked-tc: ${rows.join(", ")}`);
  for (let w = 0; w < 5; w++) {
    assert.ok(smem(paper, 1n, w) <= 227 * 1024, `${names[w]}: fits an H100/H200 (227 KB opt-in)`);
  }
  for (const d of [{ headDim: 24 }, { dState: 8 }, { chunk: 8 }, { seq: 15 }]) {
    assert.equal(smem({ ...paper, ...d }, 1n, 0), -1, `tc takes ${JSON.stringify(d)}`);
  }
  assert.ok(tcTakes({ ...paper, seq: 16, chunk: 16 }));
});
