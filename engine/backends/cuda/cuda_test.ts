/**
 * The `cuda` backend.
 *
 * Here (any machine): the CUDA sources compile with nvcc and the library loads; without a GPU,
 * creating the backend fails with a NativeUnavailableError that names the CUDA error (the build
 * machine and CI have nvcc but no driver: "no CUDA driver: cudaGetDeviceCount → …").
 *
 * With a GPU: every kernel of the contract on `cuda` against the `cpu` backend (or, where the
 * native cpu library is unavailable, the float64 `ref` oracle) on the same seeded inputs, with
 * awkward shapes (sizes of 1, odd sizes, sizes that do not divide the tiles: GEMM 64 × 64 × 16,
 * attention 64 query rows × 16 keys, 256-row reduction segments), strided views into fused buffers,
 * attention at L = 916, and bitwise determinism run to run. These tests are `ignore`d, with a
 * warning saying why, when no GPU is present.
 *
 * Tolerances (|cuda − oracle| ≤ atol + rtol·|oracle|), f32 kernels with f32 accumulation:
 * - exact (0, 0): copies, transposes, gathers, argmax;
 * - pointwise maths: rtol 1e-5, atol 1e-6 (CUDA's expf/log1pf/atan2f are within 2 ulp);
 * - sums of k terms (GEMM, row reductions, attention): atol ∝ √k · 2e-5, rtol 1e-4 (1e-3 at
 *   L = 916, where 916-term float32 sums in a different order than the cpu backend's);
 * - the SSD scan: rtol 1e-3, atol 1e-4 (f32 states over a recurrence of `seq` steps vs the cpu
 *   backend's own f32 chunked form);
 * - i32 results: exact.
 *
 * These are the mainline kernels (one per op). The kernel lab's variants (tensor-core attention,
 * chunked SSD) are tested on a GPU by dev/cuda/lab_test.ts, with the same cases (testing.ts).
 *
 * GEMM math modes (`math: "tf32" | "bf16"`, cuBLAS tensor cores, f32 accumulation and storage) run
 * the same GEMM cases against the f32 oracle with tolerances from the input rounding: with u the
 * unit roundoff of the inputs (tf32 2⁻¹¹, bf16 2⁻⁸), each product a·b is off by at most ~2u
 * relative, in random directions, so a k-term sum of N(0, 1) products scaled by alpha is off by
 * ≈ 1.2·u·√k·|alpha| (one σ): atol = 8·u·√k·|alpha| (≈ 6σ), rtol = 4u (covers a truncating
 * conversion, whose bias is proportional to the result). The largest case must also differ from
 * the f32 result by more than 1e-3 somewhere: proof that the mode is in effect. These tests need
 * cuBLAS (ignored, with a warning, without a GPU; they fail rather than skip when cuBLAS is
 * missing on a GPU machine).
 */
import assert from "node:assert/strict";
import type { Backend, Buf, SsdDims } from "../../backend.ts";
import { NativeUnavailableError, OutOfMemoryError } from "../../errors.ts";
import type { Rng } from "../../rng.ts";
import { withPool } from "../pool.ts";
import { buildCuda } from "./build.ts";
import { ATTENTION_LABEL, SSD_LABEL } from "./kernels.ts";
import {
  attentionCase as attentionOn,
  bits,
  compareOn,
  get,
  type Host,
  hostOracle,
  nans,
  normal,
  put,
  rngFor,
  ssdCase as ssdOn,
  type TolFor,
  uniform,
} from "./testing.ts";
import { createCudaBackend, cudaStatus, type GemmMath } from "./cuda.ts";

let nvccMissing = false;
try {
  buildCuda();
} catch (e) {
  if (!(e instanceof NativeUnavailableError) || !/no nvcc found/.test(e.reason)) throw e;
  nvccMissing = true;
  console.warn(`cuda_test: build test SKIPPED: ${e.message}`);
}

let cuda: Backend | null = null;
let whyNot = "";
if (!nvccMissing) {
  try {
    cuda = createCudaBackend();
  } catch (e) {
    if (!(e instanceof NativeUnavailableError)) throw e;
    whyNot = e.message;
    console.warn(`cuda_test: GPU cross-backend tests SKIPPED (no GPU here): ${e.message}`);
  }
}

