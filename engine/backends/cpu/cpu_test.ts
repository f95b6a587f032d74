/**
 * The `cpu` backend against the `ref` oracle (float64 arithmetic) on seeded random inputs of
 * awkward shapes: sizes of 1, odd sizes, sizes that do not divide the C tiles (GEMM 8 × 32 × 256,
 * attention blocks of 64 queries and 32 keys, 256-row reduction chunks), strided views into fused
 * buffers. Also: bitwise determinism of the reductions, run to run and across thread counts, and
 * the size checks. Skips loudly when the native library cannot be built here.
 */
import assert from "node:assert/strict";
import type { Backend, Buf } from "../../backend.ts";
import { NativeUnavailableError } from "../../errors.ts";
import { Rng } from "../../rng.ts";
import { assertClose, randomArray } from "../../testing.ts";
import { createCpuBackend } from "./mod.ts";
import { createRefBackend } from "../ref/mod.ts";

let cpu: Backend | null = null;
let own: Backend | null = null;
let openblas: Backend | null = null;
try {
  cpu = createCpuBackend();
  own = createCpuBackend({ blas: "own" });
  try {
    openblas = createCpuBackend({ blas: "openblas" });
  } catch (e) {
    if (!(e instanceof NativeUnavailableError)) throw e;
    console.warn(`cpu_test: OpenBLAS GEMM tests SKIPPED: ${e.message}`);
  }
} catch (e) {
  if (!(e instanceof NativeUnavailableError)) throw e;
  console.warn(`cpu_test: all native cpu backend tests SKIPPED: ${e.message}`);
}
const ref = createRefBackend({ precision: "f64" });

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

/**
 * Runs `fn` on the cpu backend `be` and on ref with the same inputs, then compares the buffers
 * named in `outs` (which start from the given contents on both).
 */
function compare(
  be: Backend,
  bufs: Record<string, Host>,
  outs: string[],
  fn: (be: Backend, b: Record<string, Buf>) => void,
  tol: { atol?: number; rtol?: number } = {},
  msg = "",
) {
  const mk = (x: Backend) =>
    Object.fromEntries(Object.entries(bufs).map(([k, v]) => [k, put(x, v)]));
  const bc = mk(be), br = mk(ref);
  fn(be, bc);
  fn(ref, br);
  for (const o of outs) {
    // the float64 oracle's result rounded to float32 (so e.g. e^89 is Infinity on both)
    const want = bufs[o] instanceof Int32Array
      ? get(ref, br[o])
      : Array.from(Float32Array.from(get(ref, br[o])));
    assertClose(get(be, bc[o]), want, { ...tol, msg: `${msg} ${o}` });
  }
}

const rngFor = (label: string) => new Rng(20261128).fork(label);
const normal = (rng: Rng, n: number, std = 1) => randomArray(rng, n, { std });
const uniform = (rng: Rng, n: number, lo: number, hi: number) => randomArray(rng, n, { lo, hi });
const ints = (rng: Rng, n: number, hi: number) => Int32Array.from({ length: n }, () => rng.int(hi));
const nans = (n: number) => new Float32Array(n).fill(NaN);
/** The bytes of a downloaded buffer, for bitwise comparisons. */
const bits = (be: Backend, b: Buf) => new Uint8Array(be.download(b).slice().buffer);

// ------------------------------------------------------------------------------------ GEMM

const GEMM_SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [7, 13, 5],
  [33, 65, 17],
  [130, 70, 300], // two M blocks of the own kernel, two K blocks
  [9, 2100, 3], // N over one 2048-column panel
  // n ≤ 64: the own kernel reads A in place (no packing): two M blocks with a ragged 3-row strip,
  // three K panels, a ragged second column strip
  [139, 64, 530],
  [300, 33, 40],
];

