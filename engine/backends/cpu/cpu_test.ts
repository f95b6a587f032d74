/**
 * What is specific to the `cpu` backend: the refusals of too-short buffers on its arrays, the
 * messages of the checks its C kernels make (ids, labels, groups), buffers (views share memory,
 * downloads copy), the `out` swigluBackward writes is the forward's bit for bit, and bitwise
 * determinism of the reductions, attention and our GEMM, run to run and across thread counts.
 * Its kernels against the float64 `ref` oracle (every kernel of the table, awkward shapes, special
 * values, in-place calls, our GEMM and OpenBLAS's): engine/backends/kernels_test.ts; the GEMM
 * choice: gemm_choice_test.ts. Skips loudly when the native library cannot be built here.
 */
import assert from "node:assert/strict";
import type { Backend, Buf } from "../../backend.ts";
import { NativeUnavailableError } from "../../errors.ts";
import { Rng } from "../../rng.ts";
import { randomArray } from "../../testing.ts";
import { createCpuBackend } from "./mod.ts";

let cpu: Backend | null = null;
let own: Backend | null = null;
try {
  cpu = createCpuBackend();
  own = createCpuBackend({ blas: "own" });
} catch (e) {
  if (!(e instanceof NativeUnavailableError)) throw e;
  console.warn(`cpu_test: all native cpu backend tests SKIPPED: ${e.message}`);
}

function test(name: string, fn: () => void) {
  Deno.test({ name: `cpu: ${name}`, ignore: cpu === null, fn });
}

type Host = Float32Array | Int32Array;
/** A buffer of `be` holding `data` (f32 or i32 by its type). */
function put(be: Backend, data: Host): Buf {
  const b = be.alloc(data instanceof Int32Array ? "i32" : "f32", data.length);
  be.upload(b, data);
  return b;
}
const get = (be: Backend, b: Buf) => Array.from(be.download(b));

const rngFor = (label: string) => new Rng(20261128).fork(label);
const normal = (rng: Rng, n: number, std = 1) => randomArray(rng, n, { std });
const uniform = (rng: Rng, n: number, lo: number, hi: number) => randomArray(rng, n, { lo, hi });
const ints = (rng: Rng, n: number, hi: number) => Int32Array.from({ length: n }, () => rng.int(hi));
/** The bytes of a downloaded buffer, for bitwise comparisons. */
const bits = (be: Backend, b: Buf) => new Uint8Array(be.download(b).slice().buffer);

// ------------------------------------------------------------------------------------ checks

test("gemm and attention: buffers too short are a RangeError naming the sizes", () => {
  const be = cpu!;
  const a = be.alloc("f32", 5), b = be.alloc("f32", 6), c = be.alloc("f32", 4);
  assert.throws(
    () => be.gemm(false, false, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2, 1, 0, 0, 0),
    (e: Error) => e instanceof RangeError && /gemm: a has 5 elements, needs 6/.test(e.message),
  );
  assert.throws(
    () => be.gemm(false, false, 2, 2, 3, 1, be.alloc("f32", 6), 2, b, 2, 0, c, 2, 1, 0, 0, 0),
    RangeError,
  );
  const q = be.alloc("f32", 2 * 3 * 4 - 1), o = be.alloc("f32", 24), l = be.alloc("f32", 6);
  assert.throws(
    () => be.attention(1, 3, 2, 4, 1, q, o, o, 8, o, l),
    (e: Error) =>
      e instanceof RangeError && /attention: q has 23 elements, needs 24/.test(e.message),
  );
});

test("bad ids and labels: the C kernels' checks name the first bad one; group errors", () => {
  const be = cpu!;
  const bad = put(be, new Int32Array([0, 3])), t = be.alloc("f32", 6), o = be.alloc("f32", 4);
  assert.throws(
    () => be.embedding(2, 2, bad, t, o),
    /embedding: id 3 at 1 outside table of 3 rows/,
  );
  assert.throws(() => be.embeddingBackward(2, 2, bad, o, t), RangeError);
  assert.throws(() => be.signSgdRows(2, 2, bad, o, t, 0.1, 0), RangeError);
  const lab = put(be, new Int32Array([1, 5])), x = be.alloc("f32", 8), l = be.alloc("f32", 1);
  assert.throws(
    () => be.stablemaxXent(1, 2, 4, x, lab, -100, l),
    /label 5 at row 1 outside vocab 4/,
  );
  const b = be.alloc("f32", 12);
  assert.throws(() => be.gatedRmsnorm(2, 6, 4, b, b, b, 1e-5, b, b), /group must divide/);
  assert.throws(() => be.gatedRmsnorm(2, 6, 3, b, b, b, 1e-5, b, be.alloc("f32", 3)), /rstd/);
});

test("swigluBackward's out is the forward's, bit for bit", () => {
  for (const [rows, inter] of [[1, 1], [3, 13], [67, 100]]) {
    const rng = rngFor(`swiglu ${rows} ${inter}`);
    const gu = uniform(rng, rows * 2 * inter, -8, 8), dy = normal(rng, rows * inter);
    const be = cpu!, g = put(be, gu), h = be.alloc("f32", rows * inter);
    const o = be.alloc("f32", rows * inter);
    be.swiglu(rows, inter, g, o);
    be.swigluBackward(rows, inter, g, put(be, dy), be.alloc("f32", rows * 2 * inter), h);
    assert.deepEqual(bits(be, h), bits(be, o), `swigluBackward's out ${rows}x${inter}`);
  }
});