/** The tf32 / bf16 GEMM backends with the unit roundoff of their inputs. */
const MATHS: [GemmMath, number][] = [["tf32", 2 ** -11], ["bf16", 2 ** -8]];
const mathBackends = new Map<GemmMath, Backend>();
const mathWhyNot = new Map<GemmMath, string>();
if (cuda) {
  for (const [math] of MATHS) {
    try {
      mathBackends.set(math, createCudaBackend({ gemm: "cublas", math }));
    } catch (e) {
      if (!(e instanceof NativeUnavailableError)) throw e;
      mathWhyNot.set(math, e.message);
    }
  }
}

const { oracle, oracleName } = hostOracle();

Deno.test({
  name: "cuda: the CUDA sources compile and the library loads; no GPU is reported cleanly",
  ignore: nvccMissing,
  fn() {
    const r = buildCuda();
    assert.match(r.path, /libtrm_cuda-[0-9a-f]{16}\.so$/);
    assert.ok(r.flags.some((f) => /code=sm_\d+/.test(f)));
    const st = cudaStatus();
    if (cuda) {
      assert.equal(st.ok, true);
      assert.equal(cuda.name, "cuda");
      // one kernel per op: the mainline labels, no lab library
      assert.equal(cuda.info.attention, ATTENTION_LABEL);
      assert.equal(cuda.info.ssd, SSD_LABEL);
      assert.equal(cuda.info.lab, undefined);
      return;
    }
    assert.equal(st.ok, false);
    // without a driver the library still loaded: the reason is the CUDA error, not a build error
    assert.match(
      whyNot,
      /cuda backend unavailable: no CUDA (driver: cudaGetDeviceCount → |device)/,
    );
    assert.throws(() => createCudaBackend(), NativeUnavailableError);
  },
});

function test(name: string, fn: () => void) {
  Deno.test({ name: `cuda vs ${oracleName}: ${name}`, ignore: cuda === null, fn });
}

/** Runs `fn` on cuda (or `dev`) and on the oracle with the same inputs; compares `outs`. */
function compare(
  bufs: Record<string, Host>,
  outs: string[],
  fn: (be: Backend, b: Record<string, Buf>) => void,
  tol: TolFor = {},
  msg = "",
  dev: Backend = cuda!,
): number {
  return compareOn(dev, oracle, bufs, outs, fn, tol, msg);
}

const ints = (rng: Rng, n: number, hi: number) => Int32Array.from({ length: n }, () => rng.int(hi));

// ------------------------------------------------------------------------------------ buffers

test("buffers: alloc zero-filled, view, upload/download, copy, copy2d (incl. lds 0), fill", () => {
  const be = cuda!;
  const a = be.alloc("f32", 6);
  assert.deepEqual(get(be, a), [0, 0, 0, 0, 0, 0]);
  be.upload(a, [1, 2, 3, 4, 5, 6]);
  be.fill(2, 9, be.view(a, 2, 3));
  assert.deepEqual(get(be, a), [1, 2, 9, 9, 5, 6]);
  be.copy(3, a, be.view(a, 3, 3));
  assert.deepEqual(get(be, a), [1, 2, 9, 1, 2, 9]);
  assert.throws(() => be.view(a, 4, 3), RangeError);
  const src = put(be, Float32Array.from({ length: 35 }, (_, j) => j)), dst = be.alloc("f32", 30);
  be.copy2d(4, 3, be.view(src, 2, 33), 8, be.view(dst, 1, 29), 7);
  const want = new Array(30).fill(0);
  for (let r = 0; r < 4; r++) for (let c = 0; c < 3; c++) want[1 + r * 7 + c] = 2 + r * 8 + c;
  assert.deepEqual(get(be, dst), want);
  const bc = be.alloc("f32", 12);
  be.copy2d(3, 4, src, 0, bc, 4); // broadcast row 0
  assert.deepEqual(get(be, bc), [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3]);
  const ib = be.alloc("i32", 3);
  be.fill(3, -7, ib);
  assert.deepEqual(get(be, ib), [-7, -7, -7]);
  assert.ok(be.download(ib) instanceof Int32Array);
  be.free(a);
  assert.throws(() => be.free(a), /twice/);
});