function gemmCase(be: Backend, m: number, n: number, k: number, ta: boolean, tb: boolean, opts: {
  batch: number;
  beta: number;
  shareA?: boolean;
  shareB?: boolean;
  label: string;
}) {
  const rng = rngFor(`gemm ${opts.label} ${m} ${n} ${k} ${ta} ${tb}`);
  const [ar, ac] = ta ? [k, m] : [m, k];
  const [br, bc] = tb ? [n, k] : [k, n];
  const lda = ac + 3, ldb = bc + 1, ldc = n + 2; // padded leading dimensions
  const sa = opts.shareA ? 0 : ar * lda + 5, sb = opts.shareB ? 0 : br * ldb, sc = m * ldc + 1;
  const la = (opts.batch - 1) * sa + ar * lda, lb = (opts.batch - 1) * sb + br * ldb;
  const lc = (opts.batch - 1) * sc + m * ldc;
  const c0 = opts.beta === 0 ? nans(lc) : normal(rng, lc);
  if (opts.beta === 0) {
    // the padding between rows is not C: ref and cpu both leave it alone, keep it comparable
    for (let i = 0; i < lc; i++) if ((i % sc) % ldc >= n || i % sc >= m * ldc) c0[i] = 7;
  }
  compare(
    be,
    { a: normal(rng, la), b: normal(rng, lb), c: c0 },
    ["c"],
    (x, B) =>
      x.gemm(ta, tb, m, n, k, 1.5, B.a, lda, B.b, ldb, opts.beta, B.c, ldc, opts.batch, sa, sb, sc),
    // sums of k products of N(0,1) values: absolute error grows like √k·ulp of the terms
    { atol: 2e-5 * Math.sqrt(k + 1), rtol: 1e-4 },
    `gemm ${opts.label} m=${m} n=${n} k=${k} ta=${ta} tb=${tb} beta=${opts.beta}`,
  );
}

for (const [label, get] of [["openblas", () => openblas], ["own", () => own]] as const) {
  Deno.test({
    name: `cpu: gemm (${label}): 4 transposes × shapes × beta 0 (NaN C) / 0.5, batches, stride 0`,
    ignore: cpu === null || (label === "openblas" && openblas === null),
    fn() {
      const be = get()!;
      for (const [m, n, k] of GEMM_SHAPES) {
        for (const ta of [false, true]) {
          for (const tb of [false, true]) {
            if (n > 2000 && (ta || tb)) continue; // the big one once is enough
            gemmCase(be, m, n, k, ta, tb, { batch: 1, beta: 0, label });
            gemmCase(be, m, n, k, ta, tb, { batch: 3, beta: 0.5, label });
          }
        }
      }
      gemmCase(be, 20, 24, 31, false, true, { batch: 4, beta: 0, shareA: true, label });
      gemmCase(be, 20, 24, 31, true, false, { batch: 5, beta: 1, shareB: true, label });
      gemmCase(be, 64, 40, 48, false, false, { batch: 6, beta: 0, label }); // batch-parallel path
    },
  });
}

test("gemm: k = 0 scales C by beta, and beta 0 zeroes it", () => {
  for (const be of [cpu!, own!]) {
    const c = put(be, new Float32Array([1, 2, NaN, 4]));
    be.gemm(
      false,
      false,
      2,
      2,
      0,
      1,
      be.alloc("f32", 1),
      1,
      be.alloc("f32", 2),
      2,
      0,
      c,
      2,
      1,
      0,
      0,
      0,
    );
    assert.deepEqual(get(be, c), [0, 0, 0, 0]);
    const d = put(be, new Float32Array([1, 2, 3, 4]));
    be.gemm(
      false,
      false,
      2,
      2,
      0,
      1,
      be.alloc("f32", 1),
      1,
      be.alloc("f32", 2),
      2,
      2,
      d,
      2,
      1,
      0,
      0,
      0,
    );
    assert.deepEqual(get(be, d), [2, 4, 6, 8]);
  }
});

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

// ------------------------------------------------------------------------------------ elementwise

const FLAT_SIZES = [1, 17, 100_003]; // the last one runs threaded, in several chunks

