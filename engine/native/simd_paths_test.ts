/**
 * The vector paths of the native kernels (AVX-512 16-lane, AVX2 8-lane with 6-row tiles, or the
 * portable C, whichever this machine built) against the `ref` oracle on the shapes that exercise
 * their tails: attention head dims 1 … 48 that leave every kind of column remainder (8-lane,
 * 16-column and 64-column chunks), sequence lengths that are and are not multiples of 8 / 32;
 * elementwise and row kernels at every length 1 … 40 (masked tails); exp at ±inf, NaN and
 * arguments whose results are denormal; softmax rows holding −inf, +inf and NaN. Also: outputs that
 * must be bitwise equal whatever register tile computes them (identical tokens give identical bits
 * in every row of attention's forward and backward). Skips when the native library cannot be built.
 */
import assert from "node:assert/strict";
import type { Backend, Buf } from "../backend.ts";
import { NativeUnavailableError } from "../errors.ts";
import { Rng } from "../rng.ts";
import { assertClose, randomArray } from "../testing.ts";
import { createCpuBackend } from "../backends/cpu/mod.ts";
import { createRefBackend } from "../backends/ref/mod.ts";

let cpu: Backend | null = null;
try {
  cpu = createCpuBackend();
} catch (e) {
  if (!(e instanceof NativeUnavailableError)) throw e;
  console.warn(`simd_paths_test: SKIPPED: ${e.message}`);
}
const ref = createRefBackend({ precision: "f64" });

function test(name: string, fn: () => void) {
  Deno.test({ name: `native simd paths: ${name}`, ignore: cpu === null, fn });
}

function put(be: Backend, data: Float32Array): Buf {
  const b = be.alloc("f32", data.length);
  be.upload(b, data);
  return b;
}
const get = (be: Backend, b: Buf) => Array.from(be.download(b));
const rngFor = (label: string) => new Rng(20261207).fork(label);
const normal = (rng: Rng, n: number) => randomArray(rng, n, { std: 1 });
const uniform = (rng: Rng, n: number, lo: number, hi: number) => randomArray(rng, n, { lo, hi });
const nans = (n: number) => new Float32Array(n).fill(NaN);

/** Runs `fn` on cpu and on ref (float64) with the same inputs; compares the buffers `outs`. */
function compare(
  bufs: Record<string, Float32Array>,
  outs: string[],
  fn: (be: Backend, b: Record<string, Buf>) => void,
  tol: { atol: number; rtol: number },
  msg: string,
) {
  const mk = (x: Backend) =>
    Object.fromEntries(Object.entries(bufs).map(([k, v]) => [k, put(x, v)]));
  const bc = mk(cpu!), br = mk(ref);
  fn(cpu!, bc);
  fn(ref, br);
  for (const o of outs) {
    const want = Array.from(Float32Array.from(get(ref, br[o])));
    assertClose(get(cpu!, bc[o]), want, { ...tol, msg: `${msg} ${o}` });
  }
}

function attention(
  be: Backend,
  b: Record<string, Buf>,
  B: number,
  L: number,
  H: number,
  D: number,
) {
  const HD = H * D, scale = 1 / Math.sqrt(D);
  be.attention(B, L, H, D, scale, b.q, b.k, b.v, HD, b.out, b.lse);
  be.attentionBackward(
    B,
    L,
    H,
    D,
    scale,
    b.q,
    b.k,
    b.v,
    HD,
    b.out,
    b.lse,
    b.dout,
    b.dq,
    b.dk,
    b.dv,
  ); // prettier-ignore
}