test("pool over cuda: reuse zeroed by fill; out of memory is OutOfMemoryError, retried once", () => {
  const be = withPool(cuda!);
  const a = be.alloc("f32", 1000, false);
  be.upload(a, Float32Array.from({ length: 1000 }, (_, i) => i + 1));
  be.free(a);
  const b = be.alloc("f32", 1000);
  assert.equal(b, a, "the cached buffer is handed out again");
  assert.deepEqual(get(be, b), new Array(1000).fill(0), "zeroed on request");
  be.free(b);
  // twice the device memory: cudaMalloc fails at once with cudaErrorMemoryAllocation
  const huge = Math.ceil(Number(cuda!.info.memoryBytes) / 2);
  assert.throws(() => be.alloc("f32", huge), OutOfMemoryError);
  assert.equal(be.poolStats().oomRetries, 1, "the pool held a buffer: emptied, retried once");
  assert.equal(be.poolStats().pooledBuffers, 0);
  assert.throws(() => be.alloc("f32", huge), OutOfMemoryError);
  assert.equal(be.poolStats().oomRetries, 1, "nothing cached: raised at once");
  // the failed cudaMalloc left no error behind for the next kernel's launch check
  const c = be.alloc("f32", 7);
  be.fill(7, 2, c); // a kernel launch (fill_kernel, value ≠ 0), checked with cudaGetLastError
  be.sync();
  assert.deepEqual(get(be, c), new Array(7).fill(2));
});

// ------------------------------------------------------------------------------------ GEMM

const GEMM_SIZES = [[1, 1, 1], [7, 13, 5], [65, 70, 33], [130, 129, 300]];

/**
 * One GEMM size on `dev` vs the oracle: 4 transposes, beta 0 (NaN C) and 0.5, batch 3, stride 0;
 * tolerances from `tol(k)`. Returns the largest |dev − oracle| over all cases.
 */
function gemmCases(
  dev: Backend,
  [m, n, k]: number[],
  tol: (k: number) => { atol: number; rtol: number },
): number {
  let maxDiff = 0;
  for (const ta of [false, true]) {
    for (const tb of [false, true]) {
      for (const [batch, beta, share] of [[1, 0, false], [3, 0.5, false], [3, 0, true]] as const) {
        const rng = rngFor(`gemm ${m} ${n} ${k} ${ta} ${tb} ${batch}`);
        const [ar, ac] = ta ? [k, m] : [m, k];
        const [br, bc] = tb ? [n, k] : [k, n];
        const lda = ac + 3, ldb = bc + 1, ldc = n + 2;
        const sa = share ? 0 : ar * lda + 5, sb = br * ldb, sc = m * ldc + 1;
        const lc = (batch - 1) * sc + m * ldc;
        const c0 = beta === 0 ? nans(lc) : normal(rng, lc);
        if (beta === 0) {
          for (let i = 0; i < lc; i++) if ((i % sc) % ldc >= n || i % sc >= m * ldc) c0[i] = 7;
        }
        const d = compare(
          {
            a: normal(rng, (batch - 1) * sa + ar * lda),
            b: normal(rng, (batch - 1) * sb + br * ldb),
            c: c0,
          },
          ["c"],
          (x, B) =>
            x.gemm(ta, tb, m, n, k, 1.5, B.a, lda, B.b, ldb, beta, B.c, ldc, batch, sa, sb, sc),
          tol(k),
          `gemm ta=${ta} tb=${tb} batch=${batch} beta=${beta}`,
          dev,
        );
        maxDiff = Math.max(maxDiff, d);
      }
    }
  }
  return maxDiff;
}

for (const size of GEMM_SIZES) {
  test(`gemm ${size.join("×")}: 4 transposes, beta 0 (NaN C) and 0.5, batch 3, stride 0`, () => {
    gemmCases(cuda!, size, (k) => ({ atol: 2e-5 * Math.sqrt(k + 1), rtol: 1e-4 }));
  });
}

for (const [math, u] of MATHS) {
  const be = mathBackends.get(math);
  if (cuda && !be) console.warn(`cuda_test: ${math} GEMM tests IGNORED: ${mathWhyNot.get(math)}`);
  Deno.test({
    name: `cuda ${math} GEMM vs ${oracleName}: all sizes and transposes; differs from f32`,
    ignore: !be,
    fn() {
      assert.equal(be!.name, `cuda-${math}`, "the mode is part of the backend's name");
      assert.equal(be!.info.gemmMath, math);
      assert.match(String(be!.info.precision), new RegExp(`^${math} tensor-core GEMM inputs`));
      const alpha = 1.5;
      let last = 0;
      for (const size of GEMM_SIZES) {
        last = gemmCases(be!, size, (k) => ({ atol: 8 * u * Math.sqrt(k) * alpha, rtol: 4 * u }));
      }
      // 130×129×300: an f32 GEMM is within ~3e-4 of the oracle; tf32/bf16 rounding is far above
      assert.ok(last > 1e-3, `${math}: max |Δ| ${last} at k=300: is the ${math} mode in effect?`);
    },
  });
}

