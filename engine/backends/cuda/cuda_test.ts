/**
 * What is specific to the `cuda` backend.
 *
 * Here (any machine): the CUDA sources compile with nvcc and the library loads; without a GPU,
 * creating the backend fails with a NativeUnavailableError that names the CUDA error (the build
 * machine and CI have nvcc but no driver: "no CUDA driver: cudaGetDeviceCount → …").
 *
 * With a GPU: buffers (free twice, i32 fill), the pool over cuda (reuse, out of memory retried
 * once, no error left behind), the tf32 / bf16 GEMM math modes, the `out` swigluBackward writes is
 * the forward's bit for bit, bitwise determinism run to run, bad ids raised at `sync`, and the size
 * and buffer checks on device handles. These tests are `ignore`d, with a warning saying why, when
 * no GPU is present. Every kernel of the contract against the float64 `ref` oracle (awkward
 * shapes, special values, in-place calls, views, attention at L = 916, SSD, cuBLAS and our GEMM)
 * is the cross-backend test, engine/backends/kernels_test.ts. The kernel lab's variants
 * (tensor-core attention, chunked SSD) are tested on a GPU by dev/cuda/lab_test.ts.
 *
 * GEMM math modes (`math: "tf32" | "bf16"`, cuBLAS tensor cores, f32 accumulation and storage) run
 * GEMM cases against the f32 oracle with tolerances from the input rounding: with u the
 * unit roundoff of the inputs (tf32 2⁻¹¹, bf16 2⁻⁸), each product a·b is off by at most ~2u
 * relative, in random directions, so a k-term sum of N(0, 1) products scaled by alpha is off by
 * ≈ 1.2·u·√k·|alpha| (one σ): atol = 8·u·√k·|alpha| (≈ 6σ), rtol = 4u (covers a truncating
 * conversion, whose bias is proportional to the result). The largest case must also differ from
 * the f32 result by more than 1e-3 somewhere: proof that the mode is in effect. These tests need
 * cuBLAS (ignored, with a warning, without a GPU; they fail rather than skip when cuBLAS is
 * missing on a GPU machine).
 */
import assert from "node:assert/strict";
import type { Backend, Buf } from "../../backend.ts";
import { NativeUnavailableError, OutOfMemoryError } from "../../errors.ts";
import type { Rng } from "../../rng.ts";
import { withPool } from "../pool.ts";
import { buildCuda } from "./build.ts";
import { ATTENTION_LABEL, SSD_LABEL } from "./kernels.ts";
import { bits, compareOn, get, hostOracle, nans, normal, put, rngFor, uniform } from "./testing.ts";
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
    console.warn(`cuda_test: GPU tests SKIPPED (no GPU here): ${e.message}`);
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
  Deno.test({ name: `cuda: ${name}`, ignore: cuda === null, fn });
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
 * One GEMM size on `dev` (a math mode) vs the oracle: 4 transposes, beta 0 (NaN C) and 0.5, batch
 * 3, stride 0; tolerances from `tol(k)`. Returns the largest |dev − oracle| over all cases.
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
        const d = compareOn(
          dev,
          oracle,
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
        );
        maxDiff = Math.max(maxDiff, d);
      }
    }
  }
  return maxDiff;
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

// ------------------------------------------------------------------------------------ properties

test("swigluBackward's out is the forward's, bit for bit", () => {
  for (const [rows, inter] of [[1, 1], [3, 13], [67, 100]]) {
    const rng = rngFor(`swiglu ${rows} ${inter}`);
    const gu = uniform(rng, rows * 2 * inter, -8, 8), dy = normal(rng, rows * inter);
    const g = put(cuda!, gu),
      o = cuda!.alloc("f32", rows * inter),
      h = cuda!.alloc("f32", rows * inter);
    cuda!.swiglu(rows, inter, g, o);
    cuda!.swigluBackward(rows, inter, g, put(cuda!, dy), cuda!.alloc("f32", rows * 2 * inter), h);
    assert.deepEqual(cuda!.download(h), cuda!.download(o), `swigluBackward's out ${rows}x${inter}`);
  }
});

test("bad ids raise at sync, once", () => {
  const be = cuda!;
  const bad = put(be, new Int32Array([0, 3])), t = be.alloc("f32", 6), o = be.alloc("f32", 4);
  be.embedding(2, 2, bad, t, o);
  assert.throws(() => be.sync(), /embedding: index out of range at position 1/);
  be.sync(); // reported once, then cleared
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

test("determinism: gatedRmsnormBackward (dweight over row segments) bitwise equal run to run", () => {
  const be = cuda!;
  for (const [rows, cols, G] of [[1, 1, 1], [7, 12, 4], [300, 512, 2], [513, 6, 3], [3, 1024, 1]]) {
    const rng = rngFor(`gated rms ${rows} ${cols} ${G}`), n = rows * cols, group = cols / G;
    const [y, z, w, dout] = [normal(rng, n), normal(rng, n, 2), normal(rng, cols), normal(rng, n)]
      .map((v) => put(be, v));
    const r = be.alloc("f32", rows * G);
    be.gatedRmsnorm(rows, cols, group, y, z, w, 1e-6, be.alloc("f32", n), r);
    const runs = [0, 1].map(() => {
      const [dy, dz, dw] = [n, n, cols].map((len) => be.alloc("f32", len));
      be.gatedRmsnormBackward(rows, cols, group, y, z, w, r, dout, dy, dz, dw);
      return [dy, dz, dw].map((v) => bits(be, v));
    });
    assert.deepEqual(runs[0], runs[1], `gatedRmsnormBackward ${rows}x${cols} G=${G}`);
  }
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