test("axpby, mul, ema (incl. in place)", () => {
  for (const n of FLAT_SIZES) {
    const rng = rngFor(`flat ${n}`);
    const x = normal(rng, n), y = normal(rng, n), o = new Float32Array(n);
    compare(
      cpu!,
      { x, y, o },
      ["o"],
      (be, b) => be.axpby(n, 0.7, b.x, -1.3, b.y, b.o),
      {},
      `axpby ${n}`,
    );
    compare(
      cpu!,
      { x, y },
      ["x"],
      (be, b) => be.axpby(n, 0.7, b.x, -1.3, b.y, b.x),
      {},
      "axpby in place",
    );
    compare(cpu!, { x, y, o }, ["o"], (be, b) => be.mul(n, b.x, b.y, b.o), {}, `mul ${n}`);
    compare(cpu!, { x, y }, ["y"], (be, b) => be.mul(n, b.x, b.y, b.y), {}, "mul in place");
    compare(cpu!, { x, y }, ["x"], (be, b) => be.ema(n, b.x, b.y, 0.999), {}, `ema ${n}`);
  }
});

test("addRowVector, sumRows", () => {
  for (const [rows, cols] of [[1, 1], [7, 13], [300, 64], [1100, 3]]) {
    const rng = rngFor(`rows ${rows} ${cols}`);
    const x = normal(rng, rows * cols), bias = normal(rng, cols);
    compare(
      cpu!,
      { x, bias, o: new Float32Array(rows * cols) },
      ["o"],
      (be, b) => be.addRowVector(rows, cols, b.x, b.bias, b.o),
    );
    compare(cpu!, { x, bias }, ["x"], (be, b) => be.addRowVector(rows, cols, b.x, b.bias, b.x));
    compare(cpu!, { x, o: nans(cols) }, ["o"], (be, b) => be.sumRows(rows, cols, b.x, b.o), {
      atol: 1e-5 * Math.sqrt(rows),
    });
  }
});

const SPECIAL = new Float32Array([
  0,
  -0,
  1,
  -1,
  19.9,
  20,
  20.5,
  30,
  -30,
  88,
  89,
  100,
  -87,
  -104,
  -200,
  NaN,
]);

test("unary and unaryBackward: silu, softplus, exp, sigmoid", () => {
  for (const op of ["silu", "softplus", "exp", "sigmoid"] as const) {
    for (const n of [...FLAT_SIZES, SPECIAL.length]) {
      const rng = rngFor(`unary ${op} ${n}`);
      const x = n === SPECIAL.length
        ? SPECIAL
        : uniform(rng, n, op === "exp" ? -20 : -30, op === "exp" ? 20 : 30);
      const dy = normal(rng, n);
      compare(cpu!, { x, o: new Float32Array(n) }, ["o"], (be, b) => be.unary(op, n, b.x, b.o), {
        rtol: 2e-6,
        atol: 1e-7,
      }, `${op} ${n}`);
      compare(
        cpu!,
        { x },
        ["x"],
        (be, b) => be.unary(op, n, b.x, b.x),
        { rtol: 2e-6, atol: 1e-7 },
        `${op} in place`,
      );
      compare(
        cpu!,
        { x, dy, dx: new Float32Array(n) },
        ["dx"],
        (be, b) => be.unaryBackward(op, n, b.x, b.dy, b.dx),
        { rtol: 1e-5, atol: 1e-7 },
        `${op}' ${n}`,
      );
      compare(cpu!, { x, dy }, ["dy"], (be, b) => be.unaryBackward(op, n, b.x, b.dy, b.dy), {
        rtol: 1e-5,
        atol: 1e-7,
      }, `${op}' in place`);
    }
  }
});