// ------------------------------------------------------------------------------------ elementwise

const FLAT = [1, 17, 100_003];
const SPECIAL = new Float32Array([0, -0, 1, -1, 19.9, 20, 20.5, 30, -30, 88, 89, 100, -87, -104]);

test("axpby, mul, ema, addRowVector, sumRows, bce, sum, adamAtan2", () => {
  for (const n of FLAT) {
    const rng = rngFor(`flat ${n}`);
    const x = normal(rng, n), y = normal(rng, n), t = uniform(rng, n, 0, 1);
    compare({ x, y, o: nans(n) }, ["o"], (be, b) => be.axpby(n, 0.7, b.x, -1.3, b.y, b.o));
    compare({ x, y }, ["x"], (be, b) => be.axpby(n, 0.7, b.x, -1.3, b.y, b.x));
    compare({ x, y, o: nans(n) }, ["o"], (be, b) => be.mul(n, b.x, b.y, b.o));
    compare({ x, y }, ["x"], (be, b) => be.ema(n, b.x, b.y, 0.999), { rtol: 1e-5, atol: 1e-6 });
    compare(
      { x: uniform(rng, n, -30, 30), t, dy: y, o: nans(n), dx: nans(n) },
      ["o", "dx"],
      (be, b) => {
        be.bceWithLogits(n, b.x, b.t, b.o);
        be.bceWithLogitsBackward(n, b.x, b.t, b.dy, b.dx);
      },
      { rtol: 1e-5, atol: 1e-6 },
    );
    compare({ x, o: nans(1) }, ["o"], (be, b) => be.sum(n, b.x, b.o), { rtol: 1e-6, atol: 1e-6 });
    const [b1, b2, st] = [0.9, 0.95, 3];
    compare(
      { p: normal(rng, n), g: normal(rng, n), m: normal(rng, n, 0.1), v: uniform(rng, n, 0, 0.1) },
      ["p", "m", "v"],
      (be, b) => be.adamAtan2(n, b.p, b.g, b.m, b.v, 1e-3, 0.1, b1, b2, 1 - b1 ** st, 1 - b2 ** st),
      { rtol: 1e-5, atol: 1e-6 },
    );
  }
  for (const [rows, cols] of [[1, 1], [7, 13], [300, 64], [1100, 3], [513, 700]]) {
    const rng = rngFor(`rows ${rows} ${cols}`);
    const x = normal(rng, rows * cols), bias = normal(rng, cols);
    compare(
      { x, bias, o: nans(rows * cols) },
      ["o"],
      (be, b) => be.addRowVector(rows, cols, b.x, b.bias, b.o),
    );
    compare({ x, o: nans(cols) }, ["o"], (be, b) => be.sumRows(rows, cols, b.x, b.o), {
      atol: 1e-5 * Math.sqrt(rows),
    });
  }
});

test("unary, unaryBackward (silu, softplus, exp, sigmoid), swiglu, transpose", () => {
  for (const op of ["silu", "softplus", "exp", "sigmoid"] as const) {
    for (const n of [17, 100_003, SPECIAL.length]) {
      const rng = rngFor(`unary ${op} ${n}`);
      const x = n === SPECIAL.length
        ? SPECIAL
        : uniform(rng, n, op === "exp" ? -20 : -30, op === "exp" ? 20 : 30);
      const dy = normal(rng, n);
      compare(
        { x, dy, o: nans(n), dx: nans(n) },
        ["o", "dx"],
        (be, b) => {
          be.unary(op, n, b.x, b.o);
          be.unaryBackward(op, n, b.x, b.dy, b.dx);
        },
        { rtol: 1e-5, atol: 1e-7 },
        `${op} ${n}`,
      );
    }
  }
  for (const [rows, inter] of [[1, 1], [3, 13], [67, 100]]) {
    const rng = rngFor(`swiglu ${rows} ${inter}`);
    const gu = uniform(rng, rows * 2 * inter, -8, 8), dy = normal(rng, rows * inter);
    const bufs = {
      gu,
      dy,
      o: nans(rows * inter),
      d: nans(rows * 2 * inter),
      h: nans(rows * inter),
    };
    compare(bufs, ["o", "d", "h"], (be, b) => {
      be.swiglu(rows, inter, b.gu, b.o);
      be.swigluBackward(rows, inter, b.gu, b.dy, b.d, b.h);
    }, { rtol: 1e-5, atol: 1e-6 });
    // the output the backward writes is the forward's, bit for bit
    const g = put(cuda!, gu),
      o = cuda!.alloc("f32", rows * inter),
      h = cuda!.alloc("f32", rows * inter);
    cuda!.swiglu(rows, inter, g, o);
    cuda!.swigluBackward(rows, inter, g, put(cuda!, dy), cuda!.alloc("f32", rows * 2 * inter), h);
    assert.deepEqual(cuda!.download(h), cuda!.download(o), `swigluBackward's out ${rows}x${inter}`);
  }
  for (const [batch, rows, cols] of [[1, 1, 1], [2, 33, 65], [3, 1, 7], [1, 100, 40]]) {
    const x = normal(rngFor("tr"), batch * rows * cols);
    compare({ x, o: nans(x.length) }, ["o"], (be, b) => be.transpose(batch, rows, cols, b.x, b.o), {
      atol: 0,
      rtol: 0,
    });
  }
});