test("attention = ref: head dims 1 … 48 (every column remainder), seq multiples of 8 and not", () => {
  const shapes: [number, number, number, number][] = [
    [1, 13, 2, 1], // one column: 12-row tiles of one masked vector
    [2, 40, 1, 7], // seq a multiple of 8, not of 32
    [1, 64, 2, 12], // 16-column chunk with 12 live columns; seq = one query block, = Lp
    [1, 96, 1, 24], // one full 16-column chunk + 8 columns; seq a multiple of 32
    [1, 130, 1, 47], // two full chunks + 15 columns; three query blocks, the last of 2 rows
    [2, 33, 2, 48], // three full chunks; 33 = 5·6 + 3 rows
    [1, 8, 3, 9], // a chunk of 9 columns; seq 8 (one vector of keys)
    [1, 71, 1, 17], // 16 + 1 columns; 71 = 64 + 7
  ];
  for (const [B, L, H, D] of shapes) {
    const rng = rngFor(`attn ${B} ${L} ${H} ${D}`), n = B * L * H * D;
    compare(
      {
        q: normal(rng, n),
        k: normal(rng, n),
        v: normal(rng, n),
        out: nans(n),
        lse: nans(B * H * L),
        dout: normal(rng, n),
        dq: nans(n),
        dk: nans(n),
        dv: nans(n),
      },
      ["out", "lse", "dq", "dk", "dv"],
      (be, b) => attention(be, b, B, L, H, D),
      { atol: 2e-5, rtol: 1e-4 },
      `attention B=${B} L=${L} H=${H} D=${D}`,
    );
  }
});

test("attention: identical tokens give bitwise identical rows, whatever tile computes them", () => {
  for (const [L, H, D] of [[50, 2, 4], [50, 1, 8], [130, 2, 20], [77, 1, 64], [45, 1, 33]]) {
    const rng = rngFor(`attn same ${L} ${H} ${D}`), HD = H * D, n = L * HD;
    // every token's q, k and v the same (per head); dout differs per token
    const tok = (base: Float32Array) => Float32Array.from({ length: n }, (_, i) => base[i % HD]);
    const be = cpu!;
    const b: Record<string, Buf> = {
      q: put(be, tok(normal(rng, HD))),
      k: put(be, tok(normal(rng, HD))),
      v: put(be, tok(normal(rng, HD))),
      dout: put(be, normal(rng, n)),
      out: put(be, nans(n)),
      lse: put(be, nans(H * L)),
      dq: put(be, nans(n)),
      dk: put(be, nans(n)),
      dv: put(be, nans(n)),
    };
    attention(be, b, 1, L, H, D);
    const rowsEqual = (name: string, x: Float32Array, width: number) => {
      const u = new Uint32Array(x.buffer, x.byteOffset, x.length);
      for (let t = 1; t < x.length / width; t++) {
        for (let c = 0; c < width; c++) {
          if (u[t * width + c] !== u[c]) {
            assert.fail(`L=${L} H=${H} D=${D}: ${name} row ${t} col ${c} differs from row 0`);
          }
        }
      }
    };
    rowsEqual("out", be.download(b.out) as Float32Array, HD);
    rowsEqual("dk", be.download(b.dk) as Float32Array, HD);
    rowsEqual("dv", be.download(b.dv) as Float32Array, HD);
    const lse = be.download(b.lse) as Float32Array;
    for (let h = 0; h < H; h++) rowsEqual(`lse head ${h}`, lse.subarray(h * L, (h + 1) * L), 1);
  }
});

/** exp arguments: infinities, NaN, the clamp edges, and results in the denormal range. */
const EXP_SPECIAL = new Float32Array([
  Infinity,
  -Infinity,
  NaN,
  88.7,
  88.72,
  89,
  -87.3,
  -88.5,
  -95,
  -100,
  -103,
  -103.9,
  -104,
  -1e30,
  1e-30,
  -0,
  0.5,
]);

/** silu and sigmoid: e^−x is capped at e^88 (documented in kernels.c), so arguments below −88
 * (and −inf) give σ = 1/(1 + e^88), not ref's value: only arguments above that here. */
const SIGMOID_SPECIAL = new Float32Array([
  NaN,
  -0,
  0,
  1e-30,
  0.5,
  20.5,
  -30,
  30,
  -87,
  88,
  89,
  1e30,
]);