test("swiglu and swigluBackward", () => {
  for (const [rows, inter] of [[1, 1], [3, 13], [67, 100]]) {
    const rng = rngFor(`swiglu ${rows} ${inter}`);
    const gu = uniform(rng, rows * 2 * inter, -8, 8), dy = normal(rng, rows * inter);
    compare(
      cpu!,
      { gu, o: nans(rows * inter) },
      ["o"],
      (be, b) => be.swiglu(rows, inter, b.gu, b.o),
      { rtol: 1e-5, atol: 1e-6 },
    );
    compare(
      cpu!,
      { gu, dy, d: nans(rows * 2 * inter), h: nans(rows * inter) },
      ["d", "h"],
      (be, b) => be.swigluBackward(rows, inter, b.gu, b.dy, b.d, b.h),
      { rtol: 1e-5, atol: 1e-6 },
    );
    // the output the backward writes is the forward's, bit for bit
    const be = cpu!, g = put(be, gu), h = be.alloc("f32", rows * inter);
    const o = be.alloc("f32", rows * inter);
    be.swiglu(rows, inter, g, o);
    be.swigluBackward(rows, inter, g, put(be, dy), be.alloc("f32", rows * 2 * inter), h);
    assert.deepEqual(bits(be, h), bits(be, o), `swigluBackward's out ${rows}x${inter}`);
  }
});

test("transpose", () => {
  for (const [batch, rows, cols] of [[1, 1, 1], [2, 33, 65], [3, 1, 7], [1, 100, 40]]) {
    const x = normal(rngFor("tr"), batch * rows * cols);
    compare(
      cpu!,
      { x, o: nans(x.length) },
      ["o"],
      (be, b) => be.transpose(batch, rows, cols, b.x, b.o),
      { atol: 0, rtol: 0 },
    );
  }
});

// ------------------------------------------------------------------------------------ rows