// ------------------------------------------------------------------------------------ rows

test("rmsnorm (+backward, with/without weight), softmax (+backward), argmax", () => {
  for (const [rows, cols] of [[1, 1], [7, 13], [300, 512], [513, 3]]) {
    const rng = rngFor(`rms ${rows} ${cols}`);
    const x = normal(rng, rows * cols, 2), w = normal(rng, cols), dy = normal(rng, rows * cols);
    for (const weighted of [true, false]) {
      compare(
        { x, w, dy, o: nans(rows * cols), r: nans(rows), dx: nans(rows * cols), dw: nans(cols) },
        weighted ? ["o", "r", "dx", "dw"] : ["o", "r", "dx"],
        (be, b) => {
          be.rmsnorm(rows, cols, b.x, weighted ? b.w : null, 1e-6, b.o, b.r);
          be.rmsnormBackward(
            rows,
            cols,
            b.x,
            weighted ? b.w : null,
            b.r,
            b.dy,
            b.dx,
            weighted ? b.dw : null,
          );
        },
        { rtol: 1e-4, atol: 1e-5 * Math.sqrt(rows) },
        `rmsnorm ${rows}x${cols} weighted=${weighted}`,
      );
    }
  }
  for (const [rows, cols, spread] of [[1, 1, 1], [5, 17, 30], [300, 916, 5], [2, 1000, 80]]) {
    const rng = rngFor(`softmax ${rows} ${cols}`);
    const x = uniform(rng, rows * cols, -spread, spread), dy = normal(rng, rows * cols);
    compare({ x, y: nans(rows * cols), dy, dx: nans(rows * cols) }, ["y", "dx"], (be, b) => {
      be.softmax(rows, cols, b.x, b.y);
      be.softmaxBackward(rows, cols, b.y, b.dy, b.dx);
    }, { rtol: 1e-4, atol: 1e-7 });
  }
  for (const [rows, cols] of [[1, 1], [7, 13], [500, 40]]) {
    const x = Float32Array.from(ints(rngFor(`argmax ${rows}`), rows * cols, 5)); // ties: first wins
    compare({ x, o: new Int32Array(rows) }, ["o"], (be, b) => be.argmax(rows, cols, b.x, b.o), {
      atol: 0,
      rtol: 0,
    });
  }
});

/** The oracle's addRmsnorm / gatedRmsnorm forward results (the backwards' inputs on both sides). */
function oracleNorm(fn: (be: Backend, b: Record<string, Buf>) => void, bufs: Record<string, Host>) {
  const b = Object.fromEntries(Object.entries(bufs).map(([k, v]) => [k, put(oracle, v)]));
  fn(oracle, b);
  const r = Object.fromEntries(
    Object.entries(b).map(([k, v]) => [k, Float32Array.from(get(oracle, v))]),
  );
  for (const v of Object.values(b)) oracle.free(v);
  return r;
}