test("unary and unaryBackward at every length 1 … 40 and on ±inf, NaN, denormal results", () => {
  for (const op of ["silu", "exp", "sigmoid"] as const) {
    const cases: Float32Array[] = [op === "exp" ? EXP_SPECIAL : SIGMOID_SPECIAL];
    for (let n = 1; n <= 40; n++) cases.push(uniform(rngFor(`${op} ${n}`), n, -30, 30));
    for (const x of cases) {
      // (dy 1 on the special arguments: e^89 is inf in float32 before the product, not in ref)
      const special = x === EXP_SPECIAL || x === SIGMOID_SPECIAL;
      const n = x.length, dy = special ? new Float32Array(n).fill(1) : normal(rngFor(`dy ${n}`), n);
      // exp's denormal results: float64 rounded to float32 can differ by one step (1.4e-45); σ′ at
      // large x: ref's 1 − σ cancels to 0 where ours keeps e^−x, hence atol 1e-7 as in kernels_test
      const atol = op === "exp" ? 3e-45 : 1e-7, tol = { atol, rtol: 2e-6 };
      compare({ x, o: nans(n) }, ["o"], (be, b) => be.unary(op, n, b.x, b.o), tol, `${op} ${n}`);
      compare(
        { x, dy, dx: nans(n) },
        ["dx"],
        (be, b) => be.unaryBackward(op, n, b.x, b.dy, b.dx),
        { atol, rtol: 1e-5 },
        `${op}' ${n}`,
      );
    }
  }
});

test("swiglu and swigluBackward: inter 1 … 20 (masked tails), the out bitwise the forward's", () => {
  for (let inter = 1; inter <= 20; inter++) {
    const rows = 3, rng = rngFor(`swiglu ${inter}`);
    const gu = uniform(rng, rows * 2 * inter, -9, 9), dy = normal(rng, rows * inter);
    compare(
      { gu, dy, o: nans(rows * inter), d: nans(rows * 2 * inter), h: nans(rows * inter) },
      ["o", "d", "h"],
      (be, b) => {
        be.swiglu(rows, inter, b.gu, b.o);
        be.swigluBackward(rows, inter, b.gu, b.dy, b.d, b.h);
      },
      { atol: 1e-6, rtol: 1e-5 },
      `swiglu ${rows}x${inter}`,
    );
    const be = cpu!, g = put(be, gu), o = be.alloc("f32", rows * inter);
    const h = be.alloc("f32", rows * inter);
    be.swiglu(rows, inter, g, o);
    be.swigluBackward(rows, inter, g, put(be, dy), be.alloc("f32", rows * 2 * inter), h);
    assert.deepEqual(
      new Uint8Array(be.download(h).slice().buffer),
      new Uint8Array(be.download(o).slice().buffer),
      `swigluBackward's out ${rows}x${inter}`,
    );
  }
});

test("softmax: every row length 1 … 40, and rows holding −inf, +inf, NaN", () => {
  for (let cols = 1; cols <= 40; cols++) {
    const rows = 3, x = uniform(rngFor(`softmax ${cols}`), rows * cols, -20, 20);
    compare(
      { x, y: nans(rows * cols) },
      ["y"],
      (be, b) => be.softmax(rows, cols, b.x, b.y),
      { atol: 1e-7, rtol: 1e-5 },
      `softmax ${rows}x${cols}`,
    );
  }
  for (const cols of [5, 8, 19]) {
    const rng = rngFor(`softmax special ${cols}`);
    const rows: Float32Array[] = [];
    const row = (edit: (r: Float32Array) => void) => {
      const r = uniform(rng, cols, -5, 5);
      edit(r);
      rows.push(r);
    };
    row((r) => (r[0] = -Infinity)); // one −inf: weight 0
    row((r) => (r[cols - 1] = -Infinity)); // in the tail
    row((r) => r.fill(-Infinity, 0, cols - 1)); // all but one −inf: that one gets 1
    row((r) => r.fill(-Infinity)); // all −inf: NaN (−inf − −inf)
    row((r) => (r[cols >> 1] = Infinity)); // +inf: NaN
    row((r) => (r[cols - 1] = NaN)); // NaN anywhere: the row is NaN
    row((r) => (r[0] = -200)); // far below the max: exp underflows to 0
    const x = new Float32Array(rows.length * cols);
    rows.forEach((r, i) => x.set(r, i * cols));
    compare(
      { x, y: nans(x.length) },
      ["y"],
      (be, b) => be.softmax(rows.length, cols, b.x, b.y),
      { atol: 1e-7, rtol: 1e-5 },
      `softmax special rows, ${cols} columns`,
    );
  }
});