test("rmsnorm and rmsnormBackward, with and without weight", () => {
  for (const [rows, cols] of [[1, 1], [7, 13], [300, 512], [513, 3]]) {
    const rng = rngFor(`rms ${rows} ${cols}`);
    const x = normal(rng, rows * cols, 2), w = normal(rng, cols), dy = normal(rng, rows * cols);
    for (const weighted of [true, false]) {
      const bufs = {
        x,
        w,
        dy,
        o: nans(rows * cols),
        r: nans(rows),
        dx: nans(rows * cols),
        dw: nans(cols),
      };
      compare(
        cpu!,
        bufs,
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
});

test("addRmsnorm and addRmsnormBackward (from the output; in place)", () => {
  for (const [rows, cols] of [[1, 1], [7, 13], [300, 512], [513, 3]]) {
    const rng = rngFor(`addrms ${rows} ${cols}`);
    const x = normal(rng, rows * cols, 2), y = normal(rng, rows * cols);
    const dy = normal(rng, rows * cols);
    const tol = { rtol: 1e-4, atol: 1e-5 * Math.sqrt(cols) };
    compare(
      cpu!,
      { x, y, dy, o: nans(rows * cols), r: nans(rows), ds: nans(rows * cols) },
      [
        "o",
        "r",
        "ds",
      ],
      (be, b) => {
        be.addRmsnorm(rows, cols, b.x, b.y, 1e-6, b.o, b.r);
        be.addRmsnormBackward(rows, cols, b.o, b.r, b.dy, b.ds);
      },
      tol,
      `addRmsnorm ${rows}x${cols}`,
    );
    compare(
      cpu!,
      { x, y, dy, o: nans(rows * cols), r: nans(rows) },
      ["dy"],
      (be, b) => {
        be.addRmsnorm(rows, cols, b.x, b.y, 1e-6, b.o, b.r);
        be.addRmsnormBackward(rows, cols, b.o, b.r, b.dy, b.dy);
      },
      tol,
      `addRmsnorm ${rows}x${cols} in place`,
    );
  }
});

test("gatedRmsnorm and gatedRmsnormBackward (groups; dweight over many row chunks)", () => {
  for (const [rows, cols, group] of [[1, 1, 1], [7, 12, 3], [300, 96, 96], [700, 64, 16]]) {
    const rng = rngFor(`gated ${rows} ${cols} ${group}`);
    const n = rows * cols;
    const bufs = {
      y: normal(rng, n, 2),
      z: uniform(rng, n, -12, 12),
      w: normal(rng, cols),
      dout: normal(rng, n),
      o: nans(n),
      r: nans(rows * (cols / group)),
      dy: nans(n),
      dz: nans(n),
      dw: nans(cols),
    };
    compare(
      cpu!,
      bufs,
      ["o", "r", "dy", "dz", "dw"],
      (be, b) => {
        be.gatedRmsnorm(rows, cols, group, b.y, b.z, b.w, 1e-5, b.o, b.r);
        be.gatedRmsnormBackward(rows, cols, group, b.y, b.z, b.w, b.r, b.dout, b.dy, b.dz, b.dw);
      },
      { rtol: 1e-4, atol: 1e-5 * Math.sqrt(rows) },
      `gatedRmsnorm ${rows}x${cols}/${group}`,
    );
  }
  const be = cpu!, b = be.alloc("f32", 12);
  assert.throws(() => be.gatedRmsnorm(2, 6, 4, b, b, b, 1e-5, b, b), /group must divide/);
  assert.throws(() => be.gatedRmsnorm(2, 6, 3, b, b, b, 1e-5, b, be.alloc("f32", 3)), /rstd/);
});

test("softmax and softmaxBackward", () => {
  for (const [rows, cols, spread] of [[1, 1, 1], [5, 17, 30], [300, 916, 5], [2, 1000, 80]]) {
    const rng = rngFor(`softmax ${rows} ${cols}`);
    const x = uniform(rng, rows * cols, -spread, spread), dy = normal(rng, rows * cols);
    compare(
      cpu!,
      { x, y: nans(rows * cols), dy, dx: nans(rows * cols) },
      ["y", "dx"],
      (be, b) => {
        be.softmax(rows, cols, b.x, b.y);
        be.softmaxBackward(rows, cols, b.y, b.dy, b.dx);
      },
      { rtol: 1e-4, atol: 1e-7 },
      `softmax ${rows}x${cols}`,
    );
  }
});

test("embedding and embeddingBackward (repeated ids accumulate; bad ids throw)", () => {
  for (const [n, dim, vocab] of [[1, 1, 1], [50, 13, 11], [3000, 64, 40]]) {
    const rng = rngFor(`emb ${n} ${dim}`);
    const ids = ints(rng, n, vocab), table = normal(rng, vocab * dim), dy = normal(rng, n * dim);
    compare(
      cpu!,
      { ids, table, o: nans(n * dim) },
      ["o"],
      (be, b) => be.embedding(n, dim, b.ids, b.table, b.o),
      { atol: 0, rtol: 0 },
    );
    compare(
      cpu!,
      { ids, dy, dt: normal(rng, vocab * dim) },
      ["dt"],
      (be, b) => be.embeddingBackward(n, dim, b.ids, b.dy, b.dt),
      { atol: 1e-5 * Math.sqrt(n / vocab + 1) },
    );
  }
  const be = cpu!;
  const bad = put(be, new Int32Array([0, 3])), t = be.alloc("f32", 6), o = be.alloc("f32", 4);
  assert.throws(
    () => be.embedding(2, 2, bad, t, o),
    /embedding: id 3 at 1 outside table of 3 rows/,
  );
  assert.throws(() => be.embeddingBackward(2, 2, bad, o, t), RangeError);
  assert.throws(() => be.signSgdRows(2, 2, bad, o, t, 0.1, 0), RangeError);
});

test("rope: strided input (fused qkv), dense output, forward and inverse", () => {
  for (const [batch, seq, heads, hd] of [[1, 1, 1, 2], [2, 5, 3, 8], [2, 33, 4, 64]]) {
    const rng = rngFor(`rope ${batch} ${seq}`);
    const ldx = 3 * heads * hd, ldo = heads * hd;
    const x = normal(rng, batch * seq * ldx);
    const ang = uniform(rng, seq * hd, -3, 3);
    const cos = ang.map(Math.cos), sin = ang.map(Math.sin);
    for (const inverse of [false, true]) {
      compare(
        cpu!,
        { x, cos, sin, o: nans(batch * seq * ldo) },
        ["o"],
        (be, b) => {
          const xv = be.view(b.x, heads * hd, (batch * seq - 1) * ldx + heads * hd); // the "k" part
          be.rope(batch, seq, heads, hd, xv, ldx, b.cos, b.sin, inverse, b.o, ldo);
        },
        { rtol: 1e-5, atol: 1e-6 },
        `rope inverse=${inverse}`,
      );
    }
  }
});

// ------------------------------------------------------------------------------------ attention

/** Forward and backward attention with q, k, v (and dq, dk, dv) as views into fused buffers. */
function attentionCase(
  B: number,
  L: number,
  H: number,
  D: number,
  tol: { atol: number; rtol: number },
) {
  const rng = rngFor(`attn ${B} ${L} ${H} ${D}`);
  const ld = 3 * H * D, span = (B * L - 1) * ld + H * D;
  compare(
    cpu!,
    {
      qkv: normal(rng, B * L * ld),
      out: nans(B * L * H * D),
      lse: nans(B * H * L),
      dout: normal(rng, B * L * H * D),
      dqkv: normal(rng, B * L * ld), // the gaps between the heads' columns must stay untouched
    },
    ["out", "lse", "dqkv"],
    (be, b) => {
      const part = (buf: Buf, i: number) => be.view(buf, i * H * D, span);
      const scale = 1 / Math.sqrt(D);
      be.attention(
        B,
        L,
        H,
        D,
        scale,
        part(b.qkv, 0),
        part(b.qkv, 1),
        part(b.qkv, 2),
        ld,
        b.out,
        b.lse,
      );
      be.attentionBackward(
        B,
        L,
        H,
        D,
        scale,
        part(b.qkv, 0),
        part(b.qkv, 1),
        part(b.qkv, 2),
        ld,
        b.out,
        b.lse,
        b.dout,
        part(b.dqkv, 0),
        part(b.dqkv, 1),
        part(b.dqkv, 2),
      );
    },
    tol,
    `attention B=${B} L=${L} H=${H} D=${D}`,
  );
}

test("attention: small odd shapes (seq 1, 7, 50, 97, 116; headDim 4 … 80)", () => {
  const tol = { atol: 2e-5, rtol: 1e-4 };
  attentionCase(1, 1, 1, 4, tol);
  attentionCase(2, 7, 3, 8, tol);
  attentionCase(2, 33, 2, 20, tol); // headDim not a multiple of 16
  attentionCase(1, 97, 2, 64, tol); // seq over one 64-query block, not a multiple of 32 keys
  attentionCase(3, 65, 1, 64, tol); // one query block + 1 row
  attentionCase(1, 9, 2, 80, tol); // headDim over one 64-column chunk
  // the tile shapes of the P·V products change at headDim 16 / 32 (16, 8, 4 rows per tile)
  attentionCase(2, 50, 2, 16, tol); // 16 rows of one vector; 50 keys: a ragged 16-row tile
  attentionCase(1, 116, 4, 16, tol); // the cpu-mini ARC shape: two query blocks
  attentionCase(1, 70, 3, 32, tol); // 8 rows of two vectors
  attentionCase(1, 41, 2, 33, tol); // just past 32: 4 rows of four vectors, mostly masked
});

test("attention: seq 916, 8 heads, headDim 64", () => {
  // sums over 916 keys in float32: a little more rounding than the small cases
  attentionCase(1, 916, 8, 64, { atol: 5e-5, rtol: 1e-3 });
});

// ------------------------------------------------------------------------------------ losses

test("stablemaxXent and backward (ignored labels, a fully ignored sequence, bad labels throw)", () => {
  for (const [batch, seq, vocab] of [[1, 1, 1], [3, 7, 11], [4, 81, 10]]) {
    const rng = rngFor(`xent ${batch} ${seq}`);
    const logits = uniform(rng, batch * seq * vocab, -6, 6);
    const labels = ints(rng, batch * seq, vocab);
    for (let t = 0; t < labels.length; t += 3) labels[t] = -100;
    if (batch > 1) labels.fill(-100, seq, 2 * seq); // sequence 1 has no labelled token
    const dloss = normal(rng, batch);
    compare(
      cpu!,
      { logits, labels, loss: nans(batch), dloss, d: nans(logits.length) },
      ["loss", "d"],
      (be, b) => {
        be.stablemaxXent(batch, seq, vocab, b.logits, b.labels, -100, b.loss);
        be.stablemaxXentBackward(batch, seq, vocab, b.logits, b.labels, -100, b.dloss, b.d);
      },
      { rtol: 1e-5, atol: 1e-7 },
      `xent ${batch}x${seq}x${vocab}`,
    );
  }
  const be = cpu!;
  const lab = put(be, new Int32Array([1, 5])), x = be.alloc("f32", 8), l = be.alloc("f32", 1);
  assert.throws(
    () => be.stablemaxXent(1, 2, 4, x, lab, -100, l),
    /label 5 at row 1 outside vocab 4/,
  );
});

test("bceWithLogits and backward, sum, argmax", () => {
  for (const n of FLAT_SIZES) {
    const rng = rngFor(`bce ${n}`);
    const x = uniform(rng, n, -30, 30), t = uniform(rng, n, 0, 1), dy = normal(rng, n);
    compare(cpu!, { x, t, dy, o: nans(n), dx: nans(n) }, ["o", "dx"], (be, b) => {
      be.bceWithLogits(n, b.x, b.t, b.o);
      be.bceWithLogitsBackward(n, b.x, b.t, b.dy, b.dx);
    }, { rtol: 1e-5, atol: 1e-6 });
    compare(cpu!, { x, o: nans(1) }, ["o"], (be, b) => be.sum(n, b.x, b.o), {
      rtol: 1e-6,
      atol: 1e-6,
    });
  }
  for (const [rows, cols] of [[1, 1], [7, 13], [500, 40]]) {
    const rng = rngFor(`argmax ${rows}`);
    const x = Float32Array.from(ints(rng, rows * cols, 5)); // many ties: the first maximum wins
    compare(
      cpu!,
      { x, o: new Int32Array(rows) },
      ["o"],
      (be, b) => be.argmax(rows, cols, b.x, b.o),
      { atol: 0, rtol: 0 },
    );
  }
});

// ------------------------------------------------------------------------------------ optimisers

test("adamAtan2, signSgdRows (sign(0) = 0)", () => {
  for (const n of FLAT_SIZES) {
    const rng = rngFor(`adam ${n}`);
    const [b1, b2, t] = [0.9, 0.95, 3];
    compare(
      cpu!,
      { p: normal(rng, n), g: normal(rng, n), m: normal(rng, n, 0.1), v: uniform(rng, n, 0, 0.1) },
      ["p", "m", "v"],
      (be, b) => be.adamAtan2(n, b.p, b.g, b.m, b.v, 1e-3, 0.1, b1, b2, 1 - b1 ** t, 1 - b2 ** t),
      { rtol: 1e-5, atol: 1e-6 },
    );
  }
  const rng = rngFor("signsgd");
  const [rows, dim, n] = [50, 37, 20];
  const ids = rng.permutation(rows).slice(0, n);
  const grads = normal(rng, n * dim);
  for (let j = 0; j < grads.length; j += 5) grads[j] = 0;
  compare(
    cpu!,
    { ids, grads, table: normal(rng, rows * dim) },
    ["table"],
    (be, b) => be.signSgdRows(n, dim, b.ids, b.grads, b.table, 0.01, 0.1),
    { rtol: 1e-6, atol: 1e-7 },
  );
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