// Host simulation of these kernels (the same block programs): norm_fused_test.ts. Tolerances as
// rmsnorm's (f32 row sums vs the cpu's double); dweight sums `rows` terms: atol 1e-5·rows.
test("addRmsnorm, gatedRmsnorm (+backwards, in place ds = dy, rows = 0); bitwise run to run", () => {
  const tol = (o: string, rows: number) => ({ rtol: 1e-4, atol: o === "dw" ? 1e-5 * rows : 1e-5 });
  for (const [rows, cols] of [[1, 1], [7, 13], [300, 512], [513, 3], [3, 1024]]) {
    const rng = rngFor(`add rms ${rows} ${cols}`), n = rows * cols;
    const x = normal(rng, n, 2), y = normal(rng, n), dy = normal(rng, n);
    const fwd = (be: Backend, b: Record<string, Buf>) =>
      be.addRmsnorm(rows, cols, b.x, b.y, 1e-6, b.o, b.r);
    const msg = `addRmsnorm ${rows}x${cols}`;
    compare({ x, y, o: nans(n), r: nans(rows) }, ["o", "r"], fwd, {}, msg);
    const f = oracleNorm(fwd, { x, y, o: nans(n), r: nans(rows) });
    compare(
      { o: f.o, r: f.r, dy, ds: nans(n), dyi: dy.slice() },
      ["ds", "dyi"],
      (be, b) => {
        be.addRmsnormBackward(rows, cols, b.o, b.r, b.dy, b.ds);
        be.addRmsnormBackward(rows, cols, b.o, b.r, b.dyi, b.dyi); // in place
      },
      { rtol: 1e-4, atol: 1e-5 },
      msg,
    );
  }
  const det: Uint8Array[][] = [];
  for (const [rows, cols, G] of [[1, 1, 1], [7, 12, 4], [300, 512, 2], [513, 6, 3], [3, 1024, 1]]) {
    const rng = rngFor(`gated rms ${rows} ${cols} ${G}`), n = rows * cols, group = cols / G;
    const y = normal(rng, n), z = normal(rng, n, 2), w = normal(rng, cols);
    const dout = normal(rng, n);
    if (n > 4) z.set([30, -30, 90, -90], 1); // silu's exp guard
    const fwd = (be: Backend, b: Record<string, Buf>) =>
      be.gatedRmsnorm(rows, cols, group, b.y, b.z, b.w, 1e-6, b.o, b.r);
    const msg = `gatedRmsnorm ${rows}x${cols} G=${G}`;
    compare({ y, z, w, o: nans(n), r: nans(rows * G) }, ["o", "r"], fwd, {}, msg);
    const r = oracleNorm(fwd, { y, z, w, o: nans(n), r: nans(rows * G) }).r;
    const bufs = { y, z, w, r, dout, dy: nans(n), dz: nans(n), dw: nans(cols) };
    const bwd = (be: Backend, b: Record<string, Buf>) =>
      be.gatedRmsnormBackward(rows, cols, group, b.y, b.z, b.w, b.r, b.dout, b.dy, b.dz, b.dw);
    compare(bufs, ["dy", "dz", "dw"], bwd, (o) => tol(o, rows), msg);
    for (let rep = 0; rep < 2; rep++) {
      const be = cuda!,
        b = Object.fromEntries(Object.entries(bufs).map(([k, v]) => [k, put(be, v)]));
      bwd(be, b);
      det.push([b.dy, b.dz, b.dw].map((v) => bits(be, v)));
      for (const v of Object.values(b)) be.free(v);
    }
  }
  for (let i = 0; i < det.length; i += 2) {
    assert.deepEqual(det[i], det[i + 1], "not bitwise run to run");
  }
  compare(
    { a: nans(8), dw: nans(8) },
    ["a", "dw"],
    (be, b) => {
      be.addRmsnorm(0, 8, b.a, b.a, 1e-6, b.a, b.a);
      be.gatedRmsnorm(0, 8, 4, b.a, b.a, b.a, 1e-6, b.a, b.a);
      be.gatedRmsnormBackward(0, 8, 4, b.a, b.a, b.a, b.a, b.a, b.a, b.a, b.dw); // dw zeroed
    },
    { atol: 0, rtol: 0 },
    "rows = 0",
  );
});