test("buffers: alloc zero-filled, view shares memory, download copies, copy, fill", () => {
  const be = cpu!;
  const a = be.alloc("f32", 6);
  assert.deepEqual(get(be, a), [0, 0, 0, 0, 0, 0]);
  be.upload(a, [1, 2, 3, 4, 5, 6]);
  const v = be.view(a, 2, 3);
  be.fill(2, 9, v);
  assert.deepEqual(get(be, a), [1, 2, 9, 9, 5, 6]);
  const d = be.download(a);
  d[0] = 100;
  assert.equal(be.download(a)[0], 1);
  be.copy(3, a, be.view(a, 3, 3));
  assert.deepEqual(get(be, a), [1, 2, 9, 1, 2, 9]);
  assert.throws(() => be.view(a, 4, 3), RangeError);
  const src = put(be, Float32Array.from({ length: 35 }, (_, j) => j)), dst = be.alloc("f32", 30);
  be.copy2d(4, 3, be.view(src, 2, 33), 8, be.view(dst, 1, 29), 7);
  const want = new Array(30).fill(0);
  for (let r = 0; r < 4; r++) for (let c = 0; c < 3; c++) want[1 + r * 7 + c] = 2 + r * 8 + c;
  assert.deepEqual(get(be, dst), want);
  const isrc = put(be, Int32Array.from([1, 2, 3, 4])), idst = be.alloc("i32", 4);
  be.copy2d(2, 1, isrc, 2, idst, 1);
  assert.deepEqual(get(be, idst), [1, 3, 0, 0]);
  assert.ok(be.download(be.alloc("i32", 2)) instanceof Int32Array);
});

// ------------------------------------------------------------------------------------ determinism

test("determinism: reductions, attention and own GEMM are bitwise equal run to run", () => {
  const be = cpu!, rng = rngFor("det");
  const [rows, cols] = [1000, 96];
  const x = put(be, normal(rng, rows * cols)), dy = put(be, normal(rng, rows * cols));
  const w = put(be, normal(rng, cols)), r = be.alloc("f32", rows);
  const ids = put(be, ints(rng, rows, 30));
  const [B, L, H, D] = [1, 130, 2, 64];
  const ld = 3 * H * D, span = (B * L - 1) * ld + H * D;
  const qkv = put(be, normal(rng, B * L * ld)), dout = put(be, normal(rng, B * L * H * D));
  const ga = put(be, normal(rng, 300 * 300)), gb = put(be, normal(rng, 300 * 300));
  const runs: Uint8Array[][] = [];
  for (let rep = 0; rep < 2; rep++) {
    const o: Buf[] = [];
    const add = (
      n: number,
      dtype: "f32" | "i32" = "f32",
    ) => (o.push(be.alloc(dtype, n)), o[o.length - 1]);
    be.sum(rows * cols, x, add(1));
    be.sumRows(rows, cols, x, add(cols));
    be.rmsnorm(rows, cols, x, w, 1e-6, add(rows * cols), r);
    be.rmsnormBackward(rows, cols, x, w, r, dy, add(rows * cols), add(cols));
    be.softmax(rows, cols, x, add(rows * cols));
    be.embeddingBackward(rows, cols, ids, dy, add(30 * cols));
    const out = add(B * L * H * D), lse = add(B * H * L), dqkv = add(B * L * ld);
    const part = (buf: Buf, i: number) => be.view(buf, i * H * D, span);
    be.attention(B, L, H, D, 0.125, part(qkv, 0), part(qkv, 1), part(qkv, 2), ld, out, lse);
    be.attentionBackward(
      B,
      L,
      H,
      D,
      0.125,
      part(qkv, 0),
      part(qkv, 1),
      part(qkv, 2),
      ld,
      out,
      lse,
      dout,
      part(dqkv, 0),
      part(dqkv, 1),
      part(dqkv, 2),
    );
    own!.gemm(true, false, 300, 300, 300, 1, ga, 300, gb, 300, 0, add(300 * 300), 300, 1, 0, 0, 0);
    runs.push(o.map((b) => bits(be, b)));
  }
  runs[0].forEach((b, j) => assert.deepEqual(b, runs[1][j], `output ${j} differs between runs`));
});

test("determinism: column and chunked sums do not depend on the thread count", () => {
  const one = createCpuBackend({ threads: 1 }), three = createCpuBackend({ threads: 3 });
  const rng = rngFor("threads");
  const [rows, cols] = [2000, 50];
  const xs = normal(rng, rows * cols), ids = ints(rng, rows, 17), dy = normal(rng, rows * cols);
  const w = normal(rng, cols);
  const outs = [one, three].map((be) => {
    const x = put(be, xs), s = be.alloc("f32", 1), sr = be.alloc("f32", cols);
    const dt = be.alloc("f32", 17 * cols), r = be.alloc("f32", rows), dw = be.alloc("f32", cols);
    be.sum(rows * cols, x, s);
    be.sumRows(rows, cols, x, sr);
    be.embeddingBackward(rows, cols, put(be, ids), put(be, dy), dt);
    be.rmsnorm(rows, cols, x, put(be, w), 1e-6, be.alloc("f32", rows * cols), r);
    be.rmsnormBackward(rows, cols, x, put(be, w), r, put(be, dy), be.alloc("f32", rows * cols), dw);
    const gw = be.alloc("f32", cols), gr = be.alloc("f32", rows * 2), n = rows * cols;
    be.gatedRmsnorm(rows, cols, cols / 2, x, x, put(be, w), 1e-5, be.alloc("f32", n), gr);
    const [gy, gz] = [be.alloc("f32", n), be.alloc("f32", n)];
    be.gatedRmsnormBackward(rows, cols, cols / 2, x, x, put(be, w), gr, put(be, dy), gy, gz, gw);
    return [s, sr, dt, dw, gw, gy].map((b) => bits(be, b));
  });
  outs[0].forEach((b, j) =>
    assert.deepEqual(b, outs[1][j], `output ${j} differs between 1 and 3 threads`)
  );
});