test("embedding (+ deterministic backward), signSgdRows, rope; bad ids raise at sync", () => {
  for (const [n, dim, vocab] of [[1, 1, 1], [50, 13, 11], [3000, 64, 40]]) {
    const rng = rngFor(`emb ${n} ${dim}`);
    const ids = ints(rng, n, vocab), table = normal(rng, vocab * dim), dy = normal(rng, n * dim);
    compare(
      { ids, table, o: nans(n * dim) },
      ["o"],
      (be, b) => be.embedding(n, dim, b.ids, b.table, b.o),
      { atol: 0, rtol: 0 },
    );
    compare(
      { ids, dy, dt: normal(rng, vocab * dim) },
      ["dt"],
      (be, b) => be.embeddingBackward(n, dim, b.ids, b.dy, b.dt),
      { atol: 1e-5 * Math.sqrt(n / vocab + 1) },
    );
  }
  const rng = rngFor("signsgd");
  const [rows, dim, n] = [50, 37, 20];
  const grads = normal(rng, n * dim);
  for (let j = 0; j < grads.length; j += 5) grads[j] = 0;
  compare(
    { ids: rng.permutation(rows).slice(0, n), grads, table: normal(rng, rows * dim) },
    ["table"],
    (be, b) => be.signSgdRows(n, dim, b.ids, b.grads, b.table, 0.01, 0.1),
    { rtol: 1e-6, atol: 1e-7 },
  );
  for (const [batch, seq, heads, hd] of [[1, 1, 1, 2], [2, 5, 3, 8], [2, 33, 4, 64]]) {
    const r2 = rngFor(`rope ${batch} ${seq}`);
    const ldx = 3 * heads * hd, ldo = heads * hd;
    const ang = uniform(r2, seq * hd, -3, 3);
    for (const inverse of [false, true]) {
      compare(
        {
          x: normal(r2, batch * seq * ldx),
          cos: ang.map(Math.cos),
          sin: ang.map(Math.sin),
          o: nans(batch * seq * ldo),
        },
        ["o"],
        (be, b) => {
          const xv = be.view(b.x, heads * hd, (batch * seq - 1) * ldx + heads * hd);
          be.rope(batch, seq, heads, hd, xv, ldx, b.cos, b.sin, inverse, b.o, ldo);
        },
        { rtol: 1e-5, atol: 1e-6 },
      );
    }
  }
  const be = cuda!;
  const bad = put(be, new Int32Array([0, 3])), t = be.alloc("f32", 6), o = be.alloc("f32", 4);
  be.embedding(2, 2, bad, t, o);
  assert.throws(() => be.sync(), /embedding: index out of range at position 1/);
  be.sync(); // reported once, then cleared
});

// ------------------------------------------------------------------------------------ attention

const attentionCase = (B: number, L: number, H: number, D: number, tol: TolFor) =>
  attentionOn(cuda!, oracle, [B, L, H, D], tol);

test("attention: small odd shapes (seq 1, 7, 97; headDim 4, 20, 64, 80)", () => {
  const tol = { atol: 2e-5, rtol: 1e-4 };
  attentionCase(1, 1, 1, 4, tol);
  attentionCase(2, 7, 3, 8, tol);
  attentionCase(2, 33, 2, 20, tol);
  attentionCase(1, 97, 2, 64, tol);
  attentionCase(3, 65, 1, 64, tol);
  attentionCase(1, 9, 2, 80, tol);
});

test("attention: seq 916, 8 heads, headDim 64", () => {
  attentionCase(2, 916, 8, 64, { atol: 5e-5, rtol: 1e-3 }); // 916-term sums, other order
});

// ------------------------------------------------------------------------------------ losses

test("stablemaxXent and backward (ignored labels, a fully ignored sequence)", () => {
  for (const [batch, seq, vocab] of [[1, 1, 1], [3, 7, 11], [4, 81, 10], [2, 916, 12]]) {
    const rng = rngFor(`xent ${batch} ${seq}`);
    const logits = uniform(rng, batch * seq * vocab, -6, 6);
    const labels = ints(rng, batch * seq, vocab);
    for (let t = 0; t < labels.length; t += 3) labels[t] = -100;
    if (batch > 1) labels.fill(-100, seq, 2 * seq);
    compare(
      { logits, labels, loss: nans(batch), dloss: normal(rng, batch), d: nans(logits.length) },
      ["loss", "d"],
      (be, b) => {
        be.stablemaxXent(batch, seq, vocab, b.logits, b.labels, -100, b.loss);
        be.stablemaxXentBackward(batch, seq, vocab, b.logits, b.labels, -100, b.dloss, b.d);
      },
      { rtol: 1e-5, atol: 1e-7 },
    );
  }
});

// ------------------------------------------------------------------------------------ Mamba-2

test("conv1dCausal and backward (k 1, 4; seq shorter than k)", () => {
  for (const [batch, seq, ch, k] of [[1, 1, 1, 1], [2, 3, 5, 4], [3, 300, 70, 4]]) {
    const rng = rngFor(`conv ${batch} ${seq} ${ch} ${k}`);
    const n = batch * seq * ch;
    compare(
      {
        x: normal(rng, n),
        w: normal(rng, ch * k),
        bias: normal(rng, ch),
        dy: normal(rng, n),
        o: nans(n),
        dx: nans(n),
        dw: nans(ch * k),
        db: nans(ch),
      },
      ["o", "dx", "dw", "db"],
      (be, b) => {
        be.conv1dCausal(batch, seq, ch, k, b.x, b.w, b.bias, b.o);
        be.conv1dCausalBackward(batch, seq, ch, k, b.x, b.w, b.dy, b.dx, b.dw, b.db);
      },
      { rtol: 1e-4, atol: 1e-5 * Math.sqrt(batch * seq) },
    );
  }
});

const ssdCase = (d: SsdDims, withState: boolean) => ssdOn(cuda!, oracle, d, withState);

test("ssdScan and backward (chunk not dividing seq, groups, with/without states)", () => {
  const base = { batch: 2, seq: 37, heads: 4, headDim: 8, groups: 2, dState: 5, chunk: 16 };
  ssdCase(base, true);
  ssdCase(base, false);
  ssdCase({ batch: 1, seq: 1, heads: 1, headDim: 1, groups: 1, dState: 1, chunk: 1 }, true);
  ssdCase({ batch: 2, seq: 130, heads: 2, headDim: 64, groups: 1, dState: 128, chunk: 64 }, true);
  ssdCase({ batch: 3, seq: 33, heads: 6, headDim: 40, groups: 3, dState: 16, chunk: 64 }, true);
});

// ------------------------------------------------------------------------------------ determinism

test("determinism: reductions, embedding and attention backward bitwise equal run to run", () => {
  const be = cuda!, rng = rngFor("det");
  const [rows, cols] = [1000, 96];
  const x = put(be, normal(rng, rows * cols)), dy = put(be, normal(rng, rows * cols));
  const w = put(be, normal(rng, cols)), r = be.alloc("f32", rows);
  const ids = put(be, ints(rng, rows, 30));
  const [B, L, H, D] = [1, 130, 2, 64];
  const ld = 3 * H * D, span = (B * L - 1) * ld + H * D;
  const qkv = put(be, normal(rng, B * L * ld)), dout = put(be, normal(rng, B * L * H * D));
  const runs: Uint8Array[][] = [];
  for (let rep = 0; rep < 2; rep++) {
    const o: Buf[] = [];
    const add = (n: number) => (o.push(be.alloc("f32", n)), o[o.length - 1]);
    be.sum(rows * cols, x, add(1));
    be.sumRows(rows, cols, x, add(cols));
    be.rmsnorm(rows, cols, x, w, 1e-6, add(rows * cols), r);
    be.rmsnormBackward(rows, cols, x, w, r, dy, add(rows * cols), add(cols));
    be.embeddingBackward(rows, cols, ids, dy, add(30 * cols));
    const out = add(B * L * H * D), lse = add(B * H * L), dqkv = add(B * L * ld);
    const part = (buf: Buf, i: number) => be.view(buf, i * H * D, span);
    be.attention(B, L, H, D, 0.125, part(qkv, 0), part(qkv, 1), part(qkv, 2), ld, out, lse);
    be.attentionBackward(
      ...[B, L, H, D, 0.125, part(qkv, 0), part(qkv, 1), part(qkv, 2), ld, out, lse] as const,
      ...[dout, part(dqkv, 0), part(dqkv, 1), part(dqkv, 2)] as const,
    );
    runs.push(o.map((b) => bits(be, b)));
  }
  runs[0].forEach((b, j) => assert.deepEqual(b, runs[1][j], `output ${j} differs between runs`));
});

test("size checks: RangeError naming the kernel and sizes; foreign buffers are a TypeError", () => {
  const be = cuda!;
  const a = be.alloc("f32", 5), b = be.alloc("f32", 6), c = be.alloc("f32", 4);
  assert.throws(
    () => be.gemm(false, false, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2, 1, 0, 0, 0),
    (e: Error) => e instanceof RangeError && /gemm: a has 5 elements, needs 6/.test(e.message),
  );
  assert.throws(() => be.sum(1, new Float32Array(1), c), TypeError);
});
